//! Unpacking pushed code: a gzipped tarball confined to its build directory.
//!
//! Every entry is checked before it is written: its path must be relative without `..`, must
//! not pass through (or replace) a symbolic link made by an earlier entry, and a link must
//! point inside the build directory without resolving through another link. Refusals and
//! failures name the entry, never the server's directories.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

/// Why a pushed tarball was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TarballError {
    /// The upload is not a readable gzipped tarball.
    #[error("not a gzipped tarball: {0}")]
    Unreadable(String),
    /// An entry would land outside the build directory, or is of a refused kind.
    #[error("entry {entry:?} refused: {reason}")]
    Unsafe {
        /// The entry's path.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The unpacked content exceeds the limit.
    #[error("unpacked content exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// No `Cargo.toml` at the root.
    #[error("the tarball has no Cargo.toml at its root")]
    NoManifest,
    /// An entry could not be written, e.g. a file where an earlier entry left a directory.
    #[error("entry {entry:?} could not be unpacked: {reason}")]
    Unpack {
        /// The entry's path.
        entry: String,
        /// What failed, without the server's paths.
        reason: String,
    },
    /// The build directory could not be created.
    #[error("cannot unpack: {0}")]
    Io(String),
}

/// The relative, normalized form of `path`, or why it is not confined.
fn confined(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("the path contains \"..\"".into()),
            Component::RootDir | Component::Prefix(_) => return Err("the path is absolute".into()),
        }
    }
    Ok(out)
}

/// The link made by an earlier entry that `path` (relative, normalized) passes through or
/// replaces, if any.
fn earlier_link<'l>(path: &Path, links: &'l HashSet<PathBuf>) -> Option<&'l PathBuf> {
    path.ancestors()
        .filter(|ancestor| !ancestor.as_os_str().is_empty())
        .find_map(|ancestor| links.get(ancestor))
}

