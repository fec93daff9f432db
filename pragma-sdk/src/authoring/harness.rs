//! A test harness for providers: runs lifecycle events for a resource type through
//! [`Provider::dispatch`], the same decode and validate path the platform uses, resolves the
//! references and dependencies in configs the way the platform would, and answers the
//! handlers' subresource requests itself.
//!
//! ```
//! use pragma_sdk::authoring::ProviderHarness;
//! use pragma_sdk::{Config, Context, Lifecycle, LifecycleError, Outputs, Provider, ResourceType};
//!
//! #[derive(Config, Debug, Clone)]
//! pub struct BucketConfig {
//!     #[pragma(length(min = 3))]
//!     pub name: String,
//! }
//! #[derive(Outputs, Debug, Clone, PartialEq)]
//! pub struct BucketOutputs {
//!     pub url: String,
//! }
//! /// A storage bucket.
//! #[derive(ResourceType, Default)]
//! #[pragma(provider = "mycloud", resource = "bucket", config = BucketConfig, outputs = BucketOutputs)]
//! pub struct Bucket;
//!
//! impl Lifecycle for Bucket {
//!     async fn on_create(&self, cx: &Context<Self>) -> Result<BucketOutputs, LifecycleError> {
//!         Ok(BucketOutputs { url: format!("s3://{}", cx.config().name) })
//!     }
//!     async fn on_update(&self, cx: &Context<Self>, _previous: &BucketConfig) -> Result<BucketOutputs, LifecycleError> {
//!         self.on_create(cx).await
//!     }
//!     async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let harness = ProviderHarness::new(Provider::new("mycloud").resource::<Bucket>().unwrap());
//! let result = harness.create::<Bucket>("logs", &BucketConfig { name: "logs".into() }).await;
//! assert!(result.success);
//! assert_eq!(result.outputs_as::<BucketOutputs>().unwrap().url, "s3://logs");
//! # });
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::authoring::context::{
    BackendError, BoxFuture, ChildResource, RuntimeBackend, WaitOutcome,
};
use crate::authoring::lifecycle::LifecycleError;
use crate::authoring::provider::{DispatchError, DispatchRequest, Provider, Target};
use crate::authoring::reference::FieldReference;
use crate::authoring::resource::{Resource, ResourceType};
use crate::decode::{self, DecodeError};
use crate::models::{
    EventType, JsonObject, LifecycleState, LogEntry, RawResource, ResourceHealth, Timestamp,
};

/// What kind of failure a harness run reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HarnessErrorKind {
    /// The provider has no such resource type.
    UnknownResourceType,
    /// The config, previous config or outputs did not decode or validate.
    InvalidParams,
    /// The handler refused the config ([`LifecycleError::InvalidConfig`]).
    InvalidConfig,
    /// The handler reported an infrastructure failure.
    Infrastructure,
    /// The handler used a dependency that was not resolved.
    DependencyNotReady,
    /// A subresource failed, timed out or could not be applied.
    Subresource,
    /// The operation is not supported by the resource type.
    NotSupported,
    /// The handler panicked.
    Panicked,
    /// The test's own input could not be turned into an event (a config that does not
    /// serialize to an object, an output that does not decode).
    Harness,
    /// Any other failure.
    Other,
}

/// A failure reported by a harness run: its kind and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HarnessError {
    /// What kind of failure.
    pub kind: HarnessErrorKind,
    /// The message the platform would record as the resource's error.
    pub message: String,
}

impl HarnessError {
    fn harness(message: impl Into<String>) -> Self {
        HarnessError {
            kind: HarnessErrorKind::Harness,
            message: message.into(),
        }
    }
}

impl From<DispatchError> for HarnessError {
    fn from(err: DispatchError) -> Self {
        let kind = match &err {
            DispatchError::UnknownResourceType { .. } => HarnessErrorKind::UnknownResourceType,
            DispatchError::InvalidParams { .. } => HarnessErrorKind::InvalidParams,
            DispatchError::Panicked(_) => HarnessErrorKind::Panicked,
            DispatchError::Lifecycle(lifecycle) => match lifecycle {
                LifecycleError::InvalidConfig { .. } => HarnessErrorKind::InvalidConfig,
                LifecycleError::Infrastructure { .. } => HarnessErrorKind::Infrastructure,
                LifecycleError::DependencyNotReady { .. } => HarnessErrorKind::DependencyNotReady,
                LifecycleError::Subresource { .. } => HarnessErrorKind::Subresource,
                LifecycleError::NotSupported(_) => HarnessErrorKind::NotSupported,
            },
            _ => HarnessErrorKind::Other,
        };
        HarnessError {
            kind,
            message: err.to_string(),
        }
    }
}

