//! Bearer-token authentication: every endpoint but `/health` requires the token.

mod common;

use std::sync::Arc;

use common::{start_with, Api, Recorder};
use pragma_sdk::client::ListFilter;
use pragma_sdk::AsyncPragmaClient;

#[tokio::test]
async fn a_token_guards_every_endpoint_but_health() {
    let recorder = Arc::new(Recorder::default());
    let server = start_with(&recorder, |b| b.token("correct horse")).await;
    let with = |token: Option<&str>| {
        let builder = AsyncPragmaClient::builder().base_url(server.base_url());
        match token {
            Some(token) => builder.auth_token(token),
            None => builder.no_auth(),
        }
        .build()
        .unwrap()
    };

    let anonymous = with(None);
    assert!(anonymous.is_healthy().await, "/health needs no token");
    let err = anonymous.get_me().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    let err = anonymous
        .list_resources(&ListFilter::new())
        .await
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert!(anonymous
        .list_resource_types(None)
        .await
        .unwrap_err()
        .is_unauthorized());
    assert!(anonymous
        .list_dead_letter_events(None)
        .await
        .unwrap_err()
        .is_unauthorized());
    assert!(anonymous
        .list_providers()
        .await
        .unwrap_err()
        .is_unauthorized());

    let wrong = with(Some("wrong horse"));
    let err = wrong.get_me().await.unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(common::message(&err), "Invalid token");

    let right = with(Some("correct horse"));
    assert_eq!(right.get_me().await.unwrap().organization_id, "local");
    assert!(right
        .list_resources(&ListFilter::new())
        .await
        .unwrap()
        .is_empty());

    let api = Api::new(server.base_url());
    let (status, body) = api.get("/no/such/path").await;
    assert_eq!(status, 401, "unknown paths are not revealed: {body}");
    let response = api
        .http
        .get(format!("{}/resources/", server.base_url()))
        .header("Authorization", "Basic Y29ycmVjdCBob3JzZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer"
    );
    for (header, expected) in [
        ("bearer correct horse", 200),
        ("BEARER correct horse", 200),
        ("Bearer  correct horse", 200),
        ("Bearer", 401),
        ("Bearer correct", 401),
        ("Bearercorrect horse", 401),
    ] {
        let response = api
            .http
            .get(format!("{}/resources/", server.base_url()))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{header:?}");
    }
    server.shutdown().await;
}
