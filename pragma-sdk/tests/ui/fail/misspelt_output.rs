use pragma_sdk::authoring::Field;
use pragma_sdk::{Config, Outputs, ResourceType};

#[derive(Config)]
pub struct DatabaseConfig {
    pub name: String,
}

#[derive(Outputs)]
pub struct DatabaseOutputs {
    pub connection_url: String,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
pub struct Database;

fn main() {
    let url: Field<String> = Database::outputs("analytics").conection_url.into();
    let _ = url;
}