/// One lifecycle event as the harness dispatches it.
#[derive(Debug, Clone, PartialEq)]
pub struct HarnessEvent {
    /// Which handler runs.
    pub event_type: EventType,
    /// The resource type's name.
    pub resource: String,
    /// The resource's name.
    pub name: String,
    /// Its config; in the history, as dispatched (references resolved).
    pub config: JsonObject,
    /// The config before an update.
    pub previous_config: Option<JsonObject>,
    /// The resource's current outputs (update and delete).
    pub outputs: Option<JsonObject>,
    /// Its tags.
    pub tags: Option<Vec<String>>,
}

impl HarnessEvent {
    /// An event of `event_type` for the resource `resource`/`name` with a raw JSON config.
    pub fn new(
        event_type: EventType,
        resource: impl Into<String>,
        name: impl Into<String>,
        config: JsonObject,
    ) -> Self {
        HarnessEvent {
            event_type,
            resource: resource.into(),
            name: name.into(),
            config,
            previous_config: None,
            outputs: None,
            tags: None,
        }
    }

    /// The config before an update.
    pub fn with_previous_config(mut self, previous: JsonObject) -> Self {
        self.previous_config = Some(previous);
        self
    }

    /// The resource's current outputs.
    pub fn with_outputs(mut self, outputs: JsonObject) -> Self {
        self.outputs = Some(outputs);
        self
    }

    /// The resource's tags.
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = Some(tags.into_iter().map(Into::into).collect());
        self
    }
}

/// What one harness run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct HarnessResult {
    /// The event as dispatched, with references resolved.
    pub event: HarnessEvent,
    /// Whether the handler succeeded.
    pub success: bool,
    /// The outputs a create or update returned.
    pub outputs: Option<JsonObject>,
    /// Why it failed.
    pub error: Option<HarnessError>,
}

impl HarnessResult {
    /// The outputs decoded as `O`.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the run returned no outputs or they do not fit `O`.
    pub fn outputs_as<O: DeserializeOwned>(&self) -> Result<O, DecodeError> {
        match &self.outputs {
            Some(outputs) => decode::from_value(Value::Object(outputs.clone())),
            None => Err(DecodeError {
                path: ".".to_owned(),
                message: match &self.error {
                    Some(err) => format!("the run returned no outputs: {err}"),
                    None => "the run returned no outputs".to_owned(),
                },
            }),
        }
    }
}

/// How the harness answers for one subresource.
#[derive(Debug, Clone)]
enum Answer {
    Ready(JsonObject),
    Failed(String),
    Refused(String),
}

#[derive(Default)]
struct State {
    resources: BTreeMap<(String, String, String), RawResource>,
    values: HashMap<FieldReference, Value>,
    answers: HashMap<String, Answer>,
    applied: Vec<ChildResource>,
    history: Vec<HarnessResult>,
}

struct Shared {
    provider: Provider,
    state: Mutex<State>,
}

/// Runs a provider's lifecycle handlers in a test, with the platform's services played by
/// the harness.
///
/// - Configs go through [`Provider::dispatch`], so decoding, unknown-field refusal and
///   validation are what the platform runs.
/// - Field references and dependency markers in a config are rewritten into resolved markers
///   from the resources ([`ProviderHarness::register`]) and values
///   ([`ProviderHarness::set_field_value`]) the test registered; what the harness cannot
///   resolve stays unresolved, as on the platform before the referenced resource is ready.
/// - The harness is the handler's [`RuntimeBackend`]: subresource applies are recorded
///   ([`ProviderHarness::applied`]) and `wait_ready` is answered from outputs the test set
///   ([`ProviderHarness::set_subresource_outputs`]).
///
/// Cheap to clone; clones share the state.
///
/// Limitation: a registered resource resolves references whatever its lifecycle state, and
/// waiting for a subresource the test gave no answer for times out at once instead of
/// waiting.
#[derive(Clone)]
pub struct ProviderHarness {
    shared: Arc<Shared>,
}

impl fmt::Debug for ProviderHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderHarness")
            .field("provider", &self.shared.provider)
            .finish_non_exhaustive()
    }
}

