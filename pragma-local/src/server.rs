//! The HTTP API: routes of the published spec over the [`Engine`], request parsing that turns
//! every malformed input into an [`ApiError`], and bearer-token authentication.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use percent_encoding::percent_decode_str;
use pragma_sdk::models::{
    DeadLetterEvent, LocationItem, RawResource, ResourceStatus, Timestamp, UserInfo,
};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::engine::{ApplyMode, Engine};
use crate::error::ApiError;

/// The largest request body accepted, in bytes (4 MiB).
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Every path the API serves, in the routers' syntax. A request for one of them with its
/// trailing slash added or dropped is redirected to it, as the hosted platform does.
const PATHS: &[&str] = &[
    "/health",
    "/auth/me",
    "/resources/",
    "/resources/types",
    "/resources/apply",
    "/resources/{resource_id}",
    "/resources/{resource_id}/status",
    "/resources/{resource_id}/logs",
    "/resources/{resource_id}/health",
    "/ops/dead-letter",
    "/ops/dead-letter/retry-all",
    "/ops/dead-letter/{event_id}",
    "/ops/dead-letter/{event_id}/retry",
    "/providers/",
    "/providers/{provider_id}/push",
    "/providers/{provider_id}/builds",
    "/providers/{provider_id}/builds/{version}",
    "/providers/{provider_id}/builds/{version}/logs",
    "/providers/{provider_id}/versions/{version}",
    "/providers/{provider_id}/deploy",
    "/providers/{provider_id}/deployment",
    "/providers/{provider_id}",
];

/// Whether `path` is one `pattern` describes (`{…}` standing for one non-empty segment).
fn matches(pattern: &str, path: &str) -> bool {
    let mut pattern = pattern.split('/');
    let mut path = path.split('/');
    loop {
        match (pattern.next(), path.next()) {
            (None, None) => return true,
            (Some(want), Some(have)) => {
                let wildcard = want.starts_with('{') && want.ends_with('}');
                if !(wildcard && !have.is_empty() || want == have) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The answer to a path no route serves: a redirect when the path with its trailing slash
/// added or dropped is served, else 404.
async fn unrouted(request: Request) -> Response {
    let path = request.uri().path();
    let other = match path.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        Some(_) => return ApiError::NotFound("Not Found".to_owned()).into_response(),
        None => format!("{path}/"),
    };
    if !PATHS.iter().any(|pattern| matches(pattern, &other)) {
        return ApiError::NotFound("Not Found".to_owned()).into_response();
    }
    let location = match request.uri().query() {
        Some(query) => format!("{other}?{query}"),
        None => other,
    };
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// The longest log tail a request may ask for.
const MAX_TAIL: u32 = 10_000;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Engine,
    pub user: Arc<UserInfo>,
}

/// The API's routes (without `/providers/…`), with the state applied.
pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/auth/me", get(me))
        .route("/resources/", get(list_resources))
        .route("/resources/types", get(list_types))
        .route("/resources/apply", post(apply))
        .route(
            "/resources/{resource_id}",
            get(get_resource).delete(delete_resource),
        )
        .route("/resources/{resource_id}/status", get(resource_status))
        .route("/resources/{resource_id}/logs", get(resource_logs))
        .route("/resources/{resource_id}/health", get(resource_health))
        .route(
            "/ops/dead-letter",
            get(list_dead_letters).delete(delete_dead_letters),
        )
        .route("/ops/dead-letter/retry-all", post(retry_all))
        .route(
            "/ops/dead-letter/{event_id}",
            get(get_dead_letter).delete(delete_dead_letter),
        )
        .route("/ops/dead-letter/{event_id}/retry", post(retry_dead_letter))
        .with_state(state)
}

/// Wraps the merged app: unknown paths and methods answer with a `detail`, bodies are limited,
/// and with a token every path but `/health` requires it.
pub(crate) fn finish(app: Router, token: Option<Arc<str>>) -> Router {
    let app = app
        .fallback(unrouted)
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("Method Not Allowed".to_owned())
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    match token {
        Some(token) => app.layer(middleware::from_fn_with_state(token, authenticate)),
        None => app,
    }
}

async fn authenticate(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_credentials);
    match presented {
        None => ApiError::Unauthorized("Not authenticated".to_owned()).into_response(),
        Some(presented) => {
            if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
                next.run(request).await
            } else {
                ApiError::Unauthorized("Invalid token".to_owned()).into_response()
            }
        }
    }
}

/// The credentials of a `Bearer` authorization header; the scheme name is matched without
/// regard to case, as HTTP auth schemes are.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_start_matches(' '))
}

