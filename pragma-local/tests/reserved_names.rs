//! Provider names the registry keeps: the built-in provider `pragma` cannot be replaced by a
//! registration, and `register_new` does not take a name that is hosted already.

mod common;

use std::sync::Arc;

use common::{client, raw, start, wait_for, Recorder};
use pragma_local::hosted::RegistryError;
use pragma_sdk::authoring::Provider;
use pragma_sdk::models::{LifecycleState, RawResource};
use serde_json::json;

#[tokio::test]
async fn the_builtin_provider_cannot_be_replaced() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let registry = server.platform().registry();

    let impostor = Arc::new(Provider::new("pragma"));
    assert_eq!(
        registry.register(impostor.clone()),
        Err(RegistryError::Reserved {
            provider: "pragma".into()
        })
    );
    let err = registry.register_new(impostor).unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider \"pragma\" is built in and cannot be replaced"
    );

    // Secrets still go to the built-in provider.
    let client = client(&server);
    let types = client.list_resource_types(Some("pragma")).await.unwrap();
    assert_eq!(types.len(), 1, "{types:?}");
    assert_eq!(types[0].resource, "secret");
    let mut secret = RawResource::new("pragma", "secret", "db");
    secret.config = json!({"data": {"password": "hunter2"}})
        .as_object()
        .cloned()
        .unwrap();
    secret.lifecycle_state = LifecycleState::Pending;
    client.apply_resource(&secret).await.unwrap();
    let ready = wait_for(&client, ("pragma", "secret", "db"), LifecycleState::Ready).await;
    assert_eq!(ready.outputs["keys"], json!(["password"]));
    server.shutdown().await;
}

#[tokio::test]
async fn a_hosted_name_is_not_taken_twice() {
    let recorder = Arc::new(Recorder::default());
    let server = start(&recorder).await;
    let registry = server.platform().registry();

    let other = Arc::new(Recorder::default());
    let err = registry
        .register_new(Arc::new(common::test_provider(&other)))
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::AlreadyHosted {
            provider: "test".into()
        }
    );

    // Events still reach the provider hosted first.
    let client = client(&server);
    client
        .apply_resource(&raw(
            "echo",
            "a",
            json!({"value": "x"}),
            LifecycleState::Pending,
        ))
        .await
        .unwrap();
    wait_for(&client, ("test", "echo", "a"), LifecycleState::Ready).await;
    assert_eq!(recorder.calls().len(), 1);
    assert!(other.calls().is_empty());

    // A new name is hosted.
    registry
        .register_new(Arc::new(Provider::new("fresh")))
        .unwrap();
    assert_eq!(registry.provider_names(), ["fresh", "pragma", "test"]);
    server.shutdown().await;
}
