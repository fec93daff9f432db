//! The host side of the worker protocol against `examples/echo-worker` running as a real
//! worker process.

mod worker_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pragma_local::hosted::HostedProvider;
use pragma_local::workers::{accept_handshake, WorkerError, WorkerProvider, WorkerSpec};
use pragma_sdk::authoring::{DispatchError, DispatchRequest, RuntimeBackend, Target};
use pragma_sdk::models::{EventType, HealthStatus, LifecycleState};
use pragma_sdk::worker::frame::{read_frame, write_frame};
use serde_json::{json, Value};
use worker_support::{echo_worker_binary, RecordingBackend};

fn spec(dir: &Path) -> WorkerSpec {
    WorkerSpec::new(echo_worker_binary())
        .socket_dir(dir)
        .handshake_timeout(Duration::from_secs(10))
        .restart_backoff(Duration::from_millis(50), Duration::from_millis(500))
}

fn request(event_type: EventType, resource: &str, name: &str, config: Value) -> DispatchRequest {
    DispatchRequest {
        event_type,
        target: Target {
            resource: resource.into(),
            name: name.into(),
            config: config.as_object().unwrap().clone(),
            outputs: None,
            tags: None,
        },
        previous_config: None,
    }
}

fn backend() -> Arc<dyn RuntimeBackend> {
    RecordingBackend::ready_with(json!({}))
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn create_update_delete_through_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProvider::start(spec(dir.path())).await.unwrap();
    assert_eq!(HostedProvider::name(&worker), "echo");
    let pid = worker.pid().unwrap();

    let definitions = worker.definitions();
    let names: Vec<_> = definitions.iter().map(|d| d.resource.as_str()).collect();
    assert_eq!(names, ["message", "pair"]);
    assert!(
        definitions[0].schema["properties"]["text"].is_object(),
        "{:?}",
        definitions[0].schema
    );
    assert_eq!(
        definitions[0].description.as_deref(),
        Some("Echoes its text back as outputs.")
    );

    let created = worker
        .dispatch(
            request(EventType::Create, "message", "m", json!({"text": "héllo"})),
            backend(),
        )
        .await
        .unwrap();
    assert_eq!(created["echo"], "héllo");
    assert_eq!(created["length"], 5);
    assert_eq!(created["pid"], pid);

    let mut update = request(EventType::Update, "message", "m", json!({"text": "bye"}));
    update.previous_config = Some(json!({"text": "héllo"}).as_object().unwrap().clone());
    let updated = worker.dispatch(update, backend()).await.unwrap();
    assert_eq!(updated["echo"], "bye");

    let deleted = worker
        .dispatch(
            request(EventType::Delete, "message", "m", json!({"text": "bye"})),
            backend(),
        )
        .await
        .unwrap();
    assert_eq!(deleted, Value::Null);

    let failed = worker
        .dispatch(
            request(
                EventType::Create,
                "message",
                "m",
                json!({"text": "x", "fail": "no quota"}),
            ),
            backend(),
        )
        .await
        .unwrap_err();
    assert!(matches!(&failed, DispatchError::Lifecycle(_)), "{failed:?}");
    assert_eq!(failed.to_string(), "no quota");

    worker.shutdown().await;
    assert!(!worker.is_running());
    assert!(!process_exists(pid), "the worker exited on shutdown");
}

#[tokio::test]
async fn invalid_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProvider::start(spec(dir.path())).await.unwrap();
    let err = worker
        .dispatch(
            request(EventType::Create, "message", "m", json!({"text": 3})),
            backend(),
        )
        .await
        .unwrap_err();
    let DispatchError::InvalidParams {
        what,
        path,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*what, path.as_str()), ("config", "text"));
    assert!(!message.starts_with("invalid config"), "{message}");
    assert!(
        err.to_string().starts_with("invalid config at text: "),
        "{err}"
    );

    let err = worker
        .dispatch(
            request(EventType::Create, "volume", "v", json!({})),
            backend(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("volume"), "{err}");
    worker.shutdown().await;
}

