//! The hidden shadow type behind `Config` and `Outputs`: it has the same fields, derives
//! serde and schemars in remote mode, and the real type's impls delegate to it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{DataType, DefaultValue, Field, Shape};

/// The `Serialize`, `Deserialize` and `JsonSchema` impls of `data`.
pub fn expand(data: &DataType) -> TokenStream {
    let ident = &data.ident;
    let shadow = format_ident!("__{}Wire", ident);
    let remote = ident.to_string();
    let docs = &data.docs;
    let mut helpers = Vec::new();
    let body = match &data.shape {
        Shape::Struct(fields) => {
            let fields = fields.iter().map(|field| shadow_field(field, &mut helpers));
            quote!(struct #shadow { #(#fields,)* })
        }
        Shape::Enum(variants) => {
            let variants = variants.iter().map(|variant| {
                let ident = &variant.ident;
                let docs = &variant.docs;
                let wire = &variant.wire;
                quote!(#(#docs)* #[serde(rename = #wire)] #ident)
            });
            quote!(enum #shadow { #(#variants,)* })
        }
    };
    let deny = match &data.shape {
        Shape::Struct(_) => quote!(deny_unknown_fields,),
        Shape::Enum(_) => quote!(),
    };
    quote! {
        #[doc(hidden)]
        #[allow(dead_code, non_camel_case_types, clippy::all)]
        const _: () = {
            #[derive(
                ::pragma_sdk::__private::serde::Serialize,
                ::pragma_sdk::__private::serde::Deserialize,
                ::pragma_sdk::__private::schemars::JsonSchema
            )]
            #[serde(crate = "::pragma_sdk::__private::serde", remote = #remote, rename = #remote, #deny)]
            #[schemars(crate = "::pragma_sdk::__private::schemars")]
            #(#docs)*
            #body

            #(#helpers)*

            #[automatically_derived]
            impl ::pragma_sdk::__private::serde::Serialize for #ident {
                fn serialize<__S>(&self, serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error>
                where
                    __S: ::pragma_sdk::__private::serde::Serializer,
                {
                    #shadow::serialize(self, serializer)
                }
            }

            #[automatically_derived]
            impl<'de> ::pragma_sdk::__private::serde::Deserialize<'de> for #ident {
                fn deserialize<__D>(deserializer: __D) -> ::core::result::Result<Self, __D::Error>
                where
                    __D: ::pragma_sdk::__private::serde::Deserializer<'de>,
                {
                    #shadow::deserialize(deserializer)
                }
            }

            #[automatically_derived]
            impl ::pragma_sdk::__private::schemars::JsonSchema for #ident {
                fn schema_name() -> ::std::borrow::Cow<'static, str> {
                    <#shadow as ::pragma_sdk::__private::schemars::JsonSchema>::schema_name()
                }

                fn schema_id() -> ::std::borrow::Cow<'static, str> {
                    <#shadow as ::pragma_sdk::__private::schemars::JsonSchema>::schema_id()
                }

                fn json_schema(
                    generator: &mut ::pragma_sdk::__private::schemars::SchemaGenerator,
                ) -> ::pragma_sdk::__private::schemars::Schema {
                    <#shadow as ::pragma_sdk::__private::schemars::JsonSchema>::json_schema(generator)
                }

                fn inline_schema() -> bool {
                    <#shadow as ::pragma_sdk::__private::schemars::JsonSchema>::inline_schema()
                }
            }
        };
    }
}

fn shadow_field(field: &Field, helpers: &mut Vec<TokenStream>) -> TokenStream {
    let ident = &field.ident;
    let ty = &field.ty;
    let docs = &field.docs;
    let wire = &field.wire;
    let mut attrs = vec![quote!(#[serde(rename = #wire)])];
    match &field.default {
        Some(DefaultValue::Trait) => attrs.push(quote!(#[serde(default)])),
        Some(DefaultValue::Expr(expr)) => {
            let name = format_ident!("__default_{}", helper_suffix(field));
            let name_str = name.to_string();
            let value = match expr {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(_),
                    ..
                }) => quote_spanned!(expr.span()=> ::core::convert::Into::into(#expr)),
                _ => quote_spanned!(expr.span()=> #expr),
            };
            helpers.push(quote! {
                fn #name() -> #ty {
                    #value
                }
            });
            attrs.push(quote!(#[serde(default = #name_str)]));
        }
        None => {}
    }
    let mut transforms = Vec::new();
    let support = quote!(::pragma_sdk::authoring::__derive_support);
    let json = quote!(::pragma_sdk::__private::serde_json::json);
    let bound = |b: &Option<syn::Expr>| match b {
        Some(expr) => quote!(::core::option::Option::Some(#json!(#expr))),
        None => quote!(::core::option::Option::None),
    };
    if let Some(length) = &field.rules.length {
        let (min, max) = (bound(&length.min), bound(&length.max));
        transforms.push(quote!(#support::schema_length(schema, #min, #max);));
    }
    if let Some(range) = &field.rules.range {
        let (min, max) = (bound(&range.min), bound(&range.max));
        transforms.push(quote!(#support::schema_range(schema, #min, #max);));
    }
    if let Some(pattern) = &field.rules.pattern {
        transforms.push(quote!(#support::schema_pattern(schema, #pattern);));
    }
    if !transforms.is_empty() {
        let name = format_ident!("__schema_{}", helper_suffix(field));
        helpers.push(quote! {
            fn #name(schema: &mut ::pragma_sdk::__private::schemars::Schema) {
                #(#transforms)*
            }
        });
        attrs.push(quote!(#[schemars(transform = #name)]));
    }
    quote!(#(#docs)* #(#attrs)* #ident: #ty)
}

/// The field's name without `r#`, for naming generated helpers.
fn helper_suffix(field: &Field) -> String {
    let name = field.ident.to_string();
    name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
}
