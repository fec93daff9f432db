//! `sandbox/database`: a SQLite database with the tables its config lists, and a schema file
//! beside it applied as a subresource.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pragma_sdk::authoring::{Dependency, Field};
use pragma_sdk::{Config, Context, Lifecycle, LifecycleError, Outputs, ResourceType};
use rusqlite::{Connection, OptionalExtension};

use crate::directory::Directory;
use crate::file::{remove_file, sha256_hex, File, FileConfig};
use crate::root::{checked_relative, SandboxRoot};

/// The table holding the database owner's name and password digest.
const OWNER_TABLE: &str = "pragma_owner";

/// How long the database waits for its schema file to be ready.
const SUBRESOURCE_TIMEOUT: Duration = Duration::from_secs(30);

/// The type of a column.
#[derive(Config, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `TEXT`.
    #[pragma(rename = "text")]
    Text,
    /// `INTEGER`.
    #[pragma(rename = "integer")]
    Integer,
    /// `REAL`.
    #[pragma(rename = "real")]
    Real,
    /// `BLOB`.
    #[pragma(rename = "blob")]
    Blob,
}

impl ColumnKind {
    fn sql(self) -> &'static str {
        match self {
            ColumnKind::Text => "TEXT",
            ColumnKind::Integer => "INTEGER",
            ColumnKind::Real => "REAL",
            ColumnKind::Blob => "BLOB",
        }
    }
}

/// One column of a table.
#[derive(Config, Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name: letters, digits and `_`, not starting with a digit.
    pub name: String,
    /// Its type.
    pub kind: ColumnKind,
}

/// One table of a database.
#[derive(Config, Debug, Clone, PartialEq)]
pub struct Table {
    /// The table's name: letters, digits and `_`, not starting with a digit.
    pub name: String,
    /// Its columns, beside the `id INTEGER PRIMARY KEY` every table has.
    #[pragma(default)]
    pub columns: Vec<Column>,
}

/// What a database is: where its file lives, its tables and its owner.
#[derive(Config, Clone)]
pub struct DatabaseConfig {
    /// The directory the database file lives in.
    pub directory: Dependency<Directory>,
    /// The database file's name in the directory (`inventory.db`).
    #[pragma(length(min = 1, max = 255))]
    pub file_name: String,
    /// The tables the database holds; tables it holds but this does not list are dropped.
    #[pragma(default)]
    pub tables: Vec<Table>,
    /// The owner's name.
    #[pragma(default = "owner".to_owned())]
    pub owner: String,
    /// The owner's password, usually a reference to a `pragma/secret` value; only its
    /// SHA-256 digest is stored.
    pub owner_password: Field<String>,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("directory", &self.directory.name())
            .field("file_name", &self.file_name)
            .field("tables", &self.tables)
            .field("owner", &self.owner)
            .field("owner_password", &"<redacted>")
            .finish()
    }
}

/// What a database exposes.
#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct DatabaseOutputs {
    /// The database file's full path on the machine.
    pub path: String,
    /// Its tables, sorted.
    pub tables: Vec<String>,
    /// The full path of the file holding its schema (a `sandbox/file` subresource).
    pub schema_file: String,
    /// The SHA-256 digest of its schema.
    pub schema_sha256: String,
}

/// A SQLite database in a [`Directory`]. It applies the `sandbox/file` subresource
/// `<name>-schema` holding its schema as SQL, which is deleted with it.
///
/// Limitation: the owner's password is stored as an unsalted SHA-256 digest; this is an
/// example of secret handling, not a way to keep passwords.
#[derive(ResourceType, Debug, Clone)]
#[pragma(provider = "sandbox", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
pub struct Database {
    root: SandboxRoot,
}

fn check_identifier(what: &str, name: &str) -> Result<(), LifecycleError> {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > 64 {
        return Err(LifecycleError::invalid_config(format!(
            "{what} {name:?} is not a valid name: use up to 64 letters, digits and `_`, not starting with a digit"
        )));
    }
    if name.eq_ignore_ascii_case(OWNER_TABLE) || name.to_ascii_lowercase().starts_with("sqlite_") {
        return Err(LifecycleError::invalid_config(format!(
            "{what} {name:?} is reserved"
        )));
    }
    Ok(())
}

