//! Writing providers: typed configs and outputs, resource types, lifecycle handlers, the
//! provider registry and the test harness.
//!
//! The pieces, from the plain types up:
//! - [`Config`] and [`Outputs`] (usually derived) are what users set and what a resource
//!   exposes; [`Field`] and [`Dependency`] let a config point at other resources.
//! - [`ResourceType`] (derived) names a resource type and ties its config and outputs together;
//!   [`Resource`] is one resource of that type with typed config and outputs.
//! - [`Lifecycle`] is what a provider implements for each type; [`Context`] is what a handler
//!   sees, and reaches the platform through a [`RuntimeBackend`].
//! - [`Provider`] groups resource types and dispatches lifecycle events to them; hosts (the
//!   local platform, a worker process) drive it.

mod context;
mod harness;
mod lifecycle;
mod provider;
mod reference;
mod resource;
mod validate;

pub use context::{
    BackendError, BoxFuture, ChildResource, Context, RuntimeBackend, Subresource, WaitOutcome,
};
pub use harness::{HarnessError, HarnessErrorKind, HarnessEvent, HarnessResult, ProviderHarness};
pub use lifecycle::{Lifecycle, LifecycleError};
pub use provider::{
    DispatchError, DispatchRequest, Provider, ProviderError, Target, TypeCapabilities,
};
pub use reference::{Dependency, Field, FieldRef, FieldReference};
pub use resource::{Config, Outputs, Resource, ResourceType};
pub use validate::{ConfigError, ConfigErrors, Validate};

#[doc(hidden)]
pub use validate::derive_support as __derive_support;
