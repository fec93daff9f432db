//! The provider registry: resource types by name, and the dispatch of lifecycle events to
//! their handlers.
//!
//! Hosts (the local platform, a worker process, the test harness) hand a [`Provider`] raw JSON
//! as it travels on the wire; the provider decodes and validates it into the typed config of
//! the resource type and calls the handler.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use serde_json::Value;

use crate::authoring::context::{BoxFuture, Context, RuntimeBackend};
use crate::authoring::lifecycle::{Lifecycle, LifecycleError};
use crate::authoring::resource::{decode_outputs, Config, ResourceType};
use crate::decode;
use crate::models::{
    EventType, JsonObject, LogEntry, ResourceDefinition, ResourceHealth, Timestamp,
};

/// The resource a lifecycle call is about, as hosts send it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The resource type's name.
    pub resource: String,
    /// The resource's name.
    pub name: String,
    /// Its config; resolved references are flattened to their values when decoded.
    pub config: JsonObject,
    /// Its current outputs, when the host knows them (update and delete).
    pub outputs: Option<JsonObject>,
    /// Its tags.
    pub tags: Option<Vec<String>>,
}

/// One lifecycle event for a provider to run.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchRequest {
    /// Which handler to run.
    pub event_type: EventType,
    /// The resource.
    pub target: Target,
    /// The config before an update.
    pub previous_config: Option<JsonObject>,
}

/// What a resource type announces about itself to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeCapabilities {
    /// Whether it implements `logs`.
    pub logs: bool,
    /// Whether it implements `health`.
    pub health: bool,
}

/// Why a provider could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Two registered types share a resource type name.
    #[error("resource type {resource:?} of provider {provider:?} is registered twice: by {first} and by {second}")]
    DuplicateType {
        /// The provider.
        provider: String,
        /// The resource type name.
        resource: String,
        /// The Rust type registered first.
        first: &'static str,
        /// The Rust type registered second.
        second: &'static str,
    },
    /// A type belongs to another provider.
    #[error("{rust_type} belongs to provider {type_provider:?}, not to {provider:?}")]
    ForeignType {
        /// The provider being assembled.
        provider: String,
        /// The provider the type names.
        type_provider: &'static str,
        /// The Rust type.
        rust_type: &'static str,
    },
}

