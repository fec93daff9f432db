//! Every operation of the client, on both faces: the exact request it sends and how it decodes
//! the answer, against a recording server on loopback.

mod client_support;

use client_support::*;
use pragma_sdk::client::{ApplyMode, DeadLetterScope, ListFilter};
use pragma_sdk::models::{
    BuildStatus, DeploymentStatus, EventType, HealthStatus, LifecycleState, LogLevel, OutboxStatus,
    RawResource, Timestamp,
};
use pragma_sdk::Resource;

const BUCKET_ID: &str = "/resources/resource%3Amycloud_storage_bucket_logs";

fn route(request: &Recorded) -> Reply {
    let path = request.path.as_str();
    let logs = BUCKET_ID;
    match (request.method.as_str(), path) {
        ("GET", "/health") => Reply::json(200, r#"{"status":"ok"}"#),
        ("GET", "/auth/me") => Reply::json(200, USER),
        ("GET", "/resources/") => Reply::json(
            200,
            format!(
                "[{},{}]",
                bucket_json("logs", "ready"),
                bucket_json("media", "draft")
            ),
        ),
        ("GET", "/resources/types") => Reply::json(200, RESOURCE_TYPES),
        ("POST", "/resources/apply") => {
            let sent = request.json();
            Reply::json(
                200,
                bucket_json(
                    sent["name"].as_str().unwrap(),
                    sent["lifecycle_state"].as_str().unwrap(),
                ),
            )
        }
        ("GET", p) if p == logs => Reply::json(200, bucket_json("logs", "ready")),
        ("DELETE", p) if p == logs => Reply::json(200, bucket_json("logs", "pending")),
        ("DELETE", "/resources/resource%3Amycloud_storage_bucket_gone") => Reply::raw(204, "", ""),
        ("GET", p) if p == format!("{logs}/status") => Reply::json(200, STATUS),
        ("GET", p) if p == format!("{logs}/logs") => Reply::json(200, LOGS),
        ("GET", p) if p == format!("{logs}/health") => Reply::json(200, HEALTH),
        ("GET", "/ops/dead-letter") => Reply::json(200, format!("[{DEAD_LETTER}]")),
        ("DELETE", "/ops/dead-letter") => Reply::json(200, r#"{"deleted_count":2}"#),
        ("GET", "/ops/dead-letter/evt-1") => Reply::json(200, DEAD_LETTER),
        ("DELETE", "/ops/dead-letter/evt-1") => Reply::raw(204, "", ""),
        ("POST", "/ops/dead-letter/evt-1/retry") => Reply::json(200, OUTBOX_EVENT),
        ("POST", "/ops/dead-letter/retry-all") => Reply::json(200, r#"{"retried_count":5}"#),
        ("GET", "/providers/") => Reply::json(200, PROVIDERS),
        ("POST", "/providers/mycloud/push") => Reply::json(202, PUSH),
        ("GET", "/providers/mycloud/builds") => Reply::json(200, BUILDS),
        ("GET", "/providers/mycloud/builds/20260102.030405") => Reply::json(200, BUILD),
        ("GET", "/providers/mycloud/versions/20260102.030405") => Reply::json(200, BUILD),
        ("POST", "/providers/mycloud/deploy") => Reply::json(202, DEPLOYING),
        ("GET", "/providers/mycloud/deployment") => Reply::json(200, DEPLOYMENT),
        ("DELETE", "/providers/mycloud") => Reply::json(200, PROVIDER_DELETED),
        _ => Reply::json(404, r#"{"detail":"Not Found"}"#),
    }
}

/// The request lines [`exercise!`] sends, in order.
const EXPECTED: &[&str] = &[
    "GET /health",
    "GET /auth/me",
    "GET /resources/?provider=mycloud&resource=storage%2Fbucket&tags=prod&tags=eu+west",
    "GET /resources/",
    "GET /resources/resource%3Amycloud_storage_bucket_logs",
    "POST /resources/apply",
    "DELETE /resources/resource%3Amycloud_storage_bucket_logs",
    "DELETE /resources/resource%3Amycloud_storage_bucket_gone",
    "GET /resources/types",
    "GET /resources/types?provider=mycloud",
    "GET /resources/resource%3Amycloud_storage_bucket_logs/status",
    "GET /resources/resource%3Amycloud_storage_bucket_logs/logs?since=2026-01-02T03%3A04%3A05%2B00%3A00&tail=50",
    "GET /resources/resource%3Amycloud_storage_bucket_logs/logs",
    "GET /resources/resource%3Amycloud_storage_bucket_logs/health",
    "GET /resources/resource%3Amycloud_storage_bucket_logs",
    "GET /resources/?provider=mycloud&resource=storage%2Fbucket&tags=prod",
    "POST /resources/apply",
    "POST /resources/apply",
    "DELETE /resources/resource%3Amycloud_storage_bucket_logs",
    "GET /ops/dead-letter",
    "GET /ops/dead-letter?provider=mycloud",
    "GET /ops/dead-letter/evt-1",
    "POST /ops/dead-letter/evt-1/retry",
    "POST /ops/dead-letter/retry-all",
    "DELETE /ops/dead-letter/evt-1",
    "DELETE /ops/dead-letter?all=true",
    "DELETE /ops/dead-letter?provider=mycloud",
    "GET /providers/",
    "POST /providers/mycloud/push",
    "GET /providers/mycloud/builds",
    "GET /providers/mycloud/builds/20260102.030405",
    "GET /providers/mycloud/versions/20260102.030405",
    "POST /providers/mycloud/deploy",
    "POST /providers/mycloud/deploy",
    "GET /providers/mycloud/deployment",
    "GET /providers/mycloud/deployment",
    "GET /providers/mycloud/builds",
    "POST /providers/mycloud/deploy",
    "DELETE /providers/mycloud?cascade=true",
    "DELETE /providers/mycloud?cascade=false",
];

/// Calls every operation on `$client` and checks each answer; `$($aw)*` is `.await` for the
/// async face and nothing for the blocking one.
macro_rules! exercise {
    ($client:expr, $($aw:tt)*) => {{
        let client = $client;

        assert!(client.is_healthy() $($aw)*);
        let me = client.get_me() $($aw)*.unwrap();
        assert_eq!(me.user_id, "u-1");
        assert_eq!(me.organization_name.as_deref(), Some("Analytical"));

        let filter = ListFilter::new()
            .provider("mycloud")
            .resource("storage/bucket")
            .tag("prod")
            .tag("eu west");
        let listed = client.list_resources(&filter) $($aw)*.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].name, "media");
        assert_eq!(listed[1].lifecycle_state, LifecycleState::Draft);
        assert_eq!(client.list_resources(&ListFilter::new()) $($aw)*.unwrap().len(), 2);

        let raw = client.get_resource("mycloud", "storage/bucket", "logs") $($aw)*.unwrap();
        assert_eq!(raw.id(), "resource:mycloud_storage_bucket_logs");
        assert_eq!(raw.config["size_gb"], 10);
        assert_eq!(raw.tags, Some(vec!["prod".to_owned()]));
        assert_eq!(raw.created_at, Some(Timestamp::parse("2026-01-02T03:04:05Z").unwrap()));

        let mut draft = RawResource::new("mycloud", "storage/bucket", "logs");
        draft.config.insert("region".into(), "eu-west-1".into());
        draft.lifecycle_state = LifecycleState::Pending;
        let applied = client.apply_resource(&draft) $($aw)*.unwrap();
        assert_eq!(applied.lifecycle_state, LifecycleState::Pending);

        let deleted = client.delete_resource("mycloud", "storage/bucket", "logs") $($aw)*.unwrap();
        assert_eq!(deleted.unwrap().lifecycle_state, LifecycleState::Pending);
        let gone = client.delete_resource("mycloud", "storage/bucket", "gone") $($aw)*.unwrap();
        assert!(gone.is_none());

        let types = client.list_resource_types(None) $($aw)*.unwrap();
        assert_eq!(types[0].description.as_deref(), Some("A bucket"));
        client.list_resource_types(Some("mycloud")) $($aw)*.unwrap();

        let status = client.get_resource_status("mycloud", "storage/bucket", "logs") $($aw)*.unwrap();
        assert_eq!(status.lifecycle_state, LifecycleState::Failed);
        assert_eq!(status.error.as_deref(), Some("boom"));

        let since = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        let logs = client
            .get_resource_logs("mycloud", "storage/bucket", "logs", Some(since), Some(50)) $($aw)*
            .unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[1].level, LogLevel::Error);
        assert_eq!(logs[0].metadata.as_ref().unwrap()["k"], "v");
        client.get_resource_logs("mycloud", "storage/bucket", "logs", None, None) $($aw)*.unwrap();
        let bad_tail = client
            .get_resource_logs("mycloud", "storage/bucket", "logs", None, Some(0)) $($aw)*
            .unwrap_err();
        assert!(matches!(bad_tail, pragma_sdk::Error::InvalidArgument(_)), "{bad_tail}");

        let health = client.get_resource_health("mycloud", "storage/bucket", "logs") $($aw)*.unwrap();
        assert_eq!(health.status, HealthStatus::Degraded);
        assert_eq!(health.details.unwrap()["latency_ms"], 900);

        let typed: Resource<Bucket> = client.get::<Bucket>("logs") $($aw)*.unwrap();
        assert_eq!(typed.config, BucketConfig { region: "eu-west-1".into(), size_gb: 10 });
        assert_eq!(typed.outputs.unwrap().url, "https://buckets.example/logs");

        let all = client.list::<Bucket>(&ListFilter::new().provider("ignored").tag("prod")) $($aw)*.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, "logs");

        let new = Resource::<Bucket>::new("logs", BucketConfig { region: "eu-west-1".into(), size_gb: 10 });
        let queued = client.apply::<Bucket>(&new, ApplyMode::Queue) $($aw)*.unwrap();
        assert_eq!(queued.lifecycle_state, LifecycleState::Pending);
        let drafted = client.apply::<Bucket>(&queued, ApplyMode::Draft) $($aw)*.unwrap();
        assert_eq!(drafted.lifecycle_state, LifecycleState::Draft);
        let removed = client.delete::<Bucket>("logs") $($aw)*.unwrap().unwrap();
        assert_eq!(removed.name, "logs");

        let dead = client.list_dead_letter_events(None) $($aw)*.unwrap();
        assert_eq!(dead[0].attempt_count, 3);
        assert_eq!(dead[0].event_type, EventType::Create);
        client.list_dead_letter_events(Some("mycloud")) $($aw)*.unwrap();
        let one = client.get_dead_letter_event("evt-1") $($aw)*.unwrap();
        assert_eq!(one.error_message, "quota exceeded");
        let retried = client.retry_dead_letter_event("evt-1") $($aw)*.unwrap();
        assert_eq!(retried.correlation_id, "corr-9");
        assert_eq!(retried.status, OutboxStatus::Pending);
        assert_eq!(client.retry_all_dead_letter_events() $($aw)*.unwrap(), 5);
        client.delete_dead_letter_event("evt-1") $($aw)*.unwrap();
        assert_eq!(client.delete_dead_letter_events(DeadLetterScope::All) $($aw)*.unwrap(), 2);
        assert_eq!(
            client
                .delete_dead_letter_events(DeadLetterScope::Provider("mycloud".into())) $($aw)*
                .unwrap(),
            2
        );

        let providers = client.list_providers() $($aw)*.unwrap();
        assert_eq!(providers[0].deployment_status, Some(DeploymentStatus::Available));
        assert_eq!(providers[1].current_version, None);
        let pushed = client.push_provider("mycloud", b"\x1f\x8bfake".to_vec()) $($aw)*.unwrap();
        assert_eq!(pushed.status, BuildStatus::Pending);
        let builds = client.list_builds("mycloud") $($aw)*.unwrap();
        assert_eq!(builds[0].error_message.as_deref(), Some("compile error"));
        let build = client.get_build_status("mycloud", "20260102.030405") $($aw)*.unwrap();
        assert_eq!(build.status, BuildStatus::Building);
        client.get_build_by_version("mycloud", "20260102.030405") $($aw)*.unwrap();
        let deploying = client.deploy_provider("mycloud", None) $($aw)*.unwrap();
        assert_eq!(deploying.status, DeploymentStatus::Progressing);
        client.deploy_provider("mycloud", Some("20260101.120000")) $($aw)*.unwrap();
        let deployment = client.get_deployment_status("mycloud") $($aw)*.unwrap();
        assert!(deployment.healthy);
        let rolled = client.rollback_provider("mycloud") $($aw)*.unwrap();
        assert_eq!(rolled.version.as_deref(), Some("20260101.120000"));
        let result = client.delete_provider("mycloud", true) $($aw)*.unwrap();
        assert_eq!(result.resources_deleted, 4);
        client.delete_provider("mycloud", false) $($aw)*.unwrap();
    }};
}

