//! Bearer-token authentication: every endpoint but `/health` requires the token.

mod common;

use std::sync::Arc;

use common::{start_with, Api, Recorder};

#[tokio::test]
async fn a_token_guards_every_endpoint_but_health() {
    let recorder = Arc::new(Recorder::default());
    let server = start_with(&recorder, |b| b.token("correct horse")).await;
    let mut api = Api::new(server.base_url());

    assert_eq!(api.get("/health").await.0, 200);
    for path in [
        "/auth/me",
        "/resources/",
        "/resources/types",
        "/ops/dead-letter",
        "/providers/",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 401, "{path}");
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    assert_eq!(
        api.get("/no/such/path").await.0,
        401,
        "unknown paths are not revealed"
    );

    api.token = Some("wrong horse".to_owned());
    let (status, body) = api.get("/auth/me").await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "Invalid token");

    api.token = Some("correct horse".to_owned());
    let (status, me) = api.get("/auth/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["organization_id"], "local");
    assert_eq!(api.get("/resources/").await.0, 200);

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
    server.shutdown().await;
}
