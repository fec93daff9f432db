//! Subresources: a handler applies resources it owns and waits for them.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{client, raw, start, wait_for, Recorder};
use pragma_sdk::models::{EventType, LifecycleState};
use serde_json::json;

#[tokio::test]
async fn a_failing_subresource_fails_its_owner_naming_it() {
    let recorder = Arc::new(Recorder::default());
    recorder.failures_left.store(1_000, Ordering::SeqCst);
    let server = start(&recorder).await;
    let client = client(&server);
    let parent = raw(
        "parent",
        "p",
        json!({"value": "flaky"}),
        LifecycleState::Pending,
    );
    client.apply_resource(&parent).await.unwrap();
    let failed = wait_for(&client, ("test", "parent", "p"), LifecycleState::Failed).await;
    let error = failed.error.unwrap();
    assert!(error.contains("resource:test_flaky_p-child"), "{error}");
    let child = client
        .get_resource("test", "flaky", "p-child")
        .await
        .unwrap();
    assert_eq!(child.owner_references[0].name, "p");
    assert_eq!(
        recorder.count(EventType::Create, "p"),
        3,
        "the owner was retried"
    );
    let dead = client.list_dead_letter_events(None).await.unwrap();
    assert!(dead.iter().any(|d| d.resource_name == "p"));
    assert!(dead.iter().any(|d| d.resource_name == "p-child"));

    recorder.failures_left.store(0, Ordering::SeqCst);
    let owner = dead.iter().find(|d| d.resource_name == "p").unwrap();
    client
        .retry_dead_letter_event(&owner.event_id)
        .await
        .unwrap();
    let ready = wait_for(&client, ("test", "parent", "p"), LifecycleState::Ready).await;
    assert_eq!(ready.outputs["value"], "child of p");
    let child = client
        .get_resource("test", "flaky", "p-child")
        .await
        .unwrap();
    assert_eq!(child.lifecycle_state, LifecycleState::Ready);
    server.shutdown().await;
}