/// Checks the recorded requests against [`EXPECTED`] and the bodies of those that have one.
fn check_requests(requests: &[Recorded]) {
    let lines: Vec<String> = requests.iter().map(Recorded::line).collect();
    assert_eq!(lines, EXPECTED);

    let applied = &requests[5];
    assert_eq!(
        applied.header("content-type").as_deref(),
        Some("application/json")
    );
    let body = applied.json();
    assert_eq!(body["lifecycle_state"], "pending");
    assert_eq!(body["config"]["region"], "eu-west-1");
    assert!(body.get("created_at").is_none());

    let typed_queue = requests[16].json();
    assert_eq!(typed_queue["lifecycle_state"], "pending");
    assert_eq!(typed_queue["provider"], "mycloud");
    assert_eq!(typed_queue["resource"], "storage/bucket");
    assert_eq!(
        typed_queue["config"],
        serde_json::json!({"region": "eu-west-1", "size_gb": 10})
    );
    assert_eq!(requests[17].json()["lifecycle_state"], "draft");

    for index in [22, 23] {
        assert!(requests[index].body.is_empty(), "retry sends no body");
    }

    let push = &requests[28];
    let content_type = push.header("content-type").unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let body = String::from_utf8_lossy(&push.body);
    assert!(
        body.contains(r#"Content-Disposition: form-data; name="code"; filename="code.tar.gz""#),
        "{body}"
    );
    assert!(body.contains("Content-Type: application/gzip"), "{body}");
    assert!(push.body.windows(6).any(|w| w == b"\x1f\x8bfake"));

    assert_eq!(requests[32].json(), serde_json::json!({}));
    assert_eq!(
        requests[33].json(),
        serde_json::json!({"version": "20260101.120000"})
    );
    assert_eq!(
        requests[37].json(),
        serde_json::json!({"version": "20260101.120000"})
    );

    for request in requests {
        assert!(
            request.header("authorization").is_none(),
            "no_auth sends no token"
        );
    }
}

#[tokio::test]
async fn async_client_sends_every_operation_exactly() {
    let server = TestServer::start(route).await;
    exercise!(server.client(), .await);
    check_requests(&server.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_client_sends_the_same_requests() {
    let server = TestServer::start(route).await;
    let client = server.blocking_client();
    tokio::task::spawn_blocking(move || exercise!(client,))
        .await
        .unwrap();
    check_requests(&server.requests());
}

#[test]
fn blocking_client_works_from_a_plain_thread() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start(route));
    let client = server.blocking_client();
    let clone = client.clone();
    let thread = std::thread::spawn(move || clone.get_me().unwrap());
    assert_eq!(thread.join().unwrap().user_id, "u-1");
    assert!(client.is_healthy());
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].peer, requests[1].peer, "clones share the pool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_client_called_and_dropped_inside_a_runtime_does_not_panic() {
    let server = TestServer::start(route).await;
    let client = server.blocking_client();
    // A call from async code runs on a helper thread instead of panicking.
    let me = client.get_me();
    assert_eq!(me.unwrap().user_id, "u-1");
    drop(client);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn both_faces_are_clone_send_and_sync() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<pragma_sdk::AsyncPragmaClient>();
    shareable::<pragma_sdk::PragmaClient>();
    fn sendable<T: Send + 'static>() {}
    sendable::<pragma_sdk::client::BuildLogStream>();
    sendable::<pragma_sdk::client::BuildLogLines>();
}

