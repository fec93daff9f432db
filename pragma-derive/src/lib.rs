//! Derive macros for Pragmatiks providers: `Config`, `Outputs` and `ResourceType`.
//!
//! Each derive first parses its input into a small checked form (`ast`), collecting every
//! problem with its span, and only then generates code (one module per derive). Generated
//! code names every path absolutely through `::pragma_sdk`, so it compiles wherever it is
//! expanded. The macros are documented where they are re-exported, in `pragma_sdk`.

#![warn(missing_docs)]

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

mod ast;
mod config;
mod outputs;
mod resource_type;
mod shadow;

/// Derives `pragma_sdk::Config` (with serde and JSON schema impls) for a struct with named
/// fields or an enum of unit variants (a string enum).
///
/// Decoding refuses unknown fields; `Option<T>` fields are optional; doc comments become
/// schema descriptions. Field attributes, inside `#[pragma(...)]`:
///
/// | attribute | effect |
/// |---|---|
/// | `default` / `default = EXPR` | the field may be left out; `Default::default()` or `EXPR` |
/// | `rename = "name"` | the field's name on the wire (also on enum variants) |
/// | `length(min = N, max = M)` | strings (in characters) and lists; `minLength`, `minItems`, … |
/// | `range(min = A, max = B)` | numbers; `minimum`, `maximum` |
/// | `pattern = "regex"` | strings; must match somewhere (anchor with `^…$`) |
/// | `custom = path::to_fn` | `fn(&T) -> Result<(), String>`, its error is the message |
///
/// Rules see through `Option<T>` and `Field<T>` (checked when a value is present) and are
/// written into the schema as well as checked by `Config::validate`, whose errors name the
/// field path and the rule (`size_gb: must be at most 10000, got 20000`). Validation recurses
/// into nested configs, lists and maps of them (`rules[2].port`).
///
/// Limitation: generic parameters are not supported, and rules are matched to types by
/// their names (`u32`, `String`, `Vec`), so a type alias escapes the rule/type check and is
/// caught by the trait bounds instead.
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
///
/// `<Name>Refs` has one `pub field: FieldRef<T>` per output field, with the path
/// `outputs.<field>`; `ResourceType::outputs(name)` builds it. Field attributes: `default`,
/// `default = EXPR` and `rename = "name"`; validation rules are refused (outputs are not
/// validated).
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
///
/// Works on unit structs and structs with fields (handler state). The doc comment becomes the
/// type's `DESCRIPTION`. A `config` type that does not implement `Config` (or an `outputs`
/// type that does not implement `Outputs`) is a compile error pointing at the attribute.
#[proc_macro_derive(ResourceType, attributes(pragma))]
pub fn derive_resource_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match ast::ResourceTypeInput::parse(&input) {
        Ok(parsed) => resource_type::expand(&parsed).into(),
        Err(err) => err.to_compile_error().into(),
    }
}
