//! The worker side of the worker protocol, driven by a host written in the test over a real
//! Unix socket pair.

use std::time::Duration;

use pragma_sdk::authoring::{
    Config, Context, Lifecycle, LifecycleError, Outputs, Provider, ResourceType,
};
use pragma_sdk::models::{LogEntry, LogLevel, ResourceHealth, Timestamp};
use pragma_sdk::worker::frame::{read_frame, write_frame, MAX_FRAME_LEN};
use pragma_sdk::worker::rpc::{CallError, Connection, Incoming};
use pragma_sdk::worker::{serve_stream, WorkerError, WorkerIdentity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoteConfig {
    text: String,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    fail: bool,
    #[serde(default)]
    panic: bool,
}
impl Config for NoteConfig {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct NoteOutputs {
    echo: String,
}
impl Outputs for NoteOutputs {
    type Refs = ();
    fn refs(_: &str, _: &str, _: &str) {}
}

#[derive(Default)]
struct Note;
impl ResourceType for Note {
    const PROVIDER: &'static str = "notes";
    const RESOURCE: &'static str = "note";
    type Config = NoteConfig;
    type Outputs = NoteOutputs;
}

async fn run(config: &NoteConfig, suffix: &str) -> Result<NoteOutputs, LifecycleError> {
    tokio::time::sleep(Duration::from_millis(config.delay_ms)).await;
    if config.panic {
        panic!("note handler exploded");
    }
    if config.fail {
        return Err(LifecycleError::infrastructure("the disk is full"));
    }
    Ok(NoteOutputs {
        echo: format!("{}{suffix}", config.text),
    })
}

impl Lifecycle for Note {
    const LOGS: bool = true;
    const HEALTH: bool = true;

    async fn on_create(&self, cx: &Context<Self>) -> Result<NoteOutputs, LifecycleError> {
        run(cx.config(), "").await
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        previous: &NoteConfig,
    ) -> Result<NoteOutputs, LifecycleError> {
        run(cx.config(), &format!(" (was {})", previous.text)).await
    }
    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        run(cx.config(), "").await.map(|_| ())
    }
    async fn health(&self, cx: &Context<Self>) -> Result<ResourceHealth, LifecycleError> {
        Ok(ResourceHealth {
            message: Some(format!("fine: {}", cx.name())),
            ..ResourceHealth::healthy()
        })
    }
    async fn logs(
        &self,
        cx: &Context<Self>,
        _since: Option<Timestamp>,
        tail: u32,
    ) -> Result<Vec<LogEntry>, LifecycleError> {
        Ok((0..tail)
            .map(|n| LogEntry {
                timestamp: Timestamp::now(),
                level: LogLevel::Warn,
                message: format!("{} line {n}", cx.name()),
                metadata: None,
            })
            .collect())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct HolderConfig {
    text: String,
}
impl Config for HolderConfig {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct HolderOutputs {
    child_echo: String,
}
impl Outputs for HolderOutputs {
    type Refs = ();
    fn refs(_: &str, _: &str, _: &str) {}
}

#[derive(Default)]
struct Holder;
impl ResourceType for Holder {
    const PROVIDER: &'static str = "notes";
    const RESOURCE: &'static str = "holder";
    type Config = HolderConfig;
    type Outputs = HolderOutputs;
}

impl Lifecycle for Holder {
    async fn on_create(&self, cx: &Context<Self>) -> Result<HolderOutputs, LifecycleError> {
        let child = NoteConfig {
            text: cx.config().text.clone(),
            delay_ms: 0,
            fail: false,
            panic: false,
        };
        let name = format!("{}-child", cx.name());
        cx.apply::<Note>(&name, &child).await?;
        let ready = cx.wait_ready::<Note>(&name, Duration::from_secs(3)).await?;
        Ok(HolderOutputs {
            child_echo: ready.outputs.echo,
        })
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        _: &HolderConfig,
    ) -> Result<HolderOutputs, LifecycleError> {
        self.on_create(cx).await
    }
    async fn on_delete(&self, _: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

fn provider() -> Provider {
    Provider::new("notes")
        .resource::<Note>()
        .unwrap()
        .resource::<Holder>()
        .unwrap()
}

fn identity() -> WorkerIdentity {
    WorkerIdentity::for_provider("notes")
}

/// Starts the worker on one end of a socket pair; returns the raw host end.
fn start_raw() -> (UnixStream, JoinHandle<Result<(), WorkerError>>) {
    let (host, worker) = UnixStream::pair().unwrap();
    let task = tokio::spawn(serve_stream(provider(), identity(), worker));
    (host, task)
}

/// Starts the worker and accepts its handshake; returns the host connection and the
/// handshake params.
async fn start() -> (Connection, Value, JoinHandle<Result<(), WorkerError>>) {
    let (host, task) = start_raw();
    let mut connection = Connection::start(host);
    let Some(Incoming::Request { id, method, params }) = connection.incoming.recv().await else {
        panic!("no handshake");
    };
    assert_eq!(method, "handshake");
    connection
        .peer
        .respond(id, Ok(json!({"protocol_version": 1})))
        .unwrap();
    (connection, params, task)
}

fn target(resource: &str, name: &str, config: Value) -> Value {
    json!({"project_id": "p", "resource": resource, "name": name, "config": config, "tags": null})
}

fn dispatch(event_type: &str, target: Value, previous: Value) -> Value {
    json!({
        "event_type": event_type,
        "target": target,
        "previous_config": previous,
        "resolved_files": {},
        "owner_reference": {"project_id": "p", "provider": "notes", "resource": "note", "name": "n"},
        "provider": "notes",
    })
}

#[tokio::test]
async fn handshake_announces_the_provider_and_its_types() {
    let (_connection, params, _task) = start().await;
    assert_eq!(params["protocol_versions"], json!([1]));
    assert_eq!(params["short_name"], "notes");
    assert_eq!(params["distribution"], "pragma-provider-notes");
    assert_eq!(params["package"], "pragma_provider_notes");
    assert_eq!(params["sdk_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        params["resource_types"],
        json!([
            {"resource": "holder", "observe": false, "computed": false, "logs": false, "health": false},
            {"resource": "note", "observe": false, "computed": false, "logs": true, "health": true},
        ])
    );
}

#[tokio::test]
async fn dispatch_create_update_delete() {
    let (connection, _, _task) = start().await;
    let peer = &connection.peer;

    let created = peer
        .request(
            "dispatch",
            dispatch(
                "CREATE",
                target("note", "n", json!({"text": "hi"})),
                Value::Null,
            ),
        )
        .await
        .unwrap();
    assert_eq!(created, json!({"echo": "hi"}));

    let updated = peer
        .request(
            "dispatch",
            dispatch(
                "UPDATE",
                target("note", "n", json!({"text": "ho"})),
                json!({"text": "hi"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(updated, json!({"echo": "ho (was hi)"}));

    let deleted = peer
        .request(
            "dispatch",
            dispatch(
                "DELETE",
                target("note", "n", json!({"text": "ho"})),
                Value::Null,
            ),
        )
        .await
        .unwrap();
    assert_eq!(deleted, Value::Null);
}

#[tokio::test]
async fn lifecycle_failure_is_an_internal_error_with_its_message() {
    let (connection, _, _task) = start().await;
    let err = connection
        .peer
        .request(
            "dispatch",
            dispatch(
                "CREATE",
                target("note", "n", json!({"text": "x", "fail": true})),
                Value::Null,
            ),
        )
        .await
        .unwrap_err();
    let CallError::Rpc(err) = err else {
        panic!("{err:?}")
    };
    assert_eq!(err.code, -32603);
    assert_eq!(err.message, "the disk is full");
}

#[tokio::test]
async fn dispatches_run_concurrently() {
    let (connection, _, _task) = start().await;
    let peer = connection.peer.clone();
    let slow = tokio::spawn({
        let peer = peer.clone();
        async move {
            let params = dispatch(
                "CREATE",
                target("note", "slow", json!({"text": "slow", "delay_ms": 400})),
                Value::Null,
            );
            let result = peer.request("dispatch", params).await;
            (result, tokio::time::Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fast = peer
        .request(
            "dispatch",
            dispatch(
                "CREATE",
                target("note", "fast", json!({"text": "fast"})),
                Value::Null,
            ),
        )
        .await
        .unwrap();
    let fast_done = tokio::time::Instant::now();
    let (slow_result, slow_done) = slow.await.unwrap();
    assert_eq!(fast, json!({"echo": "fast"}));
    assert_eq!(slow_result.unwrap(), json!({"echo": "slow"}));
    assert!(
        fast_done < slow_done,
        "the fast dispatch waited for the slow one"
    );
}

#[tokio::test]
async fn subresources_call_back_with_the_dispatch_id() {
    let (mut connection, _, _task) = start().await;
    let peer = connection.peer.clone();
    let dispatch_id = peer.reserve_id();
    let pending = tokio::spawn(peer.request_with_id(
        dispatch_id,
        "dispatch",
        dispatch(
            "CREATE",
            target("holder", "h", json!({"text": "inner"})),
            Value::Null,
        ),
    ));

    let Some(Incoming::Request { id, method, params }) = connection.incoming.recv().await else {
        panic!("no apply_resource");
    };
    assert_eq!(method, "apply_resource");
    assert_eq!(params["dispatch_id"], dispatch_id);
    assert_eq!(params["child"]["provider"], "notes");
    assert_eq!(params["child"]["resource"], "note");
    assert_eq!(params["child"]["name"], "h-child");
    assert_eq!(params["child"]["config"]["text"], "inner");
    assert_eq!(params["child"]["owner_references"][0]["resource"], "holder");
    assert_eq!(params["child"]["owner_references"][0]["name"], "h");
    peer.respond(id, Ok(Value::Null)).unwrap();

    let Some(Incoming::Request { id, method, params }) = connection.incoming.recv().await else {
        panic!("no wait_for_state");
    };
    assert_eq!(method, "wait_for_state");
    assert_eq!(params["dispatch_id"], dispatch_id);
    assert_eq!(params["resource_id"], "resource:notes_note_h-child");
    assert_eq!(params["target_state"], "ready");
    assert_eq!(params["timeout"], 3.0);
    peer.respond(
        id,
        Ok(json!({"lifecycle_state": "ready", "outputs": {"echo": "from the platform"}})),
    )
    .unwrap();

    let result = pending.await.unwrap().unwrap();
    assert_eq!(result, json!({"child_echo": "from the platform"}));
}

#[tokio::test]
async fn a_failed_subresource_fails_the_dispatch_naming_it() {
    let (mut connection, _, _task) = start().await;
    let peer = connection.peer.clone();
    let pending = tokio::spawn({
        let peer = peer.clone();
        async move {
            peer.request(
                "dispatch",
                dispatch(
                    "CREATE",
                    target("holder", "h", json!({"text": "x"})),
                    Value::Null,
                ),
            )
            .await
        }
    });
    let Some(Incoming::Request { id, .. }) = connection.incoming.recv().await else {
        panic!()
    };
    peer.respond(id, Ok(Value::Null)).unwrap();
    let Some(Incoming::Request { id, .. }) = connection.incoming.recv().await else {
        panic!()
    };
    peer.respond(
        id,
        Err(pragma_sdk::worker::rpc::RpcError::new(
            -32603,
            "resource:notes_note_h-child failed: quota",
        )),
    )
    .unwrap();
    let CallError::Rpc(err) = pending.await.unwrap().unwrap_err() else {
        panic!()
    };
    assert_eq!(err.code, -32603);
    assert!(
        err.message.contains("resource:notes_note_h-child"),
        "{}",
        err.message
    );
    assert!(err.message.contains("quota"), "{}", err.message);
}

#[tokio::test]
async fn logs_and_health() {
    let (connection, _, _task) = start().await;
    let query = json!({"target": target("note", "n", json!({"text": "t"})), "since": null, "tail": 2, "provider": "notes"});
    let logs = connection
        .peer
        .request("resource_logs", query.clone())
        .await
        .unwrap();
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[1]["message"], "n line 1");
    assert_eq!(logs[1]["level"], "warn");
    assert!(logs[0]["timestamp"].is_string());

    let health = connection
        .peer
        .request("resource_health", query)
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["message"], "fine: n");

    let unsupported = json!({"target": target("holder", "h", json!({"text": "t"})), "since": null, "tail": 2, "provider": "notes"});
    let CallError::Rpc(err) = connection
        .peer
        .request("resource_logs", unsupported)
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(err.code, -32603);
    assert!(
        err.message.contains("logs is not supported"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let (connection, _, _task) = start().await;
    let CallError::Rpc(err) = connection
        .peer
        .request("observe", json!({}))
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(err.code, -32601);
    assert!(err.message.contains("observe"));
}

#[tokio::test]
async fn invalid_params_name_the_field() {
    let (connection, _, _task) = start().await;
    let peer = &connection.peer;

    let CallError::Rpc(err) = peer
        .request(
            "dispatch",
            dispatch(
                "CREATE",
                target("note", "n", json!({"text": 5})),
                Value::Null,
            ),
        )
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(err.code, -32602);
    assert!(
        err.message.contains("config") && err.message.contains("text"),
        "{}",
        err.message
    );
    assert_eq!(err.data.unwrap()["field"], "config.text");

    let mut broken = dispatch(
        "CREATE",
        target("note", "n", json!({"text": "x"})),
        Value::Null,
    );
    broken["target"].as_object_mut().unwrap().remove("name");
    let CallError::Rpc(err) = peer.request("dispatch", broken).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(err.code, -32602);
    assert!(err.message.contains("target"), "{}", err.message);

    let mut bad_event = dispatch(
        "CREATE",
        target("note", "n", json!({"text": "x"})),
        Value::Null,
    );
    bad_event["event_type"] = json!("EXPLODE");
    let CallError::Rpc(err) = peer.request("dispatch", bad_event).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(err.code, -32602);
    assert!(err.message.contains("event_type"), "{}", err.message);

    let CallError::Rpc(err) = peer
        .request(
            "dispatch",
            dispatch("CREATE", target("bucket", "n", json!({})), Value::Null),
        )
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(err.code, -32602);
    assert!(err.message.contains("bucket"), "{}", err.message);
}

#[tokio::test]
async fn a_panicking_handler_is_answered_and_the_worker_goes_on() {
    let (connection, _, task) = start().await;
    let CallError::Rpc(err) = connection
        .peer
        .request(
            "dispatch",
            dispatch(
                "CREATE",
                target("note", "n", json!({"text": "x", "panic": true})),
                Value::Null,
            ),
        )
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(err.code, -32603);
    assert!(
        err.message.contains("note handler exploded"),
        "{}",
        err.message
    );

    let after = connection
        .peer
        .request(
            "dispatch",
            dispatch(
                "CREATE",
                target("note", "n", json!({"text": "still here"})),
                Value::Null,
            ),
        )
        .await
        .unwrap();
    assert_eq!(after["echo"], "still here");
    assert!(!task.is_finished());
}

#[tokio::test]
async fn shutdown_finishes_open_dispatches_then_closes() {
    let (connection, _, task) = start().await;
    let pending = tokio::spawn(connection.peer.request_with_id(
        connection.peer.reserve_id(),
        "dispatch",
        dispatch(
            "CREATE",
            target("note", "n", json!({"text": "late", "delay_ms": 200})),
            Value::Null,
        ),
    ));
    tokio::time::sleep(Duration::from_millis(30)).await;
    connection.peer.notify("shutdown", Value::Null).unwrap();
    assert_eq!(pending.await.unwrap().unwrap()["echo"], "late");
    task.await.unwrap().unwrap();
}

async fn raw_handshake(host: &mut UnixStream) {
    let body = read_frame(host).await.unwrap().unwrap();
    let request: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(request["method"], "handshake");
    let answer = json!({"jsonrpc": "2.0", "id": request["id"], "result": {"protocol_version": 1}});
    write_frame(host, &serde_json::to_vec(&answer).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection() {
    let (mut host, task) = start_raw();
    raw_handshake(&mut host).await;
    host.write_all(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes())
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let Err(WorkerError::ConnectionLost(reason)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("67108865") && reason.contains("limit"),
        "{reason}"
    );
    // The worker shut its side: the host reads end of stream.
    assert!(read_frame(&mut host).await.unwrap().is_none());
}

#[tokio::test]
async fn invalid_utf8_closes_the_connection() {
    let (mut host, task) = start_raw();
    raw_handshake(&mut host).await;
    write_frame(&mut host, &[0xc3, 0x28, 0xff]).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let Err(WorkerError::ConnectionLost(reason)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("UTF-8"), "{reason}");
}

#[tokio::test]
async fn invalid_json_closes_the_connection() {
    let (mut host, task) = start_raw();
    raw_handshake(&mut host).await;
    write_frame(&mut host, b"{\"jsonrpc\": \"2.0\", \"id\": ")
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let Err(WorkerError::ConnectionLost(reason)) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("not JSON"), "{reason}");
}

#[tokio::test]
async fn a_refused_version_stops_the_worker() {
    let (mut host, task) = start_raw();
    let body = read_frame(&mut host).await.unwrap().unwrap();
    let request: Value = serde_json::from_slice(&body).unwrap();
    let answer = json!({
        "jsonrpc": "2.0",
        "id": request["id"],
        "error": {"code": -32001, "message": "unsupported", "data": {"protocol_version": 2}},
    });
    write_frame(&mut host, &serde_json::to_vec(&answer).unwrap())
        .await
        .unwrap();
    let outcome = task.await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(WorkerError::UnsupportedVersion { host: Some(2) })
        ),
        "{outcome:?}"
    );
}
