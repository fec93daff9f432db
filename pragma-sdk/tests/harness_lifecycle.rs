//! The provider harness: lifecycle runs through the provider's dispatch, references and
//! dependencies resolved like the platform does, subresources answered by the harness.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pragma_sdk::authoring::{
    Dependency, Field, FieldReference, HarnessErrorKind, HarnessEvent, ProviderHarness,
};
use pragma_sdk::models::{EventType, HealthStatus, LifecycleState};
use pragma_sdk::{
    Config, Context, Lifecycle, LifecycleError, Outputs, Provider, Resource, ResourceType,
};
use serde_json::json;

#[derive(Config, Debug, Clone)]
pub struct NetworkConfig {
    pub cidr: String,
}

#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct NetworkOutputs {
    pub network_id: String,
}

/// A private network.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "network", config = NetworkConfig, outputs = NetworkOutputs)]
pub struct Network;

impl Lifecycle for Network {
    async fn on_create(&self, cx: &Context<Self>) -> Result<NetworkOutputs, LifecycleError> {
        Ok(NetworkOutputs {
            network_id: format!("net-{}", cx.name()),
        })
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &NetworkConfig,
    ) -> Result<NetworkOutputs, LifecycleError> {
        self.on_create(cx).await
    }
    async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

#[derive(Config, Debug, Clone)]
pub struct DatabaseConfig {
    #[pragma(length(min = 3, max = 63))]
    pub name: String,
    #[pragma(default = 10, range(min = 1, max = 10_000))]
    pub size_gb: u32,
    pub admin_password: Field<String>,
    pub network: Option<Dependency<Network>>,
    #[pragma(default)]
    pub fail: bool,
    #[pragma(default)]
    pub panic: bool,
}

impl DatabaseConfig {
    fn named(name: &str) -> Self {
        DatabaseConfig {
            name: name.to_owned(),
            size_gb: 10,
            admin_password: Field::Value("hunter22".to_owned()),
            network: None,
            fail: false,
            panic: false,
        }
    }
}

#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct DatabaseOutputs {
    pub connection_url: String,
    pub port: u16,
}

/// A managed database; records what it was asked to do.
#[derive(ResourceType, Default, Clone)]
#[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
pub struct Database {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Database {
    fn outputs_for(cx: &Context<Self>, note: &str) -> Result<DatabaseOutputs, LifecycleError> {
        let config = cx.config();
        if config.fail {
            return Err(LifecycleError::infrastructure("quota exceeded"));
        }
        if config.panic {
            panic!("handler bug");
        }
        let password = config.admin_password.value()?;
        let host = match &config.network {
            Some(network) => network
                .resolve()?
                .outputs
                .as_ref()
                .map(|o| o.network_id.clone())
                .unwrap_or_default(),
            None => "public".to_owned(),
        };
        Ok(DatabaseOutputs {
            connection_url: format!("postgres://admin:{password}@{host}/{}{note}", config.name),
            port: 5432,
        })
    }
}

impl Lifecycle for Database {
    async fn on_create(&self, cx: &Context<Self>) -> Result<DatabaseOutputs, LifecycleError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("create {}", cx.name()));
        Self::outputs_for(cx, "")
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        previous: &DatabaseConfig,
    ) -> Result<DatabaseOutputs, LifecycleError> {
        self.calls.lock().unwrap().push(format!(
            "update {} from {} with outputs {:?}",
            cx.name(),
            previous.name,
            cx.outputs().map(|o| o.port)
        ));
        Self::outputs_for(cx, &format!("?was={}", previous.name))
    }
    async fn on_delete(&self, cx: &Context<Self>) -> Result<(), LifecycleError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("delete {}", cx.name()));
        Ok(())
    }
}

#[derive(Config, Debug, Clone)]
pub struct ClusterConfig {
    pub replicas: u32,
}

#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct ClusterOutputs {
    pub urls: Vec<String>,
}

/// A cluster of databases, applied as subresources.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "cluster", config = ClusterConfig, outputs = ClusterOutputs)]
pub struct Cluster;

impl Lifecycle for Cluster {
    async fn on_create(&self, cx: &Context<Self>) -> Result<ClusterOutputs, LifecycleError> {
        let mut urls = Vec::new();
        for index in 0..cx.config().replicas {
            let name = format!("{}-{index}", cx.name());
            cx.apply::<Database>(&name, &DatabaseConfig::named(&name))
                .await?;
            let ready = cx
                .wait_ready::<Database>(&name, Duration::from_secs(1))
                .await?;
            urls.push(ready.outputs.connection_url);
        }
        Ok(ClusterOutputs { urls })
    }
    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &ClusterConfig,
    ) -> Result<ClusterOutputs, LifecycleError> {
        self.on_create(cx).await
    }
    async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

#[derive(Config, Debug, Clone)]
pub struct SecretConfig {
    pub data: BTreeMap<String, String>,
}

#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct SecretOutputs {
    pub version: u32,
}

/// A secret.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "secret", config = SecretConfig, outputs = SecretOutputs)]
pub struct Secret;

