use pragma_sdk::{Config, Outputs, ResourceType};

#[derive(Config)]
pub struct DatabaseConfig {
    #[pragma(lenght(min = 3))]
    pub name: String,
    #[pragma(range(min = 1, maximum = 10))]
    pub size_gb: u32,
}

#[derive(Outputs)]
pub struct DatabaseOutputs {
    pub url: String,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs, colour = "red")]
pub struct Database;

fn main() {}
