//! Packing a provider's source directory into the gzipped tarball that
//! [`push_provider`](crate::AsyncPragmaClient::push_provider) uploads.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::client::Error;

/// Directory names left out of the tarball wherever they occur.
const SKIPPED_DIRS: [&str; 2] = ["target", ".git"];

/// Packs the directory at `root` into a gzipped tarball, paths relative to `root`.
///
/// Directories named `target` or `.git` are left out at every depth. Entries are written in
/// name order with modification time 0, so the same tree gives the same bytes. A symbolic
/// link is kept as a link when it points to something inside `root`.
///
/// # Errors
///
/// [`Error::Io`] naming the path that could not be read; [`Error::InvalidArgument`] when
/// `root` is not a directory or a symbolic link points outside it (or nowhere).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("Cargo.toml"), "[package]\n").unwrap();
/// let tarball = pragma_sdk::client::pack_directory(dir.path()).unwrap();
/// assert_eq!(&tarball[..2], &[0x1f, 0x8b]); // gzip magic
/// ```
pub fn pack_directory(root: impl AsRef<Path>) -> Result<Vec<u8>, Error> {
    let root = root.as_ref();
    let canonical_root = fs::canonicalize(root).map_err(|source| io_error(root, source))?;
    if !canonical_root.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a directory",
            root.display()
        )));
    }

    let encoder = GzEncoder::new(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    add_directory(
        &mut builder,
        &canonical_root,
        &canonical_root,
        Path::new(""),
    )?;

    let encoder = builder
        .into_inner()
        .map_err(|source| io_error(root, source))?;
    let mut bytes = encoder.finish().map_err(|source| io_error(root, source))?;
    bytes.flush().map_err(|source| io_error(root, source))?;
    Ok(bytes)
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn add_directory<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    dir: &Path,
    relative: &Path,
) -> Result<(), Error> {
    let mut entries = fs::read_dir(dir)
        .map_err(|source| io_error(dir, source))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<PathBuf>, _>>()
        .map_err(|source| io_error(dir, source))?;
    entries.sort();

    for path in entries {
        let Some(name) = path.file_name() else {
            continue;
        };
        let entry_name = relative.join(name);
        let metadata = fs::symlink_metadata(&path).map_err(|source| io_error(&path, source))?;
        let file_type = metadata.file_type();

        if file_type.is_symlink() {
            add_symlink(builder, root, &path, &entry_name)?;
        } else if file_type.is_dir() {
            if SKIPPED_DIRS.iter().any(|skipped| name == *skipped) {
                continue;
            }
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            header.set_mtime(0);
            builder
                .append_data(&mut header, &entry_name, std::io::empty())
                .map_err(|source| io_error(&path, source))?;
            add_directory(builder, root, &path, &entry_name)?;
        } else if file_type.is_file() {
            let file = fs::File::open(&path).map_err(|source| io_error(&path, source))?;
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(file_mode(&metadata));
            header.set_size(metadata.len());
            header.set_mtime(0);
            builder
                .append_data(&mut header, &entry_name, file)
                .map_err(|source| io_error(&path, source))?;
        }
    }
    Ok(())
}

fn add_symlink<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    path: &Path,
    entry_name: &Path,
) -> Result<(), Error> {
    let target = fs::read_link(path).map_err(|source| io_error(path, source))?;
    let resolved = fs::canonicalize(path).map_err(|_| {
        Error::InvalidArgument(format!(
            "symbolic link {} points to {}, which does not exist",
            path.display(),
            target.display()
        ))
    })?;
    let escapes = target.is_absolute()
        || !resolved.starts_with(root)
        || target
            .components()
            .any(|component| matches!(component, Component::Prefix(_) | Component::RootDir));
    if escapes {
        return Err(Error::InvalidArgument(format!(
            "symbolic link {} points to {}, outside the directory being packed",
            path.display(),
            target.display()
        )));
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_mode(0o777);
    header.set_size(0);
    header.set_mtime(0);
    builder
        .append_link(&mut header, entry_name, &target)
        .map_err(|source| io_error(path, source))
}

#[cfg(unix)]
fn file_mode(metadata: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if metadata.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

#[cfg(not(unix))]
fn file_mode(_metadata: &fs::Metadata) -> u32 {
    0o644
}
