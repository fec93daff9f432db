use pragma_sdk::{Outputs, ResourceType};

pub struct PlainConfig {
    pub name: String,
}

#[derive(Outputs)]
pub struct DatabaseOutputs {
    pub url: String,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "database", config = PlainConfig, outputs = DatabaseOutputs)]
pub struct Database;

fn main() {}
