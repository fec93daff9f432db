//! Validation of decoded configs: the failures, each naming the field path and the rule, and
//! the [`Validate`] trait that derived configs implement to check their rules recursively.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::authoring::reference::Field;

/// One rule a config value broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the field (`size_gb`, `network.cidr`, `rules[2].port`).
    pub path: String,
    /// What the rule wants and what it got (`must be at most 10000, got 20000`).
    pub message: String,
}

impl ConfigError {
    /// A failure at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All the rules a config broke, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Whether no rule was broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records a failure.
    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    /// `Ok(())` when empty, else `Err(self)`.
    ///
    /// # Errors
    ///
    /// `self`, when it holds any failure.
    pub fn into_result(self) -> Result<(), ConfigErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ConfigErrors {}

/// A value whose validation rules can be checked at a field path; derived for every
/// `#[derive(Config)]` type, and implemented for the containers that may hold one.
///
/// Rules recurse: a config field holding a nested config, a list or map of them, an
/// `Option` or a [`Field`] of one, has its rules checked with paths like `network.cidr`,
/// `rules[2].port` or `labels.team`.
///
/// ```
/// use pragma_sdk::authoring::{ConfigErrors, Validate};
/// use pragma_sdk::Config;
///
/// #[derive(Config)]
/// struct Rule {
///     #[pragma(range(min = 1, max = 65535))]
///     port: u32,
/// }
///
/// let rules = vec![Rule { port: 80 }, Rule { port: 0 }];
/// let mut errors = ConfigErrors::default();
/// rules.validate_at("rules", &mut errors);
/// assert_eq!(errors.to_string(), "rules[1].port: must be at least 1, got 0");
/// ```
pub trait Validate {
    /// Records every broken rule of `self`, found at `path` (empty for the root).
    fn validate_at(&self, path: &str, errors: &mut ConfigErrors);
}

impl<T: Validate> Validate for Option<T> {
    fn validate_at(&self, path: &str, errors: &mut ConfigErrors) {
        if let Some(value) = self {
            value.validate_at(path, errors);
        }
    }
}

impl<T: Validate + ?Sized> Validate for Box<T> {
    fn validate_at(&self, path: &str, errors: &mut ConfigErrors) {
        (**self).validate_at(path, errors);
    }
}

impl<T: Validate> Validate for Vec<T> {
    fn validate_at(&self, path: &str, errors: &mut ConfigErrors) {
        for (index, item) in self.iter().enumerate() {
            item.validate_at(&format!("{path}[{index}]"), errors);
        }
    }
}

impl<K: fmt::Display, V: Validate> Validate for BTreeMap<K, V> {
    fn validate_at(&self, path: &str, errors: &mut ConfigErrors) {
        for (key, value) in self {
            value.validate_at(&join(path, &key.to_string()), errors);
        }
    }
}

impl<K: fmt::Display + Ord, V: Validate, S> Validate for HashMap<K, V, S> {
    fn validate_at(&self, path: &str, errors: &mut ConfigErrors) {
        let mut entries: Vec<(&K, &V)> = self.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in entries {
            value.validate_at(&join(path, &key.to_string()), errors);
        }
    }
}

/// A field holding a value is validated; a reference is validated once resolved.
impl<T: Validate> Validate for Field<T> {
    fn validate_at(&self, path: &str, errors: &mut ConfigErrors) {
        if let Some(value) = self.value_ref() {
            value.validate_at(path, errors);
        }
    }
}

/// `path.name`, or `name` at the root.
fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Support for the code `#[derive(Config)]` generates. Not a public API.
#[doc(hidden)]
pub mod derive_support {
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
    use std::fmt;
    use std::sync::OnceLock;

    use serde_json::Value;

    use super::ConfigError;

    // What the generated code names, imported once per derived type as `__pragma`, so that
    // each use is one short path.
    pub use super::{ConfigErrors, Validate};
    pub use crate::authoring::{Config, FieldRef, FieldReference, Outputs};
    pub use core::result::Result;
    pub use schemars::{JsonSchema, Schema, SchemaGenerator};
    pub use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub use serde_json::json;
    pub use std::borrow::Cow;

    /// `Config::validate` of a derived config: every broken rule of `value`, from the root.
    ///
    /// # Errors
    ///
    /// All the rules `value` broke.
    pub fn validate_root<T: Validate + ?Sized>(value: &T) -> Result<(), ConfigErrors> {
        let mut errors = ConfigErrors::default();
        value.validate_at("", &mut errors);
        errors.into_result()
    }

