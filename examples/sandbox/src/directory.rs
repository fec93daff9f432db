//! `sandbox/directory`: a directory at a fixed path under the sandbox root.

use std::io::ErrorKind;
use std::path::Path;

use pragma_sdk::{Config, Context, Lifecycle, LifecycleError, Outputs, ResourceType};

use crate::root::{io_error, SandboxRoot};

/// What a directory is: its path under the sandbox root.
#[derive(Config, Debug, Clone, PartialEq)]
pub struct DirectoryConfig {
    /// The path relative to the sandbox root (`reports`, `data/2026`); fixed once created.
    #[pragma(length(min = 1, max = 255))]
    pub path: String,
}

/// What a directory exposes.
#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct DirectoryOutputs {
    /// The directory's full path on the machine.
    pub path: String,
}

/// A directory under the sandbox root. Deleting it removes it only when it is empty.
#[derive(ResourceType, Debug, Clone)]
#[pragma(provider = "sandbox", resource = "directory", config = DirectoryConfig, outputs = DirectoryOutputs)]
pub struct Directory {
    root: SandboxRoot,
}

impl Directory {
    /// The handler for directories under `root`.
    pub fn new(root: SandboxRoot) -> Self {
        Directory { root }
    }

    fn create(&self, config: &DirectoryConfig) -> Result<DirectoryOutputs, LifecycleError> {
        let path = self.root.join("path", &config.path)?;
        std::fs::create_dir_all(&path).map_err(|err| io_error("creating", &path, err))?;
        if !path.is_dir() {
            return Err(LifecycleError::infrastructure(format!(
                "{} exists and is not a directory",
                path.display()
            )));
        }
        Ok(DirectoryOutputs {
            path: path.display().to_string(),
        })
    }
}

/// Removes the directory `path` if it is empty; a missing directory is fine.
fn remove_empty_dir(path: &Path) -> Result<(), LifecycleError> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) if err.kind() == ErrorKind::DirectoryNotEmpty => {
            let mut left: Vec<String> = std::fs::read_dir(path)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|entry| entry.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            left.sort();
            Err(LifecycleError::infrastructure(format!(
                "{} is not empty (it holds {}); delete what is in it first",
                path.display(),
                left.join(", ")
            )))
        }
        Err(err) => Err(io_error("removing", path, err)),
    }
}

impl Lifecycle for Directory {
    async fn on_create(&self, cx: &Context<Self>) -> Result<DirectoryOutputs, LifecycleError> {
        self.create(cx.config())
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        previous: &DirectoryConfig,
    ) -> Result<DirectoryOutputs, LifecycleError> {
        if previous.path != cx.config().path {
            return Err(LifecycleError::invalid_config(format!(
                "path is immutable: it was {:?} and cannot become {:?}; create another directory instead",
                previous.path,
                cx.config().path
            )));
        }
        self.create(cx.config())
    }

    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        let path = self.root.join("path", &cx.config().path)?;
        remove_empty_dir(&path)
    }
}
