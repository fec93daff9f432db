//! The `/providers/...` endpoints' answers to bad and edge-case input, without release
//! builds: refused tarballs, unknown builds and providers, versions, persistence.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use pragma_local::deploy::{DeployOptions, Deployments};
use pragma_local::Platform;
use pragma_sdk::models::{BuildStatus, DeploymentStatus};
use pragma_sdk::AsyncPragmaClient;

use common::first_violation;

struct Served {
    base: String,
    client: AsyncPragmaClient,
    deployments: Deployments,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(data_dir: Option<&Path>) -> Served {
    let options = DeployOptions {
        target_dir: Some(std::env::temp_dir().join("pragma-deploy-api-target")),
        ..DeployOptions::default()
    };
    serve_with(data_dir, options).await
}

async fn serve_with(data_dir: Option<&Path>, options: DeployOptions) -> Served {
    let platform = Platform::builder().in_memory().build().unwrap();
    let deployments =
        Deployments::open(platform.registry(), data_dir.map(Path::to_owned), options).unwrap();
    let app = deployments.router().fallback_service(platform.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let client = AsyncPragmaClient::builder()
        .base_url(format!("http://{addr}"))
        .no_auth()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Served {
        base: format!("http://{addr}"),
        client,
        deployments,
        task,
    }
}

type Tar = tar::Builder<flate2::write::GzEncoder<Vec<u8>>>;

fn tarball(build: impl FnOnce(&mut Tar)) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    build(&mut builder);
    builder.into_inner().unwrap().finish().unwrap()
}

fn raw_file(builder: &mut Tar, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

fn status_of(err: &pragma_sdk::Error) -> u16 {
    err.status().map(|s| s.as_u16()).unwrap_or(0)
}

#[tokio::test]
async fn unsafe_tarballs_are_refused_with_a_detail() {
    let served = serve(None).await;
    let client = &served.client;

    let escaping = tarball(|b| {
        raw_file(b, "Cargo.toml", b"[package]");
        raw_file(b, "../outside.rs", b"x");
    });
    let err = client.push_provider("evil", escaping).await.unwrap_err();
    assert_eq!(status_of(&err), 422, "{err}");
    assert!(err.detail().unwrap().to_string().contains(".."), "{err}");

    let absolute = tarball(|b| raw_file(b, "/tmp/pragma-evil", b"x"));
    let err = client.push_provider("evil", absolute).await.unwrap_err();
    assert_eq!(status_of(&err), 422, "{err}");
    assert!(
        err.detail().unwrap().to_string().contains("absolute"),
        "{err}"
    );
    assert!(!Path::new("/tmp/pragma-evil").exists());

    let link = tarball(|b| {
        raw_file(b, "Cargo.toml", b"[package]");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        b.append_link(&mut header, "src/lib.rs", "/etc/passwd")
            .unwrap();
    });
    let err = client.push_provider("evil", link).await.unwrap_err();
    assert_eq!(status_of(&err), 422, "{err}");
    assert!(
        err.detail().unwrap().to_string().contains("outside"),
        "{err}"
    );

    let garbage = client
        .push_provider("evil", b"no tarball here".to_vec())
        .await
        .unwrap_err();
    assert_eq!(status_of(&garbage), 400, "{garbage}");

    let no_manifest = tarball(|b| raw_file(b, "README.md", b"hi"));
    let err = client.push_provider("evil", no_manifest).await.unwrap_err();
    assert_eq!(status_of(&err), 422, "{err}");
    assert!(
        err.detail().unwrap().to_string().contains("Cargo.toml"),
        "{err}"
    );

    // Nothing refused left a build behind.
    assert!(client.list_builds("evil").await.unwrap().is_empty());
    served.task.abort();
}

#[tokio::test]
async fn unknown_things_are_not_found() {
    let served = serve(None).await;
    let client = &served.client;
    let err = client
        .get_build_status("ghost", "20260101.000000")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    let err = client
        .get_build_by_version("ghost", "20260101.000000")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    let err = client.deploy_provider("ghost", None).await.unwrap_err();
    assert_eq!(status_of(&err), 404);
    assert!(err
        .detail()
        .unwrap()
        .to_string()
        .contains("no successful build"));
    let err = client.get_deployment_status("ghost").await.unwrap_err();
    assert_eq!(status_of(&err), 404);
    let err = client.delete_provider("ghost", false).await.unwrap_err();
    assert_eq!(status_of(&err), 404);

    // The built-in provider is hosted in process: listed and available.
    let providers = client.list_providers().await.unwrap();
    let builtin = providers
        .iter()
        .find(|p| p.provider_id == "pragma")
        .unwrap();
    assert_eq!(builtin.deployment_status, Some(DeploymentStatus::Available));
    let status = client.get_deployment_status("pragma").await.unwrap();
    assert!(status.healthy);
    served.task.abort();
}

fn broken_crate() -> Vec<u8> {
    tarball(|b| {
        raw_file(
            b,
            "Cargo.toml",
            b"[package]\nname = \"broken-provider\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        raw_file(b, "src/main.rs", b"fn main() { this is not rust }\n");
    })
}

async fn wait_settled(
    client: &AsyncPragmaClient,
    id: &str,
    version: &str,
) -> pragma_sdk::models::BuildInfo {
    for _ in 0..600 {
        let build = client.get_build_status(id, version).await.unwrap();
        if matches!(build.status, BuildStatus::Success | BuildStatus::Failed) {
            return build;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("build {version} did not settle");
}

#[tokio::test]
async fn failed_builds_are_kept_with_their_logs_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(Some(dir.path())).await;
    let client = &served.client;

    let first = client
        .push_provider("broken", broken_crate())
        .await
        .unwrap();
    let second = client
        .push_provider("broken", broken_crate())
        .await
        .unwrap();
    assert_eq!(first.status, BuildStatus::Pending);
    assert_ne!(
        first.version, second.version,
        "two pushes in one second get two versions"
    );
    assert!(second.version > first.version);
    assert_eq!(first.version.len(), "YYYYMMDD.HHMMSS".len());
    assert_eq!(&first.version[8..9], ".");

    let build = wait_settled(client, "broken", &first.version).await;
    assert_eq!(build.status, BuildStatus::Failed);
    assert!(build.error_message.unwrap().contains("cargo build failed"));
    wait_settled(client, "broken", &second.version).await;

    let mut log = String::new();
    let mut lines = client
        .stream_build_logs("broken", &first.version)
        .await
        .unwrap();
    use futures_util::StreamExt;
    while let Some(line) = lines.next().await {
        log.push_str(&line.unwrap());
        log.push('\n');
    }
    assert!(log.contains("error"), "{log}");

    let err = client
        .deploy_provider("broken", Some(&first.version))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 400, "{err}");

    let builds = client.list_builds("broken").await.unwrap();
    assert_eq!(builds.len(), 2);
    assert_eq!(builds[0].version, second.version, "newest first");
    served.deployments.shutdown().await;
    served.task.abort();

    // A new platform on the same data dir sees the same builds and logs.
    let again = serve(Some(dir.path())).await;
    let builds = again.client.list_builds("broken").await.unwrap();
    assert_eq!(builds.len(), 2);
    assert_eq!(builds[1].status, BuildStatus::Failed);
    let third = again
        .client
        .push_provider("broken", broken_crate())
        .await
        .unwrap();
    assert!(
        third.version > second.version,
        "versions stay ordered after a restart"
    );
    let deleted = again.client.delete_provider("broken", false).await.unwrap();
    assert_eq!(deleted.resources_deleted, 0);
    assert!(!deleted.deployment_deleted);
    assert!(again.client.list_builds("broken").await.unwrap().is_empty());
    again.task.abort();
}

#[tokio::test]
async fn an_oversized_upload_is_refused() {
    let platform = Platform::builder().in_memory().build().unwrap();
    let options = DeployOptions {
        max_upload: 1024,
        ..DeployOptions::default()
    };
    let deployments = Deployments::open(platform.registry(), None, options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = deployments.router();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = AsyncPragmaClient::builder()
        .base_url(format!("http://{addr}"))
        .no_auth()
        .build()
        .unwrap();
    let mut big = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    big.write_all(&vec![7u8; 8192]).unwrap();
    let err = client
        .push_provider("big", big.finish().unwrap())
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 413, "{err}");
    task.abort();
}

fn tiny_crate() -> Vec<u8> {
    tarball(|b| {
        raw_file(
            b,
            "Cargo.toml",
            b"[package]\nname = \"pragma\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        raw_file(b, "src/main.rs", b"fn main() {}\n");
    })
}

#[tokio::test]
async fn the_builtin_provider_cannot_be_pushed_deployed_or_deleted() {
    let served = serve(None).await;
    let client = &served.client;

    let err = client
        .push_provider("pragma", tiny_crate())
        .await
        .unwrap_err();
    let (loc, msg, _) = first_violation(&err);
    assert_eq!(loc, ["path", "provider_id"], "{err}");
    assert!(msg.contains("built into the platform"), "{msg}");
    assert!(client.list_builds("pragma").await.unwrap().is_empty());

    let err = client
        .deploy_provider("pragma", Some("20260101.000000"))
        .await
        .unwrap_err();
    assert_eq!(first_violation(&err).0, ["path", "provider_id"], "{err}");
    let err = client.deploy_provider("pragma", None).await.unwrap_err();
    assert_eq!(first_violation(&err).0, ["path", "provider_id"], "{err}");

    for cascade in [false, true] {
        let err = client.delete_provider("pragma", cascade).await.unwrap_err();
        let (loc, msg, _) = first_violation(&err);
        assert_eq!(loc, ["path", "provider_id"], "{err}");
        assert!(
            msg.contains("cannot be pushed, deployed or deleted"),
            "{msg}"
        );
    }

    // The built-in provider is still hosted, with its secrets.
    let types = client.list_resource_types(Some("pragma")).await.unwrap();
    assert!(types.iter().any(|t| t.resource == "secret"), "{types:?}");
    let status = client.get_deployment_status("pragma").await.unwrap();
    assert!(status.healthy);
    served.task.abort();
}

fn symlink(builder: &mut Tar, path: &str, target: &str) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder.append_link(&mut header, path, target).unwrap();
}

#[tokio::test]
async fn refused_tarballs_name_the_entry_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(Some(dir.path())).await;
    let client = &served.client;
    let machine_paths = [
        dir.path().display().to_string(),
        std::fs::canonicalize(dir.path())
            .unwrap()
            .display()
            .to_string(),
    ];

    // A file where a directory is needed fails to unpack: named, without the server's paths.
    let clash = tarball(|b| {
        raw_file(b, "Cargo.toml", b"[package]");
        raw_file(b, "Cargo.toml/inner.rs", b"x");
    });
    let err = client.push_provider("evil", clash).await.unwrap_err();
    let (loc, msg, _) = first_violation(&err);
    assert_eq!(loc, ["body", "code"], "{err}");
    assert!(msg.contains("Cargo.toml/inner.rs"), "{msg}");
    for path in &machine_paths {
        assert!(!msg.contains(path.as_str()), "{msg}");
    }

    // A link reached through an earlier link would point out of the build directory.
    let chained = tarball(|b| {
        raw_file(b, "Cargo.toml", b"[package]");
        symlink(b, "sub/up", "..");
        symlink(b, "sub/up/escape", "../outside");
    });
    let err = client.push_provider("evil", chained).await.unwrap_err();
    let (loc, msg, _) = first_violation(&err);
    assert_eq!(loc, ["body", "code"], "{err}");
    assert!(
        msg.contains("sub/up/escape") && msg.contains("sub/up"),
        "{msg}"
    );

    let garbage = client
        .push_provider("evil", b"no tarball here".to_vec())
        .await
        .unwrap_err();
    assert_eq!(status_of(&garbage), 400, "{garbage}");

    assert!(client.list_builds("evil").await.unwrap().is_empty());
    let providers = dir.path().join("providers");
    assert!(providers.is_dir());
    assert!(
        !providers.join("evil").exists(),
        "a refused push left its provider directory behind"
    );
    assert!(!dir.path().join("outside").exists());
    served.task.abort();
}

#[tokio::test]
async fn malformed_requests_are_answered_with_a_validation_detail() {
    let served = serve(None).await;
    let http = reqwest::Client::new();
    let base = &served.base;
    let code = tarball(|b| raw_file(b, "Cargo.toml", b"[package]"));

    let no_boundary = http
        .post(format!("{base}/providers/p/push"))
        .header("content-type", "multipart/form-data")
        .body(code.clone());
    let not_multipart = http
        .post(format!("{base}/providers/p/push"))
        .header("content-type", "application/gzip")
        .body(code);
    let broken_multipart = http
        .post(format!("{base}/providers/p/push"))
        .header("content-type", "multipart/form-data; boundary=X")
        .body("--X\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\nabc");
    let cases = [
        (no_boundary, vec!["body"]),
        (not_multipart, vec!["body"]),
        (broken_multipart, vec!["body", "code"]),
        (
            http.delete(format!("{base}/providers/p?cascade=1&cascade=2")),
            vec!["query", "cascade"],
        ),
        (
            http.delete(format!("{base}/providers/p?cascade=%FF")),
            vec!["query", "cascade"],
        ),
        (
            http.get(format!("{base}/providers/%FF/builds")),
            vec!["path", "provider_id"],
        ),
        (
            http.get(format!("{base}/providers/p/builds/%FF")),
            vec!["path", "version"],
        ),
        (
            http.get(format!("{base}/providers/p/versions/%FF")),
            vec!["path", "version"],
        ),
        (
            http.get(format!("{base}/providers/p/builds/%FF/logs")),
            vec!["path", "version"],
        ),
        (
            http.get(format!("{base}/providers/%FF/deployment")),
            vec!["path", "provider_id"],
        ),
        (
            http.post(format!("{base}/providers/%FF/deploy")),
            vec!["path", "provider_id"],
        ),
        (
            http.post(format!("{base}/providers/%FF/push")),
            vec!["path", "provider_id"],
        ),
        (
            http.delete(format!("{base}/providers/%FF")),
            vec!["path", "provider_id"],
        ),
    ];
    for (request, loc) in cases {
        let request = request.build().unwrap();
        let shown = format!("{} {}", request.method(), request.url());
        let response = http.execute(request).await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 422, "{shown}: {text}");
        let body: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{shown}: not JSON ({err}): {text}"));
        let first = &body["detail"][0];
        assert_eq!(first["loc"], serde_json::json!(loc), "{shown}: {text}");
        assert!(
            first["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{shown}: {text}"
        );
        assert!(first["type"].is_string(), "{shown}: {text}");
    }
    assert!(served.client.list_builds("p").await.unwrap().is_empty());
    served.task.abort();
}

/// A stand-in for cargo, written to `dir`. In a build directory holding a file `hang` it
/// records its pid in `dir/cargo`, starts a long `sleep` (its pid in `dir/compiler`) and waits
/// for it; otherwise it prints the build and target dirs the way cargo does and reports
/// a built binary.
fn fake_cargo(dir: &Path) -> std::path::PathBuf {
    let pids = dir.display();
    let script = format!(
        r#"#!/bin/sh
manifest=
while [ $# -gt 0 ]; do
    if [ "$1" = --manifest-path ]; then manifest=$2; fi
    shift
done
if [ -e hang ]; then
    echo $$ >> '{pids}/cargo'
    sleep 300 &
    echo $! >> '{pids}/compiler'
    wait
fi
echo "   Compiling fake-provider v0.1.0 ($PWD)" >&2
echo "warning: unused file $CARGO_TARGET_DIR/release/.fingerprint" >&2
mkdir -p "$CARGO_TARGET_DIR/release"
printf '#!/bin/sh\n' > "$CARGO_TARGET_DIR/release/fake-provider"
chmod +x "$CARGO_TARGET_DIR/release/fake-provider"
printf '{{"reason":"compiler-artifact","manifest_path":"%s","executable":"%s"}}\n' \
    "$manifest" "$CARGO_TARGET_DIR/release/fake-provider"
"#
    );
    let path = dir.join("fake-cargo");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A crate for the fake cargo: one that hangs its build, or one that builds.
fn fake_crate(hang: bool) -> Vec<u8> {
    tarball(|b| {
        raw_file(
            b,
            "Cargo.toml",
            b"[package]\nname = \"fake-provider\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        raw_file(b, "src/main.rs", b"fn main() {}\n");
        if hang {
            raw_file(b, "hang", b"");
        }
    })
}

/// The pids the fake cargo recorded in `dir/name`.
fn recorded_pids(dir: &Path, name: &str) -> Vec<u32> {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_default()
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect()
}

/// Waits until the fake cargo has recorded its own pid and its compiler's, so that killing
/// it cannot come before it has started everything it starts.
async fn wait_for_pids(dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while recorded_pids(dir, "cargo").is_empty() || recorded_pids(dir, "compiler").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the fake cargo did not start its compiler"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether `pid` is gone (or only a zombie waiting for its new parent to reap it).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn all_gone(pids: &[u32]) -> bool {
    for _ in 0..50 {
        if pids.iter().all(|&pid| gone(pid)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn wait_status(client: &AsyncPragmaClient, id: &str, version: &str, status: BuildStatus) {
    for _ in 0..100 {
        if client.get_build_status(id, version).await.unwrap().status == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("build {version} of {id} never became {status:?}");
}

#[tokio::test]
async fn a_build_that_runs_too_long_is_killed_with_its_processes() {
    let scratch = tempfile::tempdir().unwrap();
    let options = DeployOptions {
        cargo: fake_cargo(scratch.path()),
        target_dir: Some(scratch.path().join("target")),
        build_timeout: Duration::from_secs(1),
        ..DeployOptions::default()
    };
    let served = serve_with(None, options).await;
    let client = &served.client;

    let hung = client
        .push_provider("slow", fake_crate(true))
        .await
        .unwrap();
    let next = client
        .push_provider("slow", fake_crate(false))
        .await
        .unwrap();
    let build = wait_settled(client, "slow", &hung.version).await;
    assert_eq!(build.status, BuildStatus::Failed);
    let message = build.error_message.unwrap();
    assert!(message.contains("timed out after 1 s"), "{message}");

    // Cargo and what it started are killed, not left behind.
    let mut pids = recorded_pids(scratch.path(), "cargo");
    pids.extend(recorded_pids(scratch.path(), "compiler"));
    assert_eq!(pids.len(), 2, "one cargo and its compiler");
    assert!(all_gone(&pids).await, "processes left running: {pids:?}");

    // The build queued behind it runs.
    let build = wait_settled(client, "slow", &next.version).await;
    assert_eq!(build.status, BuildStatus::Success, "{build:?}");
    served.task.abort();
}

#[tokio::test]
async fn deleting_a_provider_cancels_its_builds() {
    let scratch = tempfile::tempdir().unwrap();
    let options = DeployOptions {
        cargo: fake_cargo(scratch.path()),
        target_dir: Some(scratch.path().join("target")),
        ..DeployOptions::default()
    };
    let served = serve_with(None, options).await;
    let client = &served.client;

    let running = client
        .push_provider("stuck", fake_crate(true))
        .await
        .unwrap();
    wait_status(client, "stuck", &running.version, BuildStatus::Building).await;
    wait_for_pids(scratch.path()).await;
    let pending = client
        .push_provider("stuck", fake_crate(true))
        .await
        .unwrap();
    let other = client
        .push_provider("other", fake_crate(false))
        .await
        .unwrap();
    assert_eq!(
        client
            .get_build_status("stuck", &pending.version)
            .await
            .unwrap()
            .status,
        BuildStatus::Pending
    );

    let deleted = tokio::time::timeout(
        Duration::from_secs(10),
        client.delete_provider("stuck", false),
    )
    .await
    .expect("the delete does not wait for the hung build")
    .unwrap();
    assert_eq!(deleted.provider_id, "stuck");
    assert!(client.list_builds("stuck").await.unwrap().is_empty());

    let mut pids = recorded_pids(scratch.path(), "cargo");
    pids.extend(recorded_pids(scratch.path(), "compiler"));
    assert_eq!(
        pids.len(),
        2,
        "only the running build of the two started cargo"
    );
    assert!(all_gone(&pids).await, "processes left running: {pids:?}");

    // The pushes after it are no longer blocked.
    let build = wait_settled(client, "other", &other.version).await;
    assert_eq!(build.status, BuildStatus::Success, "{build:?}");
    served.task.abort();
}

/// Reads a build's whole log through the API.
async fn read_log(client: &AsyncPragmaClient, id: &str, version: &str) -> String {
    use futures_util::StreamExt;
    let mut log = String::new();
    let mut lines = client.stream_build_logs(id, version).await.unwrap();
    while let Some(line) = lines.next().await {
        log.push_str(&line.unwrap());
        log.push('\n');
    }
    log
}

#[tokio::test]
async fn build_logs_name_no_server_paths() {
    // Real cargo, with the target dir inside the data dir.
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with(Some(dir.path()), DeployOptions::default()).await;
    let client = &served.client;
    let machine_paths = [
        dir.path().display().to_string(),
        std::fs::canonicalize(dir.path())
            .unwrap()
            .display()
            .to_string(),
    ];
    let pushed = client
        .push_provider("broken", broken_crate())
        .await
        .unwrap();
    let live = read_log(client, "broken", &pushed.version).await;
    assert_eq!(
        wait_settled(client, "broken", &pushed.version).await.status,
        BuildStatus::Failed
    );
    let stored = read_log(client, "broken", &pushed.version).await;
    assert!(stored.contains("error"), "{stored}");
    assert!(stored.contains("<build>"), "{stored}");
    for log in [&live, &stored] {
        for path in &machine_paths {
            assert!(!log.contains(path.as_str()), "{path} in:\n{log}");
        }
    }
    served.task.abort();

    // A build that succeeds names its binary relative to the target dir.
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let options = DeployOptions {
        cargo: fake_cargo(scratch.path()),
        ..DeployOptions::default()
    };
    let served = serve_with(Some(dir.path()), options).await;
    let client = &served.client;
    let pushed = client
        .push_provider("fake", fake_crate(false))
        .await
        .unwrap();
    assert_eq!(
        wait_settled(client, "fake", &pushed.version).await.status,
        BuildStatus::Success
    );
    let log = read_log(client, "fake", &pushed.version).await;
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    for path in [dir.path(), canonical.as_path()] {
        assert!(!log.contains(&path.display().to_string()), "{log}");
    }
    assert!(
        log.contains("Compiling fake-provider v0.1.0 (<build>)"),
        "{log}"
    );
    assert!(
        log.contains("unused file <target>/release/.fingerprint"),
        "{log}"
    );
    assert!(log.contains("(target dir <target>)"), "{log}");
    assert!(
        log.contains("built <target>/release/fake-provider"),
        "{log}"
    );
    served.task.abort();
}

#[tokio::test]
async fn a_build_timeout_too_long_for_the_clock_means_no_timeout() {
    let scratch = tempfile::tempdir().unwrap();
    let options = DeployOptions {
        cargo: fake_cargo(scratch.path()),
        target_dir: Some(scratch.path().join("target")),
        build_timeout: Duration::MAX,
        ..DeployOptions::default()
    };
    let served = serve_with(None, options).await;
    let pushed = served
        .client
        .push_provider("patient", fake_crate(false))
        .await
        .unwrap();
    let build = wait_settled(&served.client, "patient", &pushed.version).await;
    assert_eq!(build.status, BuildStatus::Success, "{build:?}");
    served.task.abort();
}
