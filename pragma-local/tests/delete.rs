//! Deleting resources: what a resource owns goes first, and a resource others reference is
//! kept.

mod common;

use std::sync::Arc;

use common::{client, echo_id, first_violation, raw, start, value_of, wait_for, Recorder};
use pragma_sdk::models::{EventType, LifecycleState};
use serde_json::json;

const PENDING: LifecycleState = LifecycleState::Pending;
const READY: LifecycleState = LifecycleState::Ready;

#[tokio::test]
async fn deleting_an_owner_deletes_its_subresources_first() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    client
        .apply_resource(&raw("parent", "p", json!({}), PENDING))
        .await
        .unwrap();
    let parent = wait_for(&client, ("test", "parent", "p"), READY).await;
    assert_eq!(parent.outputs["value"], "child of p");
    let child = wait_for(&client, ("test", "echo", "p-child"), READY).await;
    assert_eq!(child.owner_references[0].name, "p");

    let deleted = client.delete_resource("test", "parent", "p").await.unwrap();
    assert_eq!(deleted.unwrap().name, "p");
    assert!(client
        .get_resource("test", "echo", "p-child")
        .await
        .unwrap_err()
        .is_not_found());
    assert!(client
        .get_resource("test", "parent", "p")
        .await
        .unwrap_err()
        .is_not_found());
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
    let client = client(&server);
    client
        .apply_resource(&raw("echo", "base", json!({"value": "x"}), PENDING))
        .await
        .unwrap();
    let user = json!({"value": value_of("base")});
    client
        .apply_resource(&raw("echo", "user", user, PENDING))
        .await
        .unwrap();
    wait_for(&client, ("test", "echo", "user"), READY).await;

    let err = client
        .delete_resource("test", "echo", "base")
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(common::message(&err).contains(&echo_id("user")), "{err}");
    assert!(client.get_resource("test", "echo", "base").await.is_ok());
    assert_eq!(recorder.count(EventType::Delete, "base"), 0);

    client
        .delete_resource("test", "echo", "user")
        .await
        .unwrap();
    client
        .delete_resource("test", "echo", "base")
        .await
        .unwrap();
    let err = client
        .delete_resource("test", "echo", "base")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    server.shutdown().await;
}

