//! Build logs arrive line by line while the server is still sending them.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use pragma_sdk::{ClientBuilder, Error};

/// Chunks the log server sends, with the pause before each.
const CHUNKS: &[(u64, &str)] = &[
    (0, "step 1: fetching\n"),
    (150, "step 2: comp"),
    (150, "iling\r\nstep 3: linking\n"),
    (150, "done"),
];

/// A server streaming [`CHUNKS`] for one build; `sent` counts the chunks handed to the
/// connection so far.
async fn log_server(sent: Arc<AtomicUsize>, stall_after_first: bool) -> String {
    let app = Router::new()
        .route(
            "/providers/{provider}/builds/{version}/logs",
            get(move || {
                let sent = sent.clone();
                async move {
                    let stream = futures_util::stream::iter(CHUNKS.iter().enumerate()).then(
                        move |(index, (pause, chunk))| {
                            let sent = sent.clone();
                            async move {
                                let pause = if stall_after_first && index > 0 {
                                    2_000
                                } else {
                                    *pause
                                };
                                tokio::time::sleep(Duration::from_millis(pause)).await;
                                sent.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, Infallible>(Bytes::from_static(chunk.as_bytes()))
                            }
                        },
                    );
                    Body::from_stream(stream)
                }
            }),
        )
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                r#"{"detail":"no build"}"#,
            )
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

const EXPECTED: [&str; 4] = [
    "step 1: fetching",
    "step 2: compiling",
    "step 3: linking",
    "done",
];

#[tokio::test]
async fn async_lines_arrive_before_the_body_ends() {
    let sent = Arc::new(AtomicUsize::new(0));
    let url = log_server(sent.clone(), false).await;
    let client = ClientBuilder::new()
        .base_url(url)
        .no_auth()
        .build()
        .unwrap();

    let mut lines = client
        .stream_build_logs("mycloud", "20260102.030405")
        .await
        .unwrap();
    let first = lines.next().await.unwrap().unwrap();
    assert_eq!(first, EXPECTED[0]);
    assert!(
        sent.load(Ordering::SeqCst) < CHUNKS.len(),
        "the first line came only after the last chunk was sent"
    );

    let mut all = vec![first];
    while let Some(line) = lines.next().await {
        all.push(line.unwrap());
    }
    assert_eq!(all, EXPECTED);
    assert_eq!(sent.load(Ordering::SeqCst), CHUNKS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_lines_arrive_before_the_body_ends() {
    let sent = Arc::new(AtomicUsize::new(0));
    let url = log_server(sent.clone(), false).await;
    let client = ClientBuilder::new()
        .base_url(url)
        .no_auth()
        .build_blocking()
        .unwrap();

    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = client.stream_build_logs("mycloud", "v1").unwrap();
        let first = lines.next().unwrap().unwrap();
        let sent_at_first = sent.load(Ordering::SeqCst);
        let mut all = vec![first];
        all.extend(lines.map(Result::unwrap));
        (all, sent_at_first)
    })
    .await
    .unwrap();
    assert_eq!(lines.0, EXPECTED);
    assert!(
        lines.1 < CHUNKS.len(),
        "the first line came after the body ended"
    );
}

#[tokio::test]
async fn a_stalled_log_times_out_after_the_lines_so_far() {
    let url = log_server(Arc::new(AtomicUsize::new(0)), true).await;
    let client = ClientBuilder::new()
        .base_url(url)
        .no_auth()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();

    let mut lines = client.stream_build_logs("mycloud", "v1").await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), EXPECTED[0]);
    let err = lines.next().await.unwrap().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        lines.next().await.is_none(),
        "the stream ends after an error"
    );
}

#[tokio::test]
async fn a_missing_build_is_a_status_error() {
    let url = log_server(Arc::new(AtomicUsize::new(0)), false).await;
    let client = ClientBuilder::new()
        .base_url(url)
        .no_auth()
        .build()
        .unwrap();
    let err = client.stream_build_logs("", "v1").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");

    // A path the server does not route answers 404 with a detail.
    let client = ClientBuilder::new()
        .base_url(format!("{}/elsewhere", client.base_url()))
        .no_auth()
        .build()
        .unwrap();
    let err = client.stream_build_logs("mycloud", "v1").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.detail().unwrap().to_string(), "no build");
}
