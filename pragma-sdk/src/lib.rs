//! The Rust SDK for the Pragmatiks platform.
//!
//! - [`models`]: the wire types of the HTTP API, plain data with no I/O.
//! - [`client`]: the typed API client, async ([`AsyncPragmaClient`]) and blocking
//!   ([`PragmaClient`], behind the default-on `blocking` feature).
//! - [`authoring`]: writing providers: configs, outputs, resource types, lifecycle handlers,
//!   the [`Provider`] registry and the test harness.
//! - [`manifest`]: resources written as YAML manifests.
//! - [`worker`]: running a provider as a worker process over the worker protocol.
#![warn(missing_docs)]

pub mod authoring;
pub mod client;
pub mod decode;
pub mod manifest;
pub mod models;
pub mod worker;

pub use authoring::{
    Config, Context, Lifecycle, LifecycleError, Outputs, Provider, Resource, ResourceType,
};
#[cfg(feature = "blocking")]
pub use client::PragmaClient;
pub use client::{AsyncPragmaClient, ClientBuilder, Error};
pub use pragma_derive::{Config, Outputs, ResourceType};

/// Re-exports used by the code the derive macros generate. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
    pub use serde_json;
}
