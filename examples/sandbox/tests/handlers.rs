//! Each sandbox handler run through the provider harness, checked against what it did on
//! disk: create, update, immutable refusal, idempotency, delete, dependency resolution,
//! field references and subresources.

use std::collections::BTreeMap;
use std::path::Path;

use pragma_local::builtin::{Secret, SecretConfig};
use pragma_sdk::authoring::{
    Dependency, Field, FieldReference, HarnessErrorKind, HarnessResult, ProviderHarness,
};
use pragma_sdk::models::LifecycleState;
use pragma_sdk::{Resource, ResourceType};
use rusqlite::Connection;
use sandbox_provider::{
    Column, ColumnKind, Database, DatabaseConfig, DatabaseOutputs, Directory, DirectoryConfig,
    DirectoryOutputs, File, FileConfig, FileOutputs, Table,
};
use sha2::Digest;
use tempfile::TempDir;

fn harness() -> (ProviderHarness, TempDir) {
    let root = tempfile::tempdir().unwrap();
    let provider = sandbox_provider::provider(root.path()).unwrap();
    (ProviderHarness::new(provider), root)
}

fn directory(path: &str) -> DirectoryConfig {
    DirectoryConfig {
        path: path.to_owned(),
    }
}

/// Registers the ready directory `name` at `path`, created on disk as its handler would.
fn ready_directory(harness: &ProviderHarness, root: &Path, name: &str, path: &str) {
    std::fs::create_dir_all(root.join(path)).unwrap();
    let mut resource = Resource::<Directory>::new(name, directory(path));
    resource.outputs = Some(DirectoryOutputs {
        path: root.join(path).display().to_string(),
    });
    resource.lifecycle_state = LifecycleState::Ready;
    resource.provisioned = true;
    harness.register(&resource).unwrap();
}

fn file(directory: &str, name: &str, content: &str) -> FileConfig {
    FileConfig {
        directory: Dependency::new(directory),
        name: name.to_owned(),
        content: Field::Value(content.to_owned()),
    }
}

fn assert_ok(result: &HarnessResult) {
    assert!(result.success, "{:?}", result.error);
}

#[tokio::test]
async fn directory_create_is_idempotent_and_delete_removes_it() {
    let (harness, root) = harness();
    let config = directory("reports/2026");
    let first = harness.create::<Directory>("reports", &config).await;
    assert_ok(&first);
    assert!(root.path().join("reports/2026").is_dir());
    let outputs: DirectoryOutputs = first.outputs_as().unwrap();
    assert_eq!(
        outputs.path,
        root.path().join("reports/2026").display().to_string()
    );

    let again = harness.create::<Directory>("reports", &config).await;
    assert_ok(&again);
    assert_eq!(again.outputs, first.outputs);

    let deleted = harness
        .delete::<Directory>("reports", &config, Some(&outputs))
        .await;
    assert_ok(&deleted);
    assert!(!root.path().join("reports/2026").exists());
    let deleted_again = harness
        .delete::<Directory>("reports", &config, Some(&outputs))
        .await;
    assert_ok(&deleted_again);
}

#[tokio::test]
async fn directory_path_is_immutable() {
    let (harness, root) = harness();
    let created = harness
        .create::<Directory>("reports", &directory("reports"))
        .await;
    assert_ok(&created);
    let outputs: DirectoryOutputs = created.outputs_as().unwrap();
    let result = harness
        .update::<Directory>(
            "reports",
            &directory("elsewhere"),
            &directory("reports"),
            Some(&outputs),
        )
        .await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::InvalidConfig);
    assert!(
        error.message.contains("path is immutable"),
        "{}",
        error.message
    );
    assert!(!root.path().join("elsewhere").exists());

    let same = harness
        .update::<Directory>(
            "reports",
            &directory("reports"),
            &directory("reports"),
            Some(&outputs),
        )
        .await;
    assert_ok(&same);
}