fn to_object<S: Serialize + ?Sized>(value: &S, what: &str) -> Result<JsonObject, HarnessError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(HarnessError::harness(format!(
            "{what} must serialize to a JSON object, got {other}"
        ))),
        Err(err) => Err(HarnessError::harness(format!(
            "{what} does not serialize: {err}"
        ))),
    }
}

/// The value at the dotted `path` inside `root` (array items by index).
fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(root, |value, segment| match value {
            Value::Object(object) => object.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

impl State {
    fn resource(&self, provider: &str, resource: &str, name: &str) -> Option<&RawResource> {
        self.resources
            .get(&(provider.to_owned(), resource.to_owned(), name.to_owned()))
    }

    /// The value `reference` points at, if the test made it known.
    fn field_value(&self, reference: &FieldReference, depth: usize) -> Option<Value> {
        if let Some(value) = self.values.get(reference) {
            return Some(value.clone());
        }
        let raw = self.resource(&reference.provider, &reference.resource, &reference.name)?;
        let (root, rest) = reference.field.split_once('.')?;
        let mut source = match root {
            "outputs" => Value::Object(raw.outputs.clone()),
            "config" => Value::Object(raw.config.clone()),
            _ => return None,
        };
        if root == "config" {
            self.resolve(&mut source, depth + 1);
        }
        let found = lookup(&source, rest)?;
        // A resolved reference inside the referenced config stands for its value.
        match found.get("resolved_value") {
            Some(value) if found.get("__field_ref__") == Some(&Value::Bool(true)) => {
                Some(value.clone())
            }
            _ => Some(found.clone()),
        }
    }

    /// Rewrites the references and dependency markers in `value` that can be resolved.
    fn resolve(&self, value: &mut Value, depth: usize) {
        if depth > 16 {
            return;
        }
        if FieldReference::is_reference_object(value) {
            let Ok(reference) = serde_json::from_value::<FieldReference>(value.clone()) else {
                return;
            };
            if let Some(resolved) = self.field_value(&reference, depth) {
                *value = json!({
                    "__field_ref__": true,
                    "ref": reference,
                    "resolved_value": resolved,
                });
            }
            return;
        }
        match value {
            Value::Array(items) => {
                for item in items {
                    self.resolve(item, depth);
                }
            }
            Value::Object(object) => {
                if object.get("__field_ref__") == Some(&Value::Bool(true)) {
                    return;
                }
                if object.get("__dependency__") == Some(&Value::Bool(true)) {
                    self.resolve_dependency(object, depth);
                    return;
                }
                for item in object.values_mut() {
                    self.resolve(item, depth);
                }
            }
            _ => {}
        }
    }

    fn resolve_dependency(&self, marker: &mut JsonObject, depth: usize) {
        if marker.get("ref").is_some_and(|r| !r.is_null()) {
            return;
        }
        let key = |k: &str| marker.get(k).and_then(Value::as_str).unwrap_or_default();
        let Some(raw) = self.resource(key("provider"), key("resource"), key("name")) else {
            return;
        };
        let Ok(Value::Object(mut whole)) = serde_json::to_value(raw) else {
            return;
        };
        let mut config = Value::Object(raw.config.clone());
        self.resolve(&mut config, depth + 1);
        if config != Value::Object(raw.config.clone()) {
            whole.insert("resolved_config".to_owned(), config);
        }
        marker.insert("ref".to_owned(), Value::Object(whole));
    }
}

impl ProviderHarness {
    /// A harness running the handlers of `provider`.
    pub fn new(provider: Provider) -> Self {
        ProviderHarness {
            shared: Arc::new(Shared {
                provider,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The provider under test.
    pub fn provider(&self) -> &Provider {
        &self.shared.provider
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `resource` known, so dependencies on it and references to its `config.` and
    /// `outputs.` fields resolve.
    ///
    /// # Errors
    ///
    /// A [`HarnessError`] when its config or outputs do not serialize to JSON objects.
    pub fn register<T: ResourceType>(&self, resource: &Resource<T>) -> Result<(), HarnessError> {
        let raw = resource
            .to_raw()
            .map_err(|err| HarnessError::harness(format!("resource {}: {err}", resource.name)))?;
        self.register_raw(raw);
        Ok(())
    }

    /// Makes a raw resource known, as [`ProviderHarness::register`] does.
    pub fn register_raw(&self, raw: RawResource) {
        let key = (raw.provider.clone(), raw.resource.clone(), raw.name.clone());
        self.state().resources.insert(key, raw);
    }

    /// Sets the value `reference` resolves to, whatever the registered resources hold.
    pub fn set_field_value(&self, reference: FieldReference, value: impl Into<Value>) {
        self.state().values.insert(reference, value.into());
    }

    /// Answers `wait_ready` for the subresource `name` of type `C` with `outputs`.
    ///
    /// # Errors
    ///
    /// A [`HarnessError`] when the outputs do not serialize to a JSON object.
    pub fn set_subresource_outputs<C: ResourceType>(
        &self,
        name: &str,
        outputs: &C::Outputs,
    ) -> Result<(), HarnessError> {
        let outputs = to_object(outputs, "subresource outputs")?;
        self.state()
            .answers
            .insert(C::resource_id(name), Answer::Ready(outputs));
        Ok(())
    }

    /// Answers `wait_ready` for the subresource `name` of type `C` with a failure.
    pub fn set_subresource_failed<C: ResourceType>(&self, name: &str, message: impl Into<String>) {
        self.state()
            .answers
            .insert(C::resource_id(name), Answer::Failed(message.into()));
    }

    /// Refuses applies of the subresource `name` of type `C`.
    pub fn refuse_subresource<C: ResourceType>(&self, name: &str, reason: impl Into<String>) {
        self.state()
            .answers
            .insert(C::resource_id(name), Answer::Refused(reason.into()));
    }

    /// The subresources handlers applied, in order.
    pub fn applied(&self) -> Vec<ChildResource> {
        self.state().applied.clone()
    }

    /// The results of every run, in order.
    pub fn history(&self) -> Vec<HarnessResult> {
        self.state().history.clone()
    }

    /// The events of every run, in order.
    pub fn events(&self) -> Vec<HarnessEvent> {
        self.state()
            .history
            .iter()
            .map(|r| r.event.clone())
            .collect()
    }

    /// Forgets the history and the applied subresources; registered resources, values and
    /// subresource answers stay.
    pub fn clear(&self) {
        let mut state = self.state();
        state.history.clear();
        state.applied.clear();
    }

    fn resolve_object(&self, object: JsonObject) -> JsonObject {
        let mut value = Value::Object(object);
        self.state().resolve(&mut value, 0);
        match value {
            Value::Object(object) => object,
            _ => JsonObject::new(),
        }
    }

    fn backend(&self) -> Arc<dyn RuntimeBackend> {
        Arc::new(self.clone())
    }

    /// Runs one event: resolves its config and previous config, dispatches it, and records
    /// the result in the history.
    pub async fn run(&self, event: HarnessEvent) -> HarnessResult {
        let event = HarnessEvent {
            config: self.resolve_object(event.config),
            previous_config: event.previous_config.map(|p| self.resolve_object(p)),
            ..event
        };
        let request = DispatchRequest {
            event_type: event.event_type,
            target: Target {
                resource: event.resource.clone(),
                name: event.name.clone(),
                config: event.config.clone(),
                outputs: event.outputs.clone(),
                tags: event.tags.clone(),
            },
            previous_config: event.previous_config.clone(),
        };
        let outcome = self.shared.provider.dispatch(request, self.backend()).await;
        let result = match outcome {
            Ok(Value::Object(outputs)) => HarnessResult {
                event,
                success: true,
                outputs: Some(outputs),
                error: None,
            },
            Ok(Value::Null) => HarnessResult {
                event,
                success: true,
                outputs: None,
                error: None,
            },
            Ok(other) => HarnessResult {
                event,
                success: false,
                outputs: None,
                error: Some(HarnessError {
                    kind: HarnessErrorKind::Infrastructure,
                    message: format!("outputs must be a JSON object, got {other}"),
                }),
            },
            Err(err) => HarnessResult {
                event,
                success: false,
                outputs: None,
                error: Some(err.into()),
            },
        };
        self.state().history.push(result.clone());
        result
    }

    async fn run_typed<R: ResourceType>(
        &self,
        event_type: EventType,
        name: &str,
        config: &R::Config,
        previous: Option<&R::Config>,
        outputs: Option<&R::Outputs>,
    ) -> HarnessResult {
        let built = (|| {
            let mut event =
                HarnessEvent::new(event_type, R::RESOURCE, name, to_object(config, "config")?);
            if let Some(previous) = previous {
                event = event.with_previous_config(to_object(previous, "previous config")?);
            }
            if let Some(outputs) = outputs {
                event = event.with_outputs(to_object(outputs, "outputs")?);
            }
            Ok::<_, HarnessError>(event)
        })();
        match built {
            Ok(event) => self.run(event).await,
            Err(err) => {
                let result = HarnessResult {
                    event: HarnessEvent::new(event_type, R::RESOURCE, name, JsonObject::new()),
                    success: false,
                    outputs: None,
                    error: Some(err),
                };
                self.state().history.push(result.clone());
                result
            }
        }
    }

    /// Runs `on_create` of `R` for the resource `name` with `config`.
    pub async fn create<R: ResourceType>(&self, name: &str, config: &R::Config) -> HarnessResult {
        self.run_typed::<R>(EventType::Create, name, config, None, None)
            .await
    }

    /// Runs `on_update` of `R` for the resource `name`, from `previous` to `config`, with its
    /// current outputs.
    pub async fn update<R: ResourceType>(
        &self,
        name: &str,
        config: &R::Config,
        previous: &R::Config,
        outputs: Option<&R::Outputs>,
    ) -> HarnessResult {
        self.run_typed::<R>(EventType::Update, name, config, Some(previous), outputs)
            .await
    }

    /// Runs `on_delete` of `R` for the resource `name` with its config and current outputs.
    pub async fn delete<R: ResourceType>(
        &self,
        name: &str,
        config: &R::Config,
        outputs: Option<&R::Outputs>,
    ) -> HarnessResult {
        self.run_typed::<R>(EventType::Delete, name, config, None, outputs)
            .await
    }

    fn target<R: ResourceType>(
        &self,
        name: &str,
        config: &R::Config,
        outputs: Option<&R::Outputs>,
    ) -> Result<Target, HarnessError> {
        Ok(Target {
            resource: R::RESOURCE.to_owned(),
            name: name.to_owned(),
            config: self.resolve_object(to_object(config, "config")?),
            outputs: outputs.map(|o| to_object(o, "outputs")).transpose()?,
            tags: None,
        })
    }

    /// Asks `R`'s handler for the health of the resource `name`.
    ///
    /// # Errors
    ///
    /// A [`HarnessError`] when the config does not decode or the handler fails.
    pub async fn health<R: ResourceType>(
        &self,
        name: &str,
        config: &R::Config,
        outputs: Option<&R::Outputs>,
    ) -> Result<ResourceHealth, HarnessError> {
        let target = self.target::<R>(name, config, outputs)?;
        Ok(self.shared.provider.health(target, self.backend()).await?)
    }

    /// Asks `R`'s handler for the most recent `tail` log entries of the resource `name`
    /// after `since`.
    ///
    /// # Errors
    ///
    /// A [`HarnessError`] when the config does not decode, the handler fails or the type has
    /// no logs ([`HarnessErrorKind::NotSupported`]).
    pub async fn logs<R: ResourceType>(
        &self,
        name: &str,
        config: &R::Config,
        since: Option<Timestamp>,
        tail: u32,
    ) -> Result<Vec<LogEntry>, HarnessError> {
        let target = self.target::<R>(name, config, None)?;
        Ok(self
            .shared
            .provider
            .logs(target, since, tail, self.backend())
            .await?)
    }
}

impl RuntimeBackend for ProviderHarness {
    fn apply_resource(&self, child: ChildResource) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let id = crate::models::resource_id(&child.provider, &child.resource, &child.name);
            let mut state = self.state();
            if let Some(Answer::Refused(reason)) = state.answers.get(&id) {
                return Err(BackendError::Refused(reason.clone()));
            }
            state.applied.push(child);
            Ok(())
        })
    }

    fn wait_for_state(
        &self,
        resource_id: String,
        target: LifecycleState,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<WaitOutcome, BackendError>> {
        Box::pin(async move {
            let state = self.state();
            let applied = state.applied.iter().any(|child| {
                crate::models::resource_id(&child.provider, &child.resource, &child.name)
                    == resource_id
            });
            if !applied {
                return Err(BackendError::Refused(format!(
                    "resource {resource_id} was never applied"
                )));
            }
            match state.answers.get(&resource_id) {
                Some(Answer::Ready(outputs)) if target == LifecycleState::Ready => {
                    Ok(WaitOutcome {
                        lifecycle_state: LifecycleState::Ready,
                        outputs: Some(outputs.clone()),
                    })
                }
                Some(Answer::Failed(message)) => Err(BackendError::Failed {
                    resource_id,
                    message: message.clone(),
                }),
                _ => Err(BackendError::Timeout {
                    resource_id,
                    target,
                    timeout,
                }),
            }
        })
    }
}
