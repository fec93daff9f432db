//! Derive macros for Pragmatiks providers: `Config`, `Outputs` and `ResourceType`.
//! (Being written.)

use proc_macro::TokenStream;

/// Derives `pragma_sdk::authoring::Config`.
#[proc_macro_derive(Config, attributes(pragma))]
pub fn derive_config(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

/// Derives `pragma_sdk::authoring::Outputs`.
#[proc_macro_derive(Outputs, attributes(pragma))]
pub fn derive_outputs(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

/// Derives `pragma_sdk::authoring::ResourceType`.
#[proc_macro_derive(ResourceType, attributes(pragma))]
pub fn derive_resource_type(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
