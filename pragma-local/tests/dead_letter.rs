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