#[tokio::test]
async fn paths_outside_the_root_are_refused() {
    let (harness, root) = harness();
    for bad in ["/tmp/escape", "../escape", "a/../../escape", "./a"] {
        let result = harness.create::<Directory>("bad", &directory(bad)).await;
        let error = result.error.unwrap();
        assert_eq!(error.kind, HarnessErrorKind::InvalidConfig, "{bad}");
    }
    ready_directory(&harness, root.path(), "docs", "docs");
    let result = harness
        .create::<File>("bad", &file("docs", "../../escape.txt", "x"))
        .await;
    assert_eq!(result.error.unwrap().kind, HarnessErrorKind::InvalidConfig);
    assert!(!root.path().parent().unwrap().join("escape.txt").exists());
}

#[tokio::test]
async fn a_non_empty_directory_is_not_deleted() {
    let (harness, root) = harness();
    let config = directory("full");
    assert_ok(&harness.create::<Directory>("full", &config).await);
    std::fs::write(root.path().join("full/keep.txt"), "mine").unwrap();
    let result = harness.delete::<Directory>("full", &config, None).await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::Infrastructure);
    assert!(error.message.contains("keep.txt"), "{}", error.message);
    assert!(root.path().join("full/keep.txt").exists());
}

#[tokio::test]
async fn file_needs_its_directory_resolved() {
    let (harness, root) = harness();
    let config = file("docs", "readme.txt", "hello");
    let result = harness.create::<File>("readme", &config).await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::DependencyNotReady);
    assert_eq!(
        error.message,
        "dependency sandbox/directory/docs is not ready"
    );

    ready_directory(&harness, root.path(), "docs", "docs");
    let result = harness.create::<File>("readme", &config).await;
    assert_ok(&result);
    let outputs: FileOutputs = result.outputs_as().unwrap();
    let on_disk = root.path().join("docs/readme.txt");
    assert_eq!(std::fs::read_to_string(&on_disk).unwrap(), "hello");
    assert_eq!(outputs.path, on_disk.display().to_string());
    assert_eq!(outputs.size, 5);
    assert_eq!(
        outputs.sha256,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
}

#[tokio::test]
async fn file_update_rewrites_content_and_moves_a_renamed_file() {
    let (harness, root) = harness();
    ready_directory(&harness, root.path(), "docs", "docs");
    let before = file("docs", "readme.txt", "hello");
    let created = harness.create::<File>("readme", &before).await;
    assert_ok(&created);
    let old: FileOutputs = created.outputs_as().unwrap();

    let after = file("docs", "README.md", "hello, world");
    let updated = harness
        .update::<File>("readme", &after, &before, Some(&old))
        .await;
    assert_ok(&updated);
    let new: FileOutputs = updated.outputs_as().unwrap();
    assert_ne!(new.sha256, old.sha256);
    assert_eq!(new.size, 12);
    assert!(!root.path().join("docs/readme.txt").exists());
    assert_eq!(
        std::fs::read_to_string(root.path().join("docs/README.md")).unwrap(),
        "hello, world"
    );

    let deleted = harness.delete::<File>("readme", &after, Some(&new)).await;
    assert_ok(&deleted);
    assert!(!root.path().join("docs/README.md").exists());
    assert_ok(&harness.delete::<File>("readme", &after, Some(&new)).await);
}

#[tokio::test]
async fn file_create_over_an_identical_file_changes_nothing() {
    let (harness, root) = harness();
    ready_directory(&harness, root.path(), "docs", "docs");
    let config = file("docs", "same.txt", "same");
    assert_ok(&harness.create::<File>("same", &config).await);
    let path = root.path().join("docs/same.txt");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = harness.create::<File>("same", &config).await;
    assert_ok(&again);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
}

