//! The typed client of the platform's HTTP API, asynchronous and blocking.
//!
//! [`AsyncPragmaClient`] is the implementation; [`PragmaClient`] (feature
//! `blocking`, on by default) is the same list of methods without `async`, driving the
//! asynchronous client on a runtime of its own. Both are built with [`ClientBuilder`], are
//! cheap to clone (clones share one connection pool) and can be shared between threads.
//!
//! ```no_run
//! use pragma_sdk::client::ListFilter;
//! use pragma_sdk::ClientBuilder;
//!
//! # async fn run() -> Result<(), pragma_sdk::Error> {
//! let client = ClientBuilder::new().base_url("http://127.0.0.1:8000").build()?;
//! for resource in client.list_resources(&ListFilter::new().provider("mycloud")).await? {
//!     println!("{} is {}", resource.name, resource.lifecycle_state);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Every path segment the client sends (resource ids, provider ids, versions, event ids) is
//! percent-encoded as one segment, and query values are form-encoded, so no name can change
//! which endpoint a request reaches.
//!
//! The published API has no file-upload endpoint, so the client has none either.

#[cfg(feature = "blocking")]
mod blocking;
mod builder;
pub mod credentials;
mod error;
mod logs;
mod tarball;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::authoring::{Resource, ResourceType};
use crate::decode;
use crate::models::{
    self, BuildInfo, BuildStatus, DeadLetterEvent, DeployRequest, ErrorBody, LifecycleState,
    LogEntry, OutboxEvent, ProviderDeleteResult, ProviderInfo, ProviderStatus, PushResponse,
    RawResource, ResourceDefinition, ResourceHealth, ResourceStatus, Timestamp, UserInfo,
};

#[cfg(feature = "blocking")]
pub use blocking::{BuildLogLines, PragmaClient};
pub use builder::{ClientBuilder, DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT};
pub use credentials::Token;
pub use error::Error;
pub use logs::BuildLogStream;
pub use tarball::pack_directory;

/// Characters written as-is in a path segment: the unreserved ones (letters, digits, `-`, `.`,
/// `_`, `~`); everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The most bytes of an error response's body the client reads.
const MAX_ERROR_BODY: usize = 1 << 20;

/// The largest `tail` the API accepts for resource logs.
pub const MAX_LOG_TAIL: u32 = 10_000;

/// A filter for [`AsyncPragmaClient::list_resources`]; every part is optional and all that
/// are set must match.
///
/// ```
/// use pragma_sdk::client::ListFilter;
///
/// let filter = ListFilter::new().provider("mycloud").tag("prod").tag("eu");
/// assert_eq!(filter.tags, ["prod", "eu"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only resources of this provider.
    pub provider: Option<String>,
    /// Only resources of this resource type.
    pub resource: Option<String>,
    /// Only resources carrying every one of these tags.
    pub tags: Vec<String>,
}

impl ListFilter {
    /// A filter matching every resource.
    pub fn new() -> Self {
        ListFilter::default()
    }

    /// Only resources of `provider`.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// Only resources of the resource type `resource`.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Only resources carrying `tag` (beside the tags already required).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(provider) = &self.provider {
            query.push(("provider", provider.clone()));
        }
        if let Some(resource) = &self.resource {
            query.push(("resource", resource.clone()));
        }
        for tag in &self.tags {
            query.push(("tags", tag.clone()));
        }
        query
    }
}

/// What the typed [`AsyncPragmaClient::apply`] asks the platform to do with a resource.
///
/// The typed API always sends the lifecycle state of its mode, whatever the resource's
/// `lifecycle_state` field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ApplyMode {
    /// Store and queue the resource for its provider: sends `lifecycle_state: "pending"`.
    #[default]
    Queue,
    /// Store the resource without processing it: sends `lifecycle_state: "draft"`.
    Draft,
}

impl ApplyMode {
    /// The lifecycle state this mode sends.
    pub fn lifecycle_state(self) -> LifecycleState {
        match self {
            ApplyMode::Queue => LifecycleState::Pending,
            ApplyMode::Draft => LifecycleState::Draft,
        }
    }
}

