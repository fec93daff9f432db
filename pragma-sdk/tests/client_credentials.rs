//! Token and context discovery, the header the token is sent in, and that it never shows.

mod client_support;

use std::fs;
use std::path::Path;

use client_support::*;
use pragma_sdk::client::credentials::{CredentialSource, Token, TokenOrigin};
use pragma_sdk::{ClientBuilder, Error};

fn write(dir: &Path, name: &str, text: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), text).unwrap();
}

/// A source with the given variables and `XDG_CONFIG_HOME` at `xdg`.
fn source(xdg: &Path, vars: &[(&str, &str)]) -> CredentialSource {
    let mut pairs: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.push(("XDG_CONFIG_HOME".into(), xdg.display().to_string()));
    CredentialSource::from_pairs(pairs)
}

fn token_of(
    source: &CredentialSource,
    explicit: Option<&str>,
    context: Option<&str>,
) -> Option<(String, TokenOrigin)> {
    source
        .discover(explicit.map(Token::new), context)
        .token
        .map(|(token, origin)| (token.expose().to_owned(), origin))
}

#[test]
fn tokens_are_found_in_order() {
    let xdg = tempfile::tempdir().unwrap();
    let dir = xdg.path().join("pragma");
    write(
        &dir,
        "credentials",
        "# tokens\n\nstaging = from-file\ndefault=default-file\n",
    );
    let file = dir.join("credentials");

    let all = source(
        xdg.path(),
        &[
            ("PRAGMA_AUTH_TOKEN_STAGING", "per-context"),
            ("PRAGMA_AUTH_TOKEN", "generic"),
        ],
    );
    assert_eq!(
        token_of(&all, Some("explicit"), Some("staging")),
        Some(("explicit".into(), TokenOrigin::Explicit))
    );
    assert_eq!(
        token_of(&all, None, Some("staging")),
        Some((
            "per-context".into(),
            TokenOrigin::Environment("PRAGMA_AUTH_TOKEN_STAGING".into())
        ))
    );

    let generic = source(xdg.path(), &[("PRAGMA_AUTH_TOKEN", "generic")]);
    assert_eq!(
        token_of(&generic, None, Some("staging")),
        Some((
            "generic".into(),
            TokenOrigin::Environment("PRAGMA_AUTH_TOKEN".into())
        ))
    );

    let file_only = source(xdg.path(), &[]);
    assert_eq!(
        token_of(&file_only, None, Some("staging")),
        Some(("from-file".into(), TokenOrigin::File(file.clone())))
    );
    assert_eq!(
        token_of(&file_only, None, None),
        Some(("default-file".into(), TokenOrigin::File(file)))
    );
    assert_eq!(token_of(&file_only, None, Some("prod")), None);
}

#[test]
fn context_names_become_variable_suffixes() {
    let xdg = tempfile::tempdir().unwrap();
    let source = source(xdg.path(), &[("PRAGMA_AUTH_TOKEN_MY_ORG_EU_1", "t")]);
    assert_eq!(token_of(&source, None, Some("my-org.eu/1")).unwrap().0, "t");
}

#[test]
fn the_context_comes_from_builder_env_config_or_default() {
    let xdg = tempfile::tempdir().unwrap();
    let dir = xdg.path().join("pragma");

    assert_eq!(source(xdg.path(), &[]).context(None), "default");

    write(
        &dir,
        "config.yaml",
        "current_context: staging\nother: [1, 2]\n",
    );
    assert_eq!(source(xdg.path(), &[]).context(None), "staging");

    let env = source(xdg.path(), &[("PRAGMA_CONTEXT", "prod")]);
    assert_eq!(env.context(None), "prod");
    assert_eq!(env.context(Some("dev")), "dev");

    // The context from config.yaml picks the matching line of the credentials file.
    write(&dir, "credentials", "staging=s-token\ndefault=d-token\n");
    let found = source(xdg.path(), &[]).discover(None, None);
    assert_eq!(found.context, "staging");
    assert_eq!(found.token.unwrap().0.expose(), "s-token");
}

#[test]
fn home_is_the_fallback_config_location() {
    let home = tempfile::tempdir().unwrap();
    write(
        &home.path().join(".config/pragma"),
        "credentials",
        "default=home-token\n",
    );
    let source = CredentialSource::from_pairs([("HOME", home.path().display().to_string())]);
    assert_eq!(token_of(&source, None, None).unwrap().0, "home-token");
}

