//! Recovery: a `pragma-local serve` process killed with SIGKILL while events are in flight is
//! started again on the same data directory, and every resource still reaches `ready`.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Api;
use serde_json::json;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Served {
    child: Child,
    api: Api,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(data_dir: &std::path::Path) -> Served {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_pragma-local"))
        .args(["serve", "--demo-slow-provider", "--retry-delay-ms", "10"])
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = Api::new(format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(response) = api.http.get(format!("{}/health", api.base)).send().await {
            if response.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Served { child, api }
}

fn slow(name: &str, value: serde_json::Value, state: &str) -> serde_json::Value {
    json!({"provider": "demo", "resource": "slow", "name": name,
           "config": {"delay_ms": 400, "value": value}, "lifecycle_state": state})
}

#[tokio::test]
async fn work_in_flight_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path()).await;
    for i in 0..20 {
        let (status, body) = served
            .api
            .apply(slow(&format!("s{i}"), json!(format!("v{i}")), "pending"))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let reference = json!({"provider": "demo", "resource": "slow", "name": "s0",
                           "field": "outputs.value"});
    assert_eq!(
        served
            .api
            .apply(slow("dependent", reference, "pending"))
            .await
            .0,
        200
    );
    assert_eq!(
        served.api.apply(slow("draft", json!("d"), "draft")).await.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, s0) = served.api.resource("resource:demo_slow_s0").await;
    assert_eq!(s0["lifecycle_state"], "processing", "killed mid-processing");

    served.child.kill().unwrap();
    served.child.wait().unwrap();
    drop(served);

    let served = serve(dir.path()).await;
    let (_, listed) = served.api.get("/resources/?provider=demo").await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        22,
        "nothing applied was lost"
    );
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (_, listed) = served.api.get("/resources/?provider=demo").await;
        let unsettled: Vec<&serde_json::Value> = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"] != "draft" && r["lifecycle_state"] != "ready")
            .collect();
        if unsettled.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still unsettled: {unsettled:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, dependent) = served.api.resource("resource:demo_slow_dependent").await;
    assert_eq!(dependent["outputs"]["value"], "v0");
    let (_, draft) = served.api.resource("resource:demo_slow_draft").await;
    assert_eq!(draft["lifecycle_state"], "draft");
    let (_, s7) = served.api.resource("resource:demo_slow_s7").await;
    assert_eq!(s7["outputs"]["value"], "v7");
    assert_eq!(s7["provisioned"], true);
}
