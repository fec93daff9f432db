//! `sandbox/file`: a file with some content in a directory it depends on.

use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};

use pragma_sdk::authoring::{Dependency, Field};
use pragma_sdk::{Config, Context, Lifecycle, LifecycleError, Outputs, ResourceType};
use sha2::{Digest, Sha256};

use crate::directory::Directory;
use crate::root::{checked_relative, io_error, SandboxRoot};

/// What a file is: where it lives and what it holds.
#[derive(Config, Debug, Clone)]
pub struct FileConfig {
    /// The directory the file lives in.
    pub directory: Dependency<Directory>,
    /// The file's name, or a relative path inside the directory.
    #[pragma(length(min = 1, max = 255))]
    pub name: String,
    /// What the file holds: a literal, or a reference to a secret's value or another
    /// resource's output.
    pub content: Field<String>,
}

/// What a file exposes.
#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct FileOutputs {
    /// The file's full path on the machine.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 digest of its content, in lower-case hex.
    pub sha256: String,
}

/// A file in a [`Directory`]. Changing its content changes its `size` and `sha256`, which
/// updates whatever references them.
#[derive(ResourceType, Debug, Clone)]
#[pragma(provider = "sandbox", resource = "file", config = FileConfig, outputs = FileOutputs)]
pub struct File {
    root: SandboxRoot,
}

/// The SHA-256 digest of `bytes` in lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Writes `content` to `path` through a temporary file and a rename, so a reader never sees
/// half of it; a file that already holds `content` is left alone.
pub(crate) fn write_file(path: &Path, content: &[u8]) -> Result<(), LifecycleError> {
    match std::fs::read(path) {
        Ok(existing) if existing == content => return Ok(()),
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(io_error("reading", path, err)),
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|err| io_error("creating", parent, err))?;
    let mut temporary = tempfile::NamedTempFile::new_in(parent)
        .map_err(|err| io_error("creating a temporary file in", parent, err))?;
    temporary
        .write_all(content)
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(|err| io_error("writing", temporary.path(), err))?;
    temporary
        .persist(path)
        .map_err(|err| io_error("replacing", path, err.error))?;
    Ok(())
}

/// Removes the file `path`; a missing file is fine.
pub(crate) fn remove_file(path: &Path) -> Result<(), LifecycleError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_error("removing", path, err)),
    }
}

impl File {
    /// The handler for files under `root`.
    pub fn new(root: SandboxRoot) -> Self {
        File { root }
    }

    /// Where the file of `config` lives.
    fn location(&self, config: &FileConfig) -> Result<PathBuf, LifecycleError> {
        let directory = config.directory.resolve()?;
        let directory = self.root.join("directory.path", &directory.config.path)?;
        Ok(directory.join(checked_relative("name", &config.name)?))
    }

    /// Removes a file this handler wrote earlier, as its outputs name it; a path outside the
    /// root is refused rather than touched.
    fn remove_written(&self, path: &str) -> Result<(), LifecycleError> {
        let path = Path::new(path);
        if !path.starts_with(self.root.path())
            || path.components().any(|c| c == Component::ParentDir)
        {
            return Err(LifecycleError::infrastructure(format!(
                "refusing to remove {}: it is outside the sandbox root {}",
                path.display(),
                self.root.path().display()
            )));
        }
        remove_file(path)
    }

    fn write(&self, config: &FileConfig) -> Result<FileOutputs, LifecycleError> {
        let path = self.location(config)?;
        let content = config.content.value()?;
        write_file(&path, content.as_bytes())?;
        Ok(FileOutputs {
            path: path.display().to_string(),
            size: content.len() as u64,
            sha256: sha256_hex(content.as_bytes()),
        })
    }
}

impl Lifecycle for File {
    async fn on_create(&self, cx: &Context<Self>) -> Result<FileOutputs, LifecycleError> {
        self.write(cx.config())
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &FileConfig,
    ) -> Result<FileOutputs, LifecycleError> {
        let outputs = self.write(cx.config())?;
        if let Some(old) = cx.outputs() {
            if old.path != outputs.path {
                self.remove_written(&old.path)?;
            }
        }
        Ok(outputs)
    }

    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        match self.location(cx.config()) {
            Ok(path) => remove_file(&path),
            // The directory is gone or unresolved: fall back on where the file was written.
            Err(LifecycleError::DependencyNotReady { .. }) => match cx.outputs() {
                Some(outputs) => self.remove_written(&outputs.path),
                None => Ok(()),
            },
            Err(err) => Err(err),
        }
    }
}