#[tokio::test]
async fn a_worker_without_schemas_gets_empty_schemas_and_checks_configs_itself() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProvider::start(spec(dir.path()).read_schemas(false))
        .await
        .unwrap();
    let definitions = worker.definitions();
    assert_eq!(definitions.len(), 2);
    assert!(definitions
        .iter()
        .all(|d| d.schema.is_empty() && d.outputs_schema.is_empty()));
    let err = worker
        .dispatch(
            request(EventType::Create, "message", "m", json!({"nope": true})),
            backend(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DispatchError::InvalidParams { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("nope") || err.to_string().contains("text"),
        "{err}"
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn subresources_reach_the_dispatch_backend() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProvider::start(spec(dir.path())).await.unwrap();
    let recording =
        RecordingBackend::ready_with(json!({"echo": "child says hi", "length": 13, "pid": 1}));
    let backend: Arc<dyn RuntimeBackend> = recording.clone();
    let outputs = worker
        .dispatch(
            request(
                EventType::Create,
                "pair",
                "p",
                json!({"text": "hi", "wait_seconds": 2.5}),
            ),
            backend,
        )
        .await
        .unwrap();
    assert_eq!(outputs["child_echo"], "child says hi");
    assert_eq!(outputs["child_id"], "resource:echo_message_p-child");

    let applied = recording.applied.lock().unwrap().clone();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].resource, "message");
    assert_eq!(applied[0].name, "p-child");
    assert_eq!(applied[0].config["text"], "hi");
    assert_eq!(applied[0].owner_references[0].name, "p");
    let waits = recording.waits.lock().unwrap().clone();
    assert_eq!(
        waits,
        [(
            "resource:echo_message_p-child".to_owned(),
            LifecycleState::Ready,
            Duration::from_millis(2500)
        )]
    );

    let failing = Arc::new(RecordingBackend::default());
    let err = worker
        .dispatch(
            request(EventType::Create, "pair", "q", json!({"text": "hi"})),
            failing,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("resource:echo_message_q-child"),
        "{err}"
    );
    assert!(err.to_string().contains("quota exceeded"), "{err}");
    worker.shutdown().await;
}