/// Checks that the link at `entry` pointing to `target` stays inside the root: lexically, and
/// without resolving through a link made by an earlier entry (after which `..` would climb
/// from wherever that link leads).
fn check_link_target(entry: &Path, target: &Path, links: &HashSet<PathBuf>) -> Result<(), String> {
    let outside = || {
        format!(
            "the link points outside the build directory ({})",
            target.display()
        )
    };
    if target.is_absolute() {
        return Err(outside());
    }
    let mut depth: PathBuf = entry.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut components = target.components().peekable();
    while let Some(component) = components.next() {
        match component {
            Component::Normal(part) => {
                depth.push(part);
                if components.peek().is_some() && links.contains(&depth) {
                    return Err(format!(
                        "the link target {} resolves through the link {} made by an earlier entry",
                        target.display(),
                        depth.display()
                    ));
                }
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if !depth.pop() {
                    return Err(outside());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    Ok(())
}

/// Unpacks `gzipped` into `dest` (created), refusing absolute paths, `..`, links that point
/// out, device and fifo entries, and more than `limit` unpacked bytes. On any refusal `dest`
/// is removed again.
///
/// # Errors
///
/// See [`TarballError`].
pub fn unpack(gzipped: &[u8], dest: &Path, limit: u64) -> Result<(), TarballError> {
    let result = unpack_inner(gzipped, dest, limit);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}

fn unpack_inner(gzipped: &[u8], dest: &Path, limit: u64) -> Result<(), TarballError> {
    std::fs::create_dir_all(dest).map_err(|e| TarballError::Io(e.kind().to_string()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(gzipped));
    archive.set_preserve_permissions(false);
    archive.set_overwrite(true);
    let entries = archive
        .entries()
        .map_err(|e| TarballError::Unreadable(e.to_string()))?;
    let mut total: u64 = 0;
    let mut saw_manifest = false;
    // The symbolic links unpacked so far, relative to `dest`.
    let mut links: HashSet<PathBuf> = HashSet::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| TarballError::Unreadable(e.to_string()))?;
        let raw_path = entry
            .path()
            .map_err(|e| TarballError::Unreadable(e.to_string()))?
            .into_owned();
        let shown = raw_path.display().to_string();
        let unsafe_entry = |reason: String| TarballError::Unsafe {
            entry: shown.clone(),
            reason,
        };
        let path = confined(&raw_path).map_err(unsafe_entry)?;
        if path.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        if let Some(link) = earlier_link(&path, &links) {
            return Err(unsafe_entry(format!(
                "the path passes through or replaces the link {} made by an earlier entry",
                link.display()
            )));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| TarballError::Unreadable(e.to_string()))?
                .ok_or_else(|| unsafe_entry("a link without a target".into()))?
                .into_owned();
            if kind.is_hard_link() {
                let inside = confined(&target).map_err(|_| {
                    unsafe_entry(format!(
                        "the link points outside the build directory ({})",
                        target.display()
                    ))
                })?;
                // A hard link to a symbolic link is a second symbolic link, read from its new
                // place, so its target may not be, or pass through, an earlier link at all.
                if let Some(link) = earlier_link(&inside, &links) {
                    return Err(unsafe_entry(format!(
                        "the link target {} is or passes through the link {} made by an earlier entry",
                        target.display(),
                        link.display()
                    )));
                }
            } else {
                check_link_target(&path, &target, &links).map_err(unsafe_entry)?;
            }
        } else if !(kind.is_file() || kind.is_dir() || kind == tar::EntryType::Continuous) {
            if kind.is_pax_global_extensions()
                || kind.is_pax_local_extensions()
                || kind.is_gnu_longname()
                || kind.is_gnu_longlink()
            {
                continue;
            }
            return Err(unsafe_entry(format!(
                "entries of kind {kind:?} are not allowed"
            )));
        }

        total = total.saturating_add(entry.size());
        if total > limit {
            return Err(TarballError::TooLarge { limit });
        }
        if path == Path::new("Cargo.toml") && kind.is_file() {
            saw_manifest = true;
        }
        // The error's text names the server's directories; only its kind is passed on.
        let ok = entry.unpack_in(dest).map_err(|e| TarballError::Unpack {
            entry: shown.clone(),
            reason: e.kind().to_string(),
        })?;
        if !ok {
            return Err(unsafe_entry("the path leaves the build directory".into()));
        }
        if kind.is_symlink() {
            links.insert(path);
        }
    }
    // Reading the rest makes a truncated gzip stream an error rather than a silent stop.
    let mut rest = Vec::new();
    let _ = archive.into_inner().read_to_end(&mut rest);
    if !saw_manifest {
        return Err(TarballError::NoManifest);
    }
    // Links made later can change where an earlier link leads, so every link is followed
    // once the whole tree is there; each must end inside it, and the manifest must be a file.
    let root = std::fs::canonicalize(dest).map_err(|e| TarballError::Io(e.kind().to_string()))?;
    check_links_resolve_inside(&root, &root)?;
    let manifest = std::fs::symlink_metadata(root.join("Cargo.toml"))
        .map_err(|e| TarballError::Io(e.kind().to_string()))?;
    if !manifest.is_file() {
        return Err(TarballError::NoManifest);
    }
    Ok(())
}

/// Follows every symbolic link under `dir` (without descending through links) and fails on
/// the first that leads outside `root` or nowhere.
fn check_links_resolve_inside(root: &Path, dir: &Path) -> Result<(), TarballError> {
    let io = |e: std::io::Error| TarballError::Io(e.kind().to_string());
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if kind.is_symlink() {
            let inside = std::fs::canonicalize(&path)
                .map(|target| target.starts_with(root))
                .unwrap_or(false);
            if !inside {
                return Err(TarballError::Unsafe {
                    entry: shown,
                    reason: "the link leads outside the build directory, or nowhere".into(),
                });
            }
        } else if kind.is_dir() {
            check_links_resolve_inside(root, &path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Tar = tar::Builder<flate2::write::GzEncoder<Vec<u8>>>;

    fn tarball(build: impl FnOnce(&mut Tar)) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        build(&mut builder);
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn file(builder: &mut Tar, path: &str, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Written raw so that unsafe paths reach the archive.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    #[test]
    fn unpacks_a_crate() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("src");
        let bytes = tarball(|b| {
            file(b, "Cargo.toml", b"[package]");
            file(b, "src/main.rs", b"fn main() {}");
        });
        unpack(&bytes, &dest, 1 << 20).unwrap();
        assert_eq!(
            std::fs::read(dest.join("src/main.rs")).unwrap(),
            b"fn main() {}"
        );
    }

    #[test]
    fn refuses_parent_and_absolute_paths() {
        for bad in ["../evil.rs", "/etc/evil", "src/../../evil"] {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("src");
            let bytes = tarball(|b| {
                file(b, "Cargo.toml", b"[package]");
                file(b, bad, b"x");
            });
            let err = unpack(&bytes, &dest, 1 << 20).unwrap_err();
            assert!(matches!(err, TarballError::Unsafe { .. }), "{bad}: {err:?}");
            assert!(!dest.exists());
            assert!(!dir.path().join("evil.rs").exists());
        }
    }

    #[test]
    fn refuses_links_pointing_out() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("src");
        let bytes = tarball(|b| {
            file(b, "Cargo.toml", b"[package]");
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            b.append_link(&mut header, "sub/escape", "../../outside")
                .unwrap();
        });
        let err = unpack(&bytes, &dest, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
    }

    fn link(builder: &mut Tar, path: &str, to: &str) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, path, to).unwrap();
    }

    #[test]
    fn refuses_entries_through_earlier_links() {
        // What each case shows, and the entries it adds after Cargo.toml.
        type Case = (&'static str, fn(&mut Tar));
        let cases: [Case; 5] = [
            // sub/up leads to the root, so sub/up/escape -> ../outside leads out.
            ("link through a link", |b| {
                link(b, "sub/up", "..");
                link(b, "sub/up/escape", "../outside");
            }),
            ("link target through a link", |b| {
                link(b, "sub/up", "..");
                link(b, "escape", "sub/up/../outside");
            }),
            ("file through a link", |b| {
                link(b, "sub/up", "..");
                file(b, "sub/up/main.rs", b"x");
            }),
            ("hard link through a link", |b| {
                link(b, "sub/up", "..");
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                b.append_link(&mut header, "manifest", "sub/up/Cargo.toml")
                    .unwrap();
            }),
            // A hard link to sub/up is a second `..` link, at the root, pointing outside.
            ("hard link to a link", |b| {
                link(b, "sub/up", "..");
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                b.append_link(&mut header, "top", "sub/up").unwrap();
            }),
        ];
        for (what, build) in cases {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("build");
            std::fs::create_dir(&root).unwrap();
            let dest = root.join("src");
            let bytes = tarball(|b| {
                file(b, "Cargo.toml", b"[package]");
                build(b);
            });
            let err = unpack(&bytes, &dest, 1 << 20).unwrap_err();
            assert!(
                matches!(err, TarballError::Unsafe { .. }),
                "{what}: {err:?}"
            );
            assert!(
                err.to_string().contains("made by an earlier entry"),
                "{what}: {err}"
            );
            assert!(!dest.exists(), "{what}");
            assert!(!root.join("outside").exists(), "{what}");
        }
    }

    #[test]
    fn links_made_later_cannot_turn_an_earlier_one_outward() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("build").join("src");
        let bytes = tarball(|b| {
            file(b, "Cargo.toml", b"[package]");
            // Lexically inside when it is made; once a..e all lead to the root, the five
            // `..` climb above it.
            link(b, "Cargo.toml", "a/b/c/d/e/../../../../../victim.txt");
            for name in ["a", "b", "c", "d", "e"] {
                link(b, name, ".");
            }
            file(b, "src/main.rs", b"fn main() {}");
        });
        let err = unpack(&bytes, &dest, 1 << 20).unwrap_err();
        let TarballError::Unsafe { entry, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(entry, "Cargo.toml");
        assert!(reason.contains("outside the build directory"), "{reason}");
        assert!(!dest.exists(), "a refused tarball leaves nothing");

        // A link to a directory inside, made before its target, is fine.
        let bytes = tarball(|b| {
            file(b, "Cargo.toml", b"[package]");
            link(b, "docs", "book/src");
            file(b, "book/src/intro.md", b"hello");
        });
        unpack(&bytes, &dest, 1 << 20).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.join("docs/intro.md")).unwrap(),
            "hello"
        );
    }

    #[test]
    fn a_failed_entry_is_named_without_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("src");
        let bytes = tarball(|b| {
            file(b, "Cargo.toml", b"[package]");
            file(b, "Cargo.toml/inner.rs", b"x");
        });
        let err = unpack(&bytes, &dest, 1 << 20).unwrap_err();
        let TarballError::Unpack { entry, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(entry, "Cargo.toml/inner.rs");
        assert!(!reason.is_empty());
        assert!(
            !err.to_string().contains(&*dir.path().to_string_lossy()),
            "{err}"
        );
        assert!(!dest.exists());
    }

    #[test]
    fn keeps_links_inside() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("src");
        let bytes = tarball(|b| {
            file(b, "Cargo.toml", b"[package]");
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            b.append_link(&mut header, "sub/manifest", "../Cargo.toml")
                .unwrap();
        });
        unpack(&bytes, &dest, 1 << 20).unwrap();
    }

    #[test]
    fn refuses_too_much_and_garbage_and_no_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let big = tarball(|b| file(b, "Cargo.toml", &[b'x'; 2048]));
        assert_eq!(
            unpack(&big, &dir.path().join("a"), 1024).unwrap_err(),
            TarballError::TooLarge { limit: 1024 }
        );
        assert!(matches!(
            unpack(b"not gzip", &dir.path().join("b"), 1024).unwrap_err(),
            TarballError::Unreadable(_)
        ));
        let none = tarball(|b| file(b, "README", b"hi"));
        assert_eq!(
            unpack(&none, &dir.path().join("c"), 1024).unwrap_err(),
            TarballError::NoManifest
        );
    }
}
