//! The JSON schema, wire round trip and validation messages of derived configs and outputs.

use std::collections::BTreeMap;

use pragma_sdk::authoring::{ConfigErrors, Dependency, Field, FieldRef, FieldReference};
use pragma_sdk::{Config, Outputs, ResourceType};
use serde_json::json;

/// A network to attach to.
#[derive(Config, Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// The address range.
    #[pragma(pattern = r"^\d+\.\d+\.\d+\.\d+/\d+$")]
    pub cidr: String,
}

/// What a network exposes.
#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct NetworkOutputs {
    /// The network's id.
    pub network_id: String,
}

/// A private network.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "network", config = NetworkConfig, outputs = NetworkOutputs)]
pub struct Network;

/// How vectors are compared.
#[derive(Config, Debug, Clone, Copy, PartialEq)]
pub enum Distance {
    /// Cosine similarity.
    Cosine,
    /// Euclidean distance.
    Euclid,
    /// Dot product.
    Dot,
}

/// One firewall rule.
#[derive(Config, Debug, Clone, PartialEq)]
pub struct FirewallRule {
    /// The port to open.
    #[pragma(range(min = 1, max = 65535))]
    pub port: u32,
    /// Where traffic may come from.
    #[pragma(default = "0.0.0.0/0")]
    pub source: String,
}

fn no_admin(name: &String) -> Result<(), String> {
    if name == "admin" {
        Err("must not be \"admin\"".to_owned())
    } else {
        Ok(())
    }
}

/// Every field shape a config may have.
#[derive(Config, Debug, Clone)]
pub struct DatabaseConfig {
    /// Database name.
    #[pragma(length(min = 3, max = 63), custom = no_admin)]
    pub name: String,
    /// Disk size in gigabytes.
    #[pragma(default = 10, range(min = 1, max = 10_000))]
    pub size_gb: u32,
    /// Whether backups run.
    #[pragma(default)]
    pub backups: bool,
    /// A literal or a reference to another resource's output.
    #[pragma(length(min = 8))]
    pub admin_password: Field<String>,
    /// The network to join.
    pub network: Option<Dependency<Network>>,
    /// How search compares vectors.
    pub distance: Distance,
    /// Firewall rules.
    #[pragma(length(max = 4))]
    pub rules: Vec<FirewallRule>,
    /// Labels by key.
    pub labels: BTreeMap<String, String>,
    /// An optional replica count.
    #[pragma(range(max = 5))]
    pub replicas: Option<u8>,
    /// A nested config.
    pub primary_network: Option<NetworkConfig>,
    /// A wire name other than the field's.
    #[pragma(rename = "type")]
    pub kind: Option<String>,
}

/// What a database exposes.
#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct DatabaseOutputs {
    /// Where to connect.
    pub connection_url: String,
    /// The port.
    pub port: u16,
}

/// A managed Postgres database.
///
/// With backups.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
pub struct Database;

fn valid_config() -> serde_json::Value {
    json!({
        "name": "analytics",
        "admin_password": "correct horse",
        "distance": "Cosine",
        "rules": [{"port": 5432}],
        "labels": {"team": "data"},
    })
}

#[test]
fn the_schema_of_every_field_shape_matches_the_fixture() {
    let schema = serde_json::to_value(schemars::schema_for!(DatabaseConfig)).unwrap();
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/database_config.schema.json"
    );
    if std::env::var_os("PRAGMA_UPDATE_FIXTURES").is_some() {
        std::fs::write(fixture, &text).unwrap();
    }
    let expected = std::fs::read_to_string(fixture).unwrap();
    assert_eq!(text, expected);
}

#[test]
fn rules_are_written_into_the_schema() {
    let schema = serde_json::to_value(schemars::schema_for!(DatabaseConfig)).unwrap();
    let props = &schema["properties"];
    assert_eq!(props["name"]["minLength"], 3);
    assert_eq!(props["name"]["maxLength"], 63);
    assert_eq!(props["name"]["description"], "Database name.");
    assert_eq!(props["size_gb"]["maximum"], 10000);
    assert_eq!(props["size_gb"]["minimum"], 1);
    assert_eq!(props["size_gb"]["default"], 10);
    assert_eq!(props["rules"]["maxItems"], 4);
    assert_eq!(props["admin_password"]["anyOf"][0]["minLength"], 8);
    assert_eq!(props["replicas"]["maximum"], 5);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        ["name", "admin_password", "distance", "rules", "labels"]
    );
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn definitions_carry_description_and_schemas() {
    let definition = Database::definition();
    assert_eq!(definition.provider, "mycloud");
    assert_eq!(definition.resource, "database");
    assert_eq!(
        definition.description.as_deref(),
        Some("A managed Postgres database.\n\nWith backups.")
    );
    assert_eq!(
        definition.outputs_schema["required"],
        json!(["connection_url", "port"])
    );
}

