//! Providers as the engine sees them: something that lists resource types and runs lifecycle
//! events, whether it lives in this process or in a worker process.

use std::sync::Arc;

use pragma_sdk::authoring::{DispatchError, DispatchRequest, Provider, RuntimeBackend, Target};
use pragma_sdk::models::{LogEntry, ResourceDefinition, ResourceHealth, Timestamp};

pub use pragma_sdk::authoring::BoxFuture;

/// A provider the platform hosts: in process ([`Provider`]) or as a worker.
pub trait HostedProvider: Send + Sync {
    /// The provider's name.
    fn name(&self) -> &str;

    /// The definitions of its resource types.
    fn definitions(&self) -> Vec<ResourceDefinition>;

    /// Runs one lifecycle event; see [`Provider::dispatch`].
    fn dispatch(
        &self,
        request: DispatchRequest,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<serde_json::Value, DispatchError>>;

    /// Asks for one resource's health; see [`Provider::health`].
    fn health(
        &self,
        target: Target,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<ResourceHealth, DispatchError>>;

    /// Asks for one resource's logs; see [`Provider::logs`].
    fn logs(
        &self,
        target: Target,
        since: Option<Timestamp>,
        tail: u32,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Vec<LogEntry>, DispatchError>>;
}

impl HostedProvider for Provider {
    fn name(&self) -> &str {
        Provider::name(self)
    }

    fn definitions(&self) -> Vec<ResourceDefinition> {
        Provider::definitions(self)
    }

    fn dispatch(
        &self,
        request: DispatchRequest,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<serde_json::Value, DispatchError>> {
        Box::pin(Provider::dispatch(self, request, backend))
    }

    fn health(
        &self,
        target: Target,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<ResourceHealth, DispatchError>> {
        Box::pin(Provider::health(self, target, backend))
    }

    fn logs(
        &self,
        target: Target,
        since: Option<Timestamp>,
        tail: u32,
        backend: Arc<dyn RuntimeBackend>,
    ) -> BoxFuture<'_, Result<Vec<LogEntry>, DispatchError>> {
        Box::pin(Provider::logs(self, target, since, tail, backend))
    }
}

/// Why the engine could not carry out a registry request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The provider still has resources and no cascade was asked for.
    #[error("provider {provider:?} still has {count} resources")]
    HasResources {
        /// The provider.
        provider: String,
        /// How many resources it has.
        count: u64,
    },
    /// Deleting a resource failed.
    #[error("deleting resources of provider {provider:?} failed: {message}")]
    DeleteFailed {
        /// The provider.
        provider: String,
        /// What failed.
        message: String,
    },
    /// The provider's resources cannot be deleted as things stand: resources of other
    /// providers reference them, or some are being processed.
    #[error("resources of provider {provider:?} cannot be deleted: {message}")]
    Blocked {
        /// The provider.
        provider: String,
        /// What is in the way.
        message: String,
    },
    /// The store failed.
    #[error("store error: {0}")]
    Store(String),
    /// The name belongs to a built-in provider, which cannot be replaced.
    #[error("provider {provider:?} is built in and cannot be replaced")]
    Reserved {
        /// The provider.
        provider: String,
    },
    /// A provider of that name is hosted already.
    #[error("a provider named {provider:?} is hosted already")]
    AlreadyHosted {
        /// The provider.
        provider: String,
    },
}

/// What the provider deployment side (push, build, deploy, delete of providers) needs from the
/// lifecycle engine.
pub trait ProviderRegistry: Send + Sync {
    /// Hosts `provider`, replacing a hosted provider of the same name: its resource types are
    /// listed by `GET /resources/types` and events of them are routed to it from now on.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Reserved`] when the name is a built-in provider's (see
    /// [`crate::builtin::is_reserved`]); nothing is replaced.
    fn register(&self, provider: Arc<dyn HostedProvider>) -> Result<(), RegistryError>;

    /// Hosts `provider` as [`ProviderRegistry::register`] does, but only if no provider of its
    /// name is hosted yet.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Reserved`] for a built-in provider's name,
    /// [`RegistryError::AlreadyHosted`] when the name is taken; the hosted provider stays.
    fn register_new(&self, provider: Arc<dyn HostedProvider>) -> Result<(), RegistryError>;

    /// Stops hosting the provider `name`; returns whether it was hosted.
    fn unregister(&self, name: &str) -> bool;

    /// The names of the hosted providers, sorted.
    fn provider_names(&self) -> Vec<String>;

    /// How many resources of the provider `name` exist.
    fn resource_count(&self, name: &str) -> BoxFuture<'_, Result<u64, RegistryError>>;

    /// Deletes every resource of the provider `name` (running each one's `on_delete` through
    /// the provider while it is still hosted) and returns how many were deleted, counting what
    /// they owned.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Blocked`], with nothing deleted, when resources of other providers
    /// reference them or some are being processed; [`RegistryError::DeleteFailed`] when an
    /// `on_delete` fails; [`RegistryError::Store`] when the store fails.
    fn delete_resources(&self, name: &str) -> BoxFuture<'_, Result<u64, RegistryError>>;
}
