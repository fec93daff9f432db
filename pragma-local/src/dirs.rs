//! The directories the platform keeps its state in. Each is created and made absolute once,
//! when the platform is built, so that every path derived from it (the store, pushed code,
//! the cargo target dir, worker sockets) means the same thing whatever directory a child
//! process runs in.

use std::path::{Path, PathBuf};

/// Creates `dir` (with its parents) if needed and returns its absolute, canonical form.
/// Directories it creates are readable by their owner only: the state they hold includes
/// secret values.
///
/// # Errors
///
/// The I/O error of creating or resolving `dir`, as text.
pub(crate) fn absolute_dir(dir: &Path) -> Result<PathBuf, String> {
    create_private(dir).map_err(|err| format!("cannot create it: {err}"))?;
    std::fs::canonicalize(dir).map_err(|err| format!("cannot resolve it: {err}"))
}

/// Creates `dir` and its missing parents, readable by their owner only; an existing `dir`
/// is left as it is.
///
/// # Errors
///
/// The I/O error of creating it.
pub(crate) fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes `dir` readable by its owner only when others could read it, as a data directory
/// made before (or by hand) may be: it holds secret values in clear.
///
/// # Errors
///
/// The I/O error of reading or changing its permissions, as text.
pub(crate) fn restrict_to_owner(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|err| format!("cannot read its permissions: {err}"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|err| format!("cannot make it private: {err}"))?;
            tracing::warn!(
                mode = format!("{:o}", mode & 0o777),
                "the data directory was open to others; it is now readable by its owner only"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `path` (absolute) as a path relative to the working directory of the tests.
    fn relative_to_cwd(path: &Path) -> PathBuf {
        let cwd = std::env::current_dir().unwrap();
        let mut relative = PathBuf::new();
        for _ in cwd.components().skip(1) {
            relative.push("..");
        }
        relative.join(path.strip_prefix("/").unwrap())
    }

    #[test]
    fn a_relative_dir_is_created_and_made_absolute() {
        let base = tempfile::tempdir().unwrap();
        let relative = relative_to_cwd(&base.path().join("state"));
        assert!(relative.is_relative());
        let absolute = absolute_dir(&relative).unwrap();
        assert!(absolute.is_absolute(), "{}", absolute.display());
        assert!(absolute.is_dir());
        assert_eq!(
            absolute,
            std::fs::canonicalize(base.path()).unwrap().join("state")
        );
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let base = tempfile::tempdir().unwrap();
        let file = base.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = absolute_dir(&file.join("sub")).unwrap_err();
        assert!(err.starts_with("cannot create it"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_data_dir_open_to_others_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("open");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        restrict_to_owner(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
