//! `pragma-local serve --worker PATH` hosts the worker's provider.

mod worker_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use pragma_sdk::models::{LifecycleState, RawResource};
use pragma_sdk::AsyncPragmaClient;
use serde_json::json;

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_hosts_the_worker_given_with_the_flag() {
    let worker = worker_support::echo_worker_binary();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_pragma-local"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir.path())
            .arg("--worker")
            .arg(&worker)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = AsyncPragmaClient::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .no_auth()
        .build()
        .unwrap();

    let mut types = Vec::new();
    for _ in 0..200 {
        if let Ok(found) = client.list_resource_types(Some("echo")).await {
            if !found.is_empty() {
                types = found;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<_> = types.iter().map(|t| t.resource.as_str()).collect();
    assert_eq!(names, ["message", "pair"]);

    let mut resource = RawResource::new("echo", "message", "hi");
    resource.config = json!({"text": "served"}).as_object().unwrap().clone();
    resource.lifecycle_state = LifecycleState::Pending;
    client.apply_resource(&resource).await.unwrap();
    for _ in 0..200 {
        let current = client.get_resource("echo", "message", "hi").await.unwrap();
        if current.lifecycle_state == LifecycleState::Ready {
            assert_eq!(current.outputs["echo"], "served");
            return;
        }
        assert_ne!(
            current.lifecycle_state,
            LifecycleState::Failed,
            "{:?}",
            current.error
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the resource did not become ready");
}

#[test]
fn two_workers_announcing_one_provider_are_refused() {
    let worker = worker_support::echo_worker_binary();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_pragma-local"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .arg("--worker")
            .arg(&worker)
            .arg("--worker")
            .arg(&worker)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve kept running with two workers announcing the provider echo"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("a provider named \"echo\" is hosted already"),
        "{stderr}"
    );
}
