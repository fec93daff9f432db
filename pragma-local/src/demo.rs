//! A provider whose handlers sleep, for testing: it lets a test see resources in flight, kill
//! the platform while they are, and check that nothing is lost on restart.
//!
//! `pragma-local serve --demo-slow-provider` hosts it. Its type `demo/slow` takes
//! `delay_ms` (how long each handler sleeps, default 200) and `value` (copied to the outputs).

use std::time::Duration;

use pragma_sdk::authoring::{
    Config, Context, FieldRef, FieldReference, Lifecycle, LifecycleError, Outputs, Provider,
    ProviderError, ResourceType,
};
use serde::{Deserialize, Serialize};

/// The demo provider's name.
pub const PROVIDER: &str = "demo";

fn default_delay() -> u64 {
    200
}

/// Config of `demo/slow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowConfig {
    /// How long each handler sleeps, in milliseconds (at most a minute).
    #[serde(default = "default_delay")]
    #[schemars(range(max = 60000))]
    pub delay_ms: u64,
    /// Copied to the outputs; may be a field reference to a string.
    #[serde(default, deserialize_with = "string_or_resolved")]
    #[schemars(schema_with = "string_or_reference")]
    pub value: String,
}

impl Config for SlowConfig {}

/// The schema of a string that may also be given as a field reference.
pub fn string_or_reference(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "provider": {"type": "string"},
                    "resource": {"type": "string"},
                    "name": {"type": "string"},
                    "field": {"type": "string"}
                },
                "required": ["provider", "resource", "name", "field"],
                "additionalProperties": false
            }
        ]
    })
}

/// Decodes a string given as is or as a resolved field reference (its `resolved_value`).
///
/// # Errors
///
/// When the value is neither a string nor a resolved reference to one.
pub fn string_or_resolved<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Object(object) => match object.get("resolved_value") {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(other) => Err(D::Error::custom(format!(
                "reference resolved to {other}, expected a string"
            ))),
            None => Err(D::Error::custom(
                "expected a string or a resolved field reference",
            )),
        },
        other => Err(D::Error::custom(format!("expected a string, got {other}"))),
    }
}

/// Outputs of `demo/slow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlowOutputs {
    /// The config's value.
    pub value: String,
}

/// Typed references to the outputs of `demo/slow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowOutputRefs {
    /// The reference to `outputs.value`.
    pub value: FieldRef<String>,
}

impl Outputs for SlowOutputs {
    type Refs = SlowOutputRefs;

    fn refs(provider: &str, resource: &str, name: &str) -> Self::Refs {
        SlowOutputRefs {
            value: FieldRef::new(FieldReference {
                provider: provider.to_owned(),
                resource: resource.to_owned(),
                name: name.to_owned(),
                field: "outputs.value".to_owned(),
            }),
        }
    }
}

/// The resource type `demo/slow`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slow;

impl ResourceType for Slow {
    const PROVIDER: &'static str = PROVIDER;
    const RESOURCE: &'static str = "slow";
    const DESCRIPTION: Option<&'static str> = Some("Sleeps in every handler; for testing.");

    type Config = SlowConfig;
    type Outputs = SlowOutputs;
}

async fn nap(config: &SlowConfig) -> SlowOutputs {
    tokio::time::sleep(Duration::from_millis(config.delay_ms.min(60_000))).await;
    SlowOutputs {
        value: config.value.clone(),
    }
}

impl Lifecycle for Slow {
    async fn on_create(&self, cx: &Context<Self>) -> Result<SlowOutputs, LifecycleError> {
        Ok(nap(cx.config()).await)
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &SlowConfig,
    ) -> Result<SlowOutputs, LifecycleError> {
        Ok(nap(cx.config()).await)
    }

    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        nap(cx.config()).await;
        Ok(())
    }
}

/// The demo provider with its type `demo/slow`.
///
/// # Errors
///
/// A [`ProviderError`] if its types clash (they do not).
pub fn slow_provider() -> Result<Provider, ProviderError> {
    Provider::new(PROVIDER).resource::<Slow>()
}
