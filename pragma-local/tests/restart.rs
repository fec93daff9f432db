//! Recovery: a `pragma-local serve` process killed with SIGKILL while events are in flight is
//! started again on the same data directory, and every resource still reaches `ready`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pragma_sdk::client::ListFilter;
use pragma_sdk::models::{LifecycleState, RawResource};
use pragma_sdk::AsyncPragmaClient;
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
    client: AsyncPragmaClient,
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
    let client = AsyncPragmaClient::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .no_auth()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.is_healthy().await {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Served { child, client }
}

fn slow(name: &str, value: serde_json::Value, state: LifecycleState) -> RawResource {
    let mut raw = RawResource::new("demo", "slow", name);
    raw.config = json!({"delay_ms": 400, "value": value})
        .as_object()
        .cloned()
        .unwrap();
    raw.lifecycle_state = state;
    raw
}

async fn demo(served: &Served) -> Vec<RawResource> {
    served
        .client
        .list_resources(&ListFilter::new().provider("demo"))
        .await
        .unwrap()
}

#[tokio::test]
async fn work_in_flight_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path()).await;
    for i in 0..20 {
        let resource = slow(
            &format!("s{i}"),
            json!(format!("v{i}")),
            LifecycleState::Pending,
        );
        served.client.apply_resource(&resource).await.unwrap();
    }
    let reference = json!({"provider": "demo", "resource": "slow", "name": "s0",
                           "field": "outputs.value"});
    let dependent = slow("dependent", reference, LifecycleState::Pending);
    served.client.apply_resource(&dependent).await.unwrap();
    let draft = slow("draft", json!("d"), LifecycleState::Draft);
    served.client.apply_resource(&draft).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let s0 = served
        .client
        .get_resource("demo", "slow", "s0")
        .await
        .unwrap();
    assert_eq!(
        s0.lifecycle_state,
        LifecycleState::Processing,
        "killed mid-processing"
    );

    served.child.kill().unwrap();
    served.child.wait().unwrap();
    drop(served);

    let served = serve(dir.path()).await;
    assert_eq!(demo(&served).await.len(), 22, "nothing applied was lost");
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let unsettled: Vec<RawResource> = demo(&served)
            .await
            .into_iter()
            .filter(|r| r.name != "draft" && r.lifecycle_state != LifecycleState::Ready)
            .collect();
        if unsettled.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still unsettled: {unsettled:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dependent = served
        .client
        .get_resource("demo", "slow", "dependent")
        .await
        .unwrap();
    assert_eq!(dependent.outputs["value"], "v0");
    let draft = served
        .client
        .get_resource("demo", "slow", "draft")
        .await
        .unwrap();
    assert_eq!(draft.lifecycle_state, LifecycleState::Draft);
    let s7 = served
        .client
        .get_resource("demo", "slow", "s7")
        .await
        .unwrap();
    assert_eq!(s7.outputs["value"], "v7");
    assert!(s7.provisioned);
}

#[tokio::test]
async fn a_second_server_is_kept_out_of_a_data_dir_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(&data).await;
    served
        .client
        .apply_resource(&slow("kept", json!("v"), LifecycleState::Draft))
        .await
        .unwrap();

    let second = Command::new(env!("CARGO_BIN_EXE_pragma-local"))
        .args(["serve", "--bind"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || second.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is in use by another pragma-local"),
        "{stderr}"
    );

    assert_eq!(
        demo(&served).await.len(),
        1,
        "the first server is untouched"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the data dir is its owner's alone");
    }
}

#[tokio::test]
async fn nothing_new_may_reference_a_resource_being_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir.path().join("data")).await;
    let client = served.client.clone();
    let mut doomed = slow("doomed", json!("v"), LifecycleState::Pending);
    doomed.config.insert("delay_ms".to_owned(), json!(3000));
    client.apply_resource(&doomed).await.unwrap();
    let state = |wanted: LifecycleState| {
        let client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let found = client.get_resource("demo", "slow", "doomed").await.unwrap();
                if found.lifecycle_state == wanted {
                    return;
                }
                assert!(Instant::now() < deadline, "doomed did not become {wanted}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    state(LifecycleState::Ready).await;
    let deleting = tokio::spawn({
        let client = client.clone();
        async move { client.delete_resource("demo", "slow", "doomed").await }
    });
    // Its `on_delete` takes three seconds; the apply lands while it runs.
    state(LifecycleState::Processing).await;
    let reference = json!({"provider": "demo", "resource": "slow", "name": "doomed",
                           "field": "outputs.value"});
    let err = client
        .apply_resource(&slow("late", reference, LifecycleState::Pending))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err}");
    assert!(err.to_string().contains("is being deleted"), "{err}");
    deleting.await.unwrap().unwrap();
    assert!(demo(&served).await.is_empty(), "nothing dangles");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(&dir.path().join("data")).await;
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = served.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
}