fn check_tables(tables: &[Table]) -> Result<(), LifecycleError> {
    let mut seen = std::collections::BTreeSet::new();
    for (index, table) in tables.iter().enumerate() {
        check_identifier(&format!("tables[{index}].name"), &table.name)?;
        if !seen.insert(table.name.to_ascii_lowercase()) {
            return Err(LifecycleError::invalid_config(format!(
                "table {:?} is listed twice",
                table.name
            )));
        }
        let mut columns = std::collections::BTreeSet::from(["id".to_owned()]);
        for (position, column) in table.columns.iter().enumerate() {
            check_identifier(
                &format!("tables[{index}].columns[{position}].name"),
                &column.name,
            )?;
            if !columns.insert(column.name.to_ascii_lowercase()) {
                return Err(LifecycleError::invalid_config(format!(
                    "column {:?} of table {:?} is listed twice (every table has `id`)",
                    column.name, table.name
                )));
            }
        }
    }
    Ok(())
}

fn sql_error(path: &Path, err: rusqlite::Error) -> LifecycleError {
    LifecycleError::with_source(format!("database {}: {err}", path.display()), err)
}

/// Brings the database at `path` to the tables of `config` and returns its table names and
/// schema.
fn provision(
    path: &Path,
    tables: &[Table],
    owner: &str,
    password_digest: &str,
) -> Result<(Vec<String>, String), LifecycleError> {
    let mut connection = Connection::open(path).map_err(|err| sql_error(path, err))?;
    let tx = connection
        .transaction()
        .map_err(|err| sql_error(path, err))?;
    let existing: Vec<String> = {
        let mut statement = tx
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .map_err(|err| sql_error(path, err))?;
        let names = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|err| sql_error(path, err))?;
        names
            .collect::<Result<_, _>>()
            .map_err(|err| sql_error(path, err))?
    };
    for name in &existing {
        let wanted =
            name == OWNER_TABLE || tables.iter().any(|t| t.name.eq_ignore_ascii_case(name));
        if !wanted {
            tx.execute_batch(&format!("DROP TABLE \"{name}\""))
                .map_err(|err| sql_error(path, err))?;
        }
    }
    for table in tables {
        let mut columns = vec!["\"id\" INTEGER PRIMARY KEY".to_owned()];
        columns.extend(
            table
                .columns
                .iter()
                .map(|c| format!("\"{}\" {}", c.name, c.kind.sql())),
        );
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS \"{}\" ({})",
            table.name,
            columns.join(", ")
        ))
        .map_err(|err| sql_error(path, err))?;
        let present: Vec<String> = {
            let mut statement = tx
                .prepare(&format!("PRAGMA table_info(\"{}\")", table.name))
                .map_err(|err| sql_error(path, err))?;
            let names = statement
                .query_map([], |row| row.get::<_, String>(1))
                .map_err(|err| sql_error(path, err))?;
            names
                .collect::<Result<_, _>>()
                .map_err(|err| sql_error(path, err))?
        };
        for column in &table.columns {
            if !present.iter().any(|p| p.eq_ignore_ascii_case(&column.name)) {
                tx.execute_batch(&format!(
                    "ALTER TABLE \"{}\" ADD COLUMN \"{}\" {}",
                    table.name,
                    column.name,
                    column.kind.sql()
                ))
                .map_err(|err| sql_error(path, err))?;
            }
        }
    }
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {OWNER_TABLE} (name TEXT PRIMARY KEY, password_sha256 TEXT NOT NULL)"
    ))
    .map_err(|err| sql_error(path, err))?;
    let current: Option<(String, String)> = tx
        .query_row(
            &format!("SELECT name, password_sha256 FROM {OWNER_TABLE}"),
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(|err| sql_error(path, err))?;
    if current.as_ref().map(|(n, d)| (n.as_str(), d.as_str())) != Some((owner, password_digest)) {
        tx.execute(&format!("DELETE FROM {OWNER_TABLE}"), [])
            .map_err(|err| sql_error(path, err))?;
        tx.execute(
            &format!("INSERT INTO {OWNER_TABLE} (name, password_sha256) VALUES (?1, ?2)"),
            [owner, password_digest],
        )
        .map_err(|err| sql_error(path, err))?;
    }
    let schema: Vec<String> = {
        let mut statement = tx
            .prepare(&format!(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '{OWNER_TABLE}' ORDER BY name"
            ))
            .map_err(|err| sql_error(path, err))?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|err| sql_error(path, err))?;
        rows.collect::<Result<_, _>>()
            .map_err(|err| sql_error(path, err))?
    };
    tx.commit().map_err(|err| sql_error(path, err))?;
    let mut names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
    names.sort();
    let schema = schema
        .iter()
        .map(|sql| format!("{sql};\n"))
        .collect::<String>();
    Ok((names, schema))
}

