//! Wire models: the JSON shapes of the published Pragmatiks HTTP API.
//!
//! These are plain data types with no I/O. Every struct matches one schema of the API, key for
//! key; optional keys are `Option`s and keys the server fills with a default decode to that
//! default when absent. Typed views over these models (a resource whose config and outputs are
//! Rust structs) live in [`crate::authoring`].
//!
//! Keys a newer server adds are ignored. Limitation: a value of an enumerated field that the
//! spec does not list (a new `lifecycle_state` or build `status`, say) fails the decode of
//! the whole answer; only [`HealthStatus`] has a catch-all variant.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A JSON object, as used for configs, outputs, schemas and payloads.
pub type JsonObject = Map<String, Value>;

/// A point in time as the API writes it (ISO 8601).
///
/// Decoding accepts an RFC 3339 timestamp with an offset, and also a timestamp without one,
/// which is taken as UTC. Encoding always writes RFC 3339 in UTC.
///
/// ```
/// use pragma_sdk::models::Timestamp;
///
/// let t: Timestamp = serde_json::from_str("\"2026-01-02T03:04:05\"").unwrap();
/// assert_eq!(t.to_string(), "2026-01-02T03:04:05+00:00");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(Utc::now())
    }

    /// Parses an ISO 8601 timestamp, with or without an offset (no offset means UTC).
    ///
    /// # Errors
    ///
    /// Returns the parse error's text when `text` is not such a timestamp.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp(t.with_timezone(&Utc)));
        }
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|naive| Timestamp(naive.and_utc()))
            .map_err(|err| format!("invalid timestamp {text:?}: {err}"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The lifecycle state of a resource.
///
/// `draft` is stored without processing; `pending` is queued for its provider; `processing`,
/// `ready` and `failed` are set by the platform only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleState {
    /// Stored but not submitted for processing.
    #[default]
    Draft,
    /// Validated and queued for its provider.
    Pending,
    /// Its provider is working on it.
    Processing,
    /// Provisioned; its outputs are current.
    Ready,
    /// Processing failed; the resource's `error` says why.
    Failed,
}

impl LifecycleState {
    /// The state's name on the wire (`"draft"`, `"pending"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Draft => "draft",
            LifecycleState::Pending => "pending",
            LifecycleState::Processing => "processing",
            LifecycleState::Ready => "ready",
            LifecycleState::Failed => "failed",
        }
    }

    /// Whether the platform is done with the resource for now (`ready` or `failed`).
    pub fn is_settled(self) -> bool {
        matches!(self, LifecycleState::Ready | LifecycleState::Failed)
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    /// The resource is created for the first time.
    Create,
    /// The resource's config (or something it references) changed.
    Update,
    /// The resource is removed.
    Delete,
}

impl EventType {
    /// The event type's name on the wire (`"CREATE"`, `"UPDATE"`, `"DELETE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "CREATE",
            EventType::Update => "UPDATE",
            EventType::Delete => "DELETE",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds the id of a resource: `resource:{provider}_{resource}_{name}`, with every `/` of the
/// resource type written as `_`.
///
/// The id is not percent-encoded here; the client encodes it as one path segment.
///
/// ```
/// assert_eq!(
///     pragma_sdk::models::resource_id("gcp", "storage/bucket", "logs"),
///     "resource:gcp_storage_bucket_logs"
/// );
/// ```
pub fn resource_id(provider: &str, resource: &str, name: &str) -> String {
    format!("resource:{provider}_{}_{name}", resource.replace('/', "_"))
}

/// A reference to another resource, used for dependency tracking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceReference {
    /// Provider that manages the referenced resource.
    pub provider: String,
    /// Resource type name.
    pub resource: String,
    /// Resource name.
    pub name: String,
    /// When the reference was created (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the reference was last updated (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl ResourceReference {
    /// A reference to the resource `provider`/`resource`/`name`.
    pub fn new(
        provider: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ResourceReference {
            provider: provider.into(),
            resource: resource.into(),
            name: name.into(),
            created_at: None,
            updated_at: None,
        }
    }

    /// The id of the referenced resource.
    pub fn id(&self) -> String {
        resource_id(&self.provider, &self.resource, &self.name)
    }
}

/// A reference to a resource that owns another one; owned resources are deleted with their
/// owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OwnerReference {
    /// Provider that manages the owner.
    pub provider: String,
    /// The owner's resource type.
    pub resource: String,
    /// The owner's name.
    pub name: String,
    /// When the reference was created (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the reference was last updated (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl OwnerReference {
    /// A reference to the owner `provider`/`resource`/`name`.
    pub fn new(
        provider: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        OwnerReference {
            provider: provider.into(),
            resource: resource.into(),
            name: name.into(),
            created_at: None,
            updated_at: None,
        }
    }

    /// The id of the owner.
    pub fn id(&self) -> String {
        resource_id(&self.provider, &self.resource, &self.name)
    }
}

