//! The sandbox provider on an ephemeral local platform, driven through the client: the
//! example manifests applied, everything ready and on disk, an update reaching its
//! dependent, everything deleted and the sandbox empty again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pragma_local::{EphemeralServer, Platform};
use pragma_sdk::authoring::Field;
use pragma_sdk::client::{ApplyMode, ListFilter};
use pragma_sdk::manifest::{self, Manifest};
use pragma_sdk::models::{LifecycleState, RawResource};
use pragma_sdk::{AsyncPragmaClient, ClientBuilder, Resource};
use rusqlite::Connection;
use sandbox_provider::{Database, Directory, DirectoryConfig, File};
use sha2::Digest;
use tempfile::TempDir;

fn manifests() -> Vec<Manifest> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    let mut all = manifest::read_file(dir.join("secrets.yaml")).unwrap();
    all.extend(manifest::read_file(dir.join("sandbox.yaml")).unwrap());
    all
}

async fn platform() -> (EphemeralServer, AsyncPragmaClient, TempDir) {
    let root = tempfile::tempdir().unwrap();
    let provider = sandbox_provider::provider(root.path()).unwrap();
    let server = Platform::builder()
        .provider(provider)
        .in_memory()
        .retry(1, Duration::from_millis(10))
        .build()
        .unwrap()
        .spawn_ephemeral()
        .await
        .unwrap();
    let client = ClientBuilder::new()
        .base_url(server.base_url())
        .no_auth()
        .build()
        .unwrap();
    (server, client, root)
}

