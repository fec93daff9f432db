//! The lifecycle a provider implements for each of its resource types.

use std::error::Error as StdError;
use std::future::Future;

use crate::authoring::context::Context;
use crate::authoring::resource::ResourceType;
use crate::models::{LogEntry, ResourceHealth, Timestamp};

/// A boxed error kept as the source of a [`LifecycleError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a lifecycle method failed.
///
/// [`LifecycleError::InvalidConfig`] is the user's to fix (a value the provider cannot use);
/// [`LifecycleError::Infrastructure`] is the world's (a call that failed, a disk that is full),
/// and may succeed when retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The config cannot be used as given.
    #[error("invalid configuration: {message}")]
    InvalidConfig {
        /// What is wrong with it.
        message: String,
    },
    /// Something the provider manages or calls failed.
    #[error("{message}")]
    Infrastructure {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// A dependency was used before the platform resolved it.
    #[error("dependency {provider}/{resource}/{name} is not ready")]
    DependencyNotReady {
        /// The dependency's provider.
        provider: String,
        /// The dependency's resource type.
        resource: String,
        /// The dependency's name.
        name: String,
    },
    /// A subresource failed, timed out, or could not be applied.
    #[error("subresource {resource_id}: {message}")]
    Subresource {
        /// The subresource's id.
        resource_id: String,
        /// What happened to it.
        message: String,
    },
    /// The resource type does not implement this operation.
    #[error("{0} is not supported by this resource type")]
    NotSupported(&'static str),
}

impl LifecycleError {
    /// An invalid-configuration error.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        LifecycleError::InvalidConfig {
            message: message.into(),
        }
    }

    /// An infrastructure failure with no source error.
    pub fn infrastructure(message: impl Into<String>) -> Self {
        LifecycleError::Infrastructure {
            message: message.into(),
            source: None,
        }
    }

    /// An infrastructure failure caused by `source`.
    pub fn with_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        LifecycleError::Infrastructure {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// The lifecycle handlers of one resource type.
///
/// The platform delivers every event at least once, so each handler must be idempotent:
/// running `on_create` twice with the same config must leave the same result as running it
/// once, and `on_delete` of something already gone must succeed.
///
/// Implementations may write the methods as `async fn`.
pub trait Lifecycle: ResourceType + Sized {
    /// Whether this type implements [`Lifecycle::logs`] (announced to the platform).
    const LOGS: bool = false;
    /// Whether this type implements [`Lifecycle::health`] (announced to the platform).
    const HEALTH: bool = false;

    /// Creates the resource and returns its outputs.
    fn on_create(
        &self,
        cx: &Context<Self>,
    ) -> impl Future<Output = Result<Self::Outputs, LifecycleError>> + Send;

    /// Brings the resource from `previous` to the current config and returns its outputs.
    fn on_update(
        &self,
        cx: &Context<Self>,
        previous: &Self::Config,
    ) -> impl Future<Output = Result<Self::Outputs, LifecycleError>> + Send;

    /// Removes the resource.
    fn on_delete(
        &self,
        cx: &Context<Self>,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send;

    /// Reports the resource's health; healthy unless overridden.
    fn health(
        &self,
        cx: &Context<Self>,
    ) -> impl Future<Output = Result<ResourceHealth, LifecycleError>> + Send {
        let _ = cx;
        async { Ok(ResourceHealth::healthy()) }
    }

    /// Returns the resource's most recent `tail` log entries after `since`; not supported
    /// unless overridden.
    fn logs(
        &self,
        cx: &Context<Self>,
        since: Option<Timestamp>,
        tail: u32,
    ) -> impl Future<Output = Result<Vec<LogEntry>, LifecycleError>> + Send {
        let _ = (cx, since, tail);
        async { Err(LifecycleError::NotSupported("logs")) }
    }
}
