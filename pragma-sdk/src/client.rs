//! The typed API client. (Being written.)

/// The asynchronous client.
#[derive(Debug, Clone)]
pub struct AsyncPragmaClient;

/// The blocking client.
#[cfg(feature = "blocking")]
#[derive(Debug, Clone)]
pub struct PragmaClient;

/// Builds a client.
#[derive(Debug, Clone, Default)]
pub struct ClientBuilder;

/// Client errors.
#[derive(Debug, thiserror::Error)]
#[error("client error")]
pub struct Error;
