//! API errors: every failure of a request becomes one [`ApiError`], and every `ApiError` turns
//! into a response with a `detail` body in the shape the API publishes.

use axum::extract::rejection::BytesRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pragma_sdk::models::{ErrorBody, ErrorDetail, LocationItem, ValidationError};

/// A request that could not be served, with the status and detail it is answered with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The thing asked for does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The input is invalid (422), with one entry per problem.
    #[error("invalid input: {}", ErrorDetail::Validation(.0.clone()))]
    Invalid(Vec<ValidationError>),
    /// A request parameter is invalid in a way that has no location (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The credentials are missing or wrong (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The body is larger than the limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The method is not allowed on the path (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A provider failed while answering (502).
    #[error("{0}")]
    BadGateway(String),
    /// The platform itself failed, e.g. its store (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A validation error with one entry at `loc`.
    pub fn invalid(loc: Vec<LocationItem>, msg: impl Into<String>, kind: &str) -> Self {
        ApiError::Invalid(vec![ValidationError {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
        }])
    }

    /// A validation error of the request body at the dotted `path` below `body`.
    pub fn invalid_body(path: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        let mut loc = vec![LocationItem::Key("body".to_owned())];
        loc.extend(path.iter().map(|key| LocationItem::Key((*key).to_owned())));
        ApiError::invalid(loc, msg, kind)
    }

    /// A validation error of the query parameter `name`.
    pub fn invalid_query(name: &str, msg: impl Into<String>) -> Self {
        ApiError::invalid(
            vec![
                LocationItem::Key("query".to_owned()),
                LocationItem::Key(name.to_owned()),
            ],
            msg,
            "value_error",
        )
    }

    /// The status code the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(self) -> ErrorDetail {
        match self {
            ApiError::Invalid(errors) => ErrorDetail::Validation(errors),
            ApiError::NotFound(message)
            | ApiError::BadRequest(message)
            | ApiError::Conflict(message)
            | ApiError::Unauthorized(message)
            | ApiError::PayloadTooLarge(message)
            | ApiError::MethodNotAllowed(message)
            | ApiError::BadGateway(message)
            | ApiError::Internal(message) => ErrorDetail::Message(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        }
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut response = (
            status,
            Json(ErrorBody {
                detail: self.detail(),
            }),
        )
            .into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "request body is larger than the limit of {} bytes",
                crate::server::BODY_LIMIT
            ))
        } else {
            ApiError::BadRequest(format!("request body could not be read: {rejection}"))
        }
    }
}
