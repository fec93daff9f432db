//! The Pragmatiks platform on one machine: the published HTTP API, the lifecycle engine, and
//! persistence in SQLite, hosting providers written with `pragma-sdk`.
#![warn(missing_docs)]

pub mod hosted;
pub mod workers;
