use std::collections::{BTreeMap, HashMap};

use pragma_sdk::authoring::{Dependency, Field, FieldRef};
use pragma_sdk::{Config, Outputs, ResourceType};

#[derive(Config, Debug, Clone, PartialEq)]
pub enum Distance {
    Cosine,
    #[pragma(rename = "euclid")]
    Euclid,
    Dot,
}

/// A nested config.
#[derive(Config, Debug, Clone)]
pub struct Rule {
    #[pragma(range(min = 1, max = 65535))]
    pub port: u16,
}

fn positive(value: &f64) -> Result<(), String> {
    if *value > 0.0 { Ok(()) } else { Err("must be positive".into()) }
}

fn default_ratio() -> f64 {
    0.5
}

#[derive(Config, Debug, Clone)]
pub struct NetworkConfig {
    #[pragma(pattern = "^[0-9./]+$")]
    pub cidr: String,
}

#[derive(Outputs, Debug, Clone)]
pub struct NetworkOutputs {
    pub id: String,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "network", config = NetworkConfig, outputs = NetworkOutputs)]
pub struct Network;

/// Every field shape.
#[derive(Config, Debug, Clone)]
pub struct EveryShape {
    /// Documented.
    #[pragma(length(min = 1, max = 10), pattern = "^[a-z]+$")]
    pub text: String,
    #[pragma(range(min = -5, max = 5))]
    pub small: i8,
    pub big: u64,
    #[pragma(range(min = 0.0, max = 1.0), custom = positive, default = default_ratio())]
    pub ratio: f64,
    #[pragma(default)]
    pub flag: bool,
    #[pragma(length(max = 3))]
    pub maybe: Option<String>,
    #[pragma(length(min = 1))]
    pub list: Vec<String>,
    pub rules: Vec<Rule>,
    pub by_name: BTreeMap<String, Rule>,
    pub hashed: HashMap<String, u32>,
    pub nested: Rule,
    pub optional_nested: Option<Rule>,
    pub boxed: Box<Rule>,
    pub distance: Distance,
    #[pragma(length(min = 8))]
    pub secret: Field<String>,
    #[pragma(range(max = 100))]
    pub count: Field<u32>,
    pub optional_field: Option<Field<String>>,
    pub network: Dependency<Network>,
    pub maybe_network: Option<Dependency<Network>>,
    pub networks: Vec<Dependency<Network>>,
    pub json: serde_json::Value,
    #[pragma(rename = "kind", default = "plain", length(min = 1))]
    pub r#type: String,
    #[pragma(rename = "dashed-name", default)]
    pub dashed: u32,
    #[pragma(default = "primary")]
    pub role: String,
    pub unit: (),
}

#[derive(Outputs, Debug, Clone)]
pub struct EveryOutput {
    pub url: String,
    pub port: u16,
    pub tags: Vec<String>,
    pub nested: Option<Rule>,
    #[pragma(default)]
    pub extra: BTreeMap<String, String>,
    #[pragma(rename = "kind")]
    pub r#type: String,
}

#[derive(Outputs)]
pub struct NoOutputs {}

/// A unit resource type.
#[derive(ResourceType, Default)]
#[pragma(provider = "mycloud", resource = "every", config = EveryShape, outputs = EveryOutput)]
pub struct Every;

/// A resource type holding handler state.
#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "stateful", config = NetworkConfig, outputs = NoOutputs)]
pub struct Stateful {
    pub root: String,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "tuple", config = NetworkConfig, outputs = NoOutputs)]
pub struct Tuple(pub u32);

fn main() {
    let refs = Every::outputs("x");
    let url: FieldRef<String> = refs.url;
    let _port: FieldRef<u16> = refs.port;
    let _tags: FieldRef<Vec<String>> = refs.tags;
    assert_eq!(refs.r#type.reference().field, "outputs.kind");
    let _field: Field<String> = url.into();
    let _ = NoOutputs::refs;
    assert_eq!(<Every as ResourceType>::DESCRIPTION, Some("A unit resource type."));
    assert_eq!(<Tuple as ResourceType>::DESCRIPTION, None);
    let _ = schemars::schema_for!(EveryShape);
}
