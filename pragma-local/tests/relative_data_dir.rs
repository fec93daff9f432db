//! A platform given a relative data dir (as `serve`'s default `.pragma-local` is) builds
//! pushed providers like one given an absolute path.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use pragma_local::Platform;
use pragma_sdk::client::pack_directory;
use pragma_sdk::models::BuildStatus;
use pragma_sdk::AsyncPragmaClient;

/// `path` (absolute) written relative to the working directory, which the tests do not change.
fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.join(path.strip_prefix("/").unwrap())
}

/// A crate with a binary and no dependencies, which builds in a moment.
fn tiny_crate(dir: &Path) -> Vec<u8> {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"tiny-provider\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("src").join("main.rs"), "fn main() {}\n").unwrap();
    pack_directory(dir).unwrap()
}

#[tokio::test]
async fn a_relative_data_dir_builds_pushed_code() {
    let base = tempfile::tempdir().unwrap();
    let relative = relative_to_cwd(&base.path().join("state"));
    assert!(relative.is_relative());
    assert!(relative.components().any(|c| c == Component::ParentDir));

    let platform = Platform::builder().data_dir(&relative).build().unwrap();
    let absolute = std::fs::canonicalize(base.path()).unwrap().join("state");
    assert_eq!(platform.data_dir(), Some(absolute.as_path()));
    let server = platform.spawn_ephemeral().await.unwrap();
    let client = AsyncPragmaClient::builder()
        .base_url(server.base_url())
        .no_auth()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let pushed = client
        .push_provider("tiny", tiny_crate(&base.path().join("crate")))
        .await
        .unwrap();
    let mut build = client
        .get_build_status("tiny", &pushed.version)
        .await
        .unwrap();
    for _ in 0..1200 {
        if matches!(build.status, BuildStatus::Success | BuildStatus::Failed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        build = client
            .get_build_status("tiny", &pushed.version)
            .await
            .unwrap();
    }
    let mut log = String::new();
    let mut lines = client
        .stream_build_logs("tiny", &pushed.version)
        .await
        .unwrap();
    while let Some(line) = lines.next().await {
        log.push_str(&line.unwrap());
        log.push('\n');
    }
    assert_eq!(
        build.status,
        BuildStatus::Success,
        "{:?}\n{log}",
        build.error_message
    );
    assert!(
        absolute
            .join("providers")
            .join("tiny")
            .join(&pushed.version)
            .join("bin")
            .join("tiny-provider")
            .is_file(),
        "the built binary is kept in the data dir"
    );
    server.shutdown().await;
}
