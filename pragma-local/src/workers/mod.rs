//! Providers running as worker processes, hosted over the worker protocol.
//!
//! [`WorkerProvider::start`] launches a worker binary with `--socket PATH` on a Unix socket of
//! its own, accepts its handshake, and from then on routes the dispatches, logs and health
//! requests of its resource types to it. The worker's `apply_resource` and `wait_for_state`
//! callbacks are answered through the [`RuntimeBackend`] the engine passed with the dispatch
//! they belong to. A worker that dies is restarted with backoff; the requests it had in flight
//! answer [`DispatchError::Unavailable`], which the engine retries.
//!
//! [`RuntimeBackend`]: pragma_sdk::authoring::RuntimeBackend
//! [`DispatchError::Unavailable`]: pragma_sdk::authoring::DispatchError::Unavailable

mod callbacks;
mod process;

pub use process::{accept_handshake, WorkerError, WorkerProvider, WorkerSpec};
