use pragma_sdk::{Config, Outputs, ResourceType};

#[derive(Config)]
pub struct DatabaseConfig {
    #[pragma(default, default = 3)]
    pub size_gb: u32,
    #[pragma(rename = "size_gb")]
    pub disk: u32,
    #[pragma(length(min = 1), length(max = 2))]
    pub name: String,
}

#[derive(Outputs)]
pub struct DatabaseOutputs {
    pub url: String,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", provider = "other", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
pub struct Database;

fn main() {}
