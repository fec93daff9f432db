//! Unpacking pushed code: a gzipped tarball confined to its build directory.

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
    /// Writing failed.
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

/// Whether the link at `entry` pointing to `target` stays inside the root.
fn link_stays_inside(entry: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<&std::ffi::OsStr> = entry
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(part) => Some(part),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for component in target.components() {
        match component {
            Component::Normal(part) => depth.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
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
    std::fs::create_dir_all(dest).map_err(|e| TarballError::Io(e.to_string()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(gzipped));
    archive.set_preserve_permissions(false);
    archive.set_overwrite(true);
    let entries = archive
        .entries()
        .map_err(|e| TarballError::Unreadable(e.to_string()))?;
    let mut total: u64 = 0;
    let mut saw_manifest = false;
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
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| TarballError::Unreadable(e.to_string()))?
                .ok_or_else(|| unsafe_entry("a link without a target".into()))?
                .into_owned();
            let inside = if kind.is_hard_link() {
                confined(&target).is_ok()
            } else {
                link_stays_inside(&path, &target)
            };
            if !inside {
                return Err(unsafe_entry(format!(
                    "the link points outside the build directory ({})",
                    target.display()
                )));
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
        let ok = entry
            .unpack_in(dest)
            .map_err(|e| TarballError::Io(format!("{shown}: {e}")))?;
        if !ok {
            return Err(unsafe_entry("the path leaves the build directory".into()));
        }
    }
    // Reading the rest makes a truncated gzip stream an error rather than a silent stop.
    let mut rest = Vec::new();
    let _ = archive.into_inner().read_to_end(&mut rest);
    if !saw_manifest {
        return Err(TarballError::NoManifest);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(
        build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>),
    ) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        build(&mut builder);
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn file(
        builder: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
        path: &str,
        data: &[u8],
    ) {
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
