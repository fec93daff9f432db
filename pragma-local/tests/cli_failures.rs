//! The everyday commands as processes against a platform hosting a provider whose handler
//! fails on demand: failed resources exit 1, and their dead-letter events can be listed,
//! shown, retried and removed.

use std::process::Output;
use std::time::Duration;

use pragma_local::Platform;
use pragma_sdk::{Config, Context, Lifecycle, LifecycleError, Outputs, Provider, ResourceType};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pragma-local");

#[derive(Config, Debug, Clone)]
pub struct JobConfig {
    /// Whether the handler fails.
    #[pragma(default)]
    pub fail: bool,
}

#[derive(Outputs, Debug, Clone)]
pub struct JobOutputs {
    pub done: bool,
}

/// A job that fails when told to.
#[derive(ResourceType, Default)]
#[pragma(provider = "jobs", resource = "job", config = JobConfig, outputs = JobOutputs)]
pub struct Job;

impl Lifecycle for Job {
    async fn on_create(&self, cx: &Context<Self>) -> Result<JobOutputs, LifecycleError> {
        if cx.config().fail {
            return Err(LifecycleError::infrastructure("the job broke"));
        }
        Ok(JobOutputs { done: true })
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &JobConfig,
    ) -> Result<JobOutputs, LifecycleError> {
        self.on_create(cx).await
    }
    async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

async fn cli(url: &str, home: &std::path::Path, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("PRAGMA_API_URL", url)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("PRAGMA_AUTH_TOKEN")
        .env_remove("PRAGMA_CONTEXT")
        .env("RUST_LOG", "off")
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_resources_exit_one_and_their_dead_letters_are_handled() {
    let provider = Provider::new("jobs").resource::<Job>().unwrap();
    let server = Platform::builder()
        .provider(provider)
        .in_memory()
        .retry(1, Duration::from_millis(10))
        .build()
        .unwrap()
        .spawn_ephemeral()
        .await
        .unwrap();
    let url = server.base_url();
    let home = tempfile::tempdir().unwrap();
    let manifest = home.path().join("jobs.yaml");
    std::fs::write(
        &manifest,
        "provider: jobs\nresource: job\nname: good\n---\nprovider: jobs\nresource: job\nname: bad\nconfig: {fail: true}\n",
    )
    .unwrap();

    let applied = cli(
        &url,
        home.path(),
        &["apply", "-f", manifest.to_str().unwrap(), "--wait"],
    )
    .await;
    assert_eq!(applied.status.code(), Some(1), "{}", text(&applied.stderr));
    let message = text(&applied.stderr);
    assert!(
        message.contains("resource jobs/job/bad failed: the job broke"),
        "{message}"
    );
    let shown = text(&applied.stdout);
    assert!(shown.contains("jobs/job/bad   failed  "), "{shown}");

    let waited = cli(
        &url,
        home.path(),
        &["wait", "jobs/job/good", "jobs/job/bad"],
    )
    .await;
    assert_eq!(waited.status.code(), Some(1));
    let good = cli(&url, home.path(), &["wait", "jobs/job/good"]).await;
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));

    let listed = cli(&url, home.path(), &["dead-letter", "list", "-o", "json"]).await;
    let events: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["resource_name"], "bad");
    let event_id = events[0]["event_id"].as_str().unwrap().to_owned();

    let table = cli(&url, home.path(), &["dead-letter", "list"]).await;
    let table = text(&table.stdout);
    assert!(table.starts_with("EVENT"), "{table}");
    assert!(table.contains("jobs/job/bad"), "{table}");
    assert!(table.contains("the job broke"), "{table}");

    let one = cli(
        &url,
        home.path(),
        &["dead-letter", "get", &event_id, "-o", "yaml"],
    )
    .await;
    let one: Value = serde_norway::from_slice(&one.stdout).unwrap();
    assert_eq!(one["error_message"], "the job broke");

    let retried = cli(&url, home.path(), &["dead-letter", "retry", &event_id]).await;
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried.stderr));
    let said = text(&retried.stdout);
    assert!(
        said.starts_with("queued create of jobs/job/bad again"),
        "{said}"
    );

    // The retry fails again and leaves a new dead-letter event, removed by provider.
    let mut count = 0;
    for _ in 0..100 {
        let listed = cli(
            &url,
            home.path(),
            &["dead-letter", "list", "--provider", "jobs", "-o", "json"],
        )
        .await;
        let events: Value = serde_json::from_slice(&listed.stdout).unwrap();
        count = events.as_array().unwrap().len();
        if count == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count, 1);
    let removed = cli(
        &url,
        home.path(),
        &["dead-letter", "delete", "--provider", "jobs", "-o", "json"],
    )
    .await;
    let removed: Value = serde_json::from_slice(&removed.stdout).unwrap();
    assert_eq!(removed["deleted_count"], 1);
    server.shutdown().await;
}