/// The path parameters of a request (one `String`, or a tuple of them), or a 422 at the
/// parameter that could not be read: the one the rejection names, else `name`.
///
/// Handlers take `Result<Path<T>, PathRejection>` and pass it here, so that a malformed path
/// (such as invalid percent-encoding) is answered like any other invalid input.
pub(crate) fn path_param<T>(
    path: Result<Path<T>, PathRejection>,
    name: &str,
) -> Result<T, ApiError> {
    path.map(|Path(value)| value).map_err(|rejection| {
        let key = match &rejection {
            PathRejection::FailedToDeserializePathParams(failed) => match failed.kind() {
                ErrorKind::InvalidUtf8InPathParam { key }
                | ErrorKind::ParseErrorAtKey { key, .. }
                | ErrorKind::DeserializeError { key, .. } => key.clone(),
                _ => name.to_owned(),
            },
            _ => name.to_owned(),
        };
        ApiError::invalid(
            vec![LocationItem::Key("path".to_owned()), LocationItem::Key(key)],
            rejection.body_text(),
            "value_error",
        )
    })
}

/// The query's pairs, percent-decoded, in order (a key may repeat); handlers take the raw
/// query (`RawQuery`) and read it with this, [`single`] and [`boolean`].
///
/// # Errors
///
/// A 422 at the query parameter (or at `query`, when its name cannot be read) whose text is
/// not UTF-8 once percent-decoded.
pub(crate) fn query_pairs(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let decode = |text: &str| {
        percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .map(|cow| cow.into_owned())
    };
    let not_utf8 = |loc: Vec<LocationItem>| {
        ApiError::invalid(
            loc,
            "not valid UTF-8 once percent-decoded",
            "string_unicode",
        )
    };
    let query = || LocationItem::Key("query".to_owned());
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key).map_err(|_| not_utf8(vec![query()]))?;
            let value = decode(value)
                .map_err(|_| not_utf8(vec![query(), LocationItem::Key(key.clone())]))?;
            Ok((key, value))
        })
        .collect()
}

/// The last value of the query parameter `name`.
pub(crate) fn single<'q>(pairs: &'q [(String, String)], name: &str) -> Option<&'q str> {
    pairs
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The query parameter `name` as a boolean (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`),
/// or a 422 at it.
pub(crate) fn boolean(pairs: &[(String, String)], name: &str) -> Result<Option<bool>, ApiError> {
    match single(pairs, name) {
        None => Ok(None),
        Some(value) => match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(ApiError::invalid_query(
                name,
                format!("expected a boolean, got {value:?}"),
            )),
        },
    }
}

fn body_location(path: &str, message: &str) -> Vec<LocationItem> {
    let mut loc = vec![LocationItem::Key("body".to_owned())];
    if path != "." && !path.is_empty() {
        for segment in path.split('.') {
            let (name, indexes) = match segment.find('[') {
                Some(at) => segment.split_at(at),
                None => (segment, ""),
            };
            if !name.is_empty() {
                loc.push(LocationItem::Key(name.to_owned()));
            }
            for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
                match index.parse::<i64>() {
                    Ok(index) => loc.push(LocationItem::Index(index)),
                    Err(_) => loc.push(LocationItem::Key(index.to_owned())),
                }
            }
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((field, _)) = rest.split_once('`') {
            loc.push(LocationItem::Key(field.to_owned()));
        }
    }
    loc
}

/// Decodes a JSON request body, naming where it is malformed.
fn decode_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|err| {
        ApiError::invalid(
            vec![LocationItem::Key("body".to_owned())],
            format!("malformed JSON: {err}"),
            "json_invalid",
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid(
            vec![LocationItem::Key("body".to_owned())],
            "expected a JSON object",
            "model_attributes_type",
        ));
    }
    pragma_sdk::decode::from_value(value).map_err(|err| {
        let kind = if err.message.starts_with("missing field") {
            "missing"
        } else {
            "type_error"
        };
        ApiError::invalid(body_location(&err.path, &err.message), err.message, kind)
    })
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn me(State(state): State<AppState>) -> Json<UserInfo> {
    Json((*state.user).clone())
}

async fn list_resources(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<RawResource>>, ApiError> {
    let pairs = query_pairs(query)?;
    let tags: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key == "tags")
        .map(|(_, value)| value.clone())
        .collect();
    Ok(Json(state.engine.list(
        single(&pairs, "provider"),
        single(&pairs, "resource"),
        &tags,
    )))
}

