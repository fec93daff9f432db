//! Shared pieces of the integration tests: a provider `test` whose handlers record every call,
//! a small raw HTTP wrapper, and waiting for states over the API.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pragma_local::demo::{string_or_reference, string_or_resolved};
use pragma_local::{EphemeralServer, Platform, PlatformBuilder};
use pragma_sdk::authoring::{
    Config, Context, FieldRef, FieldReference, Lifecycle, LifecycleError, Outputs, Provider,
    ResourceType,
};
use pragma_sdk::models::EventType;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One handler call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub event: EventType,
    pub resource: &'static str,
    pub name: String,
    pub value: String,
    pub previous: Option<String>,
    pub upstream: Option<Value>,
}

/// Every call the test provider's handlers saw, and knobs for failures.
#[derive(Debug, Default)]
pub struct Recorder {
    pub calls: Mutex<Vec<Call>>,
    pub failures_left: AtomicU32,
}

impl Recorder {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn count(&self, event: EventType, name: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.event == event && c.name == name)
            .count()
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoConfig {
    #[serde(default, deserialize_with = "string_or_resolved")]
    #[schemars(schema_with = "string_or_reference")]
    pub value: String,
    /// Anything, e.g. a dependency marker.
    #[serde(default)]
    pub upstream: Option<Value>,
    #[serde(default)]
    pub size_gb: Option<u32>,
}

impl Config for EchoConfig {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EchoOutputs {
    pub value: String,
}

pub struct EchoRefs {
    pub value: FieldRef<String>,
}

impl Outputs for EchoOutputs {
    type Refs = EchoRefs;
    fn refs(provider: &str, resource: &str, name: &str) -> EchoRefs {
        EchoRefs {
            value: FieldRef::new(FieldReference {
                provider: provider.into(),
                resource: resource.into(),
                name: name.into(),
                field: "outputs.value".into(),
            }),
        }
    }
}

macro_rules! test_type {
    ($ty:ident, $name:literal) => {
        pub struct $ty(pub Arc<Recorder>);
        impl ResourceType for $ty {
            const PROVIDER: &'static str = "test";
            const RESOURCE: &'static str = $name;
            type Config = EchoConfig;
            type Outputs = EchoOutputs;
        }
    };
}

test_type!(Echo, "echo");
test_type!(Flaky, "flaky");
test_type!(Parent, "parent");

fn call<R: ResourceType<Config = EchoConfig>>(
    event: EventType,
    cx: &Context<R>,
    previous: Option<&EchoConfig>,
) -> Call {
    Call {
        event,
        resource: R::RESOURCE,
        name: cx.name().to_owned(),
        value: cx.config().value.clone(),
        previous: previous.map(|p| p.value.clone()),
        upstream: cx.config().upstream.clone(),
    }
}

impl Lifecycle for Echo {
    const LOGS: bool = true;

    async fn logs(
        &self,
        cx: &Context<Self>,
        since: Option<pragma_sdk::models::Timestamp>,
        tail: u32,
    ) -> Result<Vec<pragma_sdk::models::LogEntry>, LifecycleError> {
        let entry = pragma_sdk::models::LogEntry {
            timestamp: pragma_sdk::models::Timestamp::now(),
            level: pragma_sdk::models::LogLevel::Info,
            message: format!("{} says {}", cx.name(), cx.config().value),
            metadata: Some(
                json!({"tail": tail, "since": since.map(|s| s.to_string())})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        };
        Ok(vec![entry])
    }

    async fn on_create(&self, cx: &Context<Self>) -> Result<EchoOutputs, LifecycleError> {
        self.0.record(call(EventType::Create, cx, None));
        Ok(EchoOutputs {
            value: cx.config().value.clone(),
        })
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        previous: &EchoConfig,
    ) -> Result<EchoOutputs, LifecycleError> {
        self.0.record(call(EventType::Update, cx, Some(previous)));
        Ok(EchoOutputs {
            value: cx.config().value.clone(),
        })
    }
    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        self.0.record(call(EventType::Delete, cx, None));
        Ok(())
    }
}

impl Flaky {
    fn attempt(&self) -> Result<(), LifecycleError> {
        let left = self.0.failures_left.load(Ordering::SeqCst);
        if left > 0 {
            self.0.failures_left.store(left - 1, Ordering::SeqCst);
            return Err(LifecycleError::infrastructure(format!(
                "backend unavailable ({left} failures left)"
            )));
        }
        Ok(())
    }
}

impl Lifecycle for Flaky {
    const HEALTH: bool = true;

    async fn health(
        &self,
        _cx: &Context<Self>,
    ) -> Result<pragma_sdk::models::ResourceHealth, LifecycleError> {
        self.attempt()?;
        Ok(pragma_sdk::models::ResourceHealth::healthy())
    }

