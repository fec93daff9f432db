//! A recording HTTP server on loopback for the client tests, and fixtures it answers with.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use pragma_sdk::{Config, Outputs, ResourceType};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// The raw query, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The client's address, which tells connections apart.
    pub peer: std::net::SocketAddr,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// `METHOD path?query`.
    pub fn line(&self) -> String {
        match &self.query {
            Some(query) => format!("{} {}?{}", self.method, self.path, query),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: body.into().into_bytes(),
            delay: None,
        }
    }

    pub fn raw(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            content_type,
            body: body.into(),
            delay: None,
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

#[derive(Clone)]
struct ServerState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    responder: Arc<Responder>,
}

/// A server on 127.0.0.1 with a free port, recording every request.
pub struct TestServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: body.to_vec(),
        peer,
    };
    let reply = (state.responder)(&recorded);
    state.requests.lock().unwrap().push(recorded);
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap())
        .header("content-type", reply.content_type)
        .body(Body::from(reply.body))
        .unwrap()
}

impl TestServer {
    pub async fn start(responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_router(
            |state| Router::new().fallback(handle).with_state(state),
            responder,
        )
        .await
    }

    async fn start_router(
        router: impl FnOnce(ServerState) -> Router,
        responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = ServerState {
            requests: requests.clone(),
            responder: Arc::new(responder),
        };
        let app = router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        TestServer {
            url,
            requests,
            task,
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The last request.
    pub fn last(&self) -> Recorded {
        self.requests()
            .last()
            .cloned()
            .expect("no request was received")
    }

    /// Forgets the requests so far.
    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }

    /// An async client for this server, without a token.
    pub fn client(&self) -> pragma_sdk::AsyncPragmaClient {
        pragma_sdk::ClientBuilder::new()
            .base_url(&self.url)
            .no_auth()
            .build()
            .unwrap()
    }

    /// A blocking client for this server, without a token.
    pub fn blocking_client(&self) -> pragma_sdk::PragmaClient {
        pragma_sdk::ClientBuilder::new()
            .base_url(&self.url)
            .no_auth()
            .build_blocking()
            .unwrap()
    }
}

/// The config of the hand-written test resource type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    pub region: String,
    pub size_gb: u32,
}

impl Config for BucketConfig {}

/// The outputs of the hand-written test resource type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BucketOutputs {
    pub url: String,
}

impl Outputs for BucketOutputs {
    type Refs = ();

    fn refs(_provider: &str, _resource: &str, _name: &str) {}
}

/// A resource type written by hand: `mycloud` / `storage/bucket`.
pub struct Bucket;

impl ResourceType for Bucket {
    const PROVIDER: &'static str = "mycloud";
    const RESOURCE: &'static str = "storage/bucket";
    type Config = BucketConfig;
    type Outputs = BucketOutputs;
}

/// A stored bucket resource called `name`, ready, with outputs.
pub fn bucket_json(name: &str, state: &str) -> String {
    serde_json::json!({
        "provider": "mycloud",
        "resource": "storage/bucket",
        "name": name,
        "config": {"region": "eu-west-1", "size_gb": 10},
        "dependencies": [],
        "owner_references": [],
        "outputs": {"url": format!("https://buckets.example/{name}")},
        "lifecycle_state": state,
        "provisioned": true,
        "tags": ["prod"],
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:06.5+00:00"
    })
    .to_string()
}

pub const DEAD_LETTER: &str = r#"{
    "event_id": "evt-1",
    "provider": "mycloud",
    "resource_type": "storage/bucket",
    "resource_name": "logs",
    "event_type": "CREATE",
    "payload": {"region": "eu-west-1"},
    "error_message": "quota exceeded",
    "attempt_count": 3,
    "failed_at": "2026-01-02T03:04:05"
}"#;

pub const OUTBOX_EVENT: &str = r#"{
    "event_id": "evt-1",
    "provider": "mycloud",
    "resource_type": "storage/bucket",
    "resource_name": "logs",
    "event_type": "CREATE",
    "payload": {"region": "eu-west-1"},
    "previous_config": null,
    "correlation_id": "corr-9",
    "status": "pending",
    "created_at": "2026-01-02T03:04:05Z",
    "published_at": null
}"#;

pub const USER: &str = r#"{"user_id":"u-1","email":"ada@example.com","organization_id":"org-1","organization_name":"Analytical"}"#;

pub const RESOURCE_TYPES: &str = r#"[{"provider":"mycloud","resource":"storage/bucket","schema":{"type":"object"},"outputs_schema":{},"description":"A bucket"}]"#;

pub const STATUS: &str = r#"{"resource_id":"resource:mycloud_storage_bucket_logs","lifecycle_state":"failed","error":"boom"}"#;

pub const LOGS: &str = r#"[{"timestamp":"2026-01-02T03:04:05Z","level":"info","message":"created","metadata":{"k":"v"}},{"timestamp":"2026-01-02T03:04:06Z","level":"error","message":"oops"}]"#;

pub const HEALTH: &str = r#"{"status":"degraded","message":"slow","details":{"latency_ms":900}}"#;

pub const PROVIDERS: &str = r#"[{"provider_id":"mycloud","current_version":"20260102.030405","deployment_status":"available","updated_at":"2026-01-02T03:04:05Z"},{"provider_id":"fresh","current_version":null,"deployment_status":null}]"#;

pub const BUILDS: &str = r#"[
    {"provider_id":"mycloud","version":"20260103.000000","status":"failed","error_message":"compile error","created_at":"2026-01-03T00:00:00Z"},
    {"provider_id":"mycloud","version":"20260102.030405","status":"success","created_at":"2026-01-02T03:04:05Z"},
    {"provider_id":"mycloud","version":"20260101.120000","status":"success","created_at":"2026-01-01T12:00:00Z"},
    {"provider_id":"mycloud","version":"20251231.120000","status":"success","created_at":"2025-12-31T12:00:00Z"}
]"#;

pub const BUILD: &str = r#"{"provider_id":"mycloud","version":"20260102.030405","status":"building","created_at":"2026-01-02T03:04:05Z"}"#;

pub const PUSH: &str =
    r#"{"version":"20260102.030405","status":"pending","message":"build started"}"#;

pub const DEPLOYMENT: &str = r#"{"status":"available","version":"20260102.030405","updated_at":"2026-01-02T03:04:05Z","healthy":true}"#;

pub const DEPLOYING: &str =
    r#"{"status":"progressing","version":"20260101.120000","healthy":false}"#;

pub const PROVIDER_DELETED: &str =
    r#"{"provider_id":"mycloud","deployment_deleted":true,"resources_deleted":4}"#;
