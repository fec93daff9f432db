//! Finding the authentication token and the context it belongs to.
//!
//! A *context* names one platform account setup (`default`, `staging`, …). The token of a
//! context is looked for, in order:
//!
//! 1. the token given to [`ClientBuilder::auth_token`](crate::ClientBuilder::auth_token);
//! 2. the environment variable `PRAGMA_AUTH_TOKEN_{CONTEXT}` (the context uppercased, every
//!    character that is not an ASCII letter or digit written as `_`);
//! 3. the environment variable `PRAGMA_AUTH_TOKEN`;
//! 4. the credentials file `$XDG_CONFIG_HOME/pragma/credentials` (else
//!    `~/.config/pragma/credentials`), lines `context=token`, with `#` comments and blank lines
//!    ignored.
//!
//! The context itself is the one given to [`ClientBuilder::context`](crate::ClientBuilder::context),
//! else `PRAGMA_CONTEXT`, else `current_context` of `config.yaml` beside the credentials file,
//! else `default`. A file that cannot be read or parsed counts as absent.
//!
//! [`CredentialSource`] holds where these are read from, so discovery can be checked against a
//! made-up environment and a temporary directory.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The context used when none is set anywhere.
pub const DEFAULT_CONTEXT: &str = "default";

/// An authentication token.
///
/// Its `Debug` form is redacted and it has no `Display`, so it cannot end up in logs or error
/// messages by accident.
///
/// ```
/// use pragma_sdk::client::credentials::Token;
///
/// let token = Token::new("s3cr3t");
/// assert_eq!(format!("{token:?}"), "Token(<redacted>)");
/// assert_eq!(token.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token with the given text.
    pub fn new(text: impl Into<String>) -> Self {
        Token(text.into())
    }

    /// The token's text, for sending it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where a token was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenOrigin {
    /// Given to the builder.
    Explicit,
    /// From the environment variable of that name.
    Environment(String),
    /// From the credentials file at that path.
    File(PathBuf),
}

/// The outcome of discovery: the context and, when one was found, its token.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The context in use.
    pub context: String,
    /// The token and where it came from, if one was found.
    pub token: Option<(Token, TokenOrigin)>,
}

type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where discovery reads the environment and the configuration directory from.
///
/// [`CredentialSource::system`] reads the real process environment; [`CredentialSource::new`]
/// takes any lookup function, and [`CredentialSource::with_config_dir`] sets the directory
/// holding `credentials` and `config.yaml`.
///
/// ```
/// use pragma_sdk::client::credentials::CredentialSource;
///
/// let source = CredentialSource::from_pairs([("PRAGMA_AUTH_TOKEN_STAGING", "t-staging")]);
/// let found = source.discover(None, Some("staging"));
/// assert_eq!(found.context, "staging");
/// assert_eq!(found.token.unwrap().0.expose(), "t-staging");
/// ```
#[derive(Clone)]
pub struct CredentialSource {
    env: Arc<EnvLookup>,
    config_dir: Option<PathBuf>,
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSource")
            .field("config_dir", &self.config_dir())
            .finish_non_exhaustive()
    }
}

impl CredentialSource {
    /// The process environment and the user's configuration directory.
    pub fn system() -> Self {
        CredentialSource::new(|name| std::env::var(name).ok())
    }

    /// A source whose environment variables come from `env`; the configuration directory is
    /// derived from its `XDG_CONFIG_HOME` or `HOME`, unless set with
    /// [`CredentialSource::with_config_dir`].
    pub fn new(env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        CredentialSource {
            env: Arc::new(env),
            config_dir: None,
        }
    }