/// Which dead-letter events [`AsyncPragmaClient::delete_dead_letter_events`] removes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeadLetterScope {
    /// Every dead-letter event (`?all=true`).
    All,
    /// The dead-letter events of one provider (`?provider=…`).
    Provider(String),
}

/// The asynchronous client of the platform's HTTP API.
///
/// Cheap to clone: clones share the connection pool and settings. Dropping the last clone
/// closes the pool.
///
/// ```no_run
/// use pragma_sdk::{AsyncPragmaClient, ClientBuilder};
///
/// # async fn run() -> Result<(), pragma_sdk::Error> {
/// let client: AsyncPragmaClient = ClientBuilder::new().build()?;
/// if client.is_healthy().await {
///     let me = client.get_me().await?;
///     println!("signed in as {}", me.user_id);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncPragmaClient {
    inner: std::sync::Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) token: Option<Token>,
    pub(crate) context: String,
    pub(crate) timeout: Duration,
    pub(crate) max_response_size: usize,
}

impl fmt::Debug for AsyncPragmaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPragmaClient")
            .field("base_url", &self.inner.base_url)
            .field("context", &self.inner.context)
            .field("token", &self.inner.token)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// The body of a request.
enum Body {
    Empty,
    Json(Vec<u8>),
    Multipart(reqwest::multipart::Form),
}

/// A request that got a success status, with what is needed to name it in errors.
struct Answer {
    method: Method,
    url: String,
    status: StatusCode,
    response: reqwest::Response,
    /// The most bytes the body may have.
    limit: usize,
}

impl Answer {
    async fn bytes(self) -> Result<(Method, String, StatusCode, Bytes), Error> {
        let Answer {
            method,
            url,
            status,
            mut response,
            limit,
        } = self;
        let too_large = || Error::Body {
            method: method.to_string(),
            url: url.clone(),
            message: format!(
                "the response is larger than the client's limit of {limit} bytes \
                 (ClientBuilder::max_response_size)"
            ),
        };
        let expected = response.content_length().unwrap_or(0);
        if expected > limit as u64 {
            return Err(too_large());
        }
        // The declared length is the server's word; memory is taken as bytes arrive.
        let mut body = Vec::with_capacity(expected.min(64 << 10) as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| Error::from_transport(method.as_str(), &url, err))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((method, url, status, Bytes::from(body)))
    }

    async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let (method, url, _, bytes) = self.bytes().await?;
        decode_body(&method, &url, &bytes)
    }
}

fn decode_body<T: DeserializeOwned>(method: &Method, url: &str, bytes: &[u8]) -> Result<T, Error> {
    decode::from_slice(bytes).map_err(|err| Error::Decode {
        method: method.to_string(),
        url: url.to_owned(),
        path: err.path,
        message: err.message,
    })
}

/// Percent-encodes `value` as one path segment.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for an empty segment, `.` or `..`, which no encoding keeps from
/// being read as a path step.
fn segment(what: &str, value: &str) -> Result<String, Error> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(Error::InvalidArgument(format!(
            "{what} {value:?} cannot be sent as a path segment"
        )));
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

fn resource_path(provider: &str, resource: &str, name: &str) -> Result<String, Error> {
    let id = models::resource_id(provider, resource, name);
    Ok(format!("/resources/{}", segment("resource id", &id)?))
}

fn provider_path(provider_id: &str) -> Result<String, Error> {
    Ok(format!(
        "/providers/{}",
        segment("provider id", provider_id)?
    ))
}

fn typed_decode_error(method: &str, url: &str, err: decode::DecodeError) -> Error {
    Error::Decode {
        method: method.to_owned(),
        url: url.to_owned(),
        path: err.path,
        message: err.message,
    }
}

