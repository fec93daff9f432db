//! Running a provider as a worker process over the worker protocol.
//!
//! A worker is a process the platform starts with `--socket PATH`; it connects to that Unix
//! socket, announces its provider in a `handshake`, and answers `dispatch`, `resource_logs`
//! and `resource_health` requests until the platform sends `shutdown`. While a dispatch runs,
//! [`Context::apply`](crate::Context::apply) and
//! [`Context::wait_ready`](crate::Context::wait_ready) travel back to the platform as
//! `apply_resource` and `wait_for_state` requests.
//!
//! - [`frame`]: the length-prefixed framing.
//! - [`rpc`]: JSON-RPC messages and a connection correlating requests both ways.
//! - [`messages`]: the typed params and results of each method.
//! - [`worker_main`] / [`serve`]: the worker side.

pub mod frame;
pub mod messages;
pub mod rpc;
mod serve;

/// The directory this SDK's source was built from; the local platform builds pushed providers
/// against it.
pub const SDK_SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");

pub use serve::{
    dispatch_error, handshake_params, parse_args, serve, serve_as, serve_stream, worker_main,
    worker_main_as, WorkerCommand, WorkerError, WorkerIdentity,
};
