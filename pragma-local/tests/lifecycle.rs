//! A resource's whole lifecycle through the SDK client: create, read, update with the
//! previous config, draft, conflicts, listing, and delete.

mod common;

use std::sync::Arc;

use common::{client, echo_id, first_violation, raw, start, wait_for, Api, Recorder};
use pragma_sdk::client::ListFilter;
use pragma_sdk::models::{EventType, HealthStatus, LifecycleState, RawResource};
use serde_json::json;

const ONE: (&str, &str, &str) = ("test", "echo", "one");

#[tokio::test]
async fn full_lifecycle_create_update_delete() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);

    let applied = client
        .apply_resource(&raw(
            "echo",
            "one",
            json!({"value": "v1"}),
            LifecycleState::Pending,
        ))
        .await
        .unwrap();
    assert_eq!(applied.lifecycle_state, LifecycleState::Pending);
    assert!(applied.pending_event_id.is_some());

    let ready = wait_for(&client, ONE, LifecycleState::Ready).await;
    assert_eq!(ready.outputs, *json!({"value": "v1"}).as_object().unwrap());
    assert!(ready.provisioned);
    assert!(ready.pending_event_id.is_none());
    assert!(ready.created_at.is_some());

    client
        .apply_resource(&raw(
            "echo",
            "one",
            json!({"value": "v2"}),
            LifecycleState::Pending,
        ))
        .await
        .unwrap();
    let ready = wait_for(&client, ONE, LifecycleState::Ready).await;
    assert_eq!(ready.outputs["value"], "v2");
    let calls = recorder.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].event, EventType::Update);
    assert_eq!(calls[1].previous.as_deref(), Some("v1"));
    assert_eq!(calls[1].value, "v2");

    let status = client
        .get_resource_status("test", "echo", "one")
        .await
        .unwrap();
    assert_eq!(status.resource_id, echo_id("one"));
    assert_eq!(status.lifecycle_state, LifecycleState::Ready);
    assert_eq!(status.error, None);
    let health = client
        .get_resource_health("test", "echo", "one")
        .await
        .unwrap();
    assert_eq!(health.status, HealthStatus::Healthy);
    let logs = client
        .get_resource_logs("test", "echo", "one", None, Some(10))
        .await
        .unwrap();
    assert_eq!(logs[0].message, "one says v2");

    let api = Api::new(server.base_url());
    let (status, _) = api
        .get(&format!("/resources/{}/logs?follow=true", echo_id("one")))
        .await;
    assert_eq!(status, 422, "following logs is refused");
    let (status, _) = api
        .get(&format!("/resources/{}/logs?tail=0", echo_id("one")))
        .await;
    assert_eq!(status, 422);

    let deleted = client.delete_resource("test", "echo", "one").await.unwrap();
    assert_eq!(deleted.map(|r| r.name), Some("one".to_owned()));
    assert_eq!(recorder.count(EventType::Delete, "one"), 1);
    let gone = client
        .get_resource("test", "echo", "one")
        .await
        .unwrap_err();
    assert!(gone.is_not_found());
    server.shutdown().await;
}

#[tokio::test]
async fn draft_is_stored_without_processing() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);

    let mut draft = RawResource::new("test", "echo", "d");
    draft.config = json!({"value": "x"}).as_object().cloned().unwrap();
    let stored = client.apply_resource(&draft).await.unwrap();
    assert_eq!(stored.lifecycle_state, LifecycleState::Draft);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let stored = client.get_resource("test", "echo", "d").await.unwrap();
    assert_eq!(stored.lifecycle_state, LifecycleState::Draft);
    assert!(recorder.calls().is_empty());

    let err = client
        .apply_resource(&raw("echo", "d", json!({}), LifecycleState::Ready))
        .await
        .unwrap_err();
    let (loc, _, _) = first_violation(&err);
    assert_eq!(loc, vec!["body", "lifecycle_state"]);

    draft.lifecycle_state = LifecycleState::Pending;
    client.apply_resource(&draft).await.unwrap();
    wait_for(&client, ("test", "echo", "d"), LifecycleState::Ready).await;
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
    let client = client(&server);
    let mut slow = RawResource::new("demo", "slow", "s");
    slow.config = json!({"delay_ms": 300}).as_object().cloned().unwrap();
    slow.lifecycle_state = LifecycleState::Pending;
    client.apply_resource(&slow).await.unwrap();
    let err = client.apply_resource(&slow).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(common::message(&err).contains("resource:demo_slow_s"));
    wait_for(&client, ("demo", "slow", "s"), LifecycleState::Ready).await;
    client.apply_resource(&slow).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn listing_filters_by_provider_type_and_every_tag() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    for (name, tags) in [("b", vec!["x", "y"]), ("a", vec!["x"]), ("c", vec![])] {
        let mut body = raw("echo", name, json!({}), LifecycleState::Draft);
        body.tags = Some(tags.into_iter().map(str::to_owned).collect());
        client.apply_resource(&body).await.unwrap();
    }
    let names =
        |list: Vec<RawResource>| -> Vec<String> { list.into_iter().map(|r| r.name).collect() };
    let all = client.list_resources(&ListFilter::new()).await.unwrap();
    assert_eq!(names(all), vec!["a", "b", "c"]);
    let tagged = client
        .list_resources(&ListFilter::new().tag("x").tag("y"))
        .await
        .unwrap();
    assert_eq!(names(tagged), vec!["b"]);
    let none = client
        .list_resources(&ListFilter::new().provider("pragma"))
        .await
        .unwrap();
    assert!(none.is_empty());
    let echo = client
        .list_resources(&ListFilter::new().provider("test").resource("echo").tag("x"))
        .await
        .unwrap();
    assert_eq!(names(echo), vec!["a", "b"]);

    let types = client.list_resource_types(None).await.unwrap();
    let listed: Vec<String> = types
        .iter()
        .map(|t| format!("{}/{}", t.provider, t.resource))
        .collect();
    assert_eq!(
        listed,
        vec!["pragma/secret", "test/echo", "test/flaky", "test/parent"]
    );
    let secret = client.list_resource_types(Some("pragma")).await.unwrap();
    assert!(secret[0].schema["properties"]["data"].is_object());
    assert!(secret[0].outputs_schema["properties"]["keys"].is_object());
    let me = client.get_me().await.unwrap();
    assert_eq!(me.user_id, "local");
    let providers = client.list_providers().await.unwrap();
    let ids: Vec<&str> = providers.iter().map(|p| p.provider_id.as_str()).collect();
    assert_eq!(ids, vec!["pragma", "test"]);
    assert!(client.is_healthy().await);
    server.shutdown().await;
}
