//! References between resources: resolution before dispatch, propagation of changes through a
//! chain and a diamond (each dependent updated once per change), and refused cycles.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, echo_id, first_violation, raw, start, value_of, wait_for, Recorder};
use pragma_sdk::models::{EventType, LifecycleState, RawResource};
use serde_json::json;

const PENDING: LifecycleState = LifecycleState::Pending;
const DRAFT: LifecycleState = LifecycleState::Draft;
const READY: LifecycleState = LifecycleState::Ready;

#[tokio::test]
async fn secret_values_and_dependency_markers_are_resolved() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    let mut secret = RawResource::new("pragma", "secret", "creds");
    secret.config = json!({"data": {"password": "hunter2", "user": "admin"}})
        .as_object()
        .cloned()
        .unwrap();
    secret.lifecycle_state = PENDING;
    client.apply_resource(&secret).await.unwrap();
    let config = json!({
        "value": {"provider": "pragma", "resource": "secret", "name": "creds",
                  "field": "config.data.password"},
        "upstream": {"__dependency__": true, "provider": "pragma", "resource": "secret",
                     "name": "creds"}
    });
    client
        .apply_resource(&raw("echo", "app", config, PENDING))
        .await
        .unwrap();
    let ready = wait_for(&client, ("test", "echo", "app"), READY).await;
    assert_eq!(ready.outputs["value"], "hunter2");
    let secret = wait_for(&client, ("pragma", "secret", "creds"), READY).await;
    assert_eq!(secret.outputs["keys"], json!(["password", "user"]));
    let call = &recorder.calls()[0];
    let upstream = call.upstream.as_ref().unwrap();
    assert_eq!(upstream["__dependency__"], true);
    assert_eq!(upstream["ref"]["name"], "creds");
    assert_eq!(
        upstream["ref"]["outputs"]["keys"],
        json!(["password", "user"])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_missing_reference_or_a_cycle_is_refused() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    let err = client
        .apply_resource(&raw(
            "echo",
            "a",
            json!({"value": value_of("ghost")}),
            PENDING,
        ))
        .await
        .unwrap_err();
    let (loc, msg, _) = first_violation(&err);
    assert_eq!(loc, vec!["body", "config", "value"]);
    assert_eq!(msg, "referenced resource test/echo/ghost does not exist");

    client
        .apply_resource(&raw("echo", "a", json!({}), DRAFT))
        .await
        .unwrap();
    let b = raw("echo", "b", json!({"value": value_of("a")}), DRAFT);
    client.apply_resource(&b).await.unwrap();
    let c = raw("echo", "c", json!({"value": value_of("b")}), DRAFT);
    client.apply_resource(&c).await.unwrap();
    let err = client
        .apply_resource(&raw("echo", "a", json!({"value": value_of("c")}), DRAFT))
        .await
        .unwrap_err();
    let (_, msg, _) = first_violation(&err);
    assert!(msg.contains("cycle"), "{msg}");
    assert!(
        msg.contains(&echo_id("b")) && msg.contains(&echo_id("c")),
        "{msg}"
    );
    let err = client
        .apply_resource(&raw("echo", "a", json!({"value": value_of("a")}), DRAFT))
        .await
        .unwrap_err();
    assert!(err.is_validation(), "a resource cannot reference itself");
    let mut dependent = raw("echo", "d", json!({}), DRAFT);
    dependent.dependencies = vec![pragma_sdk::models::ResourceReference::new(
        "test", "echo", "zz",
    )];
    let err = client.apply_resource(&dependent).await.unwrap_err();
    let (loc, msg, _) = first_violation(&err);
    assert_eq!(loc, vec!["body", "dependencies", "0"]);
    assert_eq!(msg, "dependency test/echo/zz does not exist");

    // `test/echo/x_y` and `test/echo_x/y` share the id `resource:test_echo_x_y`: naming the
    // second does not reach the first.
    client
        .apply_resource(&raw("echo", "x_y", json!({}), DRAFT))
        .await
        .unwrap();
    let mut collides = raw("echo", "e", json!({}), DRAFT);
    collides.dependencies = vec![pragma_sdk::models::ResourceReference::new(
        "test", "echo_x", "y",
    )];
    let err = client.apply_resource(&collides).await.unwrap_err();
    assert_eq!(
        first_violation(&err).1,
        "dependency test/echo_x/y does not exist"
    );
    let reference = json!({"provider": "test", "resource": "echo_x", "name": "y",
                           "field": "outputs.value"});
    let err = client
        .apply_resource(&raw("echo", "f", json!({"value": reference}), DRAFT))
        .await
        .unwrap_err();
    let (loc, msg, _) = first_violation(&err);
    assert_eq!(loc, vec!["body", "config", "value"]);
    assert_eq!(msg, "referenced resource test/echo_x/y does not exist");
    let stored = client.get_resource("test", "echo", "a").await.unwrap();
    assert!(stored.config.is_empty(), "a refused apply changes nothing");
    server.shutdown().await;
}

