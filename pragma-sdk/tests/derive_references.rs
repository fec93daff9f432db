//! Wire forms of field references and dependencies inside derived configs.

use pragma_sdk::authoring::{Dependency, Field, FieldReference};
use pragma_sdk::{Config, LifecycleError, Outputs, ResourceType};
use serde_json::json;

#[derive(Config, Debug, Clone)]
pub struct NetworkConfig {
    pub cidr: Field<String>,
}

#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct NetworkOutputs {
    pub network_id: String,
}

/// A private network.
#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "network", config = NetworkConfig, outputs = NetworkOutputs)]
pub struct Network;

#[derive(Config, Debug, Clone)]
pub struct AppConfig {
    pub database_url: Field<String>,
    #[pragma(range(min = 1))]
    pub port: Field<u16>,
    pub network: Dependency<Network>,
}

fn reference(field: &str) -> serde_json::Value {
    json!({"provider": "mycloud", "resource": "database", "name": "db", "field": field})
}

fn network_marker() -> serde_json::Value {
    json!({"__dependency__": true, "provider": "mycloud", "resource": "network", "name": "main"})
}

#[test]
fn a_resolved_marker_flattens_to_its_value_and_keeps_the_reference() {
    let config: AppConfig = serde_json::from_value(json!({
        "database_url": {"__field_ref__": true, "ref": reference("connection_url"), "resolved_value": "postgres://db"},
        "port": 8080,
        "network": network_marker(),
    }))
    .unwrap();
    assert_eq!(config.database_url.value().unwrap(), "postgres://db");
    assert_eq!(
        config.database_url.reference().unwrap(),
        &FieldReference::new("mycloud", "database", "db", "outputs.connection_url")
    );
    assert_eq!(*config.port.value().unwrap(), 8080);
    let wire = serde_json::to_value(&config).unwrap();
    assert_eq!(wire["database_url"]["__field_ref__"], true);
    assert_eq!(wire["database_url"]["resolved_value"], "postgres://db");
    assert_eq!(
        wire["database_url"]["ref"]["field"],
        "outputs.connection_url"
    );
    assert_eq!(wire["port"], 8080);
}

#[test]
fn a_bare_field_name_means_an_output() {
    let field: Field<String> = serde_json::from_value(reference("connection_url")).unwrap();
    assert_eq!(field.reference().unwrap().field, "outputs.connection_url");
    let field: Field<String> = serde_json::from_value(reference("config.data.key")).unwrap();
    assert_eq!(field.reference().unwrap().field, "config.data.key");
    assert_eq!(
        serde_json::to_value(&field).unwrap(),
        reference("config.data.key")
    );
}

#[test]
fn bad_markers_are_decode_errors() {
    let err = serde_json::from_value::<Field<u16>>(json!({
        "__field_ref__": true, "ref": reference("port"), "resolved_value": "eighty"
    }))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("resolved value of mycloud/database/db:outputs.port"),
        "{err}"
    );
    let err = serde_json::from_value::<Field<u16>>(
        json!({"__field_ref__": true, "ref": reference("port")}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("without `resolved_value`"), "{err}");
    let err = serde_json::from_value::<Field<u16>>(json!("eighty"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected u16"), "{err}");

    let err = serde_json::from_value::<Dependency<Network>>(
        json!({"__dependency__": true, "provider": "mycloud", "resource": "database", "name": "db"}),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "dependency on mycloud/database/db where a mycloud/network is expected"
    );
    let err = serde_json::from_value::<Dependency<Network>>(json!("main"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected a dependency marker"), "{err}");
    let err = serde_json::from_value::<Dependency<Network>>(
        json!({"__dependency__": true, "provider": "mycloud", "resource": "network", "name": "main", "ref": {"provider": "mycloud", "resource": "network", "name": "main", "config": {"cidr": 7}}}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("dependency main: `ref`"), "{err}");
    assert!(err.contains("config.cidr"), "{err}");
}

#[test]
fn an_unresolved_dependency_is_not_ready() {
    let dependency: Dependency<Network> = serde_json::from_value(network_marker()).unwrap();
    assert_eq!(dependency.name(), "main");
    assert!(!dependency.is_resolved());
    match dependency.resolve() {
        Err(LifecycleError::DependencyNotReady {
            provider,
            resource,
            name,
        }) => assert_eq!(
            (provider.as_str(), resource.as_str(), name.as_str()),
            ("mycloud", "network", "main")
        ),
        other => panic!("expected DependencyNotReady, got {other:?}"),
    }
    assert_eq!(
        serde_json::to_value(Dependency::<Network>::new("main")).unwrap(),
        network_marker()
    );
}

#[test]
fn a_resolved_dependency_prefers_the_resolved_config() {
    let mut marker = network_marker();
    marker["ref"] = json!({
        "provider": "mycloud",
        "resource": "network",
        "name": "main",
        "id": "resource:mycloud_network_main",
        "config": {"cidr": {"provider": "mycloud", "resource": "ipam", "name": "pool", "field": "range"}},
        "resolved_config": {"cidr": "10.0.0.0/16"},
        "outputs": {"network_id": "net-7"},
        "lifecycle_state": "ready",
        "provisioned": true,
    });
    let dependency: Dependency<Network> = serde_json::from_value(marker).unwrap();
    let network = dependency.resolve().unwrap();
    assert_eq!(network.config.cidr.value().unwrap(), "10.0.0.0/16");
    assert_eq!(network.outputs.as_ref().unwrap().network_id, "net-7");
    let wire = serde_json::to_value(&dependency).unwrap();
    assert_eq!(wire["ref"]["outputs"]["network_id"], "net-7");
    let again: Dependency<Network> = serde_json::from_value(wire).unwrap();
    assert_eq!(
        again.resolve().unwrap().config.cidr.value().unwrap(),
        "10.0.0.0/16"
    );
}

#[test]
fn field_and_dependency_schemas() {
    let schema = serde_json::to_value(schemars::schema_for!(AppConfig)).unwrap();
    let any_of = schema["properties"]["port"]["anyOf"].as_array().unwrap();
    assert_eq!(any_of.len(), 3);
    assert_eq!(any_of[0]["type"], "integer");
    assert_eq!(any_of[0]["minimum"], 1);
    assert_eq!(any_of[1]["$ref"], "#/$defs/FieldReference");
    assert_eq!(any_of[2]["properties"]["__field_ref__"]["const"], true);
    let network = &schema["properties"]["network"];
    assert_eq!(network["properties"]["__dependency__"]["const"], true);
    assert_eq!(network["properties"]["resource"]["const"], "network");
}
