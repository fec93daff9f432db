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
    let unused = checks
        .iter()
        .all(TokenStream::is_empty)
        .then(|| quote!(let _ = (prefix, errors);));
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
    while let Type::Path(path) = current {
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
            #support::check_length(value, path, #min, #max, errors);
        ));
    }
    if let Some(range) = &field.rules.range {
        let (min, max) = (bound(&range.min), bound(&range.max));
        rules.push(quote_spanned!(field.ty.span()=>
            #support::check_range(value, path, #min, #max, errors);
        ));
    }
    if let Some(pattern) = &field.rules.pattern {
        rules.push(quote_spanned!(field.ty.span()=> {
            static PATTERN: #support::Pattern = #support::Pattern::new(#pattern);
            #support::check_pattern(value, path, &PATTERN, errors);
        }));
    }
    if let Some(custom) = &field.rules.custom {
        rules.push(quote_spanned!(custom.span()=>
            #support::check_custom(value, path, #custom, errors);
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
    let nested = may_nest(&field.ty)
        .then(|| quote!((&&#support::Probe(&self.#ident)).validate_nested(path, errors);));
    if rules.is_empty() && nested.is_none() {
        return TokenStream::new();
    }
    quote! {
        {
            let path = #support::FieldPath::new(prefix, #wire);
            #rules
            #nested
        }
    }
}

/// Types whose values hold no nested config, seen through containers.
const LEAVES: &[&str] = &[
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f32",
    "f64",
    "bool",
    "char",
    "String",
    "Value",
    "Dependency",
];

/// Whether a field of type `ty` may hold a nested config with rules of its own; `false`
/// only for types recognised by name as leaves, so the check is skipped at no risk.
fn may_nest(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return !matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty());
    };
    let Some(last) = path.path.segments.last() else {
        return true;
    };
    let name = last.ident.to_string();
    if LEAVES.contains(&name.as_str()) {
        return false;
    }
    match (name.as_str(), &last.arguments) {
        (
            "Option" | "Vec" | "Box" | "Field" | "BTreeMap" | "HashMap",
            syn::PathArguments::AngleBracketed(args),
        ) => {
            match args.args.iter().rev().find_map(|arg| match arg {
                syn::GenericArgument::Type(inner) => Some(inner),
                _ => None,
            }) {
                Some(inner) => may_nest(inner),
                None => true,
            }
        }
        _ => true,
    }
}
