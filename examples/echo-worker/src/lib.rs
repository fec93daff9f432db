//! An example provider, `echo`, meant to run as a worker process.
//!
//! - `message` echoes its `text` back as outputs; it can be told to wait (`delay_ms`), to fail
//!   (`fail`) or to panic (`panic`), and it reports logs and health.
//! - `pair` applies a `message` subresource called `{name}-child` and waits for it to be ready,
//!   returning the child's echo.
#![warn(missing_docs)]

use std::time::Duration;

use pragma_sdk::authoring::{
    Config, Context, Lifecycle, LifecycleError, Outputs, Provider, ResourceType,
};
use pragma_sdk::models::{HealthStatus, JsonObject, LogEntry, LogLevel, ResourceHealth, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The provider's name.
pub const PROVIDER: &str = "echo";

/// The config of a `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageConfig {
    /// What to echo.
    pub text: String,
    /// Milliseconds to wait before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// Fail with this message instead of answering.
    #[serde(default)]
    pub fail: Option<String>,
    /// Panic instead of answering.
    #[serde(default)]
    pub panic: bool,
}

impl Config for MessageConfig {}

/// The outputs of a `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageOutputs {
    /// The text echoed.
    pub echo: String,
    /// Its length in characters.
    pub length: u64,
    /// Which process answered.
    pub pid: u32,
}

impl Outputs for MessageOutputs {
    type Refs = ();

    fn refs(_provider: &str, _resource: &str, _name: &str) -> Self::Refs {}
}

/// A resource that echoes its config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Message;

impl ResourceType for Message {
    const PROVIDER: &'static str = PROVIDER;
    const RESOURCE: &'static str = "message";
    const DESCRIPTION: Option<&'static str> = Some("Echoes its text back as outputs.");
    type Config = MessageConfig;
    type Outputs = MessageOutputs;
}

async fn echo(config: &MessageConfig) -> Result<MessageOutputs, LifecycleError> {
    if config.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(config.delay_ms)).await;
    }
    if config.panic {
        panic!("asked to panic");
    }
    if let Some(message) = &config.fail {
        return Err(LifecycleError::infrastructure(message.clone()));
    }
    Ok(MessageOutputs {
        echo: config.text.clone(),
        length: config.text.chars().count() as u64,
        pid: std::process::id(),
    })
}

impl Lifecycle for Message {
    const LOGS: bool = true;
    const HEALTH: bool = true;

    async fn on_create(&self, cx: &Context<Self>) -> Result<MessageOutputs, LifecycleError> {
        echo(cx.config()).await
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &MessageConfig,
    ) -> Result<MessageOutputs, LifecycleError> {
        echo(cx.config()).await
    }

    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        echo(cx.config()).await.map(|_| ())
    }

    async fn health(&self, cx: &Context<Self>) -> Result<ResourceHealth, LifecycleError> {
        let status = if cx.config().fail.is_some() {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Healthy
        };
        Ok(ResourceHealth {
            status,
            message: Some(format!(
                "echoing {} characters",
                cx.config().text.chars().count()
            )),
            details: None,
        })
    }

    async fn logs(
        &self,
        cx: &Context<Self>,
        _since: Option<Timestamp>,
        tail: u32,
    ) -> Result<Vec<LogEntry>, LifecycleError> {
        let entries = (0..tail.min(3))
            .map(|n| LogEntry {
                timestamp: Timestamp::now(),
                level: LogLevel::Info,
                message: format!("{} #{n}: {}", cx.name(), cx.config().text),
                metadata: Some(JsonObject::new()),
            })
            .collect();
        Ok(entries)
    }
}

/// The config of a `pair`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairConfig {
    /// What the child echoes.
    pub text: String,
    /// Seconds to wait for the child.
    #[serde(default = "default_wait")]
    pub wait_seconds: f64,
}

fn default_wait() -> f64 {
    10.0
}

impl Config for PairConfig {}

/// The outputs of a `pair`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PairOutputs {
    /// The child's id.
    pub child_id: String,
    /// The child's echo.
    pub child_echo: String,
}

impl Outputs for PairOutputs {
    type Refs = ();

    fn refs(_provider: &str, _resource: &str, _name: &str) -> Self::Refs {}
}

/// A resource that owns a `message` subresource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pair;

impl ResourceType for Pair {
    const PROVIDER: &'static str = PROVIDER;
    const RESOURCE: &'static str = "pair";
    const DESCRIPTION: Option<&'static str> = Some("Owns a message subresource.");
    type Config = PairConfig;
    type Outputs = PairOutputs;
}

impl Pair {
    async fn run(&self, cx: &Context<Self>) -> Result<PairOutputs, LifecycleError> {
        let child = format!("{}-child", cx.name());
        let config = MessageConfig {
            text: cx.config().text.clone(),
            delay_ms: 0,
            fail: None,
            panic: false,
        };
        cx.apply::<Message>(&child, &config).await?;
        let wait = Duration::from_secs_f64(cx.config().wait_seconds.clamp(0.0, 3600.0));
        let ready = cx.wait_ready::<Message>(&child, wait).await?;
        Ok(PairOutputs {
            child_id: Message::resource_id(&child),
            child_echo: ready.outputs.echo,
        })
    }
}

impl Lifecycle for Pair {
    async fn on_create(&self, cx: &Context<Self>) -> Result<PairOutputs, LifecycleError> {
        self.run(cx).await
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &PairConfig,
    ) -> Result<PairOutputs, LifecycleError> {
        self.run(cx).await
    }

    async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

/// The `echo` provider with both resource types.
///
/// ```
/// let provider = echo_worker::provider();
/// assert!(provider.has_type("message") && provider.has_type("pair"));
/// ```
pub fn provider() -> Provider {
    let provider = Provider::new(PROVIDER);
    match provider
        .resource::<Message>()
        .and_then(|p| p.resource::<Pair>())
    {
        Ok(provider) => provider,
        // Both types belong to this provider under distinct names.
        Err(err) => unreachable!("echo provider assembles: {err}"),
    }
}
