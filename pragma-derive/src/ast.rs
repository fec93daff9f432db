//! The parsed form of a derive input: every `#[pragma(...)]` attribute checked, every error
//! collected with its span before any code is generated.

use std::collections::BTreeMap;

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Path, Type, UnOp};

/// Collects errors so that every problem of one input is reported at once.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// The collected error; `anchor` is used only if none was collected.
    pub fn into_error(self, anchor: Span) -> syn::Error {
        self.0
            .unwrap_or_else(|| syn::Error::new(anchor, "invalid input"))
    }

    pub fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// The doc attributes of an item, kept to be copied onto generated items.
pub fn doc_attrs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect()
}

/// The text of the doc comment, lines trimmed and joined by newlines.
pub fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) = &nv.value
            {
                lines.push(text.value().trim().to_owned());
            }
        }
    }
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn pragma_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("pragma"))
}

fn key_name(meta: &ParseNestedMeta<'_>) -> String {
    meta.path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_else(|| {
            let path = &meta.path;
            quote::quote!(#path).to_string()
        })
}

/// Consumes whatever value follows a key we refuse, so parsing can go on to the next key.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
        let _rest: proc_macro2::TokenStream = _content.parse()?;
    }
    Ok(())
}

/// Parses each `#[pragma(...)]` attribute with `handle`, which returns `Ok(false)` for a key
/// it does not know.
fn parse_pragma(
    attrs: &[Attribute],
    errors: &mut Errors,
    what: &str,
    known: &str,
    mut handle: impl FnMut(&ParseNestedMeta<'_>, &str, &mut Errors) -> syn::Result<bool>,
) {
    for attr in pragma_attrs(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = key_name(&meta);
            if handle(&meta, &key, errors)? {
                Ok(())
            } else {
                errors.at(
                    meta.path.span(),
                    format!("unknown {what} attribute `{key}`; expected one of: {known}"),
                );
                skip_value(&meta)
            }
        });
        if let Err(err) = result {
            errors.push(err);
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, key: &str, span: Span, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(span, format!("duplicate `{key}` attribute"));
    } else {
        *slot = Some(value);
    }
}

/// `min` and `max` of a `length(...)` or `range(...)` rule.
pub struct Bounds {
    pub min: Option<Expr>,
    pub max: Option<Expr>,
}

/// The value of a field's default.
pub enum DefaultValue {
    /// `#[pragma(default)]`: `Default::default()`.
    Trait,
    /// `#[pragma(default = EXPR)]`.
    Expr(Expr),
}

/// The validation rules of one field.
#[derive(Default)]
pub struct Rules {
    pub length: Option<Bounds>,
    pub range: Option<Bounds>,
    pub pattern: Option<LitStr>,
    pub custom: Option<Path>,
}

/// One named field of a `Config` or `Outputs` struct.
pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    pub docs: Vec<Attribute>,
    /// The name on the wire.
    pub wire: String,
    pub default: Option<DefaultValue>,
    pub rules: Rules,
}

/// One unit variant of a string enum.
pub struct Variant {
    pub ident: Ident,
    pub docs: Vec<Attribute>,
    pub wire: String,
}

/// The shape of a `Config` or `Outputs` type.
pub enum Shape {
    Struct(Vec<Field>),
    Enum(Vec<Variant>),
}

/// A `Config` or `Outputs` input.
pub struct DataType {
    pub ident: Ident,
    pub vis: syn::Visibility,
    pub docs: Vec<Attribute>,
    pub shape: Shape,
}

/// Which derive is parsing: the two accept different shapes and attributes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Config,
    Outputs,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Config => "Config",
            Kind::Outputs => "Outputs",
        }
    }
}

/// The name of `ident` without `r#`.
pub fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
}

