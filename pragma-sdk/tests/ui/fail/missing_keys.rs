use pragma_sdk::{Config, Outputs, ResourceType};

#[derive(Config)]
pub struct DatabaseConfig {
    pub name: String,
}

#[derive(Outputs)]
pub struct DatabaseOutputs {
    pub url: String,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", config = DatabaseConfig)]
pub struct Database;

#[derive(ResourceType)]
pub struct Bare;

fn main() {}