#[test]
fn configs_round_trip_through_json() {
    let mut wire = valid_config();
    wire["network"] = json!({"__dependency__": true, "provider": "mycloud", "resource": "network", "name": "main"});
    wire["admin_password"] =
        json!({"provider": "mycloud", "resource": "secret", "name": "pw", "field": "value"});
    wire["type"] = json!("primary");
    let config: DatabaseConfig = serde_json::from_value(wire).unwrap();
    assert_eq!(config.size_gb, 10);
    assert!(!config.backups);
    assert_eq!(config.rules[0].source, "0.0.0.0/0");
    assert_eq!(config.kind.as_deref(), Some("primary"));
    assert_eq!(config.distance, Distance::Cosine);
    assert_eq!(
        config.admin_password.reference().unwrap().field,
        "outputs.value"
    );
    let again = serde_json::to_value(&config).unwrap();
    assert_eq!(again["admin_password"]["field"], "outputs.value");
    assert_eq!(again["network"]["__dependency__"], true);
    assert_eq!(again["type"], "primary");
    let back: DatabaseConfig = serde_json::from_value(again.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), again);

    let outputs = DatabaseOutputs {
        connection_url: "postgres://db".to_owned(),
        port: 5432,
    };
    let wire = serde_json::to_value(&outputs).unwrap();
    assert_eq!(
        wire,
        json!({"connection_url": "postgres://db", "port": 5432})
    );
    assert_eq!(
        serde_json::from_value::<DatabaseOutputs>(wire).unwrap(),
        outputs
    );
}

#[test]
fn unknown_fields_are_refused() {
    let mut wire = valid_config();
    wire["sise_gb"] = json!(20);
    let err = serde_json::from_value::<DatabaseConfig>(wire)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `sise_gb`"), "{err}");
    let err = serde_json::from_value::<DatabaseOutputs>(
        json!({"connection_url": "x", "port": 1, "extra": 1}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `extra`"), "{err}");
    let err = serde_json::from_value::<Distance>(json!("Manhattan"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `Manhattan`"), "{err}");
}

fn errors_of(wire: serde_json::Value) -> Vec<String> {
    let config: DatabaseConfig = serde_json::from_value(wire).unwrap();
    match config.validate() {
        Ok(()) => Vec::new(),
        Err(ConfigErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn validation_messages_name_the_path_and_rule() {
    assert!(errors_of(valid_config()).is_empty());
    let mut wire = valid_config();
    wire["size_gb"] = json!(20000);
    wire["name"] = json!("ab");
    wire["admin_password"] = json!("short");
    wire["replicas"] = json!(9);
    wire["rules"] = json!([{"port": 80}, {"port": 443}, {"port": 0}]);
    wire["primary_network"] = json!({"cidr": "ten"});
    assert_eq!(
        errors_of(wire),
        [
            "name: must have at least 3 characters, got 2",
            "size_gb: must be at most 10000, got 20000",
            "admin_password: must have at least 8 characters, got 5",
            "rules[2].port: must be at least 1, got 0",
            "replicas: must be at most 5, got 9",
            r#"primary_network.cidr: must match the pattern ^\d+\.\d+\.\d+\.\d+/\d+$, got "ten""#,
        ]
    );
    let mut wire = valid_config();
    wire["name"] = json!("admin");
    wire["rules"] = json!([{"port": 1}, {"port": 2}, {"port": 3}, {"port": 4}, {"port": 5}]);
    assert_eq!(
        errors_of(wire),
        [
            "name: must not be \"admin\"",
            "rules: must have at most 4 items, got 5",
        ]
    );
}

#[test]
fn a_reference_is_validated_once_resolved() {
    let mut wire = valid_config();
    wire["admin_password"] = json!({"provider": "mycloud", "resource": "secret", "name": "pw", "field": "outputs.value"});
    assert!(errors_of(wire.clone()).is_empty());
    wire["admin_password"] = json!({
        "__field_ref__": true,
        "ref": {"provider": "mycloud", "resource": "secret", "name": "pw", "field": "outputs.value"},
        "resolved_value": "tiny",
    });
    assert_eq!(
        errors_of(wire),
        ["admin_password: must have at least 8 characters, got 4"]
    );
}

#[test]
fn output_references_are_typed() {
    let refs = Database::outputs("analytics");
    let url: FieldRef<String> = refs.connection_url;
    assert_eq!(
        url.reference(),
        &FieldReference::new("mycloud", "database", "analytics", "outputs.connection_url")
    );
    let port: FieldRef<u16> = refs.port;
    assert_eq!(port.reference().field, "outputs.port");
    let field: Field<String> = Field::from(url);
    let err = field.value().unwrap_err().to_string();
    assert_eq!(
        err,
        "field reference mycloud/database/analytics:outputs.connection_url is not resolved"
    );
}