    /// A source whose environment is exactly the given pairs.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()))
            .collect();
        CredentialSource::new(move |name| map.get(name).cloned())
    }

    /// Uses `dir` as the directory holding `credentials` and `config.yaml`.
    pub fn with_config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// The value of an environment variable; empty values count as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|value| !value.trim().is_empty())
    }

    /// The directory holding `credentials` and `config.yaml`: the one set, else
    /// `$XDG_CONFIG_HOME/pragma`, else `$HOME/.config/pragma`; `None` when neither variable is
    /// set.
    pub fn config_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.config_dir {
            return Some(dir.clone());
        }
        if let Some(xdg) = self.var("XDG_CONFIG_HOME") {
            return Some(PathBuf::from(xdg).join("pragma"));
        }
        self.var("HOME")
            .map(|home| PathBuf::from(home).join(".config").join("pragma"))
    }

    /// The path of the credentials file, when a configuration directory is known.
    pub fn credentials_path(&self) -> Option<PathBuf> {
        self.config_dir().map(|dir| dir.join("credentials"))
    }

    /// The context: `explicit`, else `PRAGMA_CONTEXT`, else `current_context` in
    /// `config.yaml`, else [`DEFAULT_CONTEXT`].
    pub fn context(&self, explicit: Option<&str>) -> String {
        if let Some(context) = explicit.filter(|context| !context.trim().is_empty()) {
            return context.to_owned();
        }
        if let Some(context) = self.var("PRAGMA_CONTEXT") {
            return context;
        }
        if let Some(context) = self
            .config_dir()
            .and_then(|dir| current_context(&dir.join("config.yaml")))
        {
            return context;
        }
        DEFAULT_CONTEXT.to_owned()
    }

    /// Finds the context and its token, in the order the module documentation gives.
    pub fn discover(
        &self,
        explicit_token: Option<Token>,
        explicit_context: Option<&str>,
    ) -> Credentials {
        let context = self.context(explicit_context);
        let token = self.token(explicit_token, &context);
        Credentials { context, token }
    }

    fn token(&self, explicit: Option<Token>, context: &str) -> Option<(Token, TokenOrigin)> {
        if let Some(token) = explicit {
            return Some((token, TokenOrigin::Explicit));
        }
        let per_context = context_variable(context);
        if let Some(token) = self.var(&per_context) {
            return Some((
                Token::new(token.trim()),
                TokenOrigin::Environment(per_context),
            ));
        }
        if let Some(token) = self.var("PRAGMA_AUTH_TOKEN") {
            return Some((
                Token::new(token.trim()),
                TokenOrigin::Environment("PRAGMA_AUTH_TOKEN".to_owned()),
            ));
        }
        let path = self.credentials_path()?;
        let token = file_token(&path, context)?;
        Some((token, TokenOrigin::File(path)))
    }

    /// The message of the error for a missing token: it names the context and the three ways
    /// to provide one.
    pub(crate) fn missing_token_message(&self, context: &str) -> String {
        let file = match self.credentials_path() {
            Some(path) => path.display().to_string(),
            None => "$XDG_CONFIG_HOME/pragma/credentials".to_owned(),
        };
        format!(
            "no authentication token for context {context:?}: pass one to \
             ClientBuilder::auth_token, set {} or PRAGMA_AUTH_TOKEN, or add a line \
             `{context}=<token>` to {file}",
            context_variable(context)
        )
    }
}

/// The environment variable holding the token of `context`: `PRAGMA_AUTH_TOKEN_{CONTEXT}`.
///
/// ```
/// use pragma_sdk::client::credentials::context_variable;
///
/// assert_eq!(context_variable("my-org.dev"), "PRAGMA_AUTH_TOKEN_MY_ORG_DEV");
/// ```
pub fn context_variable(context: &str) -> String {
    let suffix: String = context
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PRAGMA_AUTH_TOKEN_{suffix}")
}

/// The token of `context` in the credentials file, if the file is readable and has one.
fn file_token(path: &Path, context: &str) -> Option<Token> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_credentials(&text)
        .into_iter()
        .find(|(name, _)| name == context)
        .map(|(_, token)| Token::new(token))
}

/// The `context=token` pairs of a credentials file; lines without `=`, comments and blank lines
/// are skipped.
fn parse_credentials(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, token)| (name.trim().to_owned(), token.trim().to_owned()))
        .filter(|(name, token)| !name.is_empty() && !token.is_empty())
        .collect()
}

/// `current_context` of a `config.yaml`, if the file is readable, parses and has one.
fn current_context(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_norway::Value = serde_norway::from_str(&text).ok()?;
    value
        .get("current_context")?
        .as_str()
        .map(str::trim)
        .filter(|context| !context.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_skips_comments_and_malformed_lines() {
        let pairs = parse_credentials("# c\n\nnot a pair\n a = t1 \n=x\nb=\nc=t=3\n");
        assert_eq!(
            pairs,
            vec![
                ("a".to_owned(), "t1".to_owned()),
                ("c".to_owned(), "t=3".to_owned())
            ]
        );
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let source = CredentialSource::from_pairs([("PRAGMA_AUTH_TOKEN", " ")]);
        assert!(source.discover(None, None).token.is_none());
    }
}
