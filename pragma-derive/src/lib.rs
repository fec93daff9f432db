//! Derive macros for Pragmatiks providers: `Config`, `Outputs` and `ResourceType`.
//!
//! Each derive first parses its input into a small checked form (`ast`), collecting every
//! problem with its span, and only then generates code (one module per derive). Generated
//! code names every path absolutely through `::pragma_sdk`, so it compiles wherever it is
//! expanded. The macros are documented where they are re-exported, in `pragma_sdk`.

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

mod ast;
mod config;
mod outputs;
mod resource_type;
mod shadow;

/// Derives `pragma_sdk::Config` (with serde and JSON schema impls) for a struct with named
/// fields or an enum of unit variants.
#[proc_macro_derive(Config, attributes(pragma))]
pub fn derive_config(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match ast::DataType::parse(&input, ast::Kind::Config) {
        Ok(data) => config::expand(&data).into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Derives `pragma_sdk::Outputs` (with serde and JSON schema impls, and a `<Name>Refs` struct
/// of typed references) for a struct with named fields.
#[proc_macro_derive(Outputs, attributes(pragma))]
pub fn derive_outputs(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match ast::DataType::parse(&input, ast::Kind::Outputs) {
        Ok(data) => outputs::expand(&data).into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Derives `pragma_sdk::ResourceType` from
/// `#[pragma(provider = "…", resource = "…", config = Type, outputs = Type)]`.
#[proc_macro_derive(ResourceType, attributes(pragma))]
pub fn derive_resource_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match ast::ResourceTypeInput::parse(&input) {
        Ok(parsed) => resource_type::expand(&parsed).into(),
        Err(err) => err.to_compile_error().into(),
    }
}
