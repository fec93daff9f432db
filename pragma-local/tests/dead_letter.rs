//! Failing handlers: retries with backoff, then a failed resource and a dead-letter event that
//! can be retried or discarded.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{client, raw, start, wait_for, Api, Recorder};
use pragma_sdk::client::DeadLetterScope;
use pragma_sdk::models::{EventType, LifecycleState, OutboxStatus};
use serde_json::json;

const PENDING: LifecycleState = LifecycleState::Pending;

#[tokio::test]
async fn retries_end_in_a_dead_letter_that_can_be_retried() {
    let recorder = Arc::new(Recorder::default());
    recorder.failures_left.store(3, Ordering::SeqCst);
    let server = start(&recorder).await;
    let client = client(&server);
    let f = ("test", "flaky", "f");
    client
        .apply_resource(&raw("flaky", "f", json!({"value": "v"}), PENDING))
        .await
        .unwrap();
    let failed = wait_for(&client, f, LifecycleState::Failed).await;
    assert!(failed.error.unwrap().contains("backend unavailable"));
    assert_eq!(recorder.count(EventType::Create, "f"), 3, "three attempts");

    let dead = client.list_dead_letter_events(None).await.unwrap();
    assert_eq!(dead.len(), 1);
    let event = &dead[0];
    assert_eq!(
        (
            event.provider.as_str(),
            event.resource_type.as_str(),
            event.resource_name.as_str()
        ),
        ("test", "flaky", "f")
    );
    assert_eq!(event.event_type, EventType::Create);
    assert_eq!(event.attempt_count, 3);
    assert_eq!(event.payload, *json!({"value": "v"}).as_object().unwrap());
    assert!(event.error_message.contains("backend unavailable"));
    let one = client.get_dead_letter_event(&event.event_id).await.unwrap();
    assert_eq!(&one, event);
    assert!(client
        .list_dead_letter_events(Some("other"))
        .await
        .unwrap()
        .is_empty());

    let queued = client
        .retry_dead_letter_event(&event.event_id)
        .await
        .unwrap();
    assert_eq!(queued.event_id, event.event_id);
    assert_eq!(queued.event_type, EventType::Create);
    assert_eq!(queued.status, OutboxStatus::Pending);
    let ready = wait_for(&client, f, LifecycleState::Ready).await;
    assert_eq!(ready.outputs["value"], "v");
    assert!(ready.error.is_none());
    assert!(client
        .list_dead_letter_events(None)
        .await
        .unwrap()
        .is_empty());
    let err = client
        .get_dead_letter_event(&event.event_id)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let err = client
        .retry_dead_letter_event(&event.event_id)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    server.shutdown().await;
}

#[tokio::test]
async fn bulk_retry_and_delete_of_dead_letters() {
    let recorder = Arc::new(Recorder::default());
    recorder.failures_left.store(6, Ordering::SeqCst);
    let server = start(&recorder).await;
    let client = client(&server);
    for name in ["x", "y"] {
        client
            .apply_resource(&raw("flaky", name, json!({}), PENDING))
            .await
            .unwrap();
        wait_for(&client, ("test", "flaky", name), LifecycleState::Failed).await;
    }
    assert_eq!(client.list_dead_letter_events(None).await.unwrap().len(), 2);
    assert_eq!(client.retry_all_dead_letter_events().await.unwrap(), 2);
    wait_for(&client, ("test", "flaky", "x"), LifecycleState::Ready).await;
    wait_for(&client, ("test", "flaky", "y"), LifecycleState::Ready).await;

    recorder.failures_left.store(6, Ordering::SeqCst);
    for name in ["x", "y"] {
        let body = raw("flaky", name, json!({"value": "again"}), PENDING);
        client.apply_resource(&body).await.unwrap();
        wait_for(&client, ("test", "flaky", name), LifecycleState::Failed).await;
    }
    let dead = client.list_dead_letter_events(None).await.unwrap();
    assert_eq!(dead[0].event_type, EventType::Update);
    let first = dead[0].event_id.clone();

    let api = Api::new(server.base_url());
    assert_eq!(
        api.delete("/ops/dead-letter").await.0,
        400,
        "all or provider is required"
    );
    client.delete_dead_letter_event(&first).await.unwrap();
    client.delete_dead_letter_event(&first).await.unwrap();
    let deleted = client
        .delete_dead_letter_events(DeadLetterScope::Provider("test".to_owned()))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        client
            .delete_dead_letter_events(DeadLetterScope::All)
            .await
            .unwrap(),
        0
    );
    let x = client.get_resource("test", "flaky", "x").await.unwrap();
    assert_eq!(
        x.lifecycle_state,
        LifecycleState::Failed,
        "discarding leaves the resource"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_dead_letter_superseded_by_a_later_apply_is_not_retried() {
    let recorder = Arc::new(Recorder::default());
    recorder.failures_left.store(3, Ordering::SeqCst);
    let server = start(&recorder).await;
    let client = client(&server);
    let d = ("test", "flaky", "d");
    client
        .apply_resource(&raw("flaky", "d", json!({"value": "v"}), PENDING))
        .await
        .unwrap();
    wait_for(&client, d, LifecycleState::Failed).await;
    let dead = client.list_dead_letter_events(None).await.unwrap();
    assert_eq!(dead.len(), 1);

    let draft = raw(
        "flaky",
        "d",
        json!({"value": "draft"}),
        LifecycleState::Draft,
    );
    client.apply_resource(&draft).await.unwrap();
    let err = client
        .retry_dead_letter_event(&dead[0].event_id)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err}");
    assert!(common::message(&err).contains("superseded"), "{err}");
    assert_eq!(client.retry_all_dead_letter_events().await.unwrap(), 0);
    let stored = client.get_resource("test", "flaky", "d").await.unwrap();
    assert_eq!(stored.lifecycle_state, LifecycleState::Draft);
    assert_eq!(stored.config["value"], "draft");
    assert_eq!(
        client.list_dead_letter_events(None).await.unwrap().len(),
        1,
        "a refused retry keeps the event"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn retrying_a_failed_delete_checks_dependents_like_a_delete() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    let api = Api::new(server.base_url());
    let a = ("test", "flaky", "a");
    client
        .apply_resource(&raw("flaky", "a", json!({"value": "v"}), PENDING))
        .await
        .unwrap();
    wait_for(&client, a, LifecycleState::Ready).await;
    recorder.failures_left.store(3, Ordering::SeqCst);
    let (status, body) = api.delete("/resources/resource:test_flaky_a").await;
    assert!(
        status >= 500,
        "the delete's handler failed: {status} {body}"
    );
    wait_for(&client, a, LifecycleState::Failed).await;
    let dead = client.list_dead_letter_events(None).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_type, EventType::Delete);

    let mut dependent = raw("echo", "b", json!({"value": "b"}), PENDING);
    dependent.dependencies = vec![pragma_sdk::models::ResourceReference::new(
        "test", "flaky", "a",
    )];
    client.apply_resource(&dependent).await.unwrap();
    let err = client
        .retry_dead_letter_event(&dead[0].event_id)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err}");
    assert!(
        common::message(&err).contains("referenced by resource:test_echo_b"),
        "{err}"
    );
    let still = client.get_resource("test", "flaky", "a").await.unwrap();
    assert_eq!(still.lifecycle_state, LifecycleState::Failed);
    server.shutdown().await;
}