async fn wait_value(client: &pragma_sdk::AsyncPragmaClient, name: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = client.get_resource("test", "echo", name).await.unwrap();
        if found.outputs.get("value") == Some(&json!(value)) && found.lifecycle_state == READY {
            return;
        }
        assert!(Instant::now() < deadline, "{found:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_update_propagates_down_a_chain_once_per_dependent() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    client
        .apply_resource(&raw("echo", "n0", json!({"value": "v1"}), PENDING))
        .await
        .unwrap();
    for i in 1..5 {
        let config = json!({"value": value_of(&format!("n{}", i - 1))});
        let link = raw("echo", &format!("n{i}"), config, PENDING);
        client.apply_resource(&link).await.unwrap();
    }
    wait_value(&client, "n4", "v1").await;

    client
        .apply_resource(&raw("echo", "n0", json!({"value": "v2"}), PENDING))
        .await
        .unwrap();
    wait_value(&client, "n4", "v2").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..5 {
        let name = format!("n{i}");
        assert_eq!(
            recorder.count(EventType::Update, &name),
            1,
            "{name} updated once"
        );
    }
    let update = recorder
        .calls()
        .into_iter()
        .find(|c| c.name == "n3" && c.event == EventType::Update)
        .unwrap();
    assert_eq!(
        update.previous.as_deref(),
        Some("v1"),
        "previous config as last resolved"
    );
    assert_eq!(update.value, "v2");
    server.shutdown().await;
}

#[tokio::test]
async fn a_diamond_updates_its_bottom_exactly_once() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    client
        .apply_resource(&raw("echo", "top", json!({"value": "v1"}), PENDING))
        .await
        .unwrap();
    for side in ["left", "right"] {
        let config = json!({"value": value_of("top")});
        client
            .apply_resource(&raw("echo", side, config, PENDING))
            .await
            .unwrap();
    }
    let bottom = json!({"value": value_of("left"), "upstream": value_of("right")});
    client
        .apply_resource(&raw("echo", "bottom", bottom, PENDING))
        .await
        .unwrap();
    wait_value(&client, "bottom", "v1").await;
    assert_eq!(recorder.count(EventType::Create, "bottom"), 1);

    client
        .apply_resource(&raw("echo", "top", json!({"value": "v2"}), PENDING))
        .await
        .unwrap();
    wait_value(&client, "bottom", "v2").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(recorder.count(EventType::Update, "left"), 1);
    assert_eq!(recorder.count(EventType::Update, "right"), 1);
    assert_eq!(
        recorder.count(EventType::Update, "bottom"),
        1,
        "{:?}",
        recorder.calls()
    );
    let last = recorder
        .calls()
        .into_iter()
        .rfind(|c| c.name == "bottom")
        .unwrap();
    assert_eq!(
        last.upstream.unwrap()["resolved_value"],
        "v2",
        "both sides were ready first"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_resource_whose_reference_cannot_resolve_can_still_be_deleted() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    client
        .apply_resource(&raw("echo", "draft", json!({}), DRAFT))
        .await
        .unwrap();
    client
        .apply_resource(&raw("echo", "user", json!({"value": "x"}), PENDING))
        .await
        .unwrap();
    wait_value(&client, "user", "x").await;
    // Now it references a draft, which never becomes ready: the update waits.
    client
        .apply_resource(&raw(
            "echo",
            "user",
            json!({"value": value_of("draft")}),
            PENDING,
        ))
        .await
        .unwrap();
    let deleted = client
        .delete_resource("test", "echo", "user")
        .await
        .unwrap();
    assert_eq!(deleted.unwrap().name, "user");
    // Its delete handler got the config last applied.
    let calls = recorder.calls();
    let delete = calls
        .iter()
        .find(|c| c.event == EventType::Delete && c.name == "user")
        .unwrap();
    assert_eq!(delete.value, "x");
    client
        .delete_resource("test", "echo", "draft")
        .await
        .unwrap();
    server.shutdown().await;
}
