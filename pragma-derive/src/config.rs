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
    let checks: Vec<TokenStream> = match &data.shape {
        Shape::Struct(fields) => fields.iter().map(field_checks).collect(),
        Shape::Enum(_) => Vec::new(),
    };
    let unused = checks
        .iter()
        .all(TokenStream::is_empty)
        .then(|| quote!(let _ = (prefix, errors);));
    let nested = checks.iter().any(|check| !check.is_empty()).then(|| {
        quote!(
            use __pragma::{NestedValidate as _, NoValidate as _};
        )
    });
    let impls = quote! {
        #[automatically_derived]
        impl __pragma::Validate for #ident {
            fn validate_at(&self, prefix: &str, errors: &mut __pragma::ConfigErrors) {
                #nested
                #unused
                #(#checks)*
            }
        }

        #[automatically_derived]
        impl __pragma::Config for #ident {
            fn validate(&self) -> __pragma::Result<(), __pragma::ConfigErrors> {
                __pragma::validate_root(self)
            }
        }
    };
    crate::shadow::expand(data, impls)
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
    let bound = |b: &Option<syn::Expr>| match b {
        Some(expr) => quote_spanned!(expr.span()=> __Some(#expr)),
        None => quote!(__None),
    };
    let mut rules = Vec::new();
    if let Some(length) = &field.rules.length {
        let (min, max) = (bound(&length.min), bound(&length.max));
        rules.push(quote_spanned!(field.ty.span()=>
            __pragma::check_length(value, path, #min, #max, errors);
        ));
    }
    if let Some(range) = &field.rules.range {
        let (min, max) = (bound(&range.min), bound(&range.max));
        rules.push(quote_spanned!(field.ty.span()=>
            __pragma::check_range(value, path, #min, #max, errors);
        ));
    }
    if let Some(pattern) = &field.rules.pattern {
        rules.push(quote_spanned!(field.ty.span()=> {
            static PATTERN: __pragma::Pattern = __pragma::Pattern::new(#pattern);
            __pragma::check_pattern(value, path, &PATTERN, errors);
        }));
    }
    if let Some(custom) = &field.rules.custom {
        rules.push(quote_spanned!(custom.span()=>
            __pragma::check_custom(value, path, #custom, errors);
        ));
    }
    let rules = if rules.is_empty() {
        TokenStream::new()
    } else {
        let chain = unwrap_chain(&field.ty);
        if chain.is_empty() {
            quote! {
                let value = &self.#ident;
                #(#rules)*
            }
        } else {
            quote! {
                if let __Some(value) = __Some(&self.#ident) #chain {
                    #(#rules)*
                }
            }
        }
    };
    let nested = may_nest(&field.ty)
        .then(|| quote!((&&__pragma::Probe(&self.#ident)).validate_nested(path, errors);));
    if rules.is_empty() && nested.is_none() {
        return TokenStream::new();
    }
    quote! {
        {
            let path = __pragma::FieldPath::new(prefix, #wire);
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