/// Why a dispatched event did not produce a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The provider has no such resource type.
    #[error("provider {provider:?} has no resource type {resource:?}")]
    UnknownResourceType {
        /// The provider.
        provider: String,
        /// The type asked for.
        resource: String,
    },
    /// The config, previous config or outputs did not decode or validate.
    #[error("invalid {what} at {path}: {message}")]
    InvalidParams {
        /// `config`, `previous_config` or `outputs`.
        what: &'static str,
        /// The offending field's path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The handler failed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The handler panicked.
    #[error("handler panicked: {0}")]
    Panicked(String),
    /// The process running the provider is gone or not answering (a worker that died).
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

trait ErasedType: Send + Sync {
    fn rust_type(&self) -> &'static str;
    fn definition(&self) -> ResourceDefinition;
    fn capabilities(&self) -> TypeCapabilities;
    fn dispatch(
        &self,
        request: DispatchRequest,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Value, DispatchError>>;
    fn health(
        &self,
        target: Target,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<ResourceHealth, DispatchError>>;
    fn logs(
        &self,
        target: Target,
        since: Option<Timestamp>,
        tail: u32,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Vec<LogEntry>, DispatchError>>;
}

struct Handler<R>(R);

fn decode_config<C: Config>(what: &'static str, config: JsonObject) -> Result<C, DispatchError> {
    let decoded: C =
        decode::from_value(Value::Object(config)).map_err(|err| DispatchError::InvalidParams {
            what,
            path: err.path,
            message: err.message,
        })?;
    decoded.validate().map_err(|errors| {
        let path = errors.0.first().map(|e| e.path.clone()).unwrap_or_default();
        DispatchError::InvalidParams {
            what,
            path,
            message: errors.to_string(),
        }
    })?;
    Ok(decoded)
}

fn context<R: ResourceType>(
    target: Target,
    backend: Arc<dyn RuntimeBackend>,
) -> Result<Context<R>, DispatchError> {
    let config = decode_config::<R::Config>("config", target.config)?;
    let outputs = match target.outputs {
        Some(outputs) => decode_outputs::<R::Outputs>(outputs, true).map_err(|err| {
            DispatchError::InvalidParams {
                what: "outputs",
                path: err.path,
                message: err.message,
            }
        })?,
        None => None,
    };
    Ok(Context::new(
        target.name,
        config,
        outputs,
        target.tags.unwrap_or_default(),
        backend,
    ))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

fn to_json<S: serde::Serialize>(value: &S) -> Result<Value, DispatchError> {
    serde_json::to_value(value).map_err(|err| {
        DispatchError::Lifecycle(LifecycleError::infrastructure(format!(
            "outputs do not serialize: {err}"
        )))
    })
}

impl<R: Lifecycle> ErasedType for Handler<R> {
    fn rust_type(&self) -> &'static str {
        std::any::type_name::<R>()
    }

    fn definition(&self) -> ResourceDefinition {
        R::definition()
    }

    fn capabilities(&self) -> TypeCapabilities {
        TypeCapabilities {
            logs: R::LOGS,
            health: R::HEALTH,
        }
    }

    fn dispatch(
        &self,
        request: DispatchRequest,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Value, DispatchError>> {
        Box::pin(async move {
            let event_type = request.event_type;
            let previous = match (event_type, request.previous_config) {
                (EventType::Update, Some(previous)) => {
                    Some(decode_config::<R::Config>("previous_config", previous)?)
                }
                _ => None,
            };
            let cx = context::<R>(request.target, backend)?;
            let run = async {
                match (event_type, &previous) {
                    (EventType::Create, _) | (EventType::Update, None) => {
                        let outputs = match (event_type, &previous) {
                            (EventType::Create, _) => self.0.on_create(&cx).await?,
                            _ => self.0.on_update(&cx, cx.config()).await?,
                        };
                        to_json(&outputs)
                    }
                    (EventType::Update, Some(previous)) => {
                        let outputs = self.0.on_update(&cx, previous).await?;
                        to_json(&outputs)
                    }
                    (EventType::Delete, _) => {
                        self.0.on_delete(&cx).await?;
                        Ok(Value::Null)
                    }
                }
            };
            match AssertUnwindSafe(run).catch_unwind().await {
                Ok(result) => result,
                Err(payload) => Err(DispatchError::Panicked(panic_message(payload))),
            }
        })
    }

    fn health(
        &self,
        target: Target,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<ResourceHealth, DispatchError>> {
        Box::pin(async move {
            let cx = context::<R>(target, backend)?;
            match AssertUnwindSafe(self.0.health(&cx)).catch_unwind().await {
                Ok(result) => Ok(result?),
                Err(payload) => Err(DispatchError::Panicked(panic_message(payload))),
            }
        })
    }

    fn logs(
        &self,
        target: Target,
        since: Option<Timestamp>,
        tail: u32,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Vec<LogEntry>, DispatchError>> {
        Box::pin(async move {
            let cx = context::<R>(target, backend)?;
            match AssertUnwindSafe(self.0.logs(&cx, since, tail))
                .catch_unwind()
                .await
            {
                Ok(result) => Ok(result?),
                Err(payload) => Err(DispatchError::Panicked(panic_message(payload))),
            }
        })
    }
}

/// A provider: a name and the resource types it manages, each with its lifecycle handlers.
///
/// Cheap to clone; clones share the handlers.
///
/// ```
/// # use pragma_sdk::authoring::Provider;
/// let provider = Provider::new("mycloud");
/// assert_eq!(provider.name(), "mycloud");
/// assert!(provider.definitions().is_empty());
/// ```
#[derive(Clone)]
pub struct Provider {
    name: String,
    types: BTreeMap<String, Arc<dyn ErasedType>>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("types", &self.types.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Provider {
    /// A provider called `name` with no resource types yet.
    pub fn new(name: impl Into<String>) -> Self {
        Provider {
            name: name.into(),
            types: BTreeMap::new(),
        }
    }

    /// Registers the resource type `R`, with its handlers built by `R::default()`.
    ///
    /// # Errors
    ///
    /// [`ProviderError::DuplicateType`] when a type of the same name is registered already,
    /// [`ProviderError::ForeignType`] when `R` belongs to another provider.
    pub fn resource<R: Lifecycle + Default>(self) -> Result<Self, ProviderError> {
        self.resource_with(R::default())
    }

    /// Registers the resource type `R` with the given handler value (for handlers that hold
    /// state, such as a client or a root directory).
    ///
    /// # Errors
    ///
    /// As for [`Provider::resource`].
    pub fn resource_with<R: Lifecycle>(mut self, handler: R) -> Result<Self, ProviderError> {
        if R::PROVIDER != self.name {
            return Err(ProviderError::ForeignType {
                provider: self.name,
                type_provider: R::PROVIDER,
                rust_type: std::any::type_name::<R>(),
            });
        }
        if let Some(existing) = self.types.get(R::RESOURCE) {
            return Err(ProviderError::DuplicateType {
                provider: self.name,
                resource: R::RESOURCE.to_owned(),
                first: existing.rust_type(),
                second: std::any::type_name::<R>(),
            });
        }
        self.types
            .insert(R::RESOURCE.to_owned(), Arc::new(Handler(handler)));
        Ok(self)
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of its resource types, sorted.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    /// Whether it manages the resource type `resource`.
    pub fn has_type(&self, resource: &str) -> bool {
        self.types.contains_key(resource)
    }

    /// The definitions of its resource types, sorted by name.
    pub fn definitions(&self) -> Vec<ResourceDefinition> {
        self.types.values().map(|t| t.definition()).collect()
    }

    /// The definitions as a JSON array, as a worker prints them for registration.
    pub fn definitions_json(&self) -> String {
        serde_json::to_string_pretty(&self.definitions()).unwrap_or_else(|_| "[]".to_owned())
    }

    /// What the resource type `resource` implements, if the provider has it.
    pub fn capabilities(&self, resource: &str) -> Option<TypeCapabilities> {
        self.types.get(resource).map(|t| t.capabilities())
    }

    fn handler(&self, resource: &str) -> Result<&Arc<dyn ErasedType>, DispatchError> {
        self.types
            .get(resource)
            .ok_or_else(|| DispatchError::UnknownResourceType {
                provider: self.name.clone(),
                resource: resource.to_owned(),
            })
    }

    /// Runs one lifecycle event: decodes and validates the config, calls the handler, and
    /// returns the outputs as JSON (`null` for a delete).
    ///
    /// A handler that panics is answered with [`DispatchError::Panicked`]; the provider goes on
    /// serving.
    ///
    /// # Errors
    ///
    /// See [`DispatchError`].
    pub async fn dispatch(
        &self,
        request: DispatchRequest,
        backend: Arc<dyn RuntimeBackend>,
    ) -> Result<Value, DispatchError> {
        let handler = self.handler(&request.target.resource)?;
        handler.dispatch(request, backend).await
    }

    /// Asks the resource's handler for its health.
    ///
    /// # Errors
    ///
    /// See [`DispatchError`].
    pub async fn health(
        &self,
        target: Target,
        backend: Arc<dyn RuntimeBackend>,
    ) -> Result<ResourceHealth, DispatchError> {
        let handler = self.handler(&target.resource)?;
        handler.health(target, backend).await
    }

    /// Asks the resource's handler for its most recent `tail` log entries after `since`.
    ///
    /// # Errors
    ///
    /// See [`DispatchError`]; a type without logs answers
    /// [`LifecycleError::NotSupported`] inside [`DispatchError::Lifecycle`].
    pub async fn logs(
        &self,
        target: Target,
        since: Option<Timestamp>,
        tail: u32,
        backend: Arc<dyn RuntimeBackend>,
    ) -> Result<Vec<LogEntry>, DispatchError> {
        let handler = self.handler(&target.resource)?;
        handler.logs(target, since, tail, backend).await
    }
}
