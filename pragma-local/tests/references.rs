//! References between resources: resolution before dispatch, propagation of changes through a
//! chain and a diamond (each dependent updated once per change), and refused cycles.

mod common;

use std::sync::Arc;

use common::{echo_id, resource, start, value_of, Api, Recorder};
use pragma_sdk::models::EventType;
use serde_json::json;

#[tokio::test]
async fn secret_values_and_dependency_markers_are_resolved() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    let secret = json!({"provider": "pragma", "resource": "secret", "name": "creds",
                        "config": {"data": {"password": "hunter2", "user": "admin"}},
                        "lifecycle_state": "pending"});
    assert_eq!(api.apply(secret).await.0, 200);
    let config = json!({
        "value": {"provider": "pragma", "resource": "secret", "name": "creds",
                  "field": "config.data.password"},
        "upstream": {"__dependency__": true, "provider": "pragma", "resource": "secret",
                     "name": "creds"}
    });
    let (status, body) = api.apply(resource("echo", "app", config, "pending")).await;
    assert_eq!(status, 200, "{body}");
    let ready = api.wait_state(&echo_id("app"), "ready").await;
    assert_eq!(ready["outputs"]["value"], "hunter2");
    let secret = api
        .wait_state("resource:pragma_secret_creds", "ready")
        .await;
    assert_eq!(secret["outputs"]["keys"], json!(["password", "user"]));
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
    let api = Api::new(server.base_url());
    let (status, body) = api
        .apply(resource(
            "echo",
            "a",
            json!({"value": value_of("ghost")}),
            "pending",
        ))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "config", "value"]));
    assert!(body["detail"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("resource:test_echo_ghost"));

    assert_eq!(
        api.apply(resource("echo", "a", json!({}), "draft")).await.0,
        200
    );
    assert_eq!(
        api.apply(resource(
            "echo",
            "b",
            json!({"value": value_of("a")}),
            "draft"
        ))
        .await
        .0,
        200
    );
    assert_eq!(
        api.apply(resource(
            "echo",
            "c",
            json!({"value": value_of("b")}),
            "draft"
        ))
        .await
        .0,
        200
    );
    let (status, body) = api
        .apply(resource(
            "echo",
            "a",
            json!({"value": value_of("c")}),
            "draft",
        ))
        .await;
    assert_eq!(status, 422, "{body}");
    let msg = body["detail"][0]["msg"].as_str().unwrap();
    assert!(msg.contains("cycle"), "{msg}");
    assert!(
        msg.contains(&echo_id("b")) && msg.contains(&echo_id("c")),
        "{msg}"
    );
    let (status, _) = api
        .apply(resource(
            "echo",
            "a",
            json!({"value": value_of("a")}),
            "draft",
        ))
        .await;
    assert_eq!(status, 422, "a resource cannot reference itself");
    let (_, stored) = api.resource(&echo_id("a")).await;
    assert_eq!(
        stored["config"],
        json!({}),
        "a refused apply changes nothing"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_update_propagates_down_a_chain_once_per_dependent() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    assert_eq!(
        api.apply(resource("echo", "n0", json!({"value": "v1"}), "pending"))
            .await
            .0,
        200
    );
    for i in 1..5 {
        let config = json!({"value": value_of(&format!("n{}", i - 1))});
        let (status, body) = api
            .apply(resource("echo", &format!("n{i}"), config, "pending"))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let tail = api.wait_state(&echo_id("n4"), "ready").await;
    assert_eq!(tail["outputs"]["value"], "v1");

    assert_eq!(
        api.apply(resource("echo", "n0", json!({"value": "v2"}), "pending"))
            .await
            .0,
        200
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, tail) = api.resource(&echo_id("n4")).await;
        if tail["outputs"]["value"] == "v2" && tail["lifecycle_state"] == "ready" {
            break;
        }
        if std::time::Instant::now() > deadline {
            let (_, all) = api.get("/resources/").await;
            panic!("{all:#}\n{:?}", recorder.calls());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for i in 0..5 {
        let name = format!("n{i}");
        assert_eq!(
            recorder.count(EventType::Update, &name),
            1,
            "{name} updated once"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_diamond_updates_its_bottom_exactly_once() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    assert_eq!(
        api.apply(resource("echo", "top", json!({"value": "v1"}), "pending"))
            .await
            .0,
        200
    );
    for side in ["left", "right"] {
        let (status, _) = api
            .apply(resource(
                "echo",
                side,
                json!({"value": value_of("top")}),
                "pending",
            ))
            .await;
        assert_eq!(status, 200);
    }
    let bottom = json!({
        "value": value_of("left"),
        "upstream": value_of("right"),
    });
    assert_eq!(
        api.apply(resource("echo", "bottom", bottom, "pending"))
            .await
            .0,
        200
    );
    api.wait_state(&echo_id("bottom"), "ready").await;
    assert_eq!(recorder.count(EventType::Create, "bottom"), 1);

    assert_eq!(
        api.apply(resource("echo", "top", json!({"value": "v2"}), "pending"))
            .await
            .0,
        200
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while recorder.count(EventType::Update, "bottom") == 0 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let bottom = api.wait_state(&echo_id("bottom"), "ready").await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(bottom["outputs"]["value"], "v2");
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
