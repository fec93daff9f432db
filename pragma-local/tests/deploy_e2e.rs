//! End to end: pack `examples/echo-worker`, push it, follow its build, deploy it, use its
//! resource type through the API, roll back, and delete it with its resources.

mod worker_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use pragma_local::deploy::{DeployOptions, Deployments};
use pragma_local::Platform;
use pragma_sdk::client::pack_directory;
use pragma_sdk::models::{
    BuildStatus, DeploymentStatus, LifecycleState, ProviderStatus, RawResource,
};
use pragma_sdk::AsyncPragmaClient;
use serde_json::json;

/// One cargo target dir for the release builds of every run, beside the test's own.
fn shared_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/debug/deps/deploy_e2e-HASH
    exe.ancestors().nth(3).unwrap().join("deploy-builds")
}

async fn deployed(client: &AsyncPragmaClient, version: &str) -> ProviderStatus {
    for _ in 0..300 {
        let status = client.get_deployment_status("echo").await.unwrap();
        if status.version.as_deref() == Some(version)
            && status.status != DeploymentStatus::Progressing
        {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("deployment of {version} did not settle");
}

async fn ready(client: &AsyncPragmaClient, name: &str) -> RawResource {
    for _ in 0..300 {
        let resource = client.get_resource("echo", "message", name).await.unwrap();
        if resource.lifecycle_state == LifecycleState::Ready {
            return resource;
        }
        assert_ne!(
            resource.lifecycle_state,
            LifecycleState::Failed,
            "{:?}",
            resource.error
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} did not become ready");
}

async fn build(client: &AsyncPragmaClient, tarball: Vec<u8>) -> (String, Vec<String>, bool) {
    let pushed = client.push_provider("echo", tarball).await.unwrap();
    assert_eq!(pushed.status, BuildStatus::Pending);
    let mut stream = client
        .stream_build_logs("echo", &pushed.version)
        .await
        .unwrap();
    let mut lines = Vec::new();
    let mut seen_while_running = false;
    while let Some(line) = stream.next().await {
        lines.push(line.unwrap());
        if lines.len() == 1 {
            let status = client
                .get_build_status("echo", &pushed.version)
                .await
                .unwrap()
                .status;
            seen_while_running = matches!(status, BuildStatus::Pending | BuildStatus::Building);
        }
    }
    (pushed.version, lines, seen_while_running)
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_build_deploy_use_roll_back_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::builder()
        .data_dir(dir.path().join("platform"))
        .retry(3, Duration::from_millis(100))
        .build()
        .unwrap();
    let options = DeployOptions {
        target_dir: Some(shared_target_dir()),
        handshake_timeout: Duration::from_secs(20),
        ..DeployOptions::default()
    };
    let deployments = Deployments::open(
        platform.registry(),
        Some(dir.path().join("deploy")),
        options,
    )
    .unwrap();
    let app = deployments.router().fallback_service(platform.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = AsyncPragmaClient::builder()
        .base_url(format!("http://{addr}"))
        .no_auth()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();

    let tarball = pack_directory(worker_support::echo_worker_dir()).unwrap();

    // The first build: its log streams while cargo runs, and is kept afterwards.
    let (first, lines, seen_while_running) = build(&client, tarball.clone()).await;
    let info = client.get_build_status("echo", &first).await.unwrap();
    assert_eq!(
        info.status,
        BuildStatus::Success,
        "{:?}\n{}",
        info.error_message,
        lines.join("\n")
    );
    assert!(
        seen_while_running,
        "the first log line arrived only after the build"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Compiling echo-worker") || l.contains("Finished")),
        "{lines:?}"
    );
    let mut stored = Vec::new();
    let mut again = client.stream_build_logs("echo", &first).await.unwrap();
    while let Some(line) = again.next().await {
        stored.push(line.unwrap());
    }
    assert_eq!(stored, lines);

    // Deploy the latest successful build.
    let progressing = client.deploy_provider("echo", None).await.unwrap();
    assert_eq!(progressing.status, DeploymentStatus::Progressing);
    assert_eq!(progressing.version.as_deref(), Some(first.as_str()));
    let status = deployed(&client, &first).await;
    assert_eq!(status.status, DeploymentStatus::Available);
    assert!(status.healthy);
    let first_pid = deployments.worker("echo").unwrap().pid().unwrap();

    let types = client.list_resource_types(Some("echo")).await.unwrap();
    let message = types.iter().find(|t| t.resource == "message").unwrap();
    assert!(message.schema["properties"]["text"].is_object());

    // Apply a resource of the worker's type and see it ready.
    let mut resource = RawResource::new("echo", "message", "greeting");
    resource.config = json!({"text": "hello worker"}).as_object().unwrap().clone();
    resource.lifecycle_state = LifecycleState::Pending;
    client.apply_resource(&resource).await.unwrap();
    let done = ready(&client, "greeting").await;
    assert_eq!(done.outputs["echo"], "hello worker");
    assert_eq!(done.outputs["pid"], first_pid);

    // A second build and deploy replaces the worker; rolling back deploys the first again.
    let (second, _, _) = build(&client, tarball).await;
    assert!(second > first);
    assert_eq!(
        client
            .get_build_status("echo", &second)
            .await
            .unwrap()
            .status,
        BuildStatus::Success
    );
    client.deploy_provider("echo", Some(&second)).await.unwrap();
    assert_eq!(
        deployed(&client, &second).await.status,
        DeploymentStatus::Available
    );
    let second_pid = deployments.worker("echo").unwrap().pid().unwrap();
    assert_ne!(second_pid, first_pid);
    assert!(
        !process_exists(first_pid),
        "the replaced worker was stopped"
    );

    let rolled = client.rollback_provider("echo").await.unwrap();
    assert_eq!(rolled.version.as_deref(), Some(first.as_str()));
    let status = deployed(&client, &first).await;
    assert_eq!(status.status, DeploymentStatus::Available);
    assert!(status.healthy);
    let providers = client.list_providers().await.unwrap();
    let echo = providers.iter().find(|p| p.provider_id == "echo").unwrap();
    assert_eq!(echo.current_version.as_deref(), Some(first.as_str()));

    // The rolled-back worker serves updates of the existing resource.
    resource.config = json!({"text": "after rollback"})
        .as_object()
        .unwrap()
        .clone();
    client.apply_resource(&resource).await.unwrap();
    let mut updated = ready(&client, "greeting").await;
    for _ in 0..100 {
        if updated.outputs["echo"] == "after rollback" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        updated = ready(&client, "greeting").await;
    }
    assert_eq!(updated.outputs["echo"], "after rollback");
    let third_pid = deployments.worker("echo").unwrap().pid().unwrap();
    assert_eq!(updated.outputs["pid"], third_pid);

    // Deleting needs cascade while resources exist.
    let err = client.delete_provider("echo", false).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err}");
    let deleted = client.delete_provider("echo", true).await.unwrap();
    assert_eq!(deleted.resources_deleted, 1);
    assert!(deleted.deployment_deleted);
    assert!(!process_exists(third_pid));
    let err = client.get_deployment_status("echo").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert!(client.list_builds("echo").await.unwrap().is_empty());

    deployments.shutdown().await;
    server.abort();
}
