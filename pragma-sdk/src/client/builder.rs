//! [`ClientBuilder`]: the settings of a client.

use std::time::Duration;

use crate::client::credentials::{CredentialSource, Token};
use crate::client::{AsyncPragmaClient, Error, Inner};

/// The base URL used when none is set and `PRAGMA_API_URL` is unset.
pub const DEFAULT_BASE_URL: &str = "http://localhost:8000";

/// The request timeout used when none is set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response body a client reads by default, in bytes (256 MiB).
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 256 << 20;

#[derive(Debug, Clone)]
enum Auth {
    Discover,
    Token(Token),
    None,
}

/// Builds an [`AsyncPragmaClient`] or a blocking [`PragmaClient`](crate::PragmaClient).
///
/// Every setting has a default: the base URL is `PRAGMA_API_URL`, else
/// [`DEFAULT_BASE_URL`]; the timeout is [`DEFAULT_TIMEOUT`]; the token and context are
/// discovered as [`credentials`](crate::client::credentials) describes.
///
/// ```
/// use std::time::Duration;
/// use pragma_sdk::ClientBuilder;
///
/// let client = ClientBuilder::new()
///     .base_url("http://127.0.0.1:8000")
///     .timeout(Duration::from_secs(5))
///     .auth_token("my-token")
///     .build()
///     .unwrap();
/// assert_eq!(client.base_url(), "http://127.0.0.1:8000");
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: Option<String>,
    timeout: Duration,
    auth: Auth,
    context: Option<String>,
    require_auth: bool,
    http_client: Option<reqwest::Client>,
    source: Option<CredentialSource>,
    max_response_size: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// A builder with every setting at its default.
    pub fn new() -> Self {
        ClientBuilder {
            base_url: None,
            timeout: DEFAULT_TIMEOUT,
            auth: Auth::Discover,
            context: None,
            require_auth: false,
            http_client: None,
            source: None,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
        }
    }

    /// The largest response body the client reads, in bytes (default 256 MiB); a larger one
    /// fails the call with [`Error::Body`] instead of filling memory.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// The platform's base URL (`http://localhost:8000`, `https://api.example.com/v1`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// How long one request may take, from sending to the end of the body. A build log stream
    /// fails when no data arrives for this long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this token, skipping discovery.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Token(Token::new(token));
        self
    }

    /// Sends no token at all, skipping discovery.
    pub fn no_auth(mut self) -> Self {
        self.auth = Auth::None;
        self
    }

    /// The context whose token to discover (instead of `PRAGMA_CONTEXT` or `config.yaml`).
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Fails [`ClientBuilder::build`] with [`Error::Authentication`] when no token is found.
    pub fn require_auth(mut self, require: bool) -> Self {
        self.require_auth = require;
        self
    }

    /// Sends requests through this preconfigured `reqwest` client (proxies, root
    /// certificates, …). The builder's timeout still applies to each request.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Reads the environment and configuration directory from `source` instead of the
    /// process's.
    pub fn credential_source(mut self, source: CredentialSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Builds the asynchronous client.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when the base URL is not an `http` or `https` URL without
    /// query or fragment, or the HTTP client cannot be set up; [`Error::Authentication`] when
    /// [`ClientBuilder::require_auth`] is on and no token is found.
    pub fn build(self) -> Result<AsyncPragmaClient, Error> {
        let source = self.source.unwrap_or_else(CredentialSource::system);

        let base_url = match self.base_url {
            Some(url) => url,
            None => source
                .var("PRAGMA_API_URL")
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        };
        let base_url = normalize_base_url(&base_url)?;

        let explicit = match &self.auth {
            Auth::Token(token) => Some(token.clone()),
            _ => None,
        };
        let found = source.discover(explicit, self.context.as_deref());
        let token = match self.auth {
            Auth::None => None,
            _ => found.token.map(|(token, _)| token),
        };
        if let Some(token) = &token {
            if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .is_err()
            {
                return Err(Error::InvalidArgument(
                    "the auth token holds characters an HTTP header cannot carry \
                     (a line break or another control character?)"
                        .to_owned(),
                ));
            }
        }
        if self.require_auth && token.is_none() {
            return Err(Error::Authentication {
                message: source.missing_token_message(&found.context),
                context: found.context,
            });
        }

        let http = match self.http_client {
            Some(client) => client,
            // Redirects are not followed: reqwest would turn a redirected POST into a GET
            // (or resend its body elsewhere) and report the answer to that as the call's.
            None => reqwest::Client::builder()
                .connect_timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|err| {
                    Error::InvalidArgument(format!("cannot set up the HTTP client: {err}"))
                })?,
        };

        Ok(AsyncPragmaClient::from_inner(Inner {
            http,
            base_url,
            token,
            context: found.context,
            timeout: self.timeout,
            max_response_size: self.max_response_size,
        }))
    }

    /// Builds the blocking client, with its own runtime on a background thread.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`], and [`Error::Runtime`] when the runtime cannot be started.
    #[cfg(feature = "blocking")]
    pub fn build_blocking(self) -> Result<crate::PragmaClient, Error> {
        crate::PragmaClient::from_builder(self)
    }
}

fn normalize_base_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|err| Error::InvalidArgument(format!("base URL {trimmed:?}: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::InvalidArgument(format!(
            "base URL {trimmed:?}: the scheme must be http or https"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::InvalidArgument(format!(
            "base URL {trimmed:?}: must not have a query or fragment"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::InvalidArgument(
            "the base URL must not carry credentials; use ClientBuilder::auth_token".to_owned(),
        ));
    }
    if parsed.cannot_be_a_base() || parsed.host_str().is_none() {
        return Err(Error::InvalidArgument(format!(
            "base URL {trimmed:?}: has no host"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        assert_eq!(
            normalize_base_url("http://h:1/api/").unwrap(),
            "http://h:1/api"
        );
        assert!(normalize_base_url("ftp://h").is_err());
        assert!(normalize_base_url("http://h/?a=1").is_err());
        assert!(normalize_base_url("not a url").is_err());
        let err = normalize_base_url("http://user:secret@h").unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }
}
