//! The built-in provider `pragma`, with its resource type `secret`: a map of string values
//! that other resources read through field references to `config.data.<key>`.
//!
//! Its outputs list only the keys, never the values, and its config's `Debug` form redacts
//! the values, so a secret's values do not reach the logs.

use std::collections::BTreeMap;
use std::fmt;

use pragma_sdk::authoring::{
    Config, Context, FieldRef, FieldReference, Lifecycle, LifecycleError, Outputs, Provider,
    ProviderError, ResourceType,
};
use serde::{Deserialize, Serialize};

/// The built-in provider's name.
pub const PROVIDER: &str = "pragma";

/// Whether `name` belongs to a built-in provider. Such names are reserved: a provider of that
/// name cannot be pushed, deployed, deleted or hosted from a worker, since resources of
/// built-in types (such as secrets) are handed to whoever hosts the name.
pub fn is_reserved(name: &str) -> bool {
    name == PROVIDER
}

/// What a secret holds: named string values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// The values by key.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

impl fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted: BTreeMap<&str, &str> = self
            .data
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("SecretConfig")
            .field("data", &redacted)
            .finish()
    }
}

impl Config for SecretConfig {}

/// What a secret exposes: its keys, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecretOutputs {
    /// The keys of `data`, sorted.
    pub keys: Vec<String>,
}

/// Typed references to a secret's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretOutputRefs {
    /// The reference to `outputs.keys`.
    pub keys: FieldRef<Vec<String>>,
}

impl Outputs for SecretOutputs {
    type Refs = SecretOutputRefs;

    fn refs(provider: &str, resource: &str, name: &str) -> Self::Refs {
        SecretOutputRefs {
            keys: FieldRef::new(FieldReference {
                provider: provider.to_owned(),
                resource: resource.to_owned(),
                name: name.to_owned(),
                field: "outputs.keys".to_owned(),
            }),
        }
    }
}

/// The resource type `pragma/secret`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Secret;

impl ResourceType for Secret {
    const PROVIDER: &'static str = PROVIDER;
    const RESOURCE: &'static str = "secret";
    const DESCRIPTION: Option<&'static str> =
        Some("Named string values that other resources reference by key.");

    type Config = SecretConfig;
    type Outputs = SecretOutputs;
}

fn keys(config: &SecretConfig) -> SecretOutputs {
    SecretOutputs {
        keys: config.data.keys().cloned().collect(),
    }
}

impl Lifecycle for Secret {
    async fn on_create(&self, cx: &Context<Self>) -> Result<SecretOutputs, LifecycleError> {
        Ok(keys(cx.config()))
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &SecretConfig,
    ) -> Result<SecretOutputs, LifecycleError> {
        Ok(keys(cx.config()))
    }

    async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

/// The built-in provider `pragma`.
///
/// # Errors
///
/// A [`ProviderError`] if its types clash (they do not; the error is passed on rather than
/// hidden).
pub fn provider() -> Result<Provider, ProviderError> {
    Provider::new(PROVIDER).resource::<Secret>()
}
