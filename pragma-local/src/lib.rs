//! The Pragmatiks platform on one machine: the published HTTP API, the lifecycle engine, and
//! persistence in SQLite, hosting providers written with `pragma-sdk`.
//!
//! ```no_run
//! # async fn run() -> Result<(), pragma_local::PlatformError> {
//! let platform = pragma_local::Platform::builder().data_dir("state").build()?;
//! platform.serve(([127, 0, 0, 1], 8000).into()).await
//! # }
//! ```
#![warn(missing_docs)]

pub mod builtin;
pub mod cli;
pub mod demo;
pub mod deploy;
mod dirs;
pub mod engine;
pub mod error;
pub mod hosted;
mod platform;
mod references;
pub mod schema;
pub mod server;
mod store;
pub mod workers;

pub use engine::{Engine, RetryPolicy};
pub use error::ApiError;
pub use platform::{default_user, EphemeralServer, Platform, PlatformBuilder, PlatformError};
pub use store::StoreError;
