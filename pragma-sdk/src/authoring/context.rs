//! What a lifecycle handler sees, and the backend through which it reaches the platform.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::authoring::lifecycle::LifecycleError;
use crate::authoring::resource::{decode_outputs, ResourceType};
use crate::models::{JsonObject, LifecycleState, OwnerReference};

/// A boxed, sendable future, as [`RuntimeBackend`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A resource a handler applies, owned by the resource being handled.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildResource {
    /// Provider of the child.
    pub provider: String,
    /// Resource type of the child.
    pub resource: String,
    /// Name of the child.
    pub name: String,
    /// The child's config.
    pub config: JsonObject,
    /// Its owners: the resource being handled.
    pub owner_references: Vec<OwnerReference>,
    /// Its tags.
    pub tags: Option<Vec<String>>,
}

/// What waiting for a resource's state found.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitOutcome {
    /// The state reached.
    pub lifecycle_state: LifecycleState,
    /// The resource's outputs, if it has any.
    pub outputs: Option<JsonObject>,
}

/// Why the platform could not serve a handler's request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The platform refused the request.
    #[error("refused: {0}")]
    Refused(String),
    /// The resource failed.
    #[error("resource {resource_id} failed: {message}")]
    Failed {
        /// The resource's id.
        resource_id: String,
        /// Its error.
        message: String,
    },
    /// The resource did not reach the state in time.
    #[error("resource {resource_id} did not become {target} within {timeout:?}")]
    Timeout {
        /// The resource's id.
        resource_id: String,
        /// The state waited for.
        target: LifecycleState,
        /// How long was waited.
        timeout: Duration,
    },
    /// The connection to the platform is gone.
    #[error("platform unavailable: {0}")]
    Unavailable(String),
}

/// How a handler's requests reach the platform: the local engine serves them in process, a
/// worker sends them over the worker protocol, the test harness answers them itself.
pub trait RuntimeBackend: Send + Sync {
    /// Applies (creates or updates, queued for processing) a child resource.
    fn apply_resource(&self, child: ChildResource) -> BoxFuture<'_, Result<(), BackendError>>;

    /// Waits until the resource `resource_id` reaches `target`, fails, or `timeout` passes.
    fn wait_for_state(
        &self,
        resource_id: String,
        target: LifecycleState,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<WaitOutcome, BackendError>>;
}

/// A subresource that reached `ready`, with typed outputs.
pub struct Subresource<C: ResourceType> {
    /// Its name.
    pub name: String,
    /// Its outputs.
    pub outputs: C::Outputs,
}

impl<C: ResourceType> fmt::Debug for Subresource<C>
where
    C::Outputs: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subresource")
            .field("id", &C::resource_id(&self.name))
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// What a lifecycle handler of resource type `R` sees: the resource's name, config, current
/// outputs and tags, and a way to apply and wait for subresources.
pub struct Context<R: ResourceType> {
    name: String,
    config: R::Config,
    outputs: Option<R::Outputs>,
    tags: Vec<String>,
    backend: Arc<dyn RuntimeBackend>,
}

impl<R: ResourceType> Context<R> {
    /// A context for the resource `name` of type `R`.
    pub fn new(
        name: impl Into<String>,
        config: R::Config,
        outputs: Option<R::Outputs>,
        tags: Vec<String>,
        backend: Arc<dyn RuntimeBackend>,
    ) -> Self {
        Context {
            name: name.into(),
            config,
            outputs,
            tags,
            backend,
        }
    }

    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The resource's id.
    pub fn id(&self) -> String {
        R::resource_id(&self.name)
    }

    /// The resource's config, with field references resolved to their values.
    pub fn config(&self) -> &R::Config {
        &self.config
    }

    /// The resource's current outputs: known on update and delete, `None` on create.
    pub fn outputs(&self) -> Option<&R::Outputs> {
        self.outputs.as_ref()
    }

    /// The resource's tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The owner reference that subresources applied from this context carry.
    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference::new(R::PROVIDER, R::RESOURCE, self.name.clone())
    }

    /// Applies the subresource `name` of type `C`, queued for processing and owned by this
    /// resource: deleting this resource deletes it first.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Subresource`] when the config does not serialize or the platform
    /// refuses it.
    pub async fn apply<C: ResourceType>(
        &self,
        name: &str,
        config: &C::Config,
    ) -> Result<(), LifecycleError> {
        let resource_id = C::resource_id(name);
        let config = match serde_json::to_value(config) {
            Ok(Value::Object(object)) => object,
            Ok(other) => {
                return Err(LifecycleError::Subresource {
                    resource_id,
                    message: format!("config must be a JSON object, got {other}"),
                })
            }
            Err(err) => {
                return Err(LifecycleError::Subresource {
                    resource_id,
                    message: format!("config does not serialize: {err}"),
                })
            }
        };
        let child = ChildResource {
            provider: C::PROVIDER.to_owned(),
            resource: C::RESOURCE.to_owned(),
            name: name.to_owned(),
            config,
            owner_references: vec![self.owner_reference()],
            tags: None,
        };
        self.backend
            .apply_resource(child)
            .await
            .map_err(|err| LifecycleError::Subresource {
                resource_id,
                message: err.to_string(),
            })
    }

    /// Waits until the subresource `name` of type `C` is ready and returns its outputs.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Subresource`] naming the resource when it failed, did not become
    /// ready within `timeout`, or reported outputs that do not fit `C::Outputs`.
    pub async fn wait_ready<C: ResourceType>(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Subresource<C>, LifecycleError> {
        let resource_id = C::resource_id(name);
        let outcome = self
            .backend
            .wait_for_state(resource_id.clone(), LifecycleState::Ready, timeout)
            .await
            .map_err(|err| LifecycleError::Subresource {
                resource_id: resource_id.clone(),
                message: err.to_string(),
            })?;
        if outcome.lifecycle_state != LifecycleState::Ready {
            return Err(LifecycleError::Subresource {
                resource_id,
                message: format!("reached {} instead of ready", outcome.lifecycle_state),
            });
        }
        let outputs = decode_outputs::<C::Outputs>(outcome.outputs.unwrap_or_default(), true)
            .map_err(|err| LifecycleError::Subresource {
                resource_id: resource_id.clone(),
                message: format!("outputs do not decode: {err}"),
            })?
            .ok_or_else(|| LifecycleError::Subresource {
                resource_id,
                message: "ready without outputs".to_owned(),
            })?;
        Ok(Subresource {
            name: name.to_owned(),
            outputs,
        })
    }
}