#[tokio::test]
async fn clones_share_one_connection() {
    let server = TestServer::start(route).await;
    let client = server.client();
    let clone = client.clone();
    client.get_me().await.unwrap();
    clone.get_me().await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].peer, requests[1].peer,
        "the clone reused the pooled connection"
    );

    let other = server.client();
    other.get_me().await.unwrap();
    assert_ne!(
        server.last().peer,
        requests[0].peer,
        "a separate client has its own pool"
    );
}

#[tokio::test]
async fn rollback_refuses_when_there_is_nothing_to_roll_back_to() {
    let server = TestServer::start(|request| match request.path.as_str() {
        "/providers/fresh/deployment" => {
            Reply::json(200, r#"{"status":"pending","healthy":false}"#)
        }
        "/providers/mycloud/deployment" => {
            Reply::json(200, r#"{"status":"available","version":"20251231.120000"}"#)
        }
        "/providers/mycloud/builds" => Reply::json(200, BUILDS),
        _ => Reply::json(404, r#"{"detail":"Not Found"}"#),
    })
    .await;
    let client = server.client();

    let err = client.rollback_provider("fresh").await.unwrap_err();
    assert!(
        matches!(err, pragma_sdk::Error::InvalidArgument(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("no deployed version"), "{err}");

    let err = client.rollback_provider("mycloud").await.unwrap_err();
    assert!(
        err.to_string().contains("older than 20251231.120000"),
        "{err}"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|request| request.method == "GET"),
        "nothing was deployed"
    );

    let err = client.rollback_provider("gone").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}
