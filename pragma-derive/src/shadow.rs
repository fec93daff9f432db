//! The hidden shadow type behind `Config` and `Outputs`: it has the same fields, derives
//! serde and schemars in remote mode, and the real type's impls delegate to it.
//!
//! Everything generated for one type goes into one `const _: () = { … };` block that first
//! imports the support module as `__pragma`, so that the generated code stays short: the
//! compiler's work grows with the number of tokens it is handed.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{DataType, DefaultValue, Field, Shape};

/// The `Serialize`, `Deserialize` and `JsonSchema` impls of `data`, followed by `extra`
/// (more impls, which may use the `__pragma`, `__Some` and `__None` imports), in one block.
pub fn expand(data: &DataType, extra: TokenStream) -> TokenStream {
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
                let rename = (variant.wire != crate::ast::unraw(ident)).then(|| {
                    let wire = &variant.wire;
                    quote!(#[serde(rename = #wire)])
                });
                quote!(#(#docs)* #rename #ident)
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
        #[allow(dead_code, non_camel_case_types, unused_imports, clippy::all)]
        const _: () = {
            use ::pragma_sdk::authoring::__derive_support as __pragma;
            use ::core::option::Option::{None as __None, Some as __Some};

            #[derive(__pragma::Serialize, __pragma::Deserialize, __pragma::JsonSchema)]
            #[serde(crate = "::pragma_sdk::__private::serde", remote = #remote, rename = #remote, #deny)]
            #[schemars(crate = "::pragma_sdk::__private::schemars")]
            #(#docs)*
            #body

            #(#helpers)*

            #[automatically_derived]
            impl __pragma::Serialize for #ident {
                fn serialize<__S: __pragma::Serializer>(&self, serializer: __S) -> __pragma::Result<__S::Ok, __S::Error> {
                    #shadow::serialize(self, serializer)
                }
            }

            #[automatically_derived]
            impl<'de> __pragma::Deserialize<'de> for #ident {
                fn deserialize<__D: __pragma::Deserializer<'de>>(deserializer: __D) -> __pragma::Result<Self, __D::Error> {
                    #shadow::deserialize(deserializer)
                }
            }

            // The name and id are those the shadow's derive gives (its remote name, in this
            // module); only the schema itself is delegated.
            #[automatically_derived]
            impl __pragma::JsonSchema for #ident {
                fn schema_name() -> __pragma::Cow<'static, str> {
                    __pragma::Cow::Borrowed(#remote)
                }

                fn schema_id() -> __pragma::Cow<'static, str> {
                    __pragma::Cow::Borrowed(::core::concat!(::core::module_path!(), "::", #remote))
                }

                fn json_schema(generator: &mut __pragma::SchemaGenerator) -> __pragma::Schema {
                    <#shadow as __pragma::JsonSchema>::json_schema(generator)
                }
            }

            #extra
        };
    }
}

fn shadow_field(field: &Field, helpers: &mut Vec<TokenStream>) -> TokenStream {
    let ident = &field.ident;
    let ty = &field.ty;
    let docs = &field.docs;
    let mut attrs = Vec::new();
    if field.wire != crate::ast::unraw(ident) {
        let wire = &field.wire;
        attrs.push(quote!(#[serde(rename = #wire)]));
    }
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
    let bound = |b: &Option<syn::Expr>| match b {
        Some(expr) => quote!(__Some(__pragma::json!(#expr))),
        None => quote!(__None),
    };
    if let Some(length) = &field.rules.length {
        let (min, max) = (bound(&length.min), bound(&length.max));
        transforms.push(quote!(__pragma::schema_length(schema, #min, #max);));
    }
    if let Some(range) = &field.rules.range {
        let (min, max) = (bound(&range.min), bound(&range.max));
        transforms.push(quote!(__pragma::schema_range(schema, #min, #max);));
    }
    if let Some(pattern) = &field.rules.pattern {
        transforms.push(quote!(__pragma::schema_pattern(schema, #pattern);));
    }
    if !transforms.is_empty() {
        let name = format_ident!("__schema_{}", helper_suffix(field));
        helpers.push(quote! {
            fn #name(schema: &mut __pragma::Schema) {
                #(#transforms)*
            }
        });
        attrs.push(quote!(#[schemars(transform = #name)]));
    }
    quote!(#(#docs)* #(#attrs)* #ident: #ty)
}

/// The field's name without `r#`, for naming generated helpers.
fn helper_suffix(field: &Field) -> String {
    crate::ast::unraw(&field.ident)
}