impl DataType {
    /// Parses a `Config` or `Outputs` input.
    pub fn parse(input: &syn::DeriveInput, kind: Kind) -> syn::Result<DataType> {
        let mut errors = Errors::default();
        if !input.generics.params.is_empty() {
            errors.at(
                input.generics.span(),
                format!(
                    "#[derive({})] does not support generic parameters",
                    kind.name()
                ),
            );
        }
        parse_pragma(
            &input.attrs,
            &mut errors,
            "container",
            "(none)",
            |_, _, _| Ok(false),
        );
        let shape = match &input.data {
            syn::Data::Struct(data) => match &data.fields {
                syn::Fields::Named(named) => {
                    Shape::Struct(parse_fields(named.named.iter(), kind, &mut errors))
                }
                other => {
                    errors.at(
                        other
                            .span()
                            .join(input.ident.span())
                            .unwrap_or(input.ident.span()),
                        format!(
                            "#[derive({})] needs a struct with named fields",
                            kind.name()
                        ),
                    );
                    Shape::Struct(Vec::new())
                }
            },
            syn::Data::Enum(data) if kind == Kind::Config => {
                Shape::Enum(parse_variants(data, &mut errors))
            }
            syn::Data::Enum(data) => {
                errors.at(
                    data.enum_token.span(),
                    "#[derive(Outputs)] needs a struct with named fields, not an enum",
                );
                Shape::Struct(Vec::new())
            }
            syn::Data::Union(data) => {
                errors.at(
                    data.union_token.span(),
                    format!(
                        "#[derive({})] needs a struct with named fields, not a union",
                        kind.name()
                    ),
                );
                Shape::Struct(Vec::new())
            }
        };
        errors.finish(DataType {
            ident: input.ident.clone(),
            vis: input.vis.clone(),
            docs: doc_attrs(&input.attrs),
            shape,
        })
    }
}

fn parse_variants(data: &syn::DataEnum, errors: &mut Errors) -> Vec<Variant> {
    let mut variants = Vec::new();
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    for variant in &data.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            errors.at(
                variant.fields.span(),
                "#[derive(Config)] on an enum supports unit variants only (a string enum)",
            );
        }
        let mut rename: Option<LitStr> = None;
        parse_pragma(
            &variant.attrs,
            errors,
            "variant",
            "rename",
            |meta, key, errors| {
                match key {
                    "rename" => {
                        let value: LitStr = meta.value()?.parse()?;
                        set_once(&mut rename, value, key, meta.path.span(), errors);
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            },
        );
        let wire = rename
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_else(|| unraw(&variant.ident));
        if seen.insert(wire.clone(), ()).is_some() {
            let span = rename.as_ref().map_or(variant.ident.span(), LitStr::span);
            errors.at(span, format!("duplicate variant name `{wire}`"));
        }
        variants.push(Variant {
            ident: variant.ident.clone(),
            docs: doc_attrs(&variant.attrs),
            wire,
        });
    }
    variants
}

const CONFIG_FIELD_KEYS: &str = "default, rename, length, range, pattern, custom";
const OUTPUTS_FIELD_KEYS: &str = "default, rename";