#[test]
fn unreadable_or_malformed_files_count_as_absent() {
    let xdg = tempfile::tempdir().unwrap();
    let dir = xdg.path().join("pragma");
    fs::create_dir_all(dir.join("credentials")).unwrap(); // a directory, not a file
    write(&dir, "config.yaml", "current_context: [unclosed\n\t- :");
    let source = source(xdg.path(), &[]);
    let found = source.discover(None, None);
    assert_eq!(found.context, "default");
    assert!(found.token.is_none());

    fs::remove_dir(dir.join("credentials")).unwrap();
    fs::write(dir.join("credentials"), [0xff, 0xfe, b'=', 0x00, b'\n']).unwrap();
    fs::write(dir.join("config.yaml"), "current_context: 42\n").unwrap();
    let found = source.discover(None, None);
    assert_eq!(found.context, "default");
    assert!(found.token.is_none());
}

#[test]
fn require_auth_without_a_token_names_the_context_and_the_ways_to_set_one() {
    let xdg = tempfile::tempdir().unwrap();
    let err = ClientBuilder::new()
        .credential_source(source(xdg.path(), &[]))
        .context("staging")
        .require_auth(true)
        .build()
        .unwrap_err();
    let Error::Authentication { context, message } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(context, "staging");
    for part in [
        "\"staging\"",
        "ClientBuilder::auth_token",
        "PRAGMA_AUTH_TOKEN_STAGING",
        "PRAGMA_AUTH_TOKEN",
        "credentials",
    ] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }

    // no_auth with require_auth cannot succeed either.
    let err = ClientBuilder::new()
        .credential_source(source(xdg.path(), &[("PRAGMA_AUTH_TOKEN", "t")]))
        .no_auth()
        .require_auth(true)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }));
}

#[tokio::test]
async fn the_token_is_sent_as_bearer_and_never_shown() {
    let secret = "tok-very-secret-42";
    let server = TestServer::start(|_| Reply::json(401, r#"{"detail":"Invalid token"}"#)).await;
    let xdg = tempfile::tempdir().unwrap();
    let builder = ClientBuilder::new()
        .base_url(&server.url)
        .credential_source(source(xdg.path(), &[("PRAGMA_AUTH_TOKEN", secret)]))
        .require_auth(true);
    assert!(!format!("{builder:?}").contains(secret));
    let client = builder.build().unwrap();
    assert!(client.has_token());

    let err = client.get_me().await.unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some(format!("Bearer {secret}").as_str())
    );
    for text in [format!("{client:?}"), format!("{err:?}"), err.to_string()] {
        assert!(!text.contains(secret), "token leaked: {text}");
    }

    let explicit = ClientBuilder::new()
        .base_url(&server.url)
        .auth_token(secret);
    assert!(!format!("{explicit:?}").contains(secret));
    let blocking = explicit.build_blocking().unwrap();
    assert!(!format!("{blocking:?}").contains(secret));
    drop(blocking);
}

#[tokio::test]
async fn no_auth_sends_no_header_even_with_a_token_in_the_environment() {
    let server = TestServer::start(|_| Reply::json(200, USER)).await;
    let xdg = tempfile::tempdir().unwrap();
    let client = ClientBuilder::new()
        .base_url(&server.url)
        .credential_source(source(xdg.path(), &[("PRAGMA_AUTH_TOKEN", "t")]))
        .no_auth()
        .build()
        .unwrap();
    client.get_me().await.unwrap();
    assert!(server.last().header("authorization").is_none());
    assert!(!client.has_token());
}

#[tokio::test]
async fn the_base_url_comes_from_the_environment_when_not_set() {
    let server = TestServer::start(|_| Reply::json(200, r#"{"status":"ok"}"#)).await;
    let xdg = tempfile::tempdir().unwrap();
    let client = ClientBuilder::new()
        .credential_source(source(xdg.path(), &[("PRAGMA_API_URL", &server.url)]))
        .build()
        .unwrap();
    assert_eq!(client.base_url(), server.url);
    assert!(client.is_healthy().await);

    let default = ClientBuilder::new()
        .credential_source(source(xdg.path(), &[]))
        .build()
        .unwrap();
    assert_eq!(default.base_url(), "http://localhost:8000");
}
