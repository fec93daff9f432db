//! The sandbox root, and how relative paths from configs are confined to it.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use pragma_sdk::LifecycleError;

/// The directory everything the provider manages lives under.
///
/// Cheap to clone; clones share the path.
///
/// Limitation: confinement is checked on the paths as written (no absolute paths, no `..`,
/// no `.`); a symbolic link placed inside the root by someone else is followed.
#[derive(Debug, Clone)]
pub struct SandboxRoot {
    path: Arc<Path>,
}

impl SandboxRoot {
    /// A root at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SandboxRoot {
            path: Arc::from(path.into()),
        }
    }

    /// The root's own path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path `relative` (from the config field `field`) under the root.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::InvalidConfig`] naming the field when the path is empty, absolute,
    /// or has a `..` or `.` component.
    pub fn join(&self, field: &str, relative: &str) -> Result<PathBuf, LifecycleError> {
        Ok(self.path.join(checked_relative(field, relative)?))
    }
}

/// `relative` as a path that stays below whatever it is joined to.
///
/// # Errors
///
/// [`LifecycleError::InvalidConfig`] naming `field` when the path is empty, absolute, or has a
/// component other than a plain name.
pub(crate) fn checked_relative(field: &str, relative: &str) -> Result<PathBuf, LifecycleError> {
    if relative.is_empty() {
        return Err(LifecycleError::invalid_config(format!(
            "{field} must not be empty"
        )));
    }
    let path = Path::new(relative);
    let mut checked = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => checked.push(part),
            Component::RootDir | Component::Prefix(_) => {
                return Err(LifecycleError::invalid_config(format!(
                    "{field} {relative:?} is absolute; give a path relative to the sandbox root"
                )))
            }
            Component::ParentDir => {
                return Err(LifecycleError::invalid_config(format!(
                    "{field} {relative:?} contains `..`; paths must stay inside the sandbox root"
                )))
            }
            Component::CurDir => {
                return Err(LifecycleError::invalid_config(format!(
                    "{field} {relative:?} contains `.`; write the path without it"
                )))
            }
        }
    }
    if relative.contains("/./") || relative.starts_with("./") || relative.ends_with("/.") {
        return Err(LifecycleError::invalid_config(format!(
            "{field} {relative:?} contains `.`; write the path without it"
        )));
    }
    Ok(checked)
}

/// An infrastructure error for the I/O failure `err` while doing `what` on `path`.
pub(crate) fn io_error(what: &str, path: &Path, err: io::Error) -> LifecycleError {
    LifecycleError::with_source(format!("{what} {}: {err}", path.display()), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_are_accepted() {
        let root = SandboxRoot::new("/sandbox");
        assert_eq!(
            root.join("path", "a/b").unwrap(),
            PathBuf::from("/sandbox/a/b")
        );
    }

    #[test]
    fn escaping_paths_are_refused() {
        let root = SandboxRoot::new("/sandbox");
        for bad in ["", "/etc", "../up", "a/../../b", "./a", "a/./b"] {
            let err = root.join("path", bad).unwrap_err();
            assert!(
                matches!(err, LifecycleError::InvalidConfig { .. }),
                "{bad:?}: {err}"
            );
        }
    }
}
