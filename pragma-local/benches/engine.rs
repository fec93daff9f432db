//! Engine throughput through the real API, with a provider whose handlers do nothing:
//! how many applies reach `ready` per second (1,000 resources, 32 clients, on-disk store),
//! and how long an update takes to reach the end of a 100-long chain of field references.
//!
//! Run with `cargo bench -p pragma-local --bench engine`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pragma_local::demo::{string_or_reference, string_or_resolved};
use pragma_local::Platform;
use pragma_sdk::authoring::{
    Config, Context, FieldRef, FieldReference, Lifecycle, LifecycleError, Outputs, Provider,
    ResourceType,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const RESOURCES: usize = 1_000;
const CLIENTS: usize = 32;
const CHAIN: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoopConfig {
    #[serde(default, deserialize_with = "string_or_resolved")]
    #[schemars(schema_with = "string_or_reference")]
    value: String,
}

impl Config for NoopConfig {}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct NoopOutputs {
    value: String,
}

impl Outputs for NoopOutputs {
    type Refs = FieldRef<String>;

    fn refs(provider: &str, resource: &str, name: &str) -> Self::Refs {
        FieldRef::new(FieldReference {
            provider: provider.into(),
            resource: resource.into(),
            name: name.into(),
            field: "outputs.value".into(),
        })
    }
}

#[derive(Default)]
struct Noop;

impl ResourceType for Noop {
    const PROVIDER: &'static str = "bench";
    const RESOURCE: &'static str = "noop";
    type Config = NoopConfig;
    type Outputs = NoopOutputs;
}

impl Lifecycle for Noop {
    async fn on_create(&self, cx: &Context<Self>) -> Result<NoopOutputs, LifecycleError> {
        Ok(NoopOutputs {
            value: cx.config().value.clone(),
        })
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &NoopConfig,
    ) -> Result<NoopOutputs, LifecycleError> {
        self.on_create(cx).await
    }

    async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

fn body(name: &str, value: Value) -> Value {
    json!({"provider": "bench", "resource": "noop", "name": name,
           "config": {"value": value}, "lifecycle_state": "pending"})
}

async fn apply(http: &reqwest::Client, base: &str, body: &Value) {
    let response = http
        .post(format!("{base}/resources/apply"))
        .json(body)
        .send()
        .await
        .expect("apply request");
    assert!(
        response.status().is_success(),
        "apply failed: {}",
        response.status()
    );
}

async fn status(http: &reqwest::Client, base: &str, id: &str) -> Value {
    http.get(format!("{base}/resources/{id}"))
        .send()
        .await
        .expect("get request")
        .json()
        .await
        .expect("resource body")
}

async fn wait_ready(http: &reqwest::Client, base: &str, id: &str, value: &str) {
    loop {
        let resource = status(http, base, id).await;
        if resource["lifecycle_state"] == "ready" && resource["outputs"]["value"] == value {
            return;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

async fn throughput(http: &reqwest::Client, base: &str) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let next = next.clone();
        let http = http.clone();
        let base = base.to_owned();
        clients.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= RESOURCES {
                    return;
                }
                let name = format!("r{index}");
                apply(&http, &base, &body(&name, json!(name))).await;
                wait_ready(&http, &base, &format!("resource:bench_noop_{name}"), &name).await;
            }
        }));
    }
    for client in clients {
        client.await.expect("client task");
    }
    RESOURCES as f64 / started.elapsed().as_secs_f64()
}

async fn chain(http: &reqwest::Client, base: &str) -> Duration {
    apply(http, base, &body("c0", json!("v1"))).await;
    for i in 1..CHAIN {
        let reference = json!({"provider": "bench", "resource": "noop",
                               "name": format!("c{}", i - 1), "field": "outputs.value"});
        apply(http, base, &body(&format!("c{i}"), reference)).await;
    }
    let tail = format!("resource:bench_noop_c{}", CHAIN - 1);
    wait_ready(http, base, &tail, "v1").await;
    let started = Instant::now();
    apply(http, base, &body("c0", json!("v2"))).await;
    wait_ready(http, base, &tail, "v2").await;
    started.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let provider = Provider::new("bench")
            .resource::<Noop>()
            .expect("bench provider");
        let platform = Platform::builder()
            .data_dir(dir.path())
            .provider(provider)
            .build()
            .expect("platform");
        let server = platform.spawn_ephemeral().await.expect("server");
        let base = server.base_url();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .expect("http client");

        let per_second = throughput(&http, &base).await;
        println!(
            "engine/apply_to_ready: {RESOURCES} resources, {CLIENTS} clients, on-disk store: \
             {per_second:.0} resources/s (target >= 1000: {:.2}x)",
            per_second / 1000.0
        );
        let elapsed = chain(&http, &base).await;
        println!(
            "engine/chain_update: update reached the end of a {CHAIN}-long chain in {:.1} ms \
             (target < 1000 ms: {:.1}x under)",
            elapsed.as_secs_f64() * 1000.0,
            1.0 / elapsed.as_secs_f64()
        );
        server.shutdown().await;
    });
}
