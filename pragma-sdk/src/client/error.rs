//! The error type of the client.

use std::path::PathBuf;

use reqwest::StatusCode;

use crate::models::ErrorDetail;

/// How many bytes of an error body [`Error`]'s `Display` shows; the whole body stays in the
/// `body` field.
const SHOWN_BODY_BYTES: usize = 512;

/// Everything that can go wrong when talking to the platform.
///
/// HTTP failures keep the method and URL of the request; a status error also keeps the body the
/// server sent and, when it is the API's `{"detail": …}` shape, the decoded detail. The
/// authentication token never appears in any variant.
///
/// ```
/// use pragma_sdk::client::Error;
///
/// fn describe(err: &Error) -> &'static str {
///     if err.is_not_found() {
///         "no such thing"
///     } else if err.is_conflict() {
///         "conflict"
///     } else {
///         "something else"
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a status that is not a success.
    #[error("{method} {url}: status {status}: {}", shown_detail(.detail, .body))]
    Status {
        /// The request's method.
        method: String,
        /// The request's URL.
        url: String,
        /// The status the server answered.
        status: StatusCode,
        /// The body the server sent, as text (invalid UTF-8 replaced).
        body: String,
        /// The decoded `detail` of an API error body, when the body had that shape.
        detail: Option<ErrorDetail>,
    },

    /// The request did not complete within the client's timeout.
    #[error("{method} {url}: timed out")]
    Timeout {
        /// The request's method.
        method: String,
        /// The request's URL.
        url: String,
    },

    /// The server could not be reached, or the connection failed before an answer came.
    #[error("{method} {url}: connection failed: {message}")]
    Connection {
        /// The request's method.
        method: String,
        /// The request's URL.
        url: String,
        /// What failed.
        message: String,
    },

    /// The answer's body was cut off or could not be read.
    #[error("{method} {url}: reading the body failed: {message}")]
    Body {
        /// The request's method.
        method: String,
        /// The request's URL.
        url: String,
        /// What failed.
        message: String,
    },

    /// The answer's body did not decode into the expected type.
    #[error("{method} {url}: invalid response body at {path}: {message}")]
    Decode {
        /// The request's method.
        method: String,
        /// The request's URL.
        url: String,
        /// The JSON path of the offending value (`[3].config.size_gb`), `.` for the root.
        path: String,
        /// What did not fit.
        message: String,
    },

    /// No authentication token was found although one is required.
    #[error("{message}")]
    Authentication {
        /// The context whose token was looked for.
        context: String,
        /// What is missing and how to provide it.
        message: String,
    },

    /// An argument cannot be sent as given (an empty or dot-only path segment, an invalid
    /// base URL, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The blocking client's runtime could not be started.
    #[error("cannot start the client's runtime: {0}")]
    Runtime(#[source] std::io::Error),

    /// A file could not be read (while packing a provider directory, …).
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn shown_detail(detail: &Option<ErrorDetail>, body: &str) -> String {
    if let Some(detail) = detail {
        return detail.to_string();
    }
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    if body.len() <= SHOWN_BODY_BYTES {
        return body.to_owned();
    }
    let mut end = SHOWN_BODY_BYTES;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &body[..end], body.len())
}

impl Error {
    /// The HTTP status of a [`Error::Status`], `None` for every other variant.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The decoded `detail` of a [`Error::Status`] whose body had the API's error shape.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        match self {
            Error::Status { detail, .. } => detail.as_ref(),
            _ => None,
        }
    }

    /// Whether the server answered 401 Unauthorized.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(StatusCode::UNAUTHORIZED)
    }

    /// Whether the server answered 403 Forbidden.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(StatusCode::FORBIDDEN)
    }

    /// Whether the server answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the server answered 409 Conflict.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(StatusCode::CONFLICT)
    }

    /// Whether the server answered 422 Unprocessable Entity (a validation failure).
    pub fn is_validation(&self) -> bool {
        self.status() == Some(StatusCode::UNPROCESSABLE_ENTITY)
    }

    /// Whether the server answered with a 5xx status.
    pub fn is_server_error(&self) -> bool {
        self.status().is_some_and(|status| status.is_server_error())
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the server could not be reached.
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connection { .. })
    }

    /// Turns a transport error of `reqwest` into the matching variant.
    pub(crate) fn from_transport(method: &str, url: &str, err: reqwest::Error) -> Self {
        let method = method.to_owned();
        let url = url.to_owned();
        if err.is_timeout() {
            Error::Timeout { method, url }
        } else if err.is_connect() {
            Error::Connection {
                method,
                url,
                message: error_chain(&err),
            }
        } else if err.is_body() || err.is_decode() {
            Error::Body {
                method,
                url,
                message: error_chain(&err),
            }
        } else {
            Error::Connection {
                method,
                url,
                message: error_chain(&err),
            }
        }
    }
}

/// The messages of an error and its sources, joined, without the URL `reqwest` adds (the
/// variants carry it already).
fn error_chain(err: &reqwest::Error) -> String {
    let mut parts = vec![without_url(err)];
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        parts.push(inner.to_string());
        source = inner.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// The message of a `reqwest` error without the URL it appends.
fn without_url(err: &reqwest::Error) -> String {
    let text = err.to_string();
    match err.url() {
        Some(url) => text.replace(&format!(" ({url})"), ""),
        None => text,
    }
}
