//! A server that misbehaves: error bodies that never end, answers too large to hold,
//! redirects, junk after the JSON, and answers about another resource. Each is a clear error,
//! in bounded time and memory.

mod client_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client_support::*;
use pragma_sdk::client::{DeadLetterScope, ListFilter};
use pragma_sdk::models::RawResource;
use pragma_sdk::{ClientBuilder, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server on 127.0.0.1 that reads each request's head and then hands the connection to
/// `answer`; returns its base URL and how many requests it saw.
async fn raw_server<F, Fut>(answer: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                answer(stream).await;
            });
        }
    });
    (url, seen)
}

fn client(url: &str, timeout: Duration) -> pragma_sdk::AsyncPragmaClient {
    ClientBuilder::new()
        .base_url(url)
        .no_auth()
        .timeout(timeout)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_error_body_that_stalls_does_not_hold_a_log_stream_for_ever() {
    let (url, _) = raw_server(|mut stream| async move {
        let head = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                    content-length: 100\r\n\r\n{\"detail\":";
        let _ = stream.write_all(head.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let client = client(&url, Duration::from_millis(300));
    let started = Instant::now();
    let err = client
        .stream_build_logs("mycloud", "20260102.030405")
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503), "{err}");
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_refused() {
    let resource = bucket_json("logs", "ready");
    let padded = resource.replacen('{', &format!("{{\"pad\":\"{}\",", "x".repeat(4096)), 1);
    let sized = padded.clone();
    let (url, _) = raw_server(move |mut stream| {
        let body = sized.clone();
        async move {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        }
    })
    .await;
    let small = ClientBuilder::new()
        .base_url(&url)
        .no_auth()
        .max_response_size(1024)
        .build()
        .unwrap();
    let err = small
        .get_resource("mycloud", "storage/bucket", "logs")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Body { .. }), "{err:?}");
    assert!(err.to_string().contains("limit of 1024 bytes"), "{err}");
    let roomy = client(&url, Duration::from_secs(5));
    let found = roomy
        .get_resource("mycloud", "storage/bucket", "logs")
        .await
        .unwrap();
    assert_eq!(found.name, "logs");

    // Without a length, the limit holds as the body arrives.
    let (url, _) = raw_server(|mut stream| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(b"1\r\n[\r\n").await;
        let item = "{\"a\":1},";
        loop {
            let chunk = format!("{:x}\r\n{item}\r\n", item.len());
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let small = ClientBuilder::new()
        .base_url(&url)
        .no_auth()
        .max_response_size(64 * 1024)
        .build()
        .unwrap();
    let err = small.list_resources(&ListFilter::new()).await.unwrap_err();
    assert!(err.to_string().contains("limit of 65536 bytes"), "{err}");
}

#[tokio::test]
async fn a_redirect_is_reported_not_followed() {
    let (elsewhere, elsewhere_seen) = raw_server(|mut stream| async move {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .await;
    })
    .await;
    let location = format!("{elsewhere}/evil");
    let (url, _) = raw_server(move |mut stream| {
        let location = location.clone();
        async move {
            let head =
                format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
        }
    })
    .await;
    let client = ClientBuilder::new()
        .base_url(&url)
        .auth_token("secret-token")
        .build()
        .unwrap();
    let err = client
        .apply_resource(&RawResource::new("mycloud", "storage/bucket", "logs"))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(302), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("redirected to {elsewhere}/evil")),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("POST {url}/resources/apply")),
        "{text}"
    );
    assert_eq!(
        elsewhere_seen.load(Ordering::SeqCst),
        0,
        "nothing was sent on"
    );
}

#[tokio::test]
async fn junk_after_the_json_is_an_error() {
    let server = TestServer::start(|request| match request.path.as_str() {
        "/health" => Reply::json(200, r#"{"status":"ok"} trailing"#),
        "/ops/dead-letter/retry-all" => Reply::json(200, r#"{"retried_count":3}}}"#),
        _ => Reply::json(200, "[] <html>garbage</html>"),
    })
    .await;
    let client = server.client();
    let err = client.list_resources(&ListFilter::new()).await.unwrap_err();
    let Error::Decode { path, message, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, ".");
    assert!(message.contains("trailing characters"), "{message}");
    assert!(client.retry_all_dead_letter_events().await.is_err());
    assert!(!client.is_healthy().await, "junk is not a healthy answer");
}

#[tokio::test]
async fn counts_tolerate_fields_a_newer_server_adds() {
    let server = TestServer::start(|request| match request.path.as_str() {
        "/ops/dead-letter/retry-all" => {
            Reply::json(200, r#"{"retried_count":3,"note":"done","skipped":null}"#)
        }
        _ => Reply::json(200, r#"{"deleted_count":"three"}"#),
    })
    .await;
    let client = server.client();
    assert_eq!(client.retry_all_dead_letter_events().await.unwrap(), 3);
    let err = client
        .delete_dead_letter_events(DeadLetterScope::All)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected a count"), "{err}");
}

#[tokio::test]
async fn a_typed_get_refuses_an_answer_about_another_resource() {
    let server = TestServer::start(|_| Reply::json(200, bucket_json("zzz", "ready"))).await;
    let err = server.client().get::<Bucket>("logs").await.unwrap_err();
    let Error::Decode { path, message, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "name");
    assert!(message.contains("\"zzz\""), "{message}");
}

#[test]
fn a_token_no_header_can_carry_is_refused_when_building() {
    for token in ["line\nbreak", "carriage\r\nreturn", "del\u{7f}"] {
        let err = ClientBuilder::new()
            .base_url("http://127.0.0.1:9")
            .auth_token(token)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        assert!(err.to_string().contains("auth token"), "{err}");
        assert!(!err.to_string().contains(token), "the token is not shown");
    }
}