/// A resource as the API sends and receives it, with config and outputs as raw JSON.
///
/// This is the schema `Resource` of the API. For a view with typed config and outputs see
/// [`crate::authoring::Resource`].
///
/// ```
/// use pragma_sdk::models::{LifecycleState, RawResource};
///
/// let raw: RawResource =
///     serde_json::from_str(r#"{"provider":"mycloud","resource":"database","name":"db"}"#)
///         .unwrap();
/// assert_eq!(raw.lifecycle_state, LifecycleState::Draft);
/// assert!(raw.config.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawResource {
    /// Provider that manages this resource type.
    pub provider: String,
    /// Resource type name.
    pub resource: String,
    /// Resource name, unique within its provider and type.
    pub name: String,
    /// What the user set; may hold field references and dependency markers.
    #[serde(default)]
    pub config: JsonObject,
    /// Resources this one depends on, beside those its config references.
    #[serde(default)]
    pub dependencies: Vec<ResourceReference>,
    /// Resources that own this one.
    #[serde(default)]
    pub owner_references: Vec<OwnerReference>,
    /// What the provider reported after processing.
    #[serde(default)]
    pub outputs: JsonObject,
    /// Why processing failed, when the state is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The lifecycle state.
    #[serde(default)]
    pub lifecycle_state: LifecycleState,
    /// The event being processed, while there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_event_id: Option<String>,
    /// Whether the resource was successfully created at least once.
    #[serde(default)]
    pub provisioned: bool,
    /// Tags for grouping and filtering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// When the resource was created (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the resource was last updated (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl RawResource {
    /// A new draft resource with an empty config.
    pub fn new(
        provider: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        RawResource {
            provider: provider.into(),
            resource: resource.into(),
            name: name.into(),
            config: JsonObject::new(),
            dependencies: Vec::new(),
            owner_references: Vec::new(),
            outputs: JsonObject::new(),
            error: None,
            lifecycle_state: LifecycleState::Draft,
            pending_event_id: None,
            provisioned: false,
            tags: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// The resource's id (`resource:{provider}_{resource}_{name}`).
    pub fn id(&self) -> String {
        resource_id(&self.provider, &self.resource, &self.name)
    }
}

/// A resource type as a provider registers it: its config and outputs schemas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDefinition {
    /// Provider that manages this resource type.
    pub provider: String,
    /// Resource type name.
    pub resource: String,
    /// JSON schema of the config.
    #[serde(default)]
    pub schema: JsonObject,
    /// JSON schema of the outputs.
    #[serde(default)]
    pub outputs_schema: JsonObject,
    /// What the resource type is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags for grouping and filtering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// When the definition was created (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the definition was last updated (server-populated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

/// The lifecycle status of one resource, without its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceStatus {
    /// The resource's id.
    pub resource_id: String,
    /// Its lifecycle state.
    pub lifecycle_state: LifecycleState,
    /// Why processing failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// The health of a resource as its provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HealthStatus {
    /// Working as intended.
    Healthy,
    /// Not working.
    Unhealthy,
    /// Working, but not fully.
    Degraded,
    /// A status this SDK does not know.
    #[serde(other)]
    Unknown,
}

/// The health of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceHealth {
    /// Health state.
    pub status: HealthStatus,
    /// A human-readable description.
    #[serde(default)]
    pub message: Option<String>,
    /// Provider-specific details.
    #[serde(default)]
    pub details: Option<JsonObject>,
}

impl ResourceHealth {
    /// A healthy report with no message.
    pub fn healthy() -> Self {
        ResourceHealth {
            status: HealthStatus::Healthy,
            message: None,
            details: None,
        }
    }
}

/// The level of a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that did not stop the work.
    Warn,
    /// A failure.
    Error,
}

/// One log entry of a resource, as its provider reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When it was logged.
    pub timestamp: Timestamp,
    /// Its level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Structured detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
}

/// An event that failed after its last attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterEvent {
    /// The original event's id.
    pub event_id: String,
    /// Provider name.
    pub provider: String,
    /// Resource type name.
    pub resource_type: String,
    /// Resource name.
    pub resource_name: String,
    /// Which lifecycle method failed.
    pub event_type: EventType,
    /// The resource config the event carried.
    pub payload: JsonObject,
    /// The error of the last attempt.
    pub error_message: String,
    /// How many attempts were made.
    pub attempt_count: u32,
    /// When the last attempt failed.
    pub failed_at: Timestamp,
}

/// Whether an event was processed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    /// Created, not processed yet.
    #[default]
    Pending,
    /// Processed.
    Published,
}

/// A lifecycle event queued for processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// The event's id.
    pub event_id: String,
    /// Provider name.
    pub provider: String,
    /// Resource type name.
    pub resource_type: String,
    /// Resource name.
    pub resource_name: String,
    /// Which lifecycle method it runs.
    pub event_type: EventType,
    /// The resource config it carries.
    pub payload: JsonObject,
    /// The config before an update.
    #[serde(default)]
    pub previous_config: Option<JsonObject>,
    /// Id for tracing the event through the platform.
    pub correlation_id: String,
    /// Whether it was processed.
    #[serde(default)]
    pub status: OutboxStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was processed.
    #[serde(default)]
    pub published_at: Option<Timestamp>,
}

