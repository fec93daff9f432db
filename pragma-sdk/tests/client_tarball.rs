//! Packing a provider directory and pushing it.

mod client_support;

use std::fs;
use std::io::Read;

use client_support::*;
use pragma_sdk::client::pack_directory;
use pragma_sdk::Error;

fn entries(tarball: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let kind = entry.header().entry_type();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (path, kind, data)
        })
        .collect()
}

fn provider_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("Cargo.toml"), "[package]\nname = \"mycloud\"\n").unwrap();
    fs::create_dir_all(root.join("src/nested/target")).unwrap();
    fs::write(root.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    fs::write(root.join("src/nested/target/junk"), "x").unwrap();
    fs::create_dir_all(root.join("target/debug")).unwrap();
    fs::write(root.join("target/debug/big"), vec![0u8; 1 << 16]).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(root.join("targets.txt"), "not a directory called target\n").unwrap();
    dir
}

#[test]
fn packing_skips_target_and_git_and_keeps_the_rest() {
    let dir = provider_dir();
    #[cfg(unix)]
    std::os::unix::fs::symlink("src/lib.rs", dir.path().join("lib-link.rs")).unwrap();

    let tarball = pack_directory(dir.path()).unwrap();
    let listed = entries(&tarball);
    let names: Vec<&str> = listed.iter().map(|(name, _, _)| name.as_str()).collect();

    let mut expected = vec!["Cargo.toml"];
    #[cfg(unix)]
    expected.push("lib-link.rs");
    expected.extend(["src", "src/lib.rs", "src/nested", "targets.txt"]);
    assert_eq!(names, expected);

    let lib = listed
        .iter()
        .find(|(name, _, _)| name == "src/lib.rs")
        .unwrap();
    assert_eq!(lib.2, b"pub fn f() {}\n");
    #[cfg(unix)]
    {
        let link = listed
            .iter()
            .find(|(name, _, _)| name == "lib-link.rs")
            .unwrap();
        assert_eq!(link.1, tar::EntryType::Symlink);
    }

    assert_eq!(
        pack_directory(dir.path()).unwrap(),
        tarball,
        "packing is deterministic"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_pointing_outside_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "s").unwrap();

    for target in [
        outside.path().join("secret"),
        "../../etc/passwd".into(),
        "missing-file".into(),
    ] {
        let dir = provider_dir();
        std::os::unix::fs::symlink(&target, dir.path().join("src/link")).unwrap();
        let err = pack_directory(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "{target:?}: {err:?}"
        );
        assert!(err.to_string().contains("src/link"), "{err}");
    }
}

#[test]
fn packing_a_missing_directory_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = pack_directory(&missing).unwrap_err();
    let Error::Io { path, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, &missing);

    let file = dir.path().join("file");
    fs::write(&file, "x").unwrap();
    assert!(matches!(
        pack_directory(&file),
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn a_packed_directory_is_pushed_as_the_code_field() {
    let server = TestServer::start(|_| Reply::json(202, PUSH)).await;
    let dir = provider_dir();
    let tarball = pack_directory(dir.path()).unwrap();

    let pushed = server
        .client()
        .push_provider("mycloud", tarball.clone())
        .await
        .unwrap();
    assert_eq!(pushed.version, "20260102.030405");

    let request = server.last();
    assert_eq!(request.path, "/providers/mycloud/push");
    let boundary = request
        .header("content-type")
        .unwrap()
        .split("boundary=")
        .nth(1)
        .unwrap()
        .to_owned();
    let head = "Content-Disposition: form-data; name=\"code\"; filename=\"code.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\n";
    let start = request
        .body
        .windows(head.len())
        .position(|w| w == head.as_bytes())
        .unwrap()
        + head.len();
    let end_marker = format!("\r\n--{boundary}--");
    let end = request
        .body
        .windows(end_marker.len())
        .rposition(|w| w == end_marker.as_bytes())
        .unwrap();
    assert_eq!(&request.body[start..end], tarball.as_slice());
}
