//! How the client reports what can go wrong: error statuses, timeouts, unreachable servers and
//! bodies that are cut off, malformed, huge or of the wrong type.

mod client_support;

use std::time::{Duration, Instant};

use client_support::*;
use pragma_sdk::client::{DeadLetterScope, ListFilter};
use pragma_sdk::models::ErrorDetail;
use pragma_sdk::{ClientBuilder, Error};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn answering(reply: Reply) -> TestServer {
    TestServer::start(move |_| reply.clone()).await
}

#[tokio::test]
async fn error_statuses_keep_method_url_status_body_and_detail() {
    let cases: [(u16, &str); 5] = [
        (401, r#"{"detail":"Not authenticated"}"#),
        (403, r#"{"detail":"Forbidden"}"#),
        (404, r#"{"detail":"Resource not found"}"#),
        (409, r#"{"detail":"Resource is being processed"}"#),
        (500, "Internal Server Error"),
    ];
    for (status, body) in cases {
        let server = answering(Reply::json(status, body)).await;
        let err = server
            .client()
            .get_resource("mycloud", "storage/bucket", "logs")
            .await
            .unwrap_err();

        assert_eq!(err.status(), Some(StatusCode::from_u16(status).unwrap()));
        assert_eq!(err.is_unauthorized(), status == 401);
        assert_eq!(err.is_forbidden(), status == 403);
        assert_eq!(err.is_not_found(), status == 404);
        assert_eq!(err.is_conflict(), status == 409);
        assert_eq!(err.is_server_error(), status == 500);
        let Error::Status {
            method,
            url,
            body: kept,
            detail,
            ..
        } = &err
        else {
            panic!("expected a status error, got {err:?}");
        };
        assert_eq!(method, "GET");
        assert_eq!(
            url,
            &format!(
                "{}/resources/resource%3Amycloud_storage_bucket_logs",
                server.url
            )
        );
        assert_eq!(kept, body);
        let text = err.to_string();
        assert!(text.contains(&format!("status {status}")), "{text}");
        match status {
            500 => {
                assert!(detail.is_none());
                assert!(text.contains("Internal Server Error"), "{text}");
            }
            _ => {
                let detail = detail.as_ref().unwrap();
                assert!(matches!(detail, ErrorDetail::Message(_)));
                assert!(text.contains(&detail.to_string()), "{text}");
            }
        }
    }
}

#[tokio::test]
async fn validation_failures_decode_with_their_locations() {
    let body = r#"{"detail":[{"loc":["body","config","size_gb"],"msg":"must be positive","type":"value_error"}]}"#;
    let server = answering(Reply::json(422, body)).await;
    let raw = pragma_sdk::models::RawResource::new("mycloud", "storage/bucket", "logs");
    let err = server.client().apply_resource(&raw).await.unwrap_err();

    assert!(err.is_validation());
    let Some(ErrorDetail::Validation(failures)) = err.detail() else {
        panic!("expected validation failures, got {err:?}");
    };
    assert_eq!(failures[0].msg, "must be positive");
    assert!(err
        .to_string()
        .contains("body.config.size_gb: must be positive"));
}

#[tokio::test]
async fn a_huge_error_body_is_kept_but_shown_shortened() {
    let body = "x".repeat(100_000);
    let server = answering(Reply::raw(502, "text/plain", body.clone())).await;
    let err = server.client().list_providers().await.unwrap_err();
    let Error::Status { body: kept, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(kept.len(), 100_000);
    assert!(err.to_string().len() < 1_000, "{}", err.to_string().len());
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = answering(Reply::json(200, USER).after(Duration::from_secs(3))).await;
    let client = ClientBuilder::new()
        .base_url(&server.url)
        .no_auth()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();

    let started = Instant::now();
    let err = client.get_me().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("/auth/me: timed out"), "{err}");
    assert!(!client.is_healthy().await);
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = ClientBuilder::new()
        .base_url(&url)
        .no_auth()
        .build()
        .unwrap();

    let err = client.list_providers().await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("GET {url}/providers/")),
        "{err}"
    );
    assert!(!client.is_healthy().await);
}

#[tokio::test]
async fn invalid_json_and_wrong_shapes_name_the_path() {
    let server = answering(Reply::json(200, "{not json")).await;
    let err = server.client().get_me().await.unwrap_err();
    let Error::Decode {
        method, message, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(method, "GET");
    assert!(message.contains("key must be a string"), "{message}");

    let body = format!(
        r#"[{},{{"provider":"mycloud","resource":"r","name":"n","lifecycle_state":"sleeping"}}]"#,
        bucket_json("a", "ready")
    );
    let server = answering(Reply::json(200, body)).await;
    let err = server
        .client()
        .list_resources(&ListFilter::new())
        .await
        .unwrap_err();
    let Error::Decode { path, message, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "[1].lifecycle_state");
    assert!(message.contains("sleeping"), "{message}");
}

#[tokio::test]
async fn typed_decoding_names_the_config_field() {
    let bad = bucket_json("logs", "ready").replace(r#""size_gb":10"#, r#""size_gb":"ten""#);
    let server = answering(Reply::json(
        200,
        format!("[{},{bad}]", bucket_json("ok", "ready")),
    ))
    .await;
    let client = server.client();

    let err = client.list::<Bucket>(&ListFilter::new()).await.unwrap_err();
    let Error::Decode { path, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "[1].config.size_gb");

    let server = answering(Reply::json(200, bad)).await;
    let err = server.client().get::<Bucket>("logs").await.unwrap_err();
    let Error::Decode { path, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "config.size_gb");
}

#[tokio::test]
async fn missing_counts_are_decode_errors() {
    let server = answering(Reply::json(200, r#"{"removed":3}"#)).await;
    let err = server
        .client()
        .delete_dead_letter_events(DeadLetterScope::All)
        .await
        .unwrap_err();
    let Error::Decode { path, method, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "deleted_count");
    assert_eq!(method, "DELETE");
}

#[tokio::test]
async fn empty_bodies_and_wrong_content_types() {
    let server = answering(Reply::raw(200, "application/json", "")).await;
    let err = server.client().get_me().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");

    // The content type is not trusted either way: JSON labelled as HTML decodes, HTML does not.
    let server = answering(Reply::raw(200, "text/html", USER)).await;
    assert_eq!(server.client().get_me().await.unwrap().user_id, "u-1");
    let server = answering(Reply::raw(200, "text/html", "<html>login</html>")).await;
    let err = server.client().get_me().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn a_five_megabyte_field_decodes() {
    let huge = "z".repeat(5 * 1024 * 1024);
    let body = serde_json::json!({
        "provider": "mycloud", "resource": "storage/bucket", "name": "big",
        "config": {"blob": huge}
    })
    .to_string();
    let server = answering(Reply::json(200, body)).await;
    let raw = server
        .client()
        .get_resource("mycloud", "storage/bucket", "big")
        .await
        .unwrap();
    assert_eq!(raw.config["blob"].as_str().unwrap().len(), 5 * 1024 * 1024);
}

#[tokio::test]
async fn health_is_true_only_for_status_ok() {
    for (status, body, healthy) in [
        (200, r#"{"status":"ok"}"#, true),
        (200, r#"{"status":"degraded"}"#, false),
        (200, r#"{"status":1}"#, false),
        (200, "ok", false),
        (503, r#"{"status":"ok"}"#, false),
    ] {
        let server = answering(Reply::json(status, body)).await;
        assert_eq!(
            server.client().is_healthy().await,
            healthy,
            "{status} {body}"
        );
    }
}

/// A raw server that declares a longer body than it sends, then closes the connection.
async fn truncating_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let partial = br#"{"provider":"mycloud","resource":"storage/bucket","na"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                partial.len() + 500
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(partial).await.unwrap();
            socket.shutdown().await.unwrap();
        }
    });
    url
}

#[tokio::test]
async fn a_truncated_body_is_a_body_error() {
    let url = truncating_server().await;
    let client = ClientBuilder::new()
        .base_url(&url)
        .no_auth()
        .build()
        .unwrap();
    let err = client
        .get_resource("mycloud", "storage/bucket", "logs")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Body { .. }), "{err:?}");
    assert!(err.to_string().contains("reading the body failed"), "{err}");
    assert!(!client.is_healthy().await);
}

#[test]
fn blocking_face_reports_the_same_errors() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(answering(Reply::json(404, r#"{"detail":"gone"}"#)));
    let client = server.blocking_client();
    let err = client.get_dead_letter_event("evt-9").unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.detail().unwrap().to_string(), "gone");
    assert!(!client.is_healthy());
}

#[test]
fn invalid_base_urls_are_refused() {
    for url in ["ftp://127.0.0.1", "127.0.0.1:8000", "http://127.0.0.1/?x=1"] {
        let err = ClientBuilder::new()
            .base_url(url)
            .no_auth()
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{url}: {err:?}");
    }
}
