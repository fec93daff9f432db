//! Failing handlers: retries with backoff, then a failed resource and a dead-letter event that
//! can be retried or discarded.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{resource, start, Api, Recorder};
use pragma_sdk::models::EventType;
use serde_json::json;

#[tokio::test]
async fn retries_end_in_a_dead_letter_that_can_be_retried() {
    let recorder = Arc::new(Recorder::default());
    recorder.failures_left.store(3, Ordering::SeqCst);
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    let id = "resource:test_flaky_f";
    assert_eq!(
        api.apply(resource("flaky", "f", json!({"value": "v"}), "pending"))
            .await
            .0,
        200
    );
    let failed = api.wait_state(id, "failed").await;
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .contains("backend unavailable"));
    assert_eq!(recorder.count(EventType::Create, "f"), 3, "three attempts");

    let (status, dead) = api.get("/ops/dead-letter").await;
    assert_eq!(status, 200);
    assert_eq!(dead.as_array().unwrap().len(), 1);
    let event = &dead[0];
    assert_eq!(event["provider"], "test");
    assert_eq!(event["resource_type"], "flaky");
    assert_eq!(event["resource_name"], "f");
    assert_eq!(event["event_type"], "CREATE");
    assert_eq!(event["attempt_count"], 3);
    assert_eq!(event["payload"], json!({"value": "v"}));
    assert!(event["failed_at"].is_string());
    let event_id = event["event_id"].as_str().unwrap().to_owned();
    let (status, one) = api.get(&format!("/ops/dead-letter/{event_id}")).await;
    assert_eq!((status, &one), (200, event));
    let (_, filtered) = api.get("/ops/dead-letter?provider=other").await;
    assert_eq!(filtered, json!([]));

    let (status, queued) = api
        .post(&format!("/ops/dead-letter/{event_id}/retry"), None)
        .await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["event_id"], event_id.as_str());
    assert_eq!(queued["event_type"], "CREATE");
    assert_eq!(queued["status"], "pending");
    assert!(queued["correlation_id"].is_string());
    let ready = api.wait_state(id, "ready").await;
    assert_eq!(ready["outputs"]["value"], "v");
    assert!(ready.get("error").is_none_or(|e| e.is_null()));
    assert_eq!(api.get("/ops/dead-letter").await.1, json!([]));
    assert_eq!(
        api.get(&format!("/ops/dead-letter/{event_id}")).await.0,
        404
    );
    assert_eq!(
        api.post(&format!("/ops/dead-letter/{event_id}/retry"), None)
            .await
            .0,
        404
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bulk_retry_and_delete_of_dead_letters() {
    let recorder = Arc::new(Recorder::default());
    recorder.failures_left.store(6, Ordering::SeqCst);
    let server = start(&recorder).await;
    let api = Api::new(server.base_url());
    for name in ["x", "y"] {
        assert_eq!(
            api.apply(resource("flaky", name, json!({}), "pending"))
                .await
                .0,
            200
        );
        api.wait_state(&format!("resource:test_flaky_{name}"), "failed")
            .await;
    }
    assert_eq!(
        api.get("/ops/dead-letter")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, body) = api.post("/ops/dead-letter/retry-all", None).await;
    assert_eq!((status, body), (200, json!({"retried_count": 2})));
    api.wait_state("resource:test_flaky_x", "ready").await;
    api.wait_state("resource:test_flaky_y", "ready").await;

    recorder.failures_left.store(6, Ordering::SeqCst);
    for name in ["x", "y"] {
        let body = resource("flaky", name, json!({"value": "again"}), "pending");
        assert_eq!(api.apply(body).await.0, 200);
        api.wait_state(&format!("resource:test_flaky_{name}"), "failed")
            .await;
    }
    let (_, dead) = api.get("/ops/dead-letter").await;
    assert_eq!(dead[0]["event_type"], "UPDATE");
    let first = dead[0]["event_id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.delete("/ops/dead-letter").await.0,
        400,
        "all or provider is required"
    );
    assert_eq!(
        api.delete(&format!("/ops/dead-letter/{first}")).await.0,
        204
    );
    assert_eq!(
        api.delete(&format!("/ops/dead-letter/{first}")).await.0,
        204,
        "idempotent"
    );
    let (status, body) = api.delete("/ops/dead-letter?provider=test").await;
    assert_eq!((status, body), (200, json!({"deleted_count": 1})));
    let (status, body) = api.delete("/ops/dead-letter?all=true").await;
    assert_eq!((status, body), (200, json!({"deleted_count": 0})));
    let (_, x) = api.resource("resource:test_flaky_x").await;
    assert_eq!(
        x["lifecycle_state"], "failed",
        "discarding a dead letter leaves the resource"
    );
    server.shutdown().await;
}