#[tokio::test]
async fn deleting_all_resources_of_a_provider_through_the_registry() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    client
        .apply_resource(&raw("echo", "a", json!({"value": "x"}), PENDING))
        .await
        .unwrap();
    let b = json!({"value": value_of("a")});
    client
        .apply_resource(&raw("echo", "b", b, PENDING))
        .await
        .unwrap();
    wait_for(&client, ("test", "echo", "b"), READY).await;
    let registry = server.platform().registry();
    assert_eq!(registry.resource_count("test").await.unwrap(), 2);
    assert_eq!(registry.delete_resources("test").await.unwrap(), 2);
    assert_eq!(registry.resource_count("test").await.unwrap(), 0);
    assert_eq!(recorder.count(EventType::Delete, "a"), 1);
    assert!(registry.unregister("test"));
    assert_eq!(registry.provider_names(), vec!["pragma"]);
    let err = client
        .apply_resource(&raw("echo", "a", json!({}), PENDING))
        .await
        .unwrap_err();
    assert_eq!(first_violation(&err).0, vec!["body", "provider"]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_resource_cannot_own_itself_even_through_others() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    let draft = LifecycleState::Draft;
    client
        .apply_resource(&raw("echo", "a", json!({}), draft))
        .await
        .unwrap();
    let mut b = raw("echo", "b", json!({}), draft);
    b.owner_references = vec![pragma_sdk::models::OwnerReference::new("test", "echo", "a")];
    client.apply_resource(&b).await.unwrap();

    for owner in ["a", "b"] {
        let mut a = raw("echo", "a", json!({"value": "again"}), draft);
        a.owner_references = vec![pragma_sdk::models::OwnerReference::new(
            "test", "echo", owner,
        )];
        let err = client.apply_resource(&a).await.unwrap_err();
        let (loc, message, _) = first_violation(&err);
        assert_eq!(loc, vec!["body", "owner_references", "0"], "{err}");
        assert!(message.contains("its own owner"), "{message}");
    }
    let a = client.get_resource("test", "echo", "a").await.unwrap();
    assert!(a.owner_references.is_empty(), "nothing was stored");
    assert!(a.config.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_cascading_provider_delete_blocked_by_another_provider_deletes_nothing() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let client = client(&server);
    let api = common::Api::new(server.base_url());
    for name in ["a", "b"] {
        client
            .apply_resource(&raw("echo", name, json!({"value": name}), PENDING))
            .await
            .unwrap();
        wait_for(&client, ("test", "echo", name), READY).await;
    }
    // A secret of the built-in provider depends on test/echo/a.
    let (status, body) = api
        .apply(json!({
            "provider": "pragma", "resource": "secret", "name": "s",
            "config": {"data": {"k": "v"}},
            "dependencies": [{"provider": "test", "resource": "echo", "name": "a"}],
            "lifecycle_state": "pending",
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for(&client, ("pragma", "secret", "s"), READY).await;

    let (status, body) = api.delete("/providers/test?cascade=true").await;
    assert_eq!(status, 409, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&echo_id("a")), "{detail}");
    assert!(detail.contains("resource:pragma_secret_s"), "{detail}");

    // Nothing was deleted, and the provider is still hosted.
    for name in ["a", "b"] {
        wait_for(&client, ("test", "echo", name), READY).await;
        assert_eq!(recorder.count(EventType::Delete, name), 0);
    }
    assert!(!client
        .list_resource_types(Some("test"))
        .await
        .unwrap()
        .is_empty());

    // Once the secret is gone, the cascade goes through.
    client
        .delete_resource("pragma", "secret", "s")
        .await
        .unwrap();
    let (status, body) = api.delete("/providers/test?cascade=true").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resources_deleted"], 2, "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_owner_cannot_gain_references_while_its_children_are_deleted() {
    let (recorder, server, client) = owner_with_a_flaky_child("p").await;

    recorder
        .failures_left
        .store(3, std::sync::atomic::Ordering::SeqCst);
    let deleting = tokio::spawn({
        let client = client.clone();
        async move { client.delete_resource("test", "parent", "p").await }
    });
    let mut dependent = raw("echo", "late", json!({}), PENDING);
    dependent.dependencies = vec![pragma_sdk::models::ResourceReference::new(
        "test", "parent", "p",
    )];
    // Until the delete is under way the apply may pass; once it is, it must be refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let refused = loop {
        let child = client
            .get_resource("test", "flaky", "p-child")
            .await
            .unwrap();
        if child.lifecycle_state == LifecycleState::Processing {
            break client.apply_resource(&dependent).await.unwrap_err();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child's delete did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(409), "{refused}");
    assert!(
        refused.to_string().contains("is being deleted"),
        "{refused}"
    );
    // Nor may the owner itself be applied again meanwhile (that would clear its mark).
    let again = client
        .apply_resource(&raw("parent", "p", json!({"value": "flaky"}), PENDING))
        .await
        .unwrap_err();
    assert_eq!(again.status().map(|s| s.as_u16()), Some(409), "{again}");
    assert!(again.to_string().contains("is being deleted"), "{again}");

    let err = deleting.await.unwrap().unwrap_err();
    assert!(err.status().is_some_and(|s| s.is_server_error()), "{err}");
    // The delete failed, so the owner may be referenced again.
    client.apply_resource(&dependent).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_delete_goes_on_when_its_caller_stops_waiting() {
    let (recorder, server, client) = owner_with_a_flaky_child("q").await;
    // The child's delete fails twice, then succeeds: about 600 ms.
    recorder
        .failures_left
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let impatient = pragma_sdk::AsyncPragmaClient::builder()
        .base_url(server.base_url())
        .no_auth()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let err = impatient
        .delete_resource("test", "parent", "q")
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.get_resource("test", "parent", "q").await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the delete did not go on"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(client
        .get_resource("test", "flaky", "q-child")
        .await
        .unwrap_err()
        .is_not_found());
    server.shutdown().await;
}

/// A platform whose retries are slow (so that a child's failing delete takes a while), with
/// the ready owner `test/parent/{name}` and its ready child `test/flaky/{name}-child`.
async fn owner_with_a_flaky_child(
    name: &str,
) -> (
    Arc<Recorder>,
    pragma_local::EphemeralServer,
    pragma_sdk::AsyncPragmaClient,
) {
    let recorder = Arc::new(Recorder::default());
    let server = common::start_with(&recorder, |b| {
        b.retry(3, std::time::Duration::from_millis(300))
    })
    .await;
    let client = client(&server);
    client
        .apply_resource(&raw("parent", name, json!({"value": "flaky"}), PENDING))
        .await
        .unwrap();
    wait_for(&client, ("test", "parent", name), READY).await;
    let child = format!("{name}-child");
    wait_for(&client, ("test", "flaky", &child), READY).await;
    (recorder, server, client)
}