#[tokio::test]
async fn logs_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProvider::start(spec(dir.path())).await.unwrap();
    let types = &worker.handshake().resource_types;
    assert!(types
        .iter()
        .any(|t| t.resource == "message" && t.logs && t.health));
    assert!(types
        .iter()
        .any(|t| t.resource == "pair" && !t.logs && !t.health));

    let target = request(EventType::Create, "message", "m", json!({"text": "abc"})).target;
    let logs = worker
        .logs(target.clone(), None, 2, backend())
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].message, "m #0: abc");

    let health = worker.health(target, backend()).await.unwrap();
    assert_eq!(health.status, HealthStatus::Healthy);
    assert_eq!(health.message.as_deref(), Some("echoing 3 characters"));

    let sick = request(
        EventType::Create,
        "message",
        "m",
        json!({"text": "abc", "fail": "x"}),
    )
    .target;
    assert_eq!(
        worker.health(sick, backend()).await.unwrap().status,
        HealthStatus::Unhealthy
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_worker_killed_mid_dispatch_is_unavailable_then_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let worker = WorkerProvider::start(spec(dir.path())).await.unwrap();
    let first_pid = worker.pid().unwrap();

    let slow = tokio::spawn({
        let worker = worker.clone();
        async move {
            worker
                .dispatch(
                    request(
                        EventType::Create,
                        "message",
                        "m",
                        json!({"text": "slow", "delay_ms": 10000}),
                    ),
                    backend(),
                )
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &first_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let err = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, DispatchError::Unavailable(_)), "{err:?}");

    assert!(worker.wait_running(Duration::from_secs(10)).await);
    let second_pid = worker.pid().unwrap();
    assert_ne!(first_pid, second_pid);
    assert_eq!(worker.restarts(), 1);

    // The engine's retry of the event reaches the new process.
    let retried = worker
        .dispatch(
            request(EventType::Create, "message", "m", json!({"text": "slow"})),
            backend(),
        )
        .await
        .unwrap();
    assert_eq!(retried["pid"], second_pid);
    worker.shutdown().await;
    assert!(!process_exists(second_pid));
}

#[tokio::test]
async fn a_worker_that_never_handshakes_is_killed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let spec = WorkerSpec::new("sh")
        .args(["-c", "exec sleep 30", "stalling-worker"])
        .read_schemas(false)
        .socket_dir(dir.path())
        .handshake_timeout(Duration::from_millis(400));
    let started = std::time::Instant::now();
    let err = WorkerProvider::start(spec).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let WorkerError::HandshakeTimeout {
        pid: Some(pid),
        timeout,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(timeout, Duration::from_millis(400));
    assert!(
        !process_exists(pid),
        "the stalled worker {pid} was killed and reaped"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the socket was removed"
    );
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = WorkerSpec::new(dir.path().join("no-such-worker")).socket_dir(dir.path());
    let err = WorkerProvider::start(spec).await.unwrap_err();
    assert!(matches!(err, WorkerError::Spawn { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_refused_with_32001() {
    let (host, mut worker) = tokio::net::UnixStream::pair().unwrap();
    let accepting =
        tokio::spawn(async move { accept_handshake(host, Path::new("future-worker")).await });
    let handshake = json!({
        "jsonrpc": "2.0", "id": 1, "method": "handshake",
        "params": {
            "protocol_versions": [2, 3], "sdk_version": "9.0", "distribution": "d",
            "short_name": "future", "package": "p", "resource_types": [],
        },
    });
    write_frame(&mut worker, &serde_json::to_vec(&handshake).unwrap())
        .await
        .unwrap();
    let answer: Value =
        serde_json::from_slice(&read_frame(&mut worker).await.unwrap().unwrap()).unwrap();
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["error"]["code"], -32001);
    assert_eq!(answer["error"]["data"], json!({"protocol_version": 1}));
    let err = accepting.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("[2, 3]"), "{err}");
}

#[tokio::test]
async fn a_first_request_other_than_handshake_is_refused() {
    let (host, mut worker) = tokio::net::UnixStream::pair().unwrap();
    let accepting =
        tokio::spawn(async move { accept_handshake(host, Path::new("rude-worker")).await });
    let hello = json!({"jsonrpc": "2.0", "id": 7, "method": "apply_resource", "params": {}});
    write_frame(&mut worker, &serde_json::to_vec(&hello).unwrap())
        .await
        .unwrap();
    let answer: Value =
        serde_json::from_slice(&read_frame(&mut worker).await.unwrap().unwrap()).unwrap();
    assert_eq!(answer["error"]["code"], -32602);
    assert!(accepting.await.unwrap().is_err());
}

/// Set, to its socket path, when this test binary runs as [`misbehaving_worker`].
const MISBEHAVING_SOCKET: &str = "PRAGMA_TEST_MISBEHAVING_WORKER_SOCKET";

/// Not a test of its own: when this test binary is started with [`MISBEHAVING_SOCKET`] set,
/// it is a worker that handshakes and then sends a frame that is not JSON. Without it, it does
/// nothing.
#[test]
fn misbehaving_worker() {
    let Some(socket) = std::env::var_os(MISBEHAVING_SOCKET) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
        let handshake = json!({
            "jsonrpc": "2.0", "id": 1, "method": "handshake",
            "params": {
                "protocol_versions": [1], "sdk_version": "0.1.0", "distribution": "bad",
                "short_name": "bad", "package": "bad", "resource_types": [],
            },
        });
        write_frame(&mut stream, &serde_json::to_vec(&handshake).unwrap())
            .await
            .unwrap();
        read_frame(&mut stream).await.unwrap().unwrap();
        write_frame(&mut stream, b"this is not JSON").await.unwrap();
        // Stays until the host hangs up or kills it.
        let _ = read_frame(&mut stream).await;
    });
}

#[tokio::test]
async fn a_worker_that_keeps_failing_after_its_handshake_is_restarted_ever_more_slowly() {
    let dir = tempfile::tempdir().unwrap();
    let this_binary = std::env::current_exe().unwrap();
    let script =
        format!("{MISBEHAVING_SOCKET}=\"$2\" exec \"$0\" --exact misbehaving_worker --quiet");
    let spec = WorkerSpec::new("sh")
        .args(["-c".to_owned(), script, this_binary.display().to_string()])
        .read_schemas(false)
        .socket_dir(dir.path())
        .handshake_timeout(Duration::from_secs(10))
        .restart_backoff(Duration::from_millis(50), Duration::from_millis(500));
    let worker = WorkerProvider::start(spec).await.unwrap();
    assert_eq!(worker.handshake().short_name, "bad");

    // Waits of 50, 100, 200, 400, then 500 ms: about 8 restarts in 3 s. Without a growing
    // wait it would be one every 50 ms and the time to start the process.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarts = worker.restarts();
    assert!((2..=10).contains(&restarts), "{restarts} restarts in 3 s");
    worker.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_exits_before_its_handshake_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = WorkerSpec::new("sh")
        .args(["-c", "exit 3", "quitting-worker"])
        .read_schemas(false)
        .socket_dir(dir.path())
        .handshake_timeout(Duration::from_secs(30));
    let started = std::time::Instant::now();
    let err = WorkerProvider::start(spec).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not the whole handshake timeout"
    );
    let WorkerError::Exited { status, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(status.contains('3'), "{status}");
    assert!(
        err.to_string().contains("exited before its handshake"),
        "{err}"
    );
}
