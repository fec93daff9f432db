//! Names that look like paths or queries stay one path segment or one query value.

mod client_support;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use client_support::*;
use pragma_sdk::client::ListFilter;
use pragma_sdk::{ClientBuilder, Error};

#[tokio::test]
async fn a_hostile_resource_name_stays_one_segment() {
    let server = TestServer::start(|request| {
        let name = if request.path.contains("caf") {
            "café/ünï 🚀"
        } else {
            "a/../b?x=1#f"
        };
        Reply::json(200, bucket_json(name, "ready"))
    })
    .await;
    let client = server.client();

    let raw = client
        .get_resource("mycloud", "storage/bucket", "a/../b?x=1#f")
        .await
        .unwrap();
    assert_eq!(raw.name, "a/../b?x=1#f");
    let request = server.last();
    assert_eq!(
        request.path,
        "/resources/resource%3Amycloud_storage_bucket_a%2F..%2Fb%3Fx%3D1%23f"
    );
    assert_eq!(request.query, None);

    client
        .get_resource_status("mycloud", "storage/bucket", "café/ünï 🚀")
        .await
        .unwrap_err();
    let request = server.last();
    assert_eq!(
        request.path,
        "/resources/resource%3Amycloud_storage_bucket_caf%C3%A9%2F%C3%BCn%C3%AF%20%F0%9F%9A%80/status"
    );
}

#[tokio::test]
async fn a_routing_server_decodes_the_segment_back_to_the_id() {
    let app = Router::new().route(
        "/resources/{id}",
        get(|Path(id): Path<String>| async move {
            Json(serde_json::json!({
                "provider": "p", "resource": "t", "name": id
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = ClientBuilder::new()
        .base_url(url)
        .no_auth()
        .build()
        .unwrap();

    for name in ["a/../b?x=1#f", "café/ünï 🚀", "%2F%00", "..", "x y+z"] {
        let raw = client.get_resource("p", "t", name).await.unwrap();
        assert_eq!(raw.name, format!("resource:p_t_{name}"));
    }
}

#[tokio::test]
async fn query_values_are_encoded_and_tags_repeated() {
    let server = TestServer::start(|_| Reply::json(200, "[]")).await;
    let client = server.client();

    let filter = ListFilter::new()
        .provider("a&b=c")
        .tag("x")
        .tag("y z")
        .tag("w#1");
    client.list_resources(&filter).await.unwrap();
    assert_eq!(
        server.last().query.as_deref(),
        Some("provider=a%26b%3Dc&tags=x&tags=y+z&tags=w%231")
    );

    client.list_dead_letter_events(Some("p?q")).await.unwrap();
    assert_eq!(server.last().query.as_deref(), Some("provider=p%3Fq"));
}

#[tokio::test]
async fn provider_ids_and_versions_are_encoded_and_dot_segments_refused() {
    let server = TestServer::start(|_| Reply::json(200, "[]")).await;
    let client = server.client();

    client.list_builds("my/cloud").await.unwrap();
    assert_eq!(server.last().path, "/providers/my%2Fcloud/builds");

    for bad in ["", ".", ".."] {
        let err = client.list_builds(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err:?}");
        let err = client.get_build_status("mycloud", bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err:?}");
        let err = client.get_dead_letter_event(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err:?}");
    }
    assert_eq!(server.requests().len(), 1, "refused arguments send nothing");
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_keeps_it() {
    let server = TestServer::start(|_| Reply::json(200, "[]")).await;
    let client = ClientBuilder::new()
        .base_url(format!("{}/api/v1/", server.url))
        .no_auth()
        .build()
        .unwrap();
    client.list_providers().await.unwrap();
    assert_eq!(server.last().path, "/api/v1/providers/");
}
