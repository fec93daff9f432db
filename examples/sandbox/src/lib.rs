//! An example provider, `sandbox`, that manages real things on the machine under a sandbox
//! root directory: directories, files and SQLite databases.
//!
//! - [`Directory`] (`sandbox/directory`): a directory at a path under the root; the path is
//!   fixed once created.
//! - [`File`] (`sandbox/file`): a file in a [`Directory`] it depends on, whose content can be
//!   a literal, a secret's value or another resource's output; it exposes its size and
//!   SHA-256 digest, so a change of content reaches whatever references them.
//! - [`Database`] (`sandbox/database`): a SQLite database in a [`Directory`] with the tables
//!   its config lists and its owner's password digest; it applies a `sandbox/file`
//!   subresource holding its schema, which is deleted with it.
//!
//! Every handler is idempotent: creating over an identical existing thing succeeds and
//! deleting a missing thing succeeds. Every path is confined to the root.
//!
//! ```
//! let root = tempfile::tempdir().unwrap();
//! let provider = sandbox_provider::provider(root.path()).unwrap();
//! assert_eq!(provider.name(), "sandbox");
//! assert_eq!(
//!     provider.resource_types().collect::<Vec<_>>(),
//!     ["database", "directory", "file"]
//! );
//! ```
#![warn(missing_docs)]

mod database;
mod directory;
mod file;
mod root;

use std::path::PathBuf;

use pragma_sdk::authoring::{Provider, ProviderError};

pub use database::{Column, ColumnKind, Database, DatabaseConfig, DatabaseOutputs, Table};
pub use directory::{Directory, DirectoryConfig, DirectoryOutputs};
pub use file::{File, FileConfig, FileOutputs};
pub use root::SandboxRoot;

/// The provider's name.
pub const PROVIDER: &str = "sandbox";

/// The `sandbox` provider with its three resource types, managing things under `root`.
///
/// The root is created when the first resource needs it.
///
/// # Errors
///
/// A [`ProviderError`] if its types clash (they do not; the error is passed on rather than
/// hidden).
pub fn provider(root: impl Into<PathBuf>) -> Result<Provider, ProviderError> {
    let root = SandboxRoot::new(root);
    Provider::new(PROVIDER)
        .resource_with(Directory::new(root.clone()))?
        .resource_with(File::new(root.clone()))?
        .resource_with(Database::new(root))
}