fn harness() -> (ProviderHarness, Arc<Mutex<Vec<String>>>) {
    let database = Database::default();
    let calls = database.calls.clone();
    let provider = Provider::new("mycloud")
        .resource_with(database)
        .unwrap()
        .resource::<Network>()
        .unwrap()
        .resource::<Cluster>()
        .unwrap();
    (ProviderHarness::new(provider), calls)
}

#[tokio::test]
async fn create_returns_outputs_and_records_the_event() {
    let (harness, calls) = harness();
    let result = harness
        .create::<Database>("analytics", &DatabaseConfig::named("analytics"))
        .await;
    assert!(result.success, "{:?}", result.error);
    let outputs: DatabaseOutputs = result.outputs_as().unwrap();
    assert_eq!(
        outputs.connection_url,
        "postgres://admin:hunter22@public/analytics"
    );
    assert_eq!(*calls.lock().unwrap(), ["create analytics"]);
    let events = harness.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::Create);
    assert_eq!(events[0].config["size_gb"], 10);
}

#[tokio::test]
async fn update_sees_the_previous_config_and_current_outputs() {
    let (harness, calls) = harness();
    let current = DatabaseOutputs {
        connection_url: "postgres://old".to_owned(),
        port: 6543,
    };
    let result = harness
        .update::<Database>(
            "analytics",
            &DatabaseConfig::named("analytics2"),
            &DatabaseConfig::named("analytics"),
            Some(&current),
        )
        .await;
    assert!(result.success, "{:?}", result.error);
    let outputs: DatabaseOutputs = result.outputs_as().unwrap();
    assert!(outputs
        .connection_url
        .ends_with("/analytics2?was=analytics"));
    assert_eq!(
        *calls.lock().unwrap(),
        ["update analytics from analytics with outputs Some(6543)"]
    );
    assert_eq!(
        result.event.previous_config.unwrap()["name"],
        json!("analytics")
    );
}

#[tokio::test]
async fn delete_succeeds_without_outputs() {
    let (harness, calls) = harness();
    let result = harness
        .delete::<Database>("analytics", &DatabaseConfig::named("analytics"), None)
        .await;
    assert!(result.success);
    assert!(result.outputs.is_none());
    assert_eq!(*calls.lock().unwrap(), ["delete analytics"]);
    assert!(result.outputs_as::<DatabaseOutputs>().is_err());
}

#[tokio::test]
async fn failures_and_invalid_configs_are_reported() {
    let (harness, calls) = harness();
    let mut config = DatabaseConfig::named("analytics");
    config.fail = true;
    let result = harness.create::<Database>("analytics", &config).await;
    assert!(!result.success);
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::Infrastructure);
    assert_eq!(error.message, "quota exceeded");

    let mut config = DatabaseConfig::named("analytics");
    config.size_gb = 20_000;
    let result = harness.create::<Database>("analytics", &config).await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::InvalidParams);
    assert_eq!(
        error.message,
        "invalid config at size_gb: size_gb: must be at most 10000, got 20000"
    );

    let event = HarnessEvent::new(
        EventType::Create,
        "database",
        "analytics",
        json!({"name": "analytics", "admin_password": "x", "colour": "red"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let result = harness.run(event).await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::InvalidParams);
    assert!(
        error.message.contains("unknown field `colour`"),
        "{}",
        error.message
    );

    let event = HarnessEvent::new(EventType::Create, "queue", "q", Default::default());
    let error = harness.run(event).await.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::UnknownResourceType);

    assert_eq!(*calls.lock().unwrap(), ["create analytics"]);
    assert_eq!(harness.history().len(), 4);
    harness.clear();
    assert!(harness.history().is_empty());
}

#[tokio::test]
async fn a_panicking_handler_is_reported_as_an_error() {
    let (harness, _) = harness();
    let mut config = DatabaseConfig::named("analytics");
    config.panic = true;
    let result = harness.create::<Database>("analytics", &config).await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::Panicked);
    assert_eq!(error.message, "handler panicked: handler bug");
    let again = harness
        .create::<Database>("analytics", &DatabaseConfig::named("analytics"))
        .await;
    assert!(again.success);
}

#[tokio::test]
async fn dependencies_resolve_from_registered_resources() {
    let (harness, _) = harness();
    let mut config = DatabaseConfig::named("analytics");
    config.network = Some(Dependency::new("main"));

    let result = harness.create::<Database>("analytics", &config).await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::DependencyNotReady);
    assert_eq!(
        error.message,
        "dependency mycloud/network/main is not ready"
    );

    let mut network = Resource::<Network>::new(
        "main",
        NetworkConfig {
            cidr: "10.0.0.0/16".to_owned(),
        },
    );
    network.outputs = Some(NetworkOutputs {
        network_id: "net-7".to_owned(),
    });
    network.lifecycle_state = LifecycleState::Ready;
    harness.register(&network).unwrap();

    let result = harness.create::<Database>("analytics", &config).await;
    assert!(result.success, "{:?}", result.error);
    let outputs: DatabaseOutputs = result.outputs_as().unwrap();
    assert_eq!(
        outputs.connection_url,
        "postgres://admin:hunter22@net-7/analytics"
    );
    let marker = &result.event.config["network"];
    assert_eq!(marker["ref"]["config"]["cidr"], "10.0.0.0/16");
}