#[tokio::test]
async fn file_content_comes_from_a_secret_or_another_output() {
    let (harness, root) = harness();
    ready_directory(&harness, root.path(), "docs", "docs");
    let mut secret = Resource::<Secret>::new(
        "greeting",
        SecretConfig {
            data: BTreeMap::from([("text".to_owned(), "hi from the secret".to_owned())]),
        },
    );
    secret.lifecycle_state = LifecycleState::Ready;
    harness.register(&secret).unwrap();

    let mut config = file("docs", "greeting.txt", "");
    config.content = Field::Reference(FieldReference::config(
        "pragma",
        "secret",
        "greeting",
        "data.text",
    ));
    let result = harness.create::<File>("greeting", &config).await;
    assert_ok(&result);
    assert_eq!(
        std::fs::read_to_string(root.path().join("docs/greeting.txt")).unwrap(),
        "hi from the secret"
    );

    let mut readme = Resource::<File>::new("readme", file("docs", "readme.txt", "x"));
    readme.outputs = Some(FileOutputs {
        path: "unused".to_owned(),
        size: 1,
        sha256: "abc123".to_owned(),
    });
    harness.register(&readme).unwrap();
    let mut checksum = file("docs", "readme.sha256", "");
    checksum.content = File::outputs("readme").sha256.into();
    let result = harness.create::<File>("checksum", &checksum).await;
    assert_ok(&result);
    assert_eq!(
        std::fs::read_to_string(root.path().join("docs/readme.sha256")).unwrap(),
        "abc123"
    );
}

fn inventory(tables: Vec<Table>) -> DatabaseConfig {
    DatabaseConfig {
        directory: Dependency::new("data"),
        file_name: "inventory.db".to_owned(),
        tables,
        owner: "alice".to_owned(),
        owner_password: Field::Value("s3cret".to_owned()),
    }
}

fn table(name: &str, columns: &[(&str, ColumnKind)]) -> Table {
    Table {
        name: name.to_owned(),
        columns: columns
            .iter()
            .map(|(name, kind)| Column {
                name: (*name).to_owned(),
                kind: *kind,
            })
            .collect(),
    }
}

fn tables_in(path: &Path) -> Vec<String> {
    let connection = Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap();
    names.map(Result::unwrap).collect()
}

fn schema_answer(harness: &ProviderHarness, root: &Path) {
    harness
        .set_subresource_outputs::<File>(
            "inventory-schema",
            &FileOutputs {
                path: root
                    .join("data/inventory.db.schema.sql")
                    .display()
                    .to_string(),
                size: 1,
                sha256: "00".to_owned(),
            },
        )
        .unwrap();
}

