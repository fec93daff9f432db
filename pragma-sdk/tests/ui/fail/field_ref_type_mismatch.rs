use pragma_sdk::authoring::Field;
use pragma_sdk::{Config, Outputs, ResourceType};

#[derive(Config)]
pub struct DatabaseConfig {
    pub name: String,
}

#[derive(Outputs)]
pub struct DatabaseOutputs {
    pub connection_url: String,
    pub port: u16,
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
pub struct Database;

fn main() {
    let port: Field<u16> = Field::from(Database::outputs("analytics").connection_url);
    let _ = port;
}