/// Polls every resource until `done` holds, failing the test on a failed resource or after
/// ten seconds.
async fn until(
    client: &AsyncPragmaClient,
    done: impl Fn(&[RawResource]) -> bool,
) -> Vec<RawResource> {
    let started = Instant::now();
    loop {
        let resources = client.list_resources(&ListFilter::new()).await.unwrap();
        if let Some(failed) = resources
            .iter()
            .find(|r| r.lifecycle_state == LifecycleState::Failed)
        {
            panic!("{} failed: {:?}", failed.id(), failed.error);
        }
        if done(&resources) {
            return resources;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not done: {:?}",
            resources
                .iter()
                .map(|r| (r.name.clone(), r.lifecycle_state))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_ready(resources: &[RawResource]) -> bool {
    !resources.is_empty()
        && resources
            .iter()
            .all(|r| r.lifecycle_state == LifecycleState::Ready && r.pending_event_id.is_none())
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect()
}

#[tokio::test]
async fn the_example_manifests_go_through_their_whole_lifecycle() {
    let (server, client, root) = platform().await;
    let manifests = manifests();
    assert_eq!(manifests.len(), 7);
    for manifest in &manifests {
        client
            .apply_resource(&manifest.to_resource(LifecycleState::Pending))
            .await
            .unwrap();
    }
    let resources = until(&client, |r| r.len() == 8 && all_ready(r)).await;

    // Everything is on disk.
    let docs = root.path().join("docs");
    assert_eq!(
        std::fs::read_to_string(docs.join("greeting.txt")).unwrap(),
        "Hello from a pragma/secret value!"
    );
    let readme = std::fs::read(docs.join("README.txt")).unwrap();
    assert_eq!(
        std::fs::read_to_string(docs.join("README.txt.sha256")).unwrap(),
        sha256_hex(&readme)
    );
    let db = root.path().join("data/inventory.db");
    let connection = Connection::open(&db).unwrap();
    let digest: String = connection
        .query_row("SELECT password_sha256 FROM pragma_owner", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(digest, sha256_hex(b"correct-horse-battery-staple"));
    drop(connection);
    let schema = std::fs::read_to_string(root.path().join("data/inventory.db.schema.sql")).unwrap();
    assert!(schema.contains("CREATE TABLE \"items\""), "{schema}");

    // The schema file is a subresource owned by the database.
    let schema_file = resources
        .iter()
        .find(|r| r.name == "inventory-schema")
        .unwrap();
    assert_eq!(schema_file.owner_references[0].name, "inventory");
    let inventory = client.get::<Database>("inventory").await.unwrap();
    let outputs = inventory.outputs.unwrap();
    assert_eq!(outputs.tables, ["items", "suppliers"]);
    assert_eq!(outputs.path, db.display().to_string());

    // Changing the readme updates the file that references its digest.
    let mut readme: Resource<File> = client.get::<File>("readme").await.unwrap();
    let old_sha = readme.outputs.as_ref().unwrap().sha256.clone();
    readme.config.content = Field::Value("changed\n".to_owned());
    client.apply(&readme, ApplyMode::Queue).await.unwrap();
    let new_sha = sha256_hex(b"changed\n");
    let checksum_path = docs.join("README.txt.sha256");
    until(&client, |r| {
        all_ready(r) && std::fs::read_to_string(&checksum_path).unwrap() == new_sha
    })
    .await;
    assert_ne!(old_sha, new_sha);
    let checksum = client.get::<File>("readme-checksum").await.unwrap();
    assert_eq!(
        checksum.outputs.unwrap().sha256,
        sha256_hex(new_sha.as_bytes())
    );

    // A directory still in use cannot be deleted before what references it.
    let refused = client.delete_resource("sandbox", "directory", "docs").await;
    assert!(refused.unwrap_err().is_conflict());

    // Deleting in reverse order removes everything, the subresource with its owner.
    for manifest in manifests.iter().rev() {
        client
            .delete_resource(&manifest.provider, &manifest.resource, &manifest.name)
            .await
            .unwrap();
    }
    assert!(client
        .list_resources(&ListFilter::new())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(entries(root.path()), Vec::<PathBuf>::new());
    server.shutdown().await;
}

#[tokio::test]
async fn changing_a_directory_path_fails_the_resource_and_keeps_the_old_one() {
    let (server, client, root) = platform().await;
    let docs = Resource::<Directory>::new(
        "docs",
        DirectoryConfig {
            path: "docs".to_owned(),
        },
    );
    client.apply(&docs, ApplyMode::Queue).await.unwrap();
    until(&client, all_ready).await;
    assert!(root.path().join("docs").is_dir());

    let moved = Resource::<Directory>::new(
        "docs",
        DirectoryConfig {
            path: "elsewhere".to_owned(),
        },
    );
    client.apply(&moved, ApplyMode::Queue).await.unwrap();
    let started = Instant::now();
    let failed = loop {
        let status = client
            .get_resource_status("sandbox", "directory", "docs")
            .await
            .unwrap();
        if status.lifecycle_state == LifecycleState::Failed {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let error = failed.error.unwrap();
    assert!(error.contains("path is immutable"), "{error}");
    assert!(root.path().join("docs").is_dir());
    assert!(!root.path().join("elsewhere").exists());
    server.shutdown().await;
}

#[test]
fn the_quickstart_runs_and_leaves_the_sandbox_empty() {
    let root = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains('\x1b'), "plain output expected: {stdout}");
    for expected in [
        "[1/5] Apply the manifests",
        "8 resources ready",
        "sandbox/database/inventory",
        "tables         items, suppliers",
        "\"Hello from a pragma/secret value!\"",
        "tables items, pragma_owner, suppliers",
        "deleted sandbox/database/inventory  (with its subresource sandbox/file/inventory-schema)",
        "no resources left, and $ROOT holds nothing",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("sandbox/file/readme-checksum")
                && line.contains("outputs changed")),
        "the update never reached readme-checksum:\n{stdout}"
    );
    assert_eq!(entries(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn the_quickstart_reports_a_failing_resource_and_exits_non_zero() {
    // A file where the `docs` directory should be makes the directory fail.
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("docs"), "in the way").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("quickstart failed: resource sandbox/directory/docs (failed): creating"),
        "{stderr}"
    );
    assert!(stderr.contains("docs"), "{stderr}");
}