/// The state of a provider deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    /// Requested, not started.
    Pending,
    /// Starting.
    Progressing,
    /// Running and healthy.
    Available,
    /// Could not start.
    Failed,
}

/// A provider with its deployment status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// The provider's id (its name).
    pub provider_id: String,
    /// The deployed build's version, if any.
    #[serde(default)]
    pub current_version: Option<String>,
    /// The deployment's status, if deployed.
    #[serde(default)]
    pub deployment_status: Option<DeploymentStatus>,
    /// When the provider last changed.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// The deployment status of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStatus {
    /// The deployment's status.
    pub status: DeploymentStatus,
    /// The deployed build's version.
    #[serde(default)]
    pub version: Option<String>,
    /// When the deployment last changed.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// Whether the provider is running and answering.
    #[serde(default)]
    pub healthy: bool,
}

/// The state of a provider build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    /// Queued.
    Pending,
    /// Running.
    Building,
    /// Built.
    Success,
    /// Failed; the build's `error_message` says why.
    Failed,
}

/// One build of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The provider's id.
    pub provider_id: String,
    /// CalVer version (`YYYYMMDD.HHMMSS`).
    pub version: String,
    /// The build's state.
    pub status: BuildStatus,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error_message: Option<String>,
    /// When the build was created.
    pub created_at: Timestamp,
}

/// The answer to a push of provider code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// The version of the build the push started.
    pub version: String,
    /// The build's state.
    pub status: BuildStatus,
    /// A human-readable message.
    pub message: String,
}

/// A request to deploy a provider; no version means the latest successful build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The build to deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// What deleting a provider removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDeleteResult {
    /// The provider that was deleted.
    pub provider_id: String,
    /// Whether a running deployment was removed.
    #[serde(default)]
    pub deployment_deleted: bool,
    /// How many resources were deleted (with cascade).
    #[serde(default)]
    pub resources_deleted: u64,
}

/// The authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user's id.
    pub user_id: String,
    /// The user's primary email address.
    pub email: Option<String>,
    /// The organization's id.
    pub organization_id: String,
    /// The organization's name.
    pub organization_name: Option<String>,
}

/// One element of a validation error's location: a key or an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocationItem {
    /// An object key.
    Key(String),
    /// A list index.
    Index(i64),
}

impl fmt::Display for LocationItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationItem::Key(key) => f.write_str(key),
            LocationItem::Index(index) => write!(f, "{index}"),
        }
    }
}

/// One validation failure: where, what, and its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    /// The path to the offending value (`["body", "config", "size_gb"]`).
    pub loc: Vec<LocationItem>,
    /// What is wrong.
    pub msg: String,
    /// The kind of error (`"missing"`, `"value_error"`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path: Vec<String> = self.loc.iter().map(ToString::to_string).collect();
        write!(f, "{}: {}", path.join("."), self.msg)
    }
}

/// The body of an error response: `{"detail": …}`, either a message or a list of validation
/// failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub detail: ErrorDetail,
}

/// The `detail` of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// A plain message (404, 409, 401, …).
    Message(String),
    /// Validation failures (422).
    Validation(Vec<ValidationError>),
    /// Any other JSON the server sent.
    Other(Value),
}

impl fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorDetail::Message(message) => f.write_str(message),
            ErrorDetail::Validation(errors) => {
                let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))
            }
            ErrorDetail::Other(value) => write!(f, "{value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_defaults_fill_absent_keys() {
        let raw: RawResource =
            serde_json::from_str(r#"{"provider":"p","resource":"a/b","name":"n"}"#).unwrap();
        assert_eq!(raw.id(), "resource:p_a_b_n");
        assert_eq!(raw.lifecycle_state, LifecycleState::Draft);
        assert!(!raw.provisioned);
        assert!(raw.tags.is_none());
    }

    #[test]
    fn resource_without_server_fields_serializes_without_them() {
        let raw = RawResource::new("p", "t", "n");
        let json = serde_json::to_value(&raw).unwrap();
        let object = json.as_object().unwrap();
        assert!(!object.contains_key("created_at"));
        assert!(!object.contains_key("tags"));
        assert_eq!(object["lifecycle_state"], "draft");
    }

    #[test]
    fn timestamps_with_and_without_offset_decode() {
        let with = Timestamp::parse("2026-01-02T03:04:05.123+02:00").unwrap();
        let without = Timestamp::parse("2026-01-02T01:04:05.123").unwrap();
        assert_eq!(with, without);
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn error_detail_decodes_both_shapes() {
        let message: ErrorBody = serde_json::from_str(r#"{"detail":"not found"}"#).unwrap();
        assert_eq!(message.detail.to_string(), "not found");
        let validation: ErrorBody = serde_json::from_str(
            r#"{"detail":[{"loc":["body","config",0],"msg":"bad","type":"value_error"}]}"#,
        )
        .unwrap();
        assert_eq!(validation.detail.to_string(), "body.config.0: bad");
    }

    #[test]
    fn unknown_health_status_is_not_an_error() {
        let health: ResourceHealth = serde_json::from_str(r#"{"status":"sleepy"}"#).unwrap();
        assert_eq!(health.status, HealthStatus::Unknown);
    }
}