/// Fails unless the server answered with the resource called `name`.
fn same_name(raw: &RawResource, name: &str, method: &str, url: &str) -> Result<(), Error> {
    if raw.name == name {
        return Ok(());
    }
    Err(Error::Decode {
        method: method.to_owned(),
        url: url.to_owned(),
        path: "name".to_owned(),
        message: format!("expected the resource {name:?}, got {:?}", raw.name),
    })
}

/// The count `key` of an answer such as `{"retried_count": 3}`; other fields are ignored,
/// as a newer server may add some.
fn count(
    counts: &HashMap<String, serde_json::Value>,
    key: &str,
    url: &str,
    method: &str,
) -> Result<u64, Error> {
    let invalid = |message: String| Error::Decode {
        method: method.to_owned(),
        url: url.to_owned(),
        path: key.to_owned(),
        message,
    };
    match counts.get(key) {
        None => Err(invalid(format!("missing field `{key}`"))),
        Some(value) => value
            .as_u64()
            .ok_or_else(|| invalid(format!("expected a count, got {value}"))),
    }
}

impl AsyncPragmaClient {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        AsyncPragmaClient {
            inner: std::sync::Arc::new(inner),
        }
    }

    /// A client with the default settings (see [`ClientBuilder`]).
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::new().build()
    }

    /// A builder for a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The context whose token the client uses.
    pub fn context(&self) -> &str {
        &self.inner.context
    }

    /// Whether the client sends a token.
    pub fn has_token(&self) -> bool {
        self.inner.token.is_some()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Sends a request and checks its status; `timeout: None` leaves the request without a
    /// total deadline (for streams).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
        timeout: Option<Duration>,
    ) -> Result<Answer, Error> {
        let url = format!("{}{}", self.inner.base_url, path);
        let mut builder = self.inner.http.request(method.clone(), &url);
        if !query.is_empty() {
            builder = builder.query(query);
        }
        if let Some(token) = &self.inner.token {
            builder = builder.bearer_auth(token.expose());
        }
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        builder = match body {
            Body::Empty => builder,
            Body::Json(bytes) => builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes),
            Body::Multipart(form) => builder.multipart(form),
        };
        let request = builder
            .build()
            .map_err(|err| Error::InvalidArgument(format!("{method} {url}: {err}")))?;
        let url = request.url().to_string();

        let sent = self.inner.http.execute(request);
        let response = match timeout {
            Some(_) => sent.await,
            None => match tokio::time::timeout(self.inner.timeout, sent).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(Error::Timeout {
                        method: method.to_string(),
                        url,
                    })
                }
            },
        }
        .map_err(|err| Error::from_transport(method.as_str(), &url, err))?;

        let status = response.status();
        tracing::debug!(%method, %url, status = status.as_u16(), "pragma api request");
        if status.is_success() {
            return Ok(Answer {
                method,
                url,
                status,
                response,
                limit: self.inner.max_response_size,
            });
        }
        // A timeout too long for the clock means no deadline.
        let deadline = tokio::time::Instant::now().checked_add(self.inner.timeout);
        Err(status_error(method, url, status, response, deadline).await)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
    ) -> Result<T, Error> {
        self.send(method, path, query, body, Some(self.inner.timeout))
            .await?
            .json()
            .await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        self.call(Method::GET, path, query, Body::Empty).await
    }

    fn json_body<B: Serialize>(value: &B) -> Result<Body, Error> {
        serde_json::to_vec(value)
            .map(Body::Json)
            .map_err(|err| Error::InvalidArgument(format!("cannot encode the request body: {err}")))
    }

    /// Streams the log of one build line by line, as the server sends it.
    ///
    /// The whole body is never buffered: each line is yielded as soon as its newline arrives
    /// (a last line without newline is yielded at the end). Lines are decoded as UTF-8 with
    /// invalid bytes replaced; a trailing `\r` is removed.
    ///
    /// Limitation: a line longer than 1 MiB is yielded in 1 MiB pieces.
    ///
    /// # Errors
    ///
    /// The call fails as any request does; each item fails with [`Error::Timeout`] when no
    /// data arrives for the client's timeout, or [`Error::Body`] when the connection breaks.
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    ///
    /// # async fn run(client: pragma_sdk::AsyncPragmaClient) -> Result<(), pragma_sdk::Error> {
    /// let mut lines = client.stream_build_logs("mycloud", "20260102.030405").await?;
    /// while let Some(line) = lines.next().await {
    ///     println!("{}", line?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stream_build_logs(
        &self,
        provider_id: &str,
        version: &str,
    ) -> Result<BuildLogStream, Error> {
        let path = format!(
            "{}/builds/{}/logs",
            provider_path(provider_id)?,
            segment("version", version)?
        );
        let answer = self
            .send(Method::GET, &path, &[], Body::Empty, None)
            .await?;
        Ok(BuildLogStream::new(
            answer.method,
            answer.url,
            answer.response,
            self.inner.timeout,
        ))
    }
}

