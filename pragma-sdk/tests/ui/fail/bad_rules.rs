use pragma_sdk::authoring::Field;
use pragma_sdk::{Config, Outputs};

#[derive(Config)]
pub struct DatabaseConfig {
    #[pragma(length(min = 1))]
    pub size_gb: u32,
    #[pragma(range(max = 10))]
    pub name: String,
    #[pragma(length(min = 10, max = 3))]
    pub password: Field<String>,
    #[pragma(pattern = "^[a-z+$")]
    pub region: String,
    #[pragma(pattern = "^[0-9]+$")]
    pub replicas: Option<u8>,
    #[pragma(range())]
    pub port: u16,
}

#[derive(Outputs)]
pub struct DatabaseOutputs {
    #[pragma(range(min = 1))]
    pub port: u16,
}

fn main() {}
