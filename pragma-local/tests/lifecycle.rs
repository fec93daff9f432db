//! A resource's whole lifecycle through the API: create, read, update with the previous
//! config, draft, conflicts, listing, and delete.

mod common;

use std::sync::Arc;

use common::{echo_id, resource, start, Api, Recorder};
use pragma_sdk::models::EventType;
use serde_json::json;

#[tokio::test]
async fn full_lifecycle_create_update_delete() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());

    let (status, applied) = api
        .apply(resource("echo", "one", json!({"value": "v1"}), "pending"))
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["lifecycle_state"], "pending");
    assert!(applied["pending_event_id"].is_string());

    let ready = api.wait_state(&echo_id("one"), "ready").await;
    assert_eq!(ready["outputs"], json!({"value": "v1"}));
    assert_eq!(ready["provisioned"], true);
    assert!(ready.get("pending_event_id").is_none_or(|v| v.is_null()));

    let (status, applied) = api
        .apply(resource("echo", "one", json!({"value": "v2"}), "pending"))
        .await;
    assert_eq!(status, 200, "{applied}");
    let ready = api.wait_state(&echo_id("one"), "ready").await;
    assert_eq!(ready["outputs"], json!({"value": "v2"}));
    let calls = recorder.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].event, EventType::Update);
    assert_eq!(calls[1].previous.as_deref(), Some("v1"));
    assert_eq!(calls[1].value, "v2");

    let (status, body) = api
        .get(&format!("/resources/{}/status", echo_id("one")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"resource_id": echo_id("one"), "lifecycle_state": "ready", "error": null})
    );
    let (status, body) = api
        .get(&format!("/resources/{}/health", echo_id("one")))
        .await;
    assert_eq!((status, body["status"].clone()), (200, json!("healthy")));
    let (status, body) = api
        .get(&format!("/resources/{}/logs", echo_id("one")))
        .await;
    assert_eq!(status, 404, "logs are not supported by the type: {body}");
    let (status, _) = api
        .get(&format!("/resources/{}/logs?follow=true", echo_id("one")))
        .await;
    assert_eq!(status, 422);
    let (status, _) = api
        .get(&format!("/resources/{}/logs?tail=0", echo_id("one")))
        .await;
    assert_eq!(status, 422);

    let (status, deleted) = api.delete(&format!("/resources/{}", echo_id("one"))).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["name"], "one");
    assert_eq!(recorder.count(EventType::Delete, "one"), 1);
    let (status, body) = api.resource(&echo_id("one")).await;
    assert_eq!(status, 404);
    assert!(body["detail"].is_string());
    server.shutdown().await;
}

#[tokio::test]
async fn draft_is_stored_without_processing() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());

    let (status, body) = api
        .apply(
            json!({"provider": "test", "resource": "echo", "name": "d", "config": {"value": "x"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lifecycle_state"], "draft");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (_, stored) = api.resource(&echo_id("d")).await;
    assert_eq!(stored["lifecycle_state"], "draft");
    assert!(recorder.calls().is_empty());

    let (status, _) = api
        .apply(resource("echo", "d", json!({"value": "x"}), "ready"))
        .await;
    assert_eq!(status, 422, "ready cannot be applied");
    let (status, _) = api
        .apply(resource("echo", "d", json!({"value": "x"}), "pending"))
        .await;
    assert_eq!(status, 200);
    api.wait_state(&echo_id("d"), "ready").await;
    assert_eq!(recorder.count(EventType::Create, "d"), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn applying_over_a_resource_in_flight_conflicts() {
    let recorder = Arc::new(Recorder::default());
    let server = common::start_with(&recorder, |b| {
        b.provider(pragma_local::demo::slow_provider().unwrap())
    })
    .await;
    let api = Api::new(server.base_url());
    let slow = json!({"provider": "demo", "resource": "slow", "name": "s",
                      "config": {"delay_ms": 300}, "lifecycle_state": "pending"});
    assert_eq!(api.apply(slow.clone()).await.0, 200);
    let (status, body) = api.apply(slow).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("resource:demo_slow_s"));
    api.wait_state("resource:demo_slow_s", "ready").await;
    server.shutdown().await;
}

#[tokio::test]
async fn listing_filters_by_provider_type_and_every_tag() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    for (name, tags) in [("b", vec!["x", "y"]), ("a", vec!["x"]), ("c", vec![])] {
        let mut body = resource("echo", name, json!({}), "draft");
        body["tags"] = json!(tags);
        assert_eq!(api.apply(body).await.0, 200);
    }
    let (_, all) = api.get("/resources/").await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    let (_, tagged) = api.get("/resources/?tags=x&tags=y").await;
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    assert_eq!(tagged[0]["name"], "b");
    let (_, none) = api.get("/resources/?provider=pragma").await;
    assert_eq!(none, json!([]));
    let (_, echo) = api
        .get("/resources/?provider=test&resource=echo&tags=x")
        .await;
    assert_eq!(echo.as_array().unwrap().len(), 2);

    let (_, types) = api.get("/resources/types").await;
    let listed: Vec<String> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["provider"].as_str().unwrap(),
                t["resource"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec!["pragma/secret", "test/echo", "test/flaky", "test/parent"]
    );
    let (_, secret) = api.get("/resources/types?provider=pragma").await;
    assert!(secret[0]["schema"]["properties"]["data"].is_object());
    assert!(secret[0]["outputs_schema"]["properties"]["keys"].is_object());
    let (_, me) = api.get("/auth/me").await;
    assert_eq!(me["user_id"], "local");
    let (_, providers) = api.get("/providers/").await;
    assert_eq!(providers.as_array().unwrap().len(), 2);
    assert_eq!(providers[0]["deployment_status"], "available");
    server.shutdown().await;
}