#[tokio::test]
async fn database_creates_tables_and_applies_its_schema_file() {
    let (harness, root) = harness();
    ready_directory(&harness, root.path(), "data", "data");
    schema_answer(&harness, root.path());
    let config = inventory(vec![
        table(
            "items",
            &[("title", ColumnKind::Text), ("count", ColumnKind::Integer)],
        ),
        table("orders", &[("total", ColumnKind::Real)]),
    ]);
    let result = harness.create::<Database>("inventory", &config).await;
    assert_ok(&result);
    let outputs: DatabaseOutputs = result.outputs_as().unwrap();
    let db = root.path().join("data/inventory.db");
    assert_eq!(outputs.path, db.display().to_string());
    assert_eq!(outputs.tables, ["items", "orders"]);
    assert_eq!(tables_in(&db), ["items", "orders", "pragma_owner"]);

    let connection = Connection::open(&db).unwrap();
    let (owner, digest): (String, String) = connection
        .query_row(
            "SELECT name, password_sha256 FROM pragma_owner",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(owner, "alice");
    assert_ne!(digest, "s3cret");
    assert_eq!(digest.len(), 64);

    let applied = harness.applied();
    assert_eq!(applied.len(), 1);
    let child = &applied[0];
    assert_eq!(
        (child.resource.as_str(), child.name.as_str()),
        ("file", "inventory-schema")
    );
    assert_eq!(child.owner_references[0].name, "inventory");
    assert_eq!(child.config["directory"]["__dependency__"], true);
    assert_eq!(child.config["directory"]["name"], "data");
    let schema = child.config["content"].as_str().unwrap();
    assert!(schema.contains("CREATE TABLE \"items\""), "{schema}");
    assert!(!schema.contains("pragma_owner"), "{schema}");
    assert_eq!(
        outputs.schema_file,
        root.path()
            .join("data/inventory.db.schema.sql")
            .display()
            .to_string()
    );

    // Creating again over the same database changes nothing and succeeds.
    let again = harness.create::<Database>("inventory", &config).await;
    assert_ok(&again);
    assert_eq!(again.outputs, result.outputs);
}

#[tokio::test]
async fn database_update_adds_and_drops_tables_and_delete_removes_the_file() {
    let (harness, root) = harness();
    ready_directory(&harness, root.path(), "data", "data");
    schema_answer(&harness, root.path());
    let before = inventory(vec![table("items", &[("title", ColumnKind::Text)])]);
    let created = harness.create::<Database>("inventory", &before).await;
    assert_ok(&created);
    let old: DatabaseOutputs = created.outputs_as().unwrap();

    let after = inventory(vec![
        table(
            "items",
            &[("title", ColumnKind::Text), ("price", ColumnKind::Real)],
        ),
        table("suppliers", &[]),
    ]);
    let updated = harness
        .update::<Database>("inventory", &after, &before, Some(&old))
        .await;
    assert_ok(&updated);
    let new: DatabaseOutputs = updated.outputs_as().unwrap();
    assert_eq!(new.tables, ["items", "suppliers"]);
    assert_ne!(new.schema_sha256, old.schema_sha256);
    let db = root.path().join("data/inventory.db");
    let connection = Connection::open(&db).unwrap();
    let price: i64 = connection
        .query_row(
            "SELECT count(*) FROM pragma_table_info('items') WHERE name = 'price'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(price, 1);
    drop(connection);

    let fewer = inventory(vec![table("suppliers", &[])]);
    let dropped = harness
        .update::<Database>("inventory", &fewer, &after, Some(&new))
        .await;
    assert_ok(&dropped);
    assert_eq!(tables_in(&db), ["pragma_owner", "suppliers"]);

    let deleted = harness
        .delete::<Database>("inventory", &fewer, Some(&new))
        .await;
    assert_ok(&deleted);
    assert!(!db.exists());
    assert_ok(
        &harness
            .delete::<Database>("inventory", &fewer, Some(&new))
            .await,
    );
}

#[tokio::test]
async fn database_password_comes_from_a_secret_and_bad_tables_are_refused() {
    let (harness, root) = harness();
    ready_directory(&harness, root.path(), "data", "data");
    schema_answer(&harness, root.path());
    let mut secret = Resource::<Secret>::new(
        "db-owner",
        SecretConfig {
            data: BTreeMap::from([("password".to_owned(), "from-secret".to_owned())]),
        },
    );
    secret.lifecycle_state = LifecycleState::Ready;
    harness.register(&secret).unwrap();
    let mut config = inventory(vec![table("items", &[])]);
    config.owner_password = Field::Reference(FieldReference::config(
        "pragma",
        "secret",
        "db-owner",
        "data.password",
    ));
    assert_ok(&harness.create::<Database>("inventory", &config).await);
    let connection = Connection::open(root.path().join("data/inventory.db")).unwrap();
    let digest: String = connection
        .query_row("SELECT password_sha256 FROM pragma_owner", [], |row| {
            row.get(0)
        })
        .unwrap();
    let expected: String = sha2::Sha256::digest(b"from-secret")
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(digest, expected);
    assert_ne!(digest, "from-secret");

    for bad in ["drop table x", "1abc", "pragma_owner", "sqlite_x"] {
        let config = inventory(vec![table(bad, &[])]);
        let result = harness.create::<Database>("bad", &config).await;
        let error = result.error.unwrap();
        assert_eq!(error.kind, HarnessErrorKind::InvalidConfig, "{bad}");
    }
    let config = inventory(vec![table("t", &[("id", ColumnKind::Text)])]);
    let error = harness
        .create::<Database>("bad", &config)
        .await
        .error
        .unwrap();
    assert!(error.message.contains("listed twice"), "{}", error.message);
}

#[tokio::test]
async fn database_fails_when_its_schema_file_fails() {
    let (harness, root) = harness();
    ready_directory(&harness, root.path(), "data", "data");
    harness.set_subresource_failed::<File>("inventory-schema", "disk full");
    let result = harness
        .create::<Database>("inventory", &inventory(vec![table("items", &[])]))
        .await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::Subresource);
    assert!(error.message.contains("disk full"), "{}", error.message);
}
