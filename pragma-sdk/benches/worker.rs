//! Worker protocol figures: dispatch round trips over a real Unix socket with a no-op handler
//! (throughput and median latency), and the resident memory of the idle echo worker.
//!
//! Run with `cargo bench -p pragma-sdk --bench worker`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use pragma_sdk::authoring::{
    Config, Context, Lifecycle, LifecycleError, Outputs, Provider, ResourceType,
};
use pragma_sdk::worker::rpc::{Connection, Incoming};
use pragma_sdk::worker::{serve_stream, WorkerIdentity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::{UnixListener, UnixStream};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct NoopConfig {}
impl Config for NoopConfig {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct NoopOutputs {}
impl Outputs for NoopOutputs {
    type Refs = ();
    fn refs(_: &str, _: &str, _: &str) {}
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
    async fn on_create(&self, _: &Context<Self>) -> Result<NoopOutputs, LifecycleError> {
        Ok(NoopOutputs {})
    }
    async fn on_update(
        &self,
        _: &Context<Self>,
        _: &NoopConfig,
    ) -> Result<NoopOutputs, LifecycleError> {
        Ok(NoopOutputs {})
    }
    async fn on_delete(&self, _: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

fn dispatch_params() -> Value {
    json!({
        "event_type": "CREATE",
        "target": {"project_id": "p", "resource": "noop", "name": "n", "config": {}, "tags": null},
        "previous_config": null,
        "resolved_files": {},
        "owner_reference": {"project_id": "p", "provider": "bench", "resource": "noop", "name": "n"},
        "provider": "bench",
    })
}

async fn accept(listener: &UnixListener) -> Connection {
    let (stream, _) = listener.accept().await.expect("worker connects");
    let mut connection = Connection::start(stream);
    match connection.incoming.recv().await {
        Some(Incoming::Request { id, method, .. }) if method == "handshake" => {
            connection
                .peer
                .respond(id, Ok(json!({"protocol_version": 1})))
                .expect("handshake answered");
        }
        other => panic!("expected a handshake, got {other:?}"),
    }
    connection
}

async fn round_trips(dir: &std::path::Path) {
    let socket = dir.join("bench.sock");
    let listener = UnixListener::bind(&socket).expect("bind");

    // The worker side runs on its own current-thread runtime, as in a worker process.
    let worker_socket = socket.clone();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let provider = Provider::new("bench").resource::<Noop>().expect("provider");
            let stream = UnixStream::connect(&worker_socket).await.expect("connect");
            let _ = serve_stream(provider, WorkerIdentity::for_provider("bench"), stream).await;
        });
    });
    let connection = accept(&listener).await;
    let peer = connection.peer.clone();
    let params = dispatch_params();

    // Warm up.
    for _ in 0..2_000 {
        peer.request("dispatch", params.clone())
            .await
            .expect("dispatch");
    }

    // Latency: one dispatch at a time.
    let samples = 20_000;
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        peer.request("dispatch", params.clone())
            .await
            .expect("dispatch");
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let median = latencies[samples / 2];
    let p99 = latencies[samples * 99 / 100];

    // Throughput: 64 dispatches in flight.
    let total = 100_000usize;
    let in_flight = 64usize;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let peer = peer.clone();
        let params = params.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / in_flight {
                peer.request("dispatch", params.clone())
                    .await
                    .expect("dispatch");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let elapsed = started.elapsed();
    let done = (total / in_flight) * in_flight;
    let per_second = done as f64 / elapsed.as_secs_f64();

    // Sequential throughput too, for comparison.
    let sequential_per_second =
        1.0 / (latencies.iter().sum::<Duration>().as_secs_f64() / samples as f64);

    println!("worker/dispatch round trip (no-op handler, Unix socket)");
    println!(
        "  median latency        {:>10.1} µs   (target < 100 µs: {:.2}x of target)",
        median.as_secs_f64() * 1e6,
        median.as_secs_f64() * 1e6 / 100.0
    );
    println!(
        "  p99 latency           {:>10.1} µs",
        p99.as_secs_f64() * 1e6
    );
    println!(
        "  sequential            {:>10.0} dispatches/s",
        sequential_per_second
    );
    println!(
        "  64 in flight          {:>10.0} dispatches/s (target ≥ 20,000: {:.2}x of target)",
        per_second,
        per_second / 20_000.0
    );

    peer.notify("shutdown", Value::Null).expect("shutdown");
    drop(connection);
    let _ = worker.join();
}

/// Builds the echo worker in release mode and returns its executable.
fn echo_worker() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_owned();
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "echo-worker",
            "--bin",
            "echo-worker",
            "--message-format=json",
        ])
        .current_dir(root)
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "echo-worker")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn idle_memory(dir: &std::path::Path) {
    let Some(binary) = echo_worker() else {
        println!("worker/idle memory: echo-worker did not build; skipped");
        return;
    };
    let socket = dir.join("idle.sock");
    let listener = UnixListener::bind(&socket).expect("bind");
    let mut child = tokio::process::Command::new(&binary)
        .arg("--socket")
        .arg(&socket)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("echo-worker starts");
    let pid = child.id().expect("pid");
    let connection = accept(&listener).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = vm_rss_kib(pid);
    let _ = connection.peer.notify("shutdown", Value::Null);
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    match rss {
        Some(kib) => println!(
            "worker/idle memory: echo-worker (release) VmRSS {:.1} MB after handshake (target < 10 MB: {:.2}x of target)",
            kib as f64 / 1024.0,
            kib as f64 / 1024.0 / 10.0
        ),
        None => println!("worker/idle memory: VmRSS unreadable"),
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent; stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("worker bench: run with `cargo bench -p pragma-sdk --bench worker`");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        round_trips(dir.path()).await;
        idle_memory(dir.path()).await;
    });
}