    async fn on_create(&self, cx: &Context<Self>) -> Result<EchoOutputs, LifecycleError> {
        self.0.record(call(EventType::Create, cx, None));
        self.attempt()?;
        Ok(EchoOutputs {
            value: cx.config().value.clone(),
        })
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        previous: &EchoConfig,
    ) -> Result<EchoOutputs, LifecycleError> {
        self.0.record(call(EventType::Update, cx, Some(previous)));
        self.attempt()?;
        Ok(EchoOutputs {
            value: cx.config().value.clone(),
        })
    }
    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        self.0.record(call(EventType::Delete, cx, None));
        self.attempt()
    }
}

impl Lifecycle for Parent {
    async fn on_create(&self, cx: &Context<Self>) -> Result<EchoOutputs, LifecycleError> {
        self.0.record(call(EventType::Create, cx, None));
        let child = format!("{}-child", cx.name());
        let config = EchoConfig {
            value: format!("child of {}", cx.name()),
            ..EchoConfig::default()
        };
        if cx.config().value == "flaky" {
            cx.apply::<Flaky>(&child, &config).await?;
            let ready = cx
                .wait_ready::<Flaky>(&child, Duration::from_secs(5))
                .await?;
            return Ok(EchoOutputs {
                value: ready.outputs.value,
            });
        }
        cx.apply::<Echo>(&child, &config).await?;
        let ready = cx
            .wait_ready::<Echo>(&child, Duration::from_secs(5))
            .await?;
        Ok(EchoOutputs {
            value: ready.outputs.value,
        })
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &EchoConfig,
    ) -> Result<EchoOutputs, LifecycleError> {
        self.on_create(cx).await
    }
    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        self.0.record(call(EventType::Delete, cx, None));
        Ok(())
    }
}

/// The provider `test` with its types sharing `recorder`.
pub fn test_provider(recorder: &Arc<Recorder>) -> Provider {
    Provider::new("test")
        .resource_with(Echo(recorder.clone()))
        .unwrap()
        .resource_with(Flaky(recorder.clone()))
        .unwrap()
        .resource_with(Parent(recorder.clone()))
        .unwrap()
}

/// A served platform hosting the test provider, with fast retries.
pub async fn start(recorder: &Arc<Recorder>) -> EphemeralServer {
    start_with(recorder, |b| b).await
}

/// As [`start`], with the builder adjusted by `adjust`.
pub async fn start_with(
    recorder: &Arc<Recorder>,
    adjust: impl FnOnce(PlatformBuilder) -> PlatformBuilder,
) -> EphemeralServer {
    let builder = Platform::builder()
        .in_memory()
        .retry(3, Duration::from_millis(10))
        .provider(test_provider(recorder));
    adjust(builder)
        .build()
        .unwrap()
        .spawn_ephemeral()
        .await
        .unwrap()
}

/// A JSON resource body.
pub fn resource(kind: &str, name: &str, config: Value, state: &str) -> Value {
    json!({"provider": "test", "resource": kind, "name": name, "config": config,
           "lifecycle_state": state})
}

/// A field reference to `outputs.value` of `test/echo/<name>`.
pub fn value_of(name: &str) -> Value {
    json!({"provider": "test", "resource": "echo", "name": name, "field": "outputs.value"})
}

pub fn echo_id(name: &str) -> String {
    format!("resource:test_echo_{name}")
}

/// A small raw HTTP wrapper over the API, for input the SDK client cannot send.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Self {
        Api {
            base: base.into(),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub async fn apply(&self, body: Value) -> (u16, Value) {
        self.post("/resources/apply", Some(body)).await
    }

    pub async fn resource(&self, id: &str) -> (u16, Value) {
        self.get(&format!("/resources/{id}")).await
    }

    /// Polls until resource `id` is in `state`; panics after five seconds.
    pub async fn wait_state(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = self.resource(id).await;
            if status == 200 && body["lifecycle_state"] == state {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{id} did not become {state}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The SDK client for a served platform, without credentials.
pub fn client(server: &EphemeralServer) -> pragma_sdk::AsyncPragmaClient {
    pragma_sdk::AsyncPragmaClient::builder()
        .base_url(server.base_url())
        .no_auth()
        .build()
        .unwrap()
}

/// A raw resource of the test provider.
pub fn raw(
    kind: &str,
    name: &str,
    config: Value,
    state: pragma_sdk::models::LifecycleState,
) -> pragma_sdk::models::RawResource {
    let mut raw = pragma_sdk::models::RawResource::new("test", kind, name);
    raw.config = config.as_object().cloned().unwrap_or_default();
    raw.lifecycle_state = state;
    raw
}

/// Polls through the client until `provider/resource/name` is in `state`; panics after five
/// seconds.
pub async fn wait_for(
    client: &pragma_sdk::AsyncPragmaClient,
    (provider, resource, name): (&str, &str, &str),
    state: pragma_sdk::models::LifecycleState,
) -> pragma_sdk::models::RawResource {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = client.get_resource(provider, resource, name).await;
        if let Ok(raw) = &found {
            if raw.lifecycle_state == state {
                return raw.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not become {state}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first validation failure of a 422: its location (as strings), message and kind.
pub fn first_violation(err: &pragma_sdk::Error) -> (Vec<String>, String, String) {
    assert_eq!(err.status().map(|s| s.as_u16()), Some(422), "{err}");
    match err.detail() {
        Some(pragma_sdk::models::ErrorDetail::Validation(errors)) => {
            let first = &errors[0];
            (
                first.loc.iter().map(ToString::to_string).collect(),
                first.msg.clone(),
                first.kind.clone(),
            )
        }
        other => panic!("expected validation errors, got {other:?}"),
    }
}

/// The message of an error answer.
pub fn message(err: &pragma_sdk::Error) -> String {
    match err.detail() {
        Some(detail) => detail.to_string(),
        None => panic!("no detail in {err}"),
    }
}
