//! Handlers that take too long: each attempt has a time limit, and one provider's slow
//! handlers do not hold back another provider's events.

use std::time::{Duration, Instant};

use pragma_local::Platform;
use pragma_sdk::models::{LifecycleState, RawResource};
use pragma_sdk::AsyncPragmaClient;
use serde_json::json;

fn slow(name: &str, delay_ms: u64) -> RawResource {
    let mut raw = RawResource::new("demo", "slow", name);
    raw.config = json!({"delay_ms": delay_ms, "value": name})
        .as_object()
        .cloned()
        .unwrap();
    raw.lifecycle_state = LifecycleState::Pending;
    raw
}

async fn wait_for(
    client: &AsyncPragmaClient,
    (provider, resource, name): (&str, &str, &str),
    state: LifecycleState,
    within: Duration,
) -> RawResource {
    let deadline = Instant::now() + within;
    loop {
        let found = client.get_resource(provider, resource, name).await.unwrap();
        if found.lifecycle_state == state {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {} after {within:?}, not {state}",
            found.lifecycle_state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An in-memory platform hosting the demo provider, adjusted by `adjust`, and a client for it.
async fn serve(
    adjust: impl FnOnce(pragma_local::PlatformBuilder) -> pragma_local::PlatformBuilder,
) -> (pragma_local::EphemeralServer, AsyncPragmaClient) {
    let builder = Platform::builder()
        .in_memory()
        .provider(pragma_local::demo::slow_provider().unwrap());
    let server = adjust(builder)
        .build()
        .unwrap()
        .spawn_ephemeral()
        .await
        .unwrap();
    let client = AsyncPragmaClient::builder()
        .base_url(server.base_url())
        .no_auth()
        .build()
        .unwrap();
    (server, client)
}

#[tokio::test]
async fn a_handler_over_its_time_limit_fails_its_attempt() {
    let (server, client) = serve(|b| {
        b.retry(2, Duration::from_millis(10))
            .handler_timeout(Duration::from_millis(300))
    })
    .await;
    client.apply_resource(&slow("quick", 10)).await.unwrap();
    client.apply_resource(&slow("stuck", 30_000)).await.unwrap();
    wait_for(
        &client,
        ("demo", "slow", "quick"),
        LifecycleState::Ready,
        Duration::from_secs(5),
    )
    .await;
    let stuck = wait_for(
        &client,
        ("demo", "slow", "stuck"),
        LifecycleState::Failed,
        Duration::from_secs(5),
    )
    .await;
    let error = stuck.error.unwrap();
    assert!(error.contains("did not finish within 0.3 s"), "{error}");
    let dead = client.list_dead_letter_events(None).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempt_count, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn slow_handlers_of_one_provider_do_not_hold_back_another() {
    let (_server, client) = serve(|b| b).await;
    // More hanging handlers than one provider has dispatch slots.
    for i in 0..40 {
        client
            .apply_resource(&slow(&format!("hang-{i}"), 60_000))
            .await
            .unwrap();
    }
    let mut secret = RawResource::new("pragma", "secret", "unblocked");
    secret.config = json!({"data": {"k": "v"}}).as_object().cloned().unwrap();
    secret.lifecycle_state = LifecycleState::Pending;
    client.apply_resource(&secret).await.unwrap();
    let ready = wait_for(
        &client,
        ("pragma", "secret", "unblocked"),
        LifecycleState::Ready,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(ready.outputs["keys"], json!(["k"]));
    let pending = client
        .list_resources(&pragma_sdk::client::ListFilter::new().provider("demo"))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.lifecycle_state == LifecycleState::Pending)
        .count();
    assert!(
        pending >= 8,
        "the demo provider's slots are all taken: {pending} wait"
    );
}
