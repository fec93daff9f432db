//! `#[derive(ResourceType)]`: the trait impl naming the provider, the type, its config and its
//! outputs, with spanned assertions that the config and outputs types fit.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::ResourceTypeInput;

/// The code for `#[derive(ResourceType)]`.
pub fn expand(input: &ResourceTypeInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let provider = &input.provider;
    let resource = &input.resource;
    let config = &input.config;
    let outputs = &input.outputs;
    let description = match &input.description {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    };
    let assert_config = quote_spanned! {config.span()=>
        const _: fn() = || {
            fn config_type_must_derive_config<T: ::pragma_sdk::Config>() {}
            config_type_must_derive_config::<#config>();
        };
    };
    let assert_outputs = quote_spanned! {outputs.span()=>
        const _: fn() = || {
            fn outputs_type_must_derive_outputs<T: ::pragma_sdk::Outputs>() {}
            outputs_type_must_derive_outputs::<#outputs>();
        };
    };
    quote! {
        #assert_config
        #assert_outputs

        #[automatically_derived]
        impl #impl_generics ::pragma_sdk::ResourceType for #ident #ty_generics #where_clause {
            const PROVIDER: &'static str = #provider;
            const RESOURCE: &'static str = #resource;
            const DESCRIPTION: ::core::option::Option<&'static str> = #description;
            type Config = #config;
            type Outputs = #outputs;
        }
    }
}