/// Reads an error response into [`Error::Status`], keeping at most [`MAX_ERROR_BODY`] bytes
/// and reading no longer than until `deadline`. A redirect is reported with where it points,
/// since the client does not follow it.
async fn status_error(
    method: Method,
    url: String,
    status: StatusCode,
    mut response: reqwest::Response,
    deadline: Option<tokio::time::Instant>,
) -> Error {
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("nowhere");
        return Error::Status {
            method: method.to_string(),
            url,
            status,
            body: format!(
                "redirected to {location}; the client does not follow redirects, so point \
                 its base URL at the address that answers"
            ),
            detail: None,
        };
    }
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        let chunk = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, response.chunk()).await,
            None => Ok(response.chunk().await),
        };
        match chunk {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            Ok(Ok(None) | Err(_)) | Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    let detail = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .map(|error| error.detail);
    Error::Status {
        method: method.to_string(),
        url,
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        detail,
    }
}

/// Writes every method of the API once, as an `async fn` on [`AsyncPragmaClient`] and, with
/// the `blocking` feature, as a plain `fn` on [`PragmaClient`] that runs the former.
macro_rules! api_methods {
    ($(
        $(#[$meta:meta])*
        fn $name:ident $(<$generic:ident : $bound:path>)? (
            &$self:ident $(, $arg:ident : $ty:ty)* $(,)?
        ) -> $ret:ty $body:block
    )*) => {
        impl AsyncPragmaClient {
            $(
                $(#[$meta])*
                pub async fn $name $(<$generic: $bound>)? (&$self $(, $arg: $ty)*) -> $ret $body
            )*
        }

        #[cfg(feature = "blocking")]
        impl PragmaClient {
            $(
                $(#[$meta])*
                ///
                /// Blocks the calling thread until the answer is in.
                pub fn $name $(<$generic: $bound>)? (&$self $(, $arg: $ty)*) -> $ret {
                    $self.block_on($self.asynchronous().$name $(::<$generic>)? ($($arg),*))
                }
            )*
        }
    };
}

api_methods! {
    /// Whether the platform answers its health check: `true` only for status 200 with
    /// `{"status": "ok"}`, `false` for any other answer or failure.
    fn is_healthy(&self) -> bool {
        let answer = match self.send(Method::GET, "/health", &[], Body::Empty, Some(self.inner.timeout)).await {
            Ok(answer) if answer.status == StatusCode::OK => answer,
            _ => return false,
        };
        match answer.json::<serde_json::Value>().await {
            Ok(value) => value.get("status").and_then(|status| status.as_str()) == Some("ok"),
            Err(_) => false,
        }
    }

    /// The authenticated user (`GET /auth/me`).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 401 without a valid token; any other request error.
    fn get_me(&self) -> Result<UserInfo, Error> {
        self.get_json("/auth/me", &[]).await
    }

    /// The resources matching `filter`, ordered by name (`GET /resources/`).
    ///
    /// # Errors
    ///
    /// Any request error; [`Error::Decode`] naming the path of a resource that does not decode.
    fn list_resources(&self, filter: &ListFilter) -> Result<Vec<RawResource>, Error> {
        self.get_json("/resources/", &filter.query()).await
    }

    /// One resource (`GET /resources/{id}`).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 404 when there is no such resource; any other request error.
    fn get_resource(&self, provider: &str, resource: &str, name: &str) -> Result<RawResource, Error> {
        self.get_json(&resource_path(provider, resource, name)?, &[]).await
    }

    /// Creates or updates a resource (`POST /resources/apply`) and returns it as stored.
    ///
    /// Its `lifecycle_state` says what to do: `draft` stores it, `pending` also queues it for
    /// its provider.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 422 when the platform rejects it, 409 on a conflicting change;
    /// any other request error.
    fn apply_resource(&self, resource: &RawResource) -> Result<RawResource, Error> {
        let body = Self::json_body(resource)?;
        self.call(Method::POST, "/resources/apply", &[], body).await
    }

    /// Deletes a resource (`DELETE /resources/{id}`): the platform runs its provider's delete
    /// and removes it once that succeeds.
    ///
    /// Returns the resource as it is now (pending deletion), or `None` when the server answers
    /// 204 because it was already gone.
    ///
    /// # Errors
    ///
    /// Any request error.
    fn delete_resource(&self, provider: &str, resource: &str, name: &str) -> Result<Option<RawResource>, Error> {
        let path = resource_path(provider, resource, name)?;
        let answer = self.send(Method::DELETE, &path, &[], Body::Empty, Some(self.inner.timeout)).await?;
        if answer.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        answer.json().await.map(Some)
    }

    /// The resource types that can be used, optionally of one provider only
    /// (`GET /resources/types`).
    ///
    /// # Errors
    ///
    /// Any request error.
    fn list_resource_types(&self, provider: Option<&str>) -> Result<Vec<ResourceDefinition>, Error> {
        let query: Vec<(&str, String)> = provider.map(|p| ("provider", p.to_owned())).into_iter().collect();
        self.get_json("/resources/types", &query).await
    }

    /// The lifecycle state of a resource, without its config (`GET /resources/{id}/status`).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 404 when there is no such resource; any other request error.
    fn get_resource_status(&self, provider: &str, resource: &str, name: &str) -> Result<ResourceStatus, Error> {
        let path = format!("{}/status", resource_path(provider, resource, name)?);
        self.get_json(&path, &[]).await
    }

    /// The log entries of a resource as its provider reports them
    /// (`GET /resources/{id}/logs`): only those after `since`, at most the last `tail` (the
    /// server's default is 100).
    ///
    /// Limitation: the API's `follow` mode (a server-sent event stream) is not offered.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `tail` is 0 or above [`MAX_LOG_TAIL`]; any request error.
    fn get_resource_logs(
        &self,
        provider: &str,
        resource: &str,
        name: &str,
        since: Option<Timestamp>,
        tail: Option<u32>,
    ) -> Result<Vec<LogEntry>, Error> {
        let path = format!("{}/logs", resource_path(provider, resource, name)?);
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(("since", since.to_string()));
        }
        if let Some(tail) = tail {
            if tail == 0 || tail > MAX_LOG_TAIL {
                return Err(Error::InvalidArgument(format!(
                    "tail {tail} is outside 1..={MAX_LOG_TAIL}"
                )));
            }
            query.push(("tail", tail.to_string()));
        }
        self.get_json(&path, &query).await
    }

    /// The health of a resource as its provider reports it (`GET /resources/{id}/health`).
    ///
    /// # Errors
    ///
    /// Any request error.
    fn get_resource_health(&self, provider: &str, resource: &str, name: &str) -> Result<ResourceHealth, Error> {
        let path = format!("{}/health", resource_path(provider, resource, name)?);
        self.get_json(&path, &[]).await
    }

    /// One resource of type `T`, with typed config and outputs.
    ///
    /// # Errors
    ///
    /// As [`AsyncPragmaClient::get_resource`]; [`Error::Decode`] with a path under `config` or
    /// `outputs` when the stored resource does not fit `T`.
    fn get<T: ResourceType>(&self, name: &str) -> Result<Resource<T>, Error> {
        let path = resource_path(T::PROVIDER, T::RESOURCE, name)?;
        let raw: RawResource = self.get_json(&path, &[]).await?;
        let url = format!("{}{}", self.inner.base_url, path);
        same_name(&raw, name, "GET", &url)?;
        Resource::from_raw(raw).map_err(|err| typed_decode_error("GET", &url, err))
    }

    /// The resources of type `T` matching the tags of `filter`; its provider and resource type
    /// are replaced by `T`'s.
    ///
    /// # Errors
    ///
    /// As [`AsyncPragmaClient::list_resources`]; [`Error::Decode`] with a path starting at the
    /// index of a resource that does not fit `T`.
    fn list<T: ResourceType>(&self, filter: &ListFilter) -> Result<Vec<Resource<T>>, Error> {
        let filter = ListFilter {
            provider: Some(T::PROVIDER.to_owned()),
            resource: Some(T::RESOURCE.to_owned()),
            tags: filter.tags.clone(),
        };
        let raws: Vec<RawResource> = self.get_json("/resources/", &filter.query()).await?;
        let url = format!("{}/resources/", self.inner.base_url);
        raws.into_iter()
            .enumerate()
            .map(|(index, raw)| {
                Resource::from_raw(raw).map_err(|err| {
                    let path = if err.path == "." {
                        format!("[{index}]")
                    } else {
                        format!("[{index}].{}", err.path)
                    };
                    typed_decode_error("GET", &url, decode::DecodeError { path, message: err.message })
                })
            })
            .collect()
    }

    /// Creates or updates a resource of type `T` and returns it as stored.
    ///
    /// Sends the lifecycle state of `mode` — `"pending"` for [`ApplyMode::Queue`], `"draft"`
    /// for [`ApplyMode::Draft`] — whatever `resource.lifecycle_state` holds.
    ///
    /// # Errors
    ///
    /// As [`AsyncPragmaClient::apply_resource`]; [`Error::InvalidArgument`] when the config or
    /// outputs do not serialize to JSON objects; [`Error::Decode`] when the stored resource
    /// does not fit `T`.
    fn apply<T: ResourceType>(&self, resource: &Resource<T>, mode: ApplyMode) -> Result<Resource<T>, Error> {
        let mut raw = resource
            .to_raw()
            .map_err(|err| Error::InvalidArgument(format!("resource {:?}: {err}", resource.name)))?;
        raw.lifecycle_state = mode.lifecycle_state();
        let body = Self::json_body(&raw)?;
        let stored: RawResource = self.call(Method::POST, "/resources/apply", &[], body).await?;
        let url = format!("{}/resources/apply", self.inner.base_url);
        same_name(&stored, &resource.name, "POST", &url)?;
        Resource::from_raw(stored).map_err(|err| typed_decode_error("POST", &url, err))
    }

    /// Deletes the resource of type `T` called `name`; `None` when it was already gone.
    ///
    /// # Errors
    ///
    /// As [`AsyncPragmaClient::delete_resource`]; [`Error::Decode`] when the answer does not
    /// fit `T`.
    fn delete<T: ResourceType>(&self, name: &str) -> Result<Option<Resource<T>>, Error> {
        let raw = self.delete_resource(T::PROVIDER, T::RESOURCE, name).await?;
        let url = format!("{}{}", self.inner.base_url, resource_path(T::PROVIDER, T::RESOURCE, name)?);
        raw.map(Resource::from_raw)
            .transpose()
            .map_err(|err| typed_decode_error("DELETE", &url, err))
    }

    /// The events that failed after their last attempt, optionally of one provider only
    /// (`GET /ops/dead-letter`).
    ///
    /// # Errors
    ///
    /// Any request error.
    fn list_dead_letter_events(&self, provider: Option<&str>) -> Result<Vec<DeadLetterEvent>, Error> {
        let query: Vec<(&str, String)> = provider.map(|p| ("provider", p.to_owned())).into_iter().collect();
        self.get_json("/ops/dead-letter", &query).await
    }

    /// One dead-letter event (`GET /ops/dead-letter/{event_id}`).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 404 when there is no such event; any other request error.
    fn get_dead_letter_event(&self, event_id: &str) -> Result<DeadLetterEvent, Error> {
        let path = format!("/ops/dead-letter/{}", segment("event id", event_id)?);
        self.get_json(&path, &[]).await
    }

    /// Queues a dead-letter event again and removes it from the dead letters
    /// (`POST /ops/dead-letter/{event_id}/retry`); returns the queued event.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 404 when there is no such event; any other request error.
    fn retry_dead_letter_event(&self, event_id: &str) -> Result<OutboxEvent, Error> {
        let path = format!("/ops/dead-letter/{}/retry", segment("event id", event_id)?);
        self.call(Method::POST, &path, &[], Body::Empty).await
    }

    /// Queues every dead-letter event again (`POST /ops/dead-letter/retry-all`); returns how
    /// many were queued (`retried_count`).
    ///
    /// # Errors
    ///
    /// Any request error; [`Error::Decode`] when the answer has no `retried_count`.
    fn retry_all_dead_letter_events(&self) -> Result<u64, Error> {
        let path = "/ops/dead-letter/retry-all";
        let counts: HashMap<String, serde_json::Value> =
            self.call(Method::POST, path, &[], Body::Empty).await?;
        count(&counts, "retried_count", &format!("{}{path}", self.inner.base_url), "POST")
    }

    /// Removes one dead-letter event (`DELETE /ops/dead-letter/{event_id}`); succeeds also when
    /// it did not exist.
    ///
    /// # Errors
    ///
    /// Any request error.
    fn delete_dead_letter_event(&self, event_id: &str) -> Result<(), Error> {
        let path = format!("/ops/dead-letter/{}", segment("event id", event_id)?);
        let answer = self.send(Method::DELETE, &path, &[], Body::Empty, Some(self.inner.timeout)).await?;
        answer.bytes().await.map(|_| ())
    }

    /// Removes the dead-letter events of `scope` (`DELETE /ops/dead-letter`); returns how many
    /// were removed (`deleted_count`).
    ///
    /// # Errors
    ///
    /// Any request error; [`Error::Decode`] when the answer has no `deleted_count`.
    fn delete_dead_letter_events(&self, scope: DeadLetterScope) -> Result<u64, Error> {
        let query = match scope {
            DeadLetterScope::All => vec![("all", "true".to_owned())],
            DeadLetterScope::Provider(provider) => vec![("provider", provider)],
        };
        let answer = self.send(Method::DELETE, "/ops/dead-letter", &query, Body::Empty, Some(self.inner.timeout)).await?;
        let url = answer.url.clone();
        let counts: HashMap<String, serde_json::Value> = answer.json().await?;
        count(&counts, "deleted_count", &url, "DELETE")
    }

    /// The providers with their deployment status (`GET /providers/`).
    ///
    /// # Errors
    ///
    /// Any request error.
    fn list_providers(&self) -> Result<Vec<ProviderInfo>, Error> {
        self.get_json("/providers/", &[]).await
    }

    /// Uploads provider code, a gzipped tarball such as [`pack_directory`] makes, and starts
    /// a build (`POST /providers/{provider_id}/push`, multipart field `code`).
    ///
    /// # Errors
    ///
    /// Any request error.
    fn push_provider(&self, provider_id: &str, tarball: Vec<u8>) -> Result<PushResponse, Error> {
        let path = format!("{}/push", provider_path(provider_id)?);
        let part = reqwest::multipart::Part::bytes(tarball)
            .file_name("code.tar.gz")
            .mime_str("application/gzip")
            .map_err(|err| Error::InvalidArgument(format!("content type: {err}")))?;
        let form = reqwest::multipart::Form::new().part("code", part);
        self.call(Method::POST, &path, &[], Body::Multipart(form)).await
    }

    /// The latest builds of a provider, newest first (`GET /providers/{provider_id}/builds`;
    /// the server returns at most 10).
    ///
    /// # Errors
    ///
    /// Any request error.
    fn list_builds(&self, provider_id: &str) -> Result<Vec<BuildInfo>, Error> {
        let path = format!("{}/builds", provider_path(provider_id)?);
        self.get_json(&path, &[]).await
    }

    /// One build of a provider (`GET /providers/{provider_id}/builds/{version}`).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 404 when there is no such build; any other request error.
    fn get_build_status(&self, provider_id: &str, version: &str) -> Result<BuildInfo, Error> {
        let path = format!("{}/builds/{}", provider_path(provider_id)?, segment("version", version)?);
        self.get_json(&path, &[]).await
    }

    /// One build of a provider by version, after the server refreshed its state
    /// (`GET /providers/{provider_id}/versions/{version}`).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 404 when there is no such build; any other request error.
    fn get_build_by_version(&self, provider_id: &str, version: &str) -> Result<BuildInfo, Error> {
        let path = format!("{}/versions/{}", provider_path(provider_id)?, segment("version", version)?);
        self.get_json(&path, &[]).await
    }

    /// Deploys a build of a provider, or its latest successful one when `version` is `None`
    /// (`POST /providers/{provider_id}/deploy`).
    ///
    /// # Errors
    ///
    /// Any request error.
    fn deploy_provider(&self, provider_id: &str, version: Option<&str>) -> Result<ProviderStatus, Error> {
        let path = format!("{}/deploy", provider_path(provider_id)?);
        let body = Self::json_body(&DeployRequest { version: version.map(str::to_owned) })?;
        self.call(Method::POST, &path, &[], body).await
    }

    /// Deploys the build before the one that is deployed.
    ///
    /// The API has no rollback endpoint, so this reads the deployment status and the builds
    /// and deploys the newest successful build whose version is lower than the deployed one
    /// (versions are CalVer `YYYYMMDD.HHMMSS`, so lower is older).
    ///
    /// Limitation: the server lists only the latest 10 builds, so a rollback cannot reach a
    /// build older than those.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when no version is deployed or no older successful build is
    /// listed; any request error.
    fn rollback_provider(&self, provider_id: &str) -> Result<ProviderStatus, Error> {
        let status = self.get_deployment_status(provider_id).await?;
        let Some(current) = status.version else {
            return Err(Error::InvalidArgument(format!(
                "provider {provider_id:?} has no deployed version to roll back from"
            )));
        };
        let builds = self.list_builds(provider_id).await?;
        let previous = builds
            .iter()
            .filter(|build| build.status == BuildStatus::Success && build.version < current)
            .max_by(|a, b| a.version.cmp(&b.version))
            .ok_or_else(|| Error::InvalidArgument(format!(
                "provider {provider_id:?} has no successful build older than {current}"
            )))?;
        self.deploy_provider(provider_id, Some(&previous.version)).await
    }

    /// The deployment status of a provider (`GET /providers/{provider_id}/deployment`).
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with 404 when the provider is not deployed; any other request error.
    fn get_deployment_status(&self, provider_id: &str) -> Result<ProviderStatus, Error> {
        let path = format!("{}/deployment", provider_path(provider_id)?);
        self.get_json(&path, &[]).await
    }

    /// Deletes a provider with its deployment and resource types
    /// (`DELETE /providers/{provider_id}`); with `cascade` also its resources, without it the
    /// server refuses while resources exist.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] (409) when resources exist and `cascade` is off; any other request
    /// error.
    fn delete_provider(&self, provider_id: &str, cascade: bool) -> Result<ProviderDeleteResult, Error> {
        let path = provider_path(provider_id)?;
        let query = [("cascade", cascade.to_string())];
        self.call(Method::DELETE, &path, &query, Body::Empty).await
    }
}
