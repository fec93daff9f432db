use pragma_sdk::{Config, Outputs, ResourceType};

#[derive(Config)]
pub struct DatabaseConfig {
    pub name: String,
}

#[derive(Outputs)]
pub enum DatabaseOutputs {
    Url(String),
}

#[derive(ResourceType)]
#[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseConfig)]
pub enum Database {
    A,
}

#[derive(Config)]
pub struct Pair(String, u32);

#[derive(Config)]
pub enum Shape {
    Circle { radius: u32 },
    Square,
}

fn main() {}
