use pragma_sdk::Config;

fn even(value: &u32) -> Result<(), String> {
    if value % 2 == 0 { Ok(()) } else { Err("must be even".into()) }
}

#[derive(Config)]
pub struct DatabaseConfig {
    #[pragma(custom = even)]
    pub name: String,
}

fn main() {}