impl Database {
    /// The handler for databases under `root`.
    pub fn new(root: SandboxRoot) -> Self {
        Database { root }
    }

    fn location(&self, config: &DatabaseConfig) -> Result<PathBuf, LifecycleError> {
        let directory = config.directory.resolve()?;
        let directory = self.root.join("directory.path", &directory.config.path)?;
        let name = checked_relative("file_name", &config.file_name)?;
        if name.components().count() != 1 {
            return Err(LifecycleError::invalid_config(format!(
                "file_name {:?} must be a plain file name",
                config.file_name
            )));
        }
        Ok(directory.join(name))
    }

    /// The name of the schema file subresource of the database `name`.
    pub fn schema_file_name(name: &str) -> String {
        format!("{name}-schema")
    }

    async fn provision(&self, cx: &Context<Self>) -> Result<DatabaseOutputs, LifecycleError> {
        let config = cx.config();
        check_tables(&config.tables)?;
        if config.owner.is_empty() {
            return Err(LifecycleError::invalid_config("owner must not be empty"));
        }
        let path = self.location(config)?;
        let digest = sha256_hex(config.owner_password.value()?.as_bytes());
        let (tables, schema) = {
            let path = path.clone();
            let tables = config.tables.clone();
            let owner = config.owner.clone();
            tokio::task::spawn_blocking(move || provision(&path, &tables, &owner, &digest))
                .await
                .map_err(|err| {
                    LifecycleError::infrastructure(format!("provisioning stopped: {err}"))
                })??
        };

        let schema_name = Self::schema_file_name(cx.name());
        let schema_config = FileConfig {
            directory: Dependency::new(config.directory.name()),
            name: format!("{}.schema.sql", config.file_name),
            content: Field::Value(schema.clone()),
        };
        cx.apply::<File>(&schema_name, &schema_config).await?;
        let schema_file = cx
            .wait_ready::<File>(&schema_name, SUBRESOURCE_TIMEOUT)
            .await?;
        Ok(DatabaseOutputs {
            path: path.display().to_string(),
            tables,
            schema_file: schema_file.outputs.path,
            schema_sha256: sha256_hex(schema.as_bytes()),
        })
    }

    fn remove(&self, path: &Path) -> Result<(), LifecycleError> {
        if !path.starts_with(self.root.path()) {
            return Err(LifecycleError::infrastructure(format!(
                "refusing to remove {}: it is outside the sandbox root {}",
                path.display(),
                self.root.path().display()
            )));
        }
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            remove_file(Path::new(&name))?;
        }
        Ok(())
    }
}

impl Lifecycle for Database {
    async fn on_create(&self, cx: &Context<Self>) -> Result<DatabaseOutputs, LifecycleError> {
        self.provision(cx).await
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &DatabaseConfig,
    ) -> Result<DatabaseOutputs, LifecycleError> {
        let outputs = self.provision(cx).await?;
        if let Some(old) = cx.outputs() {
            if old.path != outputs.path {
                self.remove(Path::new(&old.path))?;
            }
        }
        Ok(outputs)
    }

    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        match self.location(cx.config()) {
            Ok(path) => self.remove(&path),
            Err(LifecycleError::DependencyNotReady { .. }) => match cx.outputs() {
                Some(outputs) => self.remove(Path::new(&outputs.path)),
                None => Ok(()),
            },
            Err(err) => Err(err),
        }
    }
}
