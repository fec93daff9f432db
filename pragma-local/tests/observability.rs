//! Status, logs and health of a resource, answered by its provider.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{client, raw, start, wait_for, Recorder};
use pragma_sdk::models::{LifecycleState, LogLevel, Timestamp};
use serde_json::json;

#[tokio::test]
async fn logs_and_health_come_from_the_provider() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    let echo = raw("echo", "e", json!({"value": "hi"}), LifecycleState::Pending);
    client.apply_resource(&echo).await.unwrap();
    wait_for(&client, ("test", "echo", "e"), LifecycleState::Ready).await;
    let since = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let logs = client
        .get_resource_logs("test", "echo", "e", Some(since), Some(7))
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].level, LogLevel::Info);
    assert_eq!(logs[0].message, "e says hi");
    let metadata = logs[0].metadata.as_ref().unwrap();
    assert_eq!(metadata["tail"], 7);
    assert_eq!(metadata["since"], since.to_string());

    let flaky = raw("flaky", "f", json!({}), LifecycleState::Pending);
    client.apply_resource(&flaky).await.unwrap();
    wait_for(&client, ("test", "flaky", "f"), LifecycleState::Ready).await;
    recorder.failures_left.store(1, Ordering::SeqCst);
    let err = client
        .get_resource_health("test", "flaky", "f")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502), "{err}");
    assert!(common::message(&err).contains("backend unavailable"));
    let health = client
        .get_resource_health("test", "flaky", "f")
        .await
        .unwrap();
    assert_eq!(health.status, pragma_sdk::models::HealthStatus::Healthy);
    let err = client
        .get_resource_logs("test", "flaky", "f", None, None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "flaky has no logs: {err}");
    assert!(common::message(&err).contains("not supported"));
    let missing = client
        .get_resource_health("test", "flaky", "nope")
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
    server.shutdown().await;
}