async fn list_types(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<pragma_sdk::models::ResourceDefinition>>, ApiError> {
    let pairs = query_pairs(query)?;
    Ok(Json(state.engine.definitions(single(&pairs, "provider"))))
}

async fn apply(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RawResource>, ApiError> {
    let raw: RawResource = decode_body(body)?;
    Ok(Json(state.engine.apply(raw, ApplyMode::User).await?))
}

async fn get_resource(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RawResource>, ApiError> {
    let id = path_param(path, "resource_id")?;
    Ok(Json(state.engine.get(&id)?))
}

async fn delete_resource(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RawResource>, ApiError> {
    let id = path_param(path, "resource_id")?;
    let (resource, _) = state.engine.delete(&id).await?;
    Ok(Json(resource))
}

async fn resource_status(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ResourceStatus>, ApiError> {
    let id = path_param(path, "resource_id")?;
    let raw = state.engine.get(&id)?;
    Ok(Json(ResourceStatus {
        resource_id: id,
        lifecycle_state: raw.lifecycle_state,
        error: raw.error,
    }))
}

/// Limitation: `follow=true` (a live stream of log entries) is not supported and is answered
/// with 422.
async fn resource_logs(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_param(path, "resource_id")?;
    let pairs = query_pairs(query)?;
    let since = match single(&pairs, "since") {
        None => None,
        Some(text) => {
            Some(Timestamp::parse(text).map_err(|msg| ApiError::invalid_query("since", msg))?)
        }
    };
    let tail = match single(&pairs, "tail") {
        None => 100,
        Some(text) => match text.parse::<u32>() {
            Ok(tail) if (1..=MAX_TAIL).contains(&tail) => tail,
            _ => {
                return Err(ApiError::invalid_query(
                    "tail",
                    format!("must be an integer from 1 to {MAX_TAIL}, got {text:?}"),
                ))
            }
        },
    };
    if boolean(&pairs, "follow")? == Some(true) {
        return Err(ApiError::invalid_query(
            "follow",
            "following logs is not supported by this platform; poll with since instead",
        ));
    }
    let entries = state.engine.logs(&id, since, tail).await?;
    Ok(Json(entries).into_response())
}

async fn resource_health(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<pragma_sdk::models::ResourceHealth>, ApiError> {
    let id = path_param(path, "resource_id")?;
    Ok(Json(state.engine.health(&id).await?))
}

async fn list_dead_letters(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<DeadLetterEvent>>, ApiError> {
    let pairs = query_pairs(query)?;
    Ok(Json(state.engine.dead_letters(single(&pairs, "provider"))))
}

async fn delete_dead_letters(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let pairs = query_pairs(query)?;
    let all = boolean(&pairs, "all")?.unwrap_or(false);
    let provider = single(&pairs, "provider").map(str::to_owned);
    let count = match (all, provider) {
        (true, _) => state.engine.delete_dead_letters(|_| true).await?,
        (false, Some(provider)) => {
            state
                .engine
                .delete_dead_letters(|dead| dead.provider == provider)
                .await?
        }
        (false, None) => {
            return Err(ApiError::BadRequest(
                "say which dead-letter events to delete: all=true or provider=NAME".to_owned(),
            ))
        }
    };
    Ok(Json(json!({ "deleted_count": count })))
}

async fn get_dead_letter(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DeadLetterEvent>, ApiError> {
    let id = path_param(path, "event_id")?;
    Ok(Json(state.engine.dead_letter(&id)?))
}

async fn delete_dead_letter(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_param(path, "event_id")?;
    state
        .engine
        .delete_dead_letters(|dead| dead.event_id == id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn retry_dead_letter(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<pragma_sdk::models::OutboxEvent>, ApiError> {
    let id = path_param(path, "event_id")?;
    Ok(Json(state.engine.retry_dead_letter(&id).await?))
}

async fn retry_all(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let count = state.engine.retry_all_dead_letters().await?;
    Ok(Json(json!({ "retried_count": count })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_locations_follow_decode_paths() {
        let keys = |loc: Vec<LocationItem>| -> Vec<String> {
            loc.iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            keys(body_location(".", "missing field `name`")),
            vec!["body", "name"]
        );
        assert_eq!(
            keys(body_location("dependencies[0].name", "invalid type")),
            vec!["body", "dependencies", "0", "name"]
        );
    }

    #[test]
    fn query_pairs_decode_and_repeat() {
        let pairs = query_pairs(Some("tags=a%20b&tags=c+d&provider=p".to_owned())).unwrap();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1].1, "c d");
        assert_eq!(single(&pairs, "provider"), Some("p"));
    }
}