    /// The typed reference to the output `field` (`outputs.<name>`) of the resource
    /// `provider`/`resource`/`name`.
    pub fn output_ref<T>(
        provider: &str,
        resource: &str,
        name: &str,
        field: &'static str,
    ) -> FieldRef<T> {
        FieldRef::new(FieldReference::new(provider, resource, name, field))
    }

    /// The path of one field: its parent's path and its own name, joined only when needed.
    #[derive(Debug, Clone, Copy)]
    pub struct FieldPath<'a> {
        prefix: &'a str,
        name: &'static str,
    }

    impl<'a> FieldPath<'a> {
        /// The field `name` under `prefix` (empty for the root).
        pub fn new(prefix: &'a str, name: &'static str) -> Self {
            FieldPath { prefix, name }
        }
    }

    impl fmt::Display for FieldPath<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.prefix.is_empty() {
                f.write_str(self.name)
            } else {
                write!(f, "{}.{}", self.prefix, self.name)
            }
        }
    }

    /// Wraps a field so method resolution can pick [`NestedValidate`] when the field's type
    /// implements [`Validate`], and [`NoValidate`] otherwise.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// Chosen for fields whose type implements [`Validate`].
    pub trait NestedValidate {
        /// Checks the nested rules.
        fn validate_nested(&self, path: FieldPath<'_>, errors: &mut ConfigErrors);
    }

    impl<T: Validate + ?Sized> NestedValidate for &Probe<'_, T> {
        fn validate_nested(&self, path: FieldPath<'_>, errors: &mut ConfigErrors) {
            self.0.validate_at(&path.to_string(), errors);
        }
    }

    /// Chosen for fields with no nested rules.
    pub trait NoValidate {
        /// Does nothing.
        fn validate_nested(&self, path: FieldPath<'_>, errors: &mut ConfigErrors);
    }

    impl<T: ?Sized> NoValidate for &&Probe<'_, T> {
        fn validate_nested(&self, _path: FieldPath<'_>, _errors: &mut ConfigErrors) {}
    }

    /// Values with a length: strings (in characters) and collections (in items).
    pub trait Length {
        /// The length.
        fn length(&self) -> usize;
        /// What one unit of length is called in messages.
        const UNIT: &'static str;
    }

    impl Length for String {
        fn length(&self) -> usize {
            self.chars().count()
        }
        const UNIT: &'static str = "characters";
    }

    macro_rules! collection_length {
        ($($ty:ident < $($param:ident),* >),*) => {
            $(impl<$($param),*> Length for $ty<$($param),*> {
                fn length(&self) -> usize {
                    self.len()
                }
                const UNIT: &'static str = "items";
            })*
        };
    }

    collection_length!(Vec<T>, VecDeque<T>, BTreeSet<T>, HashSet<T, S>, BTreeMap<K, V>, HashMap<K, V, S>);

    /// Checks a `length(min, max)` rule.
    pub fn check_length<T: Length + ?Sized>(
        value: &T,
        path: FieldPath<'_>,
        min: Option<usize>,
        max: Option<usize>,
        errors: &mut ConfigErrors,
    ) {
        let length = value.length();
        if let Some(min) = min.filter(|min| length < *min) {
            errors.push(ConfigError::new(
                path.to_string(),
                format!("must have at least {min} {}, got {length}", T::UNIT),
            ));
        }
        if let Some(max) = max.filter(|max| length > *max) {
            errors.push(ConfigError::new(
                path.to_string(),
                format!("must have at most {max} {}, got {length}", T::UNIT),
            ));
        }
    }

    /// Checks a `range(min, max)` rule.
    pub fn check_range<T: PartialOrd + fmt::Display>(
        value: &T,
        path: FieldPath<'_>,
        min: Option<T>,
        max: Option<T>,
        errors: &mut ConfigErrors,
    ) {
        if let Some(min) = min.filter(|min| value < min) {
            errors.push(ConfigError::new(
                path.to_string(),
                format!("must be at least {min}, got {value}"),
            ));
        }
        if let Some(max) = max.filter(|max| value > max) {
            errors.push(ConfigError::new(
                path.to_string(),
                format!("must be at most {max}, got {value}"),
            ));
        }
    }

    /// A `pattern` rule's regular expression, compiled on first use.
    pub struct Pattern {
        source: &'static str,
        compiled: OnceLock<Result<regex_automata::meta::Regex, String>>,
    }

    impl Pattern {
        /// The pattern `source`, not compiled yet.
        pub const fn new(source: &'static str) -> Self {
            Pattern {
                source,
                compiled: OnceLock::new(),
            }
        }
    }

    /// Checks a `pattern = "…"` rule: the whole pattern must match somewhere in the value
    /// (anchor it with `^…$` to match the whole value).
    pub fn check_pattern<T: AsRef<str> + ?Sized>(
        value: &T,
        path: FieldPath<'_>,
        pattern: &Pattern,
        errors: &mut ConfigErrors,
    ) {
        let value = value.as_ref();
        let compiled = pattern.compiled.get_or_init(|| {
            regex_automata::meta::Regex::new(pattern.source).map_err(|err| err.to_string())
        });
        match compiled {
            Ok(regex) if regex.is_match(value) => {}
            Ok(_) => errors.push(ConfigError::new(
                path.to_string(),
                format!("must match the pattern {}, got {value:?}", pattern.source),
            )),
            Err(err) => errors.push(ConfigError::new(
                path.to_string(),
                format!("the pattern {} does not compile: {err}", pattern.source),
            )),
        }
    }

    /// Checks a `custom = path::to_fn` rule.
    pub fn check_custom<T: ?Sized>(
        value: &T,
        path: FieldPath<'_>,
        check: fn(&T) -> Result<(), String>,
        errors: &mut ConfigErrors,
    ) {
        if let Err(message) = check(value) {
            errors.push(ConfigError::new(path.to_string(), message));
        }
    }

    /// Applies `insert` to `schema` where it has `kind`, and to each `anyOf` branch that has.
    fn apply(
        schema: &mut Value,
        kinds: &[&str],
        insert: &dyn Fn(&mut serde_json::Map<String, Value>),
    ) {
        let Some(object) = schema.as_object_mut() else {
            return;
        };
        let has_kind = match object.get("type") {
            Some(Value::String(kind)) => kinds.contains(&kind.as_str()),
            Some(Value::Array(list)) => list
                .iter()
                .any(|k| k.as_str().is_some_and(|k| kinds.contains(&k))),
            _ => false,
        };
        if has_kind {
            insert(object);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = object.get_mut(key) {
                for branch in branches {
                    apply(branch, kinds, insert);
                }
            }
        }
    }

    fn with_value(schema: &mut Schema, f: impl FnOnce(&mut Value)) {
        let mut value = std::mem::take(schema).to_value();
        f(&mut value);
        if let Ok(rebuilt) = Schema::try_from(value) {
            *schema = rebuilt;
        }
    }

    /// Writes a `length` rule into a schema (`minLength`/`maxLength`, `minItems`/`maxItems`).
    pub fn schema_length(schema: &mut Schema, min: Option<Value>, max: Option<Value>) {
        with_value(schema, |value| {
            for (kinds, low, high) in [
                (&["string"][..], "minLength", "maxLength"),
                (&["array"][..], "minItems", "maxItems"),
                (&["object"][..], "minProperties", "maxProperties"),
            ] {
                let has_items = |object: &serde_json::Map<String, Value>| {
                    kinds != ["object"]
                        || matches!(object.get("additionalProperties"), Some(Value::Object(_)))
                };
                apply(value, kinds, &|object| {
                    if !has_items(object) {
                        return;
                    }
                    if let Some(min) = &min {
                        object.insert(low.to_owned(), min.clone());
                    }
                    if let Some(max) = &max {
                        object.insert(high.to_owned(), max.clone());
                    }
                });
            }
        });
    }

    /// Writes a `range` rule into a schema (`minimum`/`maximum`).
    pub fn schema_range(schema: &mut Schema, min: Option<Value>, max: Option<Value>) {
        with_value(schema, |value| {
            apply(value, &["integer", "number"], &|object| {
                if let Some(min) = &min {
                    object.insert("minimum".to_owned(), min.clone());
                }
                if let Some(max) = &max {
                    object.insert("maximum".to_owned(), max.clone());
                }
            });
        });
    }

    /// Writes a `pattern` rule into a schema.
    pub fn schema_pattern(schema: &mut Schema, pattern: &str) {
        with_value(schema, |value| {
            apply(value, &["string"], &|object| {
                object.insert("pattern".to_owned(), Value::String(pattern.to_owned()));
            });
        });
    }
}
