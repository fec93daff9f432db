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
