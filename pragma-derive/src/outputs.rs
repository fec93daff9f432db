//! `#[derive(Outputs)]`: serde and schema impls, and the struct of typed references to each
//! output field.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::{DataType, Shape};

/// The code for `#[derive(Outputs)]`.
pub fn expand(data: &DataType) -> TokenStream {
    let ident = &data.ident;
    let vis = &data.vis;
    let refs = format_ident!("{}Refs", ident);
    let fields = match &data.shape {
        Shape::Struct(fields) => fields.as_slice(),
        Shape::Enum(_) => &[],
    };
    let ref_fields = fields.iter().map(|field| {
        let name = &field.ident;
        let ty = &field.ty;
        let doc = format!("The reference to the output `{}`.", field.wire);
        quote! {
            #[doc = #doc]
            pub #name: ::pragma_sdk::authoring::FieldRef<#ty>
        }
    });
    let ref_values = fields.iter().map(|field| {
        let name = &field.ident;
        let path = format!("outputs.{}", field.wire);
        quote! {
            #name: __pragma::output_ref(provider, resource, name, #path)
        }
    });
    let refs_doc =
        format!("Typed references to the outputs of one resource, as [`{ident}`] holds them.");
    let unused = fields
        .is_empty()
        .then(|| quote!(let _ = (provider, resource, name);));
    let impls = quote! {
        #[automatically_derived]
        impl __pragma::Outputs for #ident {
            type Refs = #refs;

            fn refs(provider: &str, resource: &str, name: &str) -> #refs {
                #unused
                #refs {
                    #(#ref_values,)*
                }
            }
        }
    };
    let wire = crate::shadow::expand(data, impls);
    quote! {
        #wire

        #[doc = #refs_doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone)]
        #vis struct #refs {
            #(#ref_fields,)*
        }
    }
}
