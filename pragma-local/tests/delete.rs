//! Deleting resources: what a resource owns goes first, and a resource others reference is
//! kept.

mod common;

use std::sync::Arc;

use common::{echo_id, resource, start, value_of, Api, Recorder};
use pragma_sdk::models::EventType;
use serde_json::json;

#[tokio::test]
async fn deleting_an_owner_deletes_its_subresources_first() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    let (status, body) = api
        .apply(resource("parent", "p", json!({}), "pending"))
        .await;
    assert_eq!(status, 200, "{body}");
    let parent = api.wait_state("resource:test_parent_p", "ready").await;
    assert_eq!(parent["outputs"]["value"], "child of p");
    let child = api.wait_state(&echo_id("p-child"), "ready").await;
    assert_eq!(child["owner_references"][0]["name"], "p");

    let (status, body) = api.delete("/resources/resource:test_parent_p").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.resource(&echo_id("p-child")).await.0, 404);
    assert_eq!(api.resource("resource:test_parent_p").await.0, 404);
    let deletes: Vec<String> = recorder
        .calls()
        .into_iter()
        .filter(|c| c.event == EventType::Delete)
        .map(|c| c.name)
        .collect();
    assert_eq!(deletes, vec!["p-child", "p"]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_referenced_resource_is_not_deleted() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    assert_eq!(
        api.apply(resource("echo", "base", json!({"value": "x"}), "pending"))
            .await
            .0,
        200
    );
    let user = json!({"value": value_of("base")});
    assert_eq!(
        api.apply(resource("echo", "user", user, "pending")).await.0,
        200
    );
    api.wait_state(&echo_id("user"), "ready").await;

    let (status, body) = api.delete(&format!("/resources/{}", echo_id("base"))).await;
    assert_eq!(status, 409);
    assert!(
        body["detail"].as_str().unwrap().contains(&echo_id("user")),
        "{body}"
    );
    assert_eq!(api.resource(&echo_id("base")).await.0, 200);
    assert_eq!(recorder.count(EventType::Delete, "base"), 0);

    assert_eq!(
        api.delete(&format!("/resources/{}", echo_id("user")))
            .await
            .0,
        200
    );
    assert_eq!(
        api.delete(&format!("/resources/{}", echo_id("base")))
            .await
            .0,
        200
    );
    assert_eq!(
        api.delete(&format!("/resources/{}", echo_id("base")))
            .await
            .0,
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn deleting_all_resources_of_a_provider_through_the_registry() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    assert_eq!(
        api.apply(resource("echo", "a", json!({"value": "x"}), "pending"))
            .await
            .0,
        200
    );
    let b = json!({"value": value_of("a")});
    assert_eq!(api.apply(resource("echo", "b", b, "pending")).await.0, 200);
    api.wait_state(&echo_id("b"), "ready").await;
    let registry = server.platform().registry();
    assert_eq!(registry.resource_count("test").await.unwrap(), 2);
    assert_eq!(registry.delete_resources("test").await.unwrap(), 2);
    assert_eq!(registry.resource_count("test").await.unwrap(), 0);
    assert!(registry.unregister("test"));
    let (status, body) = api.apply(resource("echo", "a", json!({}), "pending")).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "provider"]));
    server.shutdown().await;
}