fn parse_fields<'a>(
    fields: impl Iterator<Item = &'a syn::Field>,
    kind: Kind,
    errors: &mut Errors,
) -> Vec<Field> {
    let mut parsed = Vec::new();
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    for field in fields {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        let mut default: Option<DefaultValue> = None;
        let mut rename: Option<LitStr> = None;
        let mut rules = Rules::default();
        let known = match kind {
            Kind::Config => CONFIG_FIELD_KEYS,
            Kind::Outputs => OUTPUTS_FIELD_KEYS,
        };
        parse_pragma(&field.attrs, errors, "field", known, |meta, key, errors| {
            let span = meta.path.span();
            match key {
                "default" => {
                    let value = if meta.input.peek(syn::Token![=]) {
                        DefaultValue::Expr(meta.value()?.parse()?)
                    } else {
                        DefaultValue::Trait
                    };
                    set_once(&mut default, value, key, span, errors);
                }
                "rename" => {
                    let value: LitStr = meta.value()?.parse()?;
                    set_once(&mut rename, value, key, span, errors);
                }
                "length" | "range" | "pattern" | "custom" if kind == Kind::Outputs => {
                    errors.at(
                        span,
                        format!("`{key}` is a validation rule; rules apply to Config fields only"),
                    );
                    skip_value(meta)?;
                }
                "length" | "range" => {
                    let bounds = parse_bounds(meta, key, errors)?;
                    let rule_error = shape_error(key, &field.ty);
                    if let Some(message) = rule_error {
                        errors.at(span, message);
                    }
                    let slot = if key == "length" {
                        &mut rules.length
                    } else {
                        &mut rules.range
                    };
                    set_once(slot, bounds, key, span, errors);
                }
                "pattern" => {
                    let value: LitStr = meta.value()?.parse()?;
                    if let Err(err) = regex_syntax::Parser::new().parse(&value.value()) {
                        errors.at(value.span(), format!("invalid regular expression: {err}"));
                    }
                    if let Some(message) = shape_error(key, &field.ty) {
                        errors.at(span, message);
                    }
                    set_once(&mut rules.pattern, value, key, span, errors);
                }
                "custom" => {
                    let value: Path = meta.value()?.parse()?;
                    set_once(&mut rules.custom, value, key, span, errors);
                }
                _ => return Ok(false),
            }
            Ok(true)
        });
        let wire = rename
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_else(|| unraw(&ident));
        if seen.insert(wire.clone(), ()).is_some() {
            let span = rename.as_ref().map_or(ident.span(), LitStr::span);
            errors.at(span, format!("duplicate field name `{wire}`"));
        }
        parsed.push(Field {
            ident,
            ty: field.ty.clone(),
            docs: doc_attrs(&field.attrs),
            wire,
            default,
            rules,
        });
    }
    parsed
}

fn parse_bounds(
    meta: &ParseNestedMeta<'_>,
    rule: &str,
    errors: &mut Errors,
) -> syn::Result<Bounds> {
    let mut bounds = Bounds {
        min: None,
        max: None,
    };
    let rule_span = meta.path.span();
    let content;
    syn::parenthesized!(content in meta.input);
    let content: proc_macro2::TokenStream = content.parse()?;
    let parser = syn::meta::parser(|inner| {
        let key = key_name(&inner);
        let span = inner.path.span();
        match key.as_str() {
            "min" => {
                let value: Expr = inner.value()?.parse()?;
                set_once(&mut bounds.min, value, "min", span, errors);
            }
            "max" => {
                let value: Expr = inner.value()?.parse()?;
                set_once(&mut bounds.max, value, "max", span, errors);
            }
            _ => {
                errors.at(
                    span,
                    format!("unknown key `{key}` in `{rule}(...)`; expected `min` or `max`"),
                );
                skip_value(&inner)?;
            }
        }
        Ok(())
    });
    if !content.is_empty() {
        syn::parse::Parser::parse2(parser, content)?;
    } else {
        drop(parser);
    }
    if bounds.min.is_none() && bounds.max.is_none() {
        errors.at(rule_span, format!("`{rule}` needs `min`, `max` or both"));
    }
    if let (Some(min), Some(max)) = (&bounds.min, &bounds.max) {
        if let (Some(low), Some(high)) = (literal_number(min), literal_number(max)) {
            if low > high {
                errors.spanned(
                    &meta.path,
                    format!(
                        "`{rule}` has min {} greater than max {}",
                        quote::quote!(#min),
                        quote::quote!(#max)
                    ),
                );
            }
        }
    }
    if rule == "length" {
        for bound in [&bounds.min, &bounds.max].into_iter().flatten() {
            if literal_number(bound).is_some_and(|n| n < 0.0 || n.fract() != 0.0) {
                errors.at(
                    bound.span(),
                    "a length bound must be a non-negative integer",
                );
            }
        }
    }
    Ok(bounds)
}

/// The value of a numeric literal, possibly negated.
fn literal_number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_digits().parse().ok(),
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float.base10_digits().parse().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => literal_number(expr).map(|n| -n),
        Expr::Group(group) => literal_number(&group.expr),
        _ => None,
    }
}

const NUMBERS: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64",
];
const LISTS: &[&str] = &[
    "Vec", "VecDeque", "BTreeSet", "HashSet", "BTreeMap", "HashMap",
];

