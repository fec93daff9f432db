//! `#[derive(Config)]`: serde and schema impls, and the `Config`/`Validate` impls that check
//! each field's rules.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Type;

use crate::ast::{DataType, Field, Shape};

/// The code for `#[derive(Config)]`.
pub fn expand(data: &DataType) -> TokenStream {
    let ident = &data.ident;
    let wire = crate::shadow::expand(data);
    let checks = match &data.shape {
        Shape::Struct(fields) => fields.iter().map(field_checks).collect(),
        Shape::Enum(_) => Vec::new(),
    };
    let unused = checks.is_empty().then(|| quote!(let _ = (prefix, errors);));
    quote! {
        #wire

        #[automatically_derived]
        impl ::pragma_sdk::authoring::Validate for #ident {
            fn validate_at(
                &self,
                prefix: &str,
                errors: &mut ::pragma_sdk::authoring::ConfigErrors,
            ) {
                #[allow(unused_imports)]
                use ::pragma_sdk::authoring::__derive_support::{NestedValidate as _, NoValidate as _};
                #unused
                #(#checks)*
            }
        }

        #[automatically_derived]
        impl ::pragma_sdk::authoring::Config for #ident {
            fn validate(&self) -> ::core::result::Result<(), ::pragma_sdk::authoring::ConfigErrors> {
                let mut errors = ::pragma_sdk::authoring::ConfigErrors::default();
                ::pragma_sdk::authoring::Validate::validate_at(self, "", &mut errors);
                errors.into_result()
            }
        }
    }
}

/// The wrappers around a field's core type, outermost first, that the rules see through.
fn unwrap_chain(ty: &Type) -> TokenStream {
    let mut chain = TokenStream::new();
    let mut current = ty;
    loop {
        let Type::Path(path) = current else { break };
        let Some(last) = path.path.segments.last() else {
            break;
        };
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            break;
        };
        let Some(syn::GenericArgument::Type(inner)) = args.args.first() else {
            break;
        };
        match last.ident.to_string().as_str() {
            "Option" => chain.extend(quote!(.and_then(|v| v.as_ref()))),
            "Field" => chain.extend(quote!(.and_then(|v| v.value_ref()))),
            "Box" => chain.extend(quote!(.map(|v| &**v))),
            _ => break,
        }
        current = inner;
    }
    chain
}

fn field_checks(field: &Field) -> TokenStream {
    let ident = &field.ident;
    let wire = &field.wire;
    let support = quote!(::pragma_sdk::authoring::__derive_support);
    let bound = |b: &Option<syn::Expr>| match b {
        Some(expr) => quote_spanned!(expr.span()=> ::core::option::Option::Some(#expr)),
        None => quote!(::core::option::Option::None),
    };
    let mut rules = Vec::new();
    if let Some(length) = &field.rules.length {
        let (min, max) = (bound(&length.min), bound(&length.max));
        rules.push(quote_spanned!(field.ty.span()=>
            #support::check_length(value, &path, #min, #max, errors);
        ));
    }
    if let Some(range) = &field.rules.range {
        let (min, max) = (bound(&range.min), bound(&range.max));
        rules.push(quote_spanned!(field.ty.span()=>
            #support::check_range(value, &path, #min, #max, errors);
        ));
    }
    if let Some(pattern) = &field.rules.pattern {
        rules.push(quote_spanned!(field.ty.span()=> {
            static PATTERN: #support::Pattern = #support::Pattern::new(#pattern);
            #support::check_pattern(value, &path, &PATTERN, errors);
        }));
    }
    if let Some(custom) = &field.rules.custom {
        rules.push(quote_spanned!(custom.span()=>
            #support::check_custom(value, &path, #custom, errors);
        ));
    }
    let rules = if rules.is_empty() {
        TokenStream::new()
    } else {
        let chain = unwrap_chain(&field.ty);
        quote! {
            if let ::core::option::Option::Some(value) =
                ::core::option::Option::Some(&self.#ident) #chain
            {
                #(#rules)*
            }
        }
    };
    quote! {
        {
            let path = #support::join(prefix, #wire);
            #rules
            (&&#support::Probe(&self.#ident)).validate_nested(&path, errors);
        }
    }
}