#[tokio::test]
async fn field_references_resolve_into_config_and_outputs() {
    let (harness, _) = harness();
    let mut secret = Resource::<Secret>::new(
        "db-password",
        SecretConfig {
            data: BTreeMap::from([("api_key".to_owned(), "s3cr3t-key".to_owned())]),
        },
    );
    secret.outputs = Some(SecretOutputs { version: 3 });
    harness.register(&secret).unwrap();

    let mut config = DatabaseConfig::named("analytics");
    config.admin_password = Field::Reference(FieldReference::config(
        "mycloud",
        "secret",
        "db-password",
        "data.api_key",
    ));
    let result = harness.create::<Database>("analytics", &config).await;
    assert!(result.success, "{:?}", result.error);
    assert!(result
        .outputs_as::<DatabaseOutputs>()
        .unwrap()
        .connection_url
        .contains("admin:s3cr3t-key@"));
    assert_eq!(
        result.event.config["admin_password"]["__field_ref__"],
        json!(true)
    );

    // An output of another resource, set by value.
    let url = FieldReference::new("mycloud", "vault", "main", "token");
    harness.set_field_value(url.clone(), "from-vault");
    config.admin_password = Field::Reference(url);
    let result = harness.create::<Database>("analytics", &config).await;
    assert!(result
        .outputs_as::<DatabaseOutputs>()
        .unwrap()
        .connection_url
        .contains("admin:from-vault@"));

    // A typed output reference to a registered resource.
    let mut other = Resource::<Database>::new("primary", DatabaseConfig::named("primary"));
    other.outputs = Some(DatabaseOutputs {
        connection_url: "pg-primary".to_owned(),
        port: 5432,
    });
    harness.register(&other).unwrap();
    config.admin_password = Database::outputs("primary").connection_url.into();
    let result = harness.create::<Database>("analytics", &config).await;
    assert!(result
        .outputs_as::<DatabaseOutputs>()
        .unwrap()
        .connection_url
        .contains("admin:pg-primary@"));

    // Nothing known about the reference: the handler sees it unresolved.
    config.admin_password = Field::Reference(FieldReference::new("mycloud", "vault", "gone", "x"));
    let result = harness.create::<Database>("analytics", &config).await;
    let error = result.error.unwrap();
    assert_eq!(
        error.message,
        "field reference mycloud/vault/gone:outputs.x is not resolved"
    );
}

#[tokio::test]
async fn subresources_are_recorded_and_answered() {
    let (harness, _) = harness();
    harness
        .set_subresource_outputs::<Database>(
            "main-0",
            &DatabaseOutputs {
                connection_url: "pg-0".to_owned(),
                port: 5432,
            },
        )
        .unwrap();
    harness
        .set_subresource_outputs::<Database>(
            "main-1",
            &DatabaseOutputs {
                connection_url: "pg-1".to_owned(),
                port: 5432,
            },
        )
        .unwrap();
    let result = harness
        .create::<Cluster>("main", &ClusterConfig { replicas: 2 })
        .await;
    assert!(result.success, "{:?}", result.error);
    assert_eq!(
        result.outputs_as::<ClusterOutputs>().unwrap().urls,
        ["pg-0", "pg-1"]
    );
    let applied = harness.applied();
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[0].resource, "database");
    assert_eq!(applied[1].name, "main-1");
    assert_eq!(applied[0].config["name"], "main-0");
    assert_eq!(applied[0].owner_references[0].name, "main");

    harness.clear();
    harness.set_subresource_failed::<Database>("main-1", "disk full");
    let result = harness
        .create::<Cluster>("main", &ClusterConfig { replicas: 3 })
        .await;
    let error = result.error.unwrap();
    assert_eq!(error.kind, HarnessErrorKind::Subresource);
    assert!(error.message.contains("disk full"), "{}", error.message);

    harness.refuse_subresource::<Database>("main-0", "quota");
    let result = harness
        .create::<Cluster>("main", &ClusterConfig { replicas: 1 })
        .await;
    assert!(result.error.unwrap().message.contains("refused: quota"));

    let other = ProviderHarness::new(Provider::new("mycloud").resource::<Cluster>().unwrap());
    let result = other
        .create::<Cluster>("solo", &ClusterConfig { replicas: 1 })
        .await;
    let error = result.error.unwrap();
    assert!(
        error.message.contains("did not become ready"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn health_and_logs_go_through_the_handler() {
    let (harness, _) = harness();
    let health = harness
        .health::<Network>(
            "main",
            &NetworkConfig {
                cidr: "10.0.0.0/8".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(health.status, HealthStatus::Healthy);
    let err = harness
        .logs::<Network>(
            "main",
            &NetworkConfig {
                cidr: "10.0.0.0/8".into(),
            },
            None,
            10,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, HarnessErrorKind::NotSupported);
}