/// The last path segment's name of the type inside `Option<…>` and `Field<…>`.
fn core_type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            let name = last.ident.to_string();
            if name == "Option" || name == "Field" || name == "Box" {
                if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
                    if let Some(syn::GenericArgument::Type(inner)) = args.args.first() {
                        return core_type_name(inner);
                    }
                }
            }
            Some(name)
        }
        Type::Group(group) => core_type_name(&group.elem),
        Type::Paren(paren) => core_type_name(&paren.elem),
        _ => None,
    }
}

/// Why a rule does not fit a field's type, when the type is one we recognise.
fn shape_error(rule: &str, ty: &Type) -> Option<String> {
    let name = core_type_name(ty)?;
    let number = NUMBERS.contains(&name.as_str());
    let text = name == "String";
    let list = LISTS.contains(&name.as_str());
    match rule {
        "length" if number || name == "bool" => Some(format!(
            "`length` applies to strings and lists, not to `{name}`; use `range` for numbers"
        )),
        "range" if text || list || name == "bool" => Some(format!(
            "`range` applies to numbers, not to `{name}`; use `length` for strings and lists"
        )),
        "pattern" if number || list || name == "bool" => {
            Some(format!("`pattern` applies to strings, not to `{name}`"))
        }
        _ => None,
    }
}

/// A `ResourceType` input.
pub struct ResourceTypeInput {
    pub ident: Ident,
    pub generics: syn::Generics,
    pub provider: LitStr,
    pub resource: LitStr,
    pub config: Type,
    pub outputs: Type,
    pub description: Option<String>,
}

impl ResourceTypeInput {
    /// Parses a `ResourceType` input.
    pub fn parse(input: &syn::DeriveInput) -> syn::Result<ResourceTypeInput> {
        let mut errors = Errors::default();
        match &input.data {
            syn::Data::Struct(_) => {}
            syn::Data::Enum(data) => errors.at(
                data.enum_token.span(),
                "#[derive(ResourceType)] needs a struct (a unit struct is fine), not an enum",
            ),
            syn::Data::Union(data) => errors.at(
                data.union_token.span(),
                "#[derive(ResourceType)] needs a struct (a unit struct is fine), not a union",
            ),
        }
        let mut provider: Option<LitStr> = None;
        let mut resource: Option<LitStr> = None;
        let mut config: Option<Type> = None;
        let mut outputs: Option<Type> = None;
        parse_pragma(
            &input.attrs,
            &mut errors,
            "resource type",
            "provider, resource, config, outputs",
            |meta, key, errors| {
                let span = meta.path.span();
                match key {
                    "provider" | "resource" => {
                        let value: LitStr = meta.value()?.parse()?;
                        if value.value().is_empty() {
                            errors.at(value.span(), format!("`{key}` must not be empty"));
                        }
                        let slot = if key == "provider" {
                            &mut provider
                        } else {
                            &mut resource
                        };
                        set_once(slot, value, key, span, errors);
                    }
                    "config" | "outputs" => {
                        let value: Type = meta.value()?.parse()?;
                        let slot = if key == "config" {
                            &mut config
                        } else {
                            &mut outputs
                        };
                        set_once(slot, value, key, span, errors);
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            },
        );
        let anchor = input.ident.span();
        let first_attr = pragma_attrs(&input.attrs).next();
        let mut missing = Vec::new();
        if provider.is_none() {
            missing.push("provider = \"…\"");
        }
        if resource.is_none() {
            missing.push("resource = \"…\"");
        }
        if config.is_none() {
            missing.push("config = Type");
        }
        if outputs.is_none() {
            missing.push("outputs = Type");
        }
        if !missing.is_empty() {
            let message = format!(
                "#[derive(ResourceType)] is missing {} in #[pragma(...)]",
                missing.join(", ")
            );
            match first_attr {
                Some(attr) => errors.spanned(attr, message),
                None => errors.at(anchor, message),
            }
        }
        let (Some(provider), Some(resource), Some(config), Some(outputs)) =
            (provider, resource, config, outputs)
        else {
            return Err(errors.into_error(anchor));
        };
        errors.finish(ResourceTypeInput {
            ident: input.ident.clone(),
            generics: input.generics.clone(),
            provider,
            resource,
            config,
            outputs,
            description: doc_text(&input.attrs),
        })
    }
}
