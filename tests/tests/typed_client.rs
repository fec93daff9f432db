//! The typed client against the local platform: resource types written with the derives,
//! hosted by `pragma-local`, applied, read and deleted through both faces of the client, with
//! a typed output reference and a dependency flowing between two resources.

use std::time::{Duration, Instant};

use pragma_local::Platform;
use pragma_sdk::authoring::{Dependency, Field};
use pragma_sdk::client::{ApplyMode, ListFilter};
use pragma_sdk::models::LifecycleState;
use pragma_sdk::{
    AsyncPragmaClient, ClientBuilder, Config, Context, Lifecycle, LifecycleError, Outputs,
    Provider, Resource, ResourceType,
};

#[derive(Config, Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// The network's address range.
    #[pragma(length(min = 9, max = 18))]
    pub cidr: String,
}

#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct NetworkOutputs {
    pub network_id: String,
    pub mtu: u16,
}

/// A private network.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "network", config = NetworkConfig, outputs = NetworkOutputs)]
pub struct Network;

impl Lifecycle for Network {
    async fn on_create(&self, cx: &Context<Self>) -> Result<NetworkOutputs, LifecycleError> {
        Ok(NetworkOutputs {
            network_id: format!("net-{}-{}", cx.name(), cx.config().cidr),
            mtu: 1500,
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
    #[pragma(range(min = 1, max = 100))]
    pub size_gb: u32,
    /// Filled from the network's `network_id` output.
    pub network_id: Field<String>,
    pub network: Dependency<Network>,
}

#[derive(Outputs, Debug, Clone, PartialEq)]
pub struct DatabaseOutputs {
    pub connection_url: String,
    pub network_mtu: u16,
}

/// A database attached to a network.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
pub struct Database;

impl Lifecycle for Database {
    async fn on_create(&self, cx: &Context<Self>) -> Result<DatabaseOutputs, LifecycleError> {
        let config = cx.config();
        let network = config.network.resolve()?;
        let mtu = network
            .outputs
            .as_ref()
            .map(|outputs| outputs.mtu)
            .ok_or_else(|| LifecycleError::infrastructure("network has no outputs"))?;
        Ok(DatabaseOutputs {
            connection_url: format!(
                "db://{}/{}?size={}",
                config.network_id.value()?,
                cx.name(),
                config.size_gb
            ),
            network_mtu: mtu,
        })
    }

    async fn on_update(
        &self,
        cx: &Context<Self>,
        _previous: &DatabaseConfig,
    ) -> Result<DatabaseOutputs, LifecycleError> {
        self.on_create(cx).await
    }

    async fn on_delete(&self, _cx: &Context<Self>) -> Result<(), LifecycleError> {
        Ok(())
    }
}

fn provider() -> Provider {
    Provider::new("mycloud")
        .resource::<Network>()
        .and_then(|p| p.resource::<Database>())
        .unwrap()
}

async fn wait_ready(client: &AsyncPragmaClient, provider: &str, resource: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = client
            .get_resource_status(provider, resource, name)
            .await
            .unwrap();
        match status.lifecycle_state {
            LifecycleState::Ready => return,
            LifecycleState::Failed => panic!("{name} failed: {:?}", status.error),
            _ if Instant::now() > deadline => panic!("{name} is still {:?}", status),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_resources_flow_through_the_local_platform() {
    let server = Platform::builder()
        .provider(provider())
        .in_memory()
        .build()
        .unwrap()
        .spawn_ephemeral()
        .await
        .unwrap();
    let client = ClientBuilder::new()
        .base_url(server.base_url())
        .no_auth()
        .build()
        .unwrap();

    let network = Resource::<Network>::new(
        "core",
        NetworkConfig {
            cidr: "10.0.0.0/16".to_owned(),
        },
    );
    let stored = client.apply(&network, ApplyMode::Queue).await.unwrap();
    assert_eq!(stored.config, network.config);

    let database = Resource::<Database>::new(
        "analytics",
        DatabaseConfig {
            size_gb: 20,
            network_id: Field::from(Network::outputs("core").network_id),
            network: Dependency::new("core"),
        },
    );
    client.apply(&database, ApplyMode::Queue).await.unwrap();
    wait_ready(&client, "mycloud", "database", "analytics").await;

    let fetched = client.get::<Database>("analytics").await.unwrap();
    let outputs = fetched.outputs.expect("a ready database has outputs");
    assert_eq!(
        outputs.connection_url,
        "db://net-core-10.0.0.0/16/analytics?size=20"
    );
    assert_eq!(outputs.network_mtu, 1500);
    assert_eq!(fetched.config.network.name(), "core");

    // The blocking face sees the same platform, from a thread of its own.
    let base_url = server.base_url();
    let listed = tokio::task::spawn_blocking(move || {
        let blocking = ClientBuilder::new()
            .base_url(base_url)
            .no_auth()
            .build_blocking()
            .unwrap();
        blocking.list::<Network>(&ListFilter::new()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].outputs.as_ref().map(|o| o.network_id.as_str()),
        Some("net-core-10.0.0.0/16")
    );

    // A change of the network's config reaches the database through its field reference.
    let changed = Resource::<Network>::new(
        "core",
        NetworkConfig {
            cidr: "10.9.0.0/16".to_owned(),
        },
    );
    client.apply(&changed, ApplyMode::Queue).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let database = client.get::<Database>("analytics").await.unwrap();
        let url = database
            .outputs
            .map(|o| o.connection_url)
            .unwrap_or_default();
        if url == "db://net-core-10.9.0.0/16/analytics?size=20" {
            break;
        }
        assert!(Instant::now() < deadline, "the update never arrived: {url}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A config that breaks a validation rule is refused before anything is stored.
    let too_big = Resource::<Database>::new(
        "huge",
        DatabaseConfig {
            size_gb: 1000,
            network_id: Field::Value("net".to_owned()),
            network: Dependency::new("core"),
        },
    );
    let err = client.apply(&too_big, ApplyMode::Queue).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(422), "{err}");
    assert!(err.to_string().contains("size_gb"), "{err}");
    assert!(client
        .get::<Database>("huge")
        .await
        .unwrap_err()
        .is_not_found());

    // Deleting the network is refused while the database depends on it.
    let err = client.delete::<Network>("core").await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    client.delete::<Database>("analytics").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get::<Database>("analytics").await.is_ok() {
        assert!(Instant::now() < deadline, "the database was never removed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.delete::<Network>("core").await.unwrap();

    server.shutdown().await;
}

#[tokio::test]
async fn a_draft_is_stored_without_processing() {
    let server = Platform::builder()
        .provider(provider())
        .in_memory()
        .build()
        .unwrap()
        .spawn_ephemeral()
        .await
        .unwrap();
    let client = ClientBuilder::new()
        .base_url(server.base_url())
        .no_auth()
        .build()
        .unwrap();
    let network = Resource::<Network>::new(
        "draft",
        NetworkConfig {
            cidr: "10.1.0.0/16".to_owned(),
        },
    );
    let stored = client.apply(&network, ApplyMode::Draft).await.unwrap();
    assert_eq!(stored.lifecycle_state, LifecycleState::Draft);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fetched = client.get::<Network>("draft").await.unwrap();
    assert_eq!(fetched.lifecycle_state, LifecycleState::Draft);
    assert!(fetched.outputs.is_none());
    server.shutdown().await;
}
