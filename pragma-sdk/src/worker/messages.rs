//! The params and results of the worker protocol's methods, as typed structs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::models::{JsonObject, LifecycleState, OwnerReference};

/// The protocol version this SDK speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One resource type as the handshake announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceTypeInfo {
    /// The type's name.
    pub resource: String,
    /// Whether the type observes its resources.
    #[serde(default)]
    pub observe: bool,
    /// Whether the type is computed.
    #[serde(default)]
    pub computed: bool,
    /// Whether the type reports logs.
    #[serde(default)]
    pub logs: bool,
    /// Whether the type reports health.
    #[serde(default)]
    pub health: bool,
}

/// The params of `handshake`, the worker's first request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeParams {
    /// The protocol versions the worker speaks.
    pub protocol_versions: Vec<u32>,
    /// The worker SDK's version.
    pub sdk_version: String,
    /// The provider's package name.
    pub distribution: String,
    /// The provider's name.
    pub short_name: String,
    /// The provider's module or crate.
    pub package: String,
    /// Its resource types.
    pub resource_types: Vec<ResourceTypeInfo>,
}

/// The result of `handshake`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeResult {
    /// The version both sides speak from now on.
    pub protocol_version: u32,
}

/// The resource a request is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetParams {
    /// The project.
    #[serde(default)]
    pub project_id: String,
    /// The resource type.
    pub resource: String,
    /// The resource's name.
    pub name: String,
    /// Its config, markers in place.
    pub config: JsonObject,
    /// Its tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Its current outputs, sent by the local platform on update and delete (not part of the
    /// published protocol; workers ignore it when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<JsonObject>,
}

/// The owner of a dispatch and of what it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerParams {
    /// The project.
    #[serde(default)]
    pub project_id: String,
    /// The owner's provider.
    pub provider: String,
    /// The owner's resource type.
    pub resource: String,
    /// The owner's name.
    pub name: String,
}

/// The params of `dispatch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchParams {
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub event_type: crate::models::EventType,
    /// The resource.
    pub target: TargetParams,
    /// The config before an update.
    #[serde(default)]
    pub previous_config: Option<JsonObject>,
    /// File references mapped to download URLs.
    #[serde(default)]
    pub resolved_files: JsonObject,
    /// The resource being handled.
    #[serde(default)]
    pub owner_reference: Option<OwnerParams>,
    /// The provider's name.
    #[serde(default)]
    pub provider: String,
}

/// The params of `resource_logs` and `resource_health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryParams {
    /// The resource.
    pub target: TargetParams,
    /// Only entries after this time (logs).
    #[serde(default)]
    pub since: Option<crate::models::Timestamp>,
    /// How many of the latest entries (logs).
    #[serde(default = "default_tail")]
    pub tail: u32,
    /// The provider's name.
    #[serde(default)]
    pub provider: String,
}

fn default_tail() -> u32 {
    100
}

/// A resource a dispatch applies, as `apply_resource` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildParams {
    /// The project.
    #[serde(default)]
    pub project_id: String,
    /// The child's provider.
    pub provider: String,
    /// The child's resource type.
    pub resource: String,
    /// The child's name.
    pub name: String,
    /// Its config.
    pub config: JsonObject,
    /// Its owners.
    #[serde(default)]
    pub owner_references: Vec<OwnerReference>,
    /// Its tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// The params of `apply_resource`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyResourceParams {
    /// The dispatch the request belongs to.
    pub dispatch_id: u64,
    /// The resource to apply.
    pub child: ChildParams,
}

/// The params of `wait_for_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitForStateParams {
    /// The dispatch the request belongs to.
    pub dispatch_id: u64,
    /// The resource waited for.
    pub resource_id: String,
    /// The state waited for.
    pub target_state: LifecycleState,
    /// How long to wait, in seconds.
    pub timeout: f64,
}

/// The result of `wait_for_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitForStateResult {
    /// The state reached.
    pub lifecycle_state: LifecycleState,
    /// The resource's outputs.
    #[serde(default)]
    pub outputs: Option<JsonObject>,
}

/// Decodes `params` as `T`, naming the offending field on failure (`target.config: …`).
///
/// # Errors
///
/// A message with the field's path and what is wrong there.
pub fn decode_params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(params).map_err(|err| {
        let path = err.path().to_string();
        format!("invalid params at {path}: {}", err.into_inner())
    })
}
