//! A checker for the subset of JSON Schema that schemars emits, used to refuse an invalid
//! config when it is applied rather than when its provider runs.
//!
//! Supported keywords: `type` (one or a list), `required`, `properties`,
//! `additionalProperties` (`false` or a schema), `enum`, `const`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`, `items`, `minItems`,
//! `maxItems`, `pattern`, `anyOf`, `oneOf`, `allOf`, and `$ref` into `$defs` or
//! `definitions`.
//!
//! Limitation: `format` is not checked, and a `pattern` that does not compile as a regular
//! expression is ignored (the provider still checks both when it decodes and validates the
//! config at dispatch).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use pragma_sdk::models::LocationItem;
use regex_automata::meta::Regex;
use serde_json::{Map, Value};

/// How many compiled patterns are kept before the cache starts over.
const MAX_CACHED_PATTERNS: usize = 1024;

/// The compiled form of `pattern`, or `None` when it does not compile.
fn compiled(pattern: &str) -> Option<Arc<Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<Regex>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = match cache.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(found) = cache.get(pattern) {
        return found.clone();
    }
    if cache.len() >= MAX_CACHED_PATTERNS {
        cache.clear();
    }
    let regex = Regex::new(pattern).ok().map(Arc::new);
    cache.insert(pattern.to_owned(), regex.clone());
    regex
}

/// One place where a value does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Where, from the root of the checked value.
    pub path: Vec<LocationItem>,
    /// What is wrong.
    pub message: String,
    /// The kind of error, in the API's vocabulary (`missing`, `type_error`, …).
    pub kind: &'static str,
}

/// How deeply `$ref`s may nest before the schema is taken as broken.
const MAX_REF_DEPTH: usize = 64;

/// Checks `value` against `schema` (whose `$defs` are looked up from `schema` itself) and
/// returns the first violation found, if any.
pub fn check(schema: &Map<String, Value>, value: &Value) -> Option<SchemaViolation> {
    let root = Value::Object(schema.clone());
    let mut path = Vec::new();
    Checker { root: &root }.check(&root, value, &mut path, 0)
}

struct Checker<'a> {
    root: &'a Value,
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    let actual = json_type(value);
    match expected {
        "number" => actual == "number" || actual == "integer",
        "integer" => {
            actual == "integer"
                || value
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        other => other == actual,
    }
}

fn violation(path: &[LocationItem], message: String, kind: &'static str) -> SchemaViolation {
    SchemaViolation {
        path: path.to_vec(),
        message,
        kind,
    }
}

impl<'a> Checker<'a> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn check(
        &self,
        schema: &'a Value,
        value: &Value,
        path: &mut Vec<LocationItem>,
        depth: usize,
    ) -> Option<SchemaViolation> {
        let schema = match schema {
            Value::Bool(true) => return None,
            Value::Bool(false) => {
                return Some(violation(
                    path,
                    "no value is allowed here".into(),
                    "value_error",
                ))
            }
            Value::Object(object) => object,
            _ => return None,
        };
        if let Some(Value::String(reference)) = schema.get("$ref") {
            if depth >= MAX_REF_DEPTH {
                return Some(violation(
                    path,
                    format!("schema reference {reference} nests too deeply"),
                    "schema_error",
                ));
            }
            match self.resolve(reference) {
                Some(target) => {
                    if let Some(found) = self.check(target, value, path, depth + 1) {
                        return Some(found);
                    }
                }
                None => {
                    return Some(violation(
                        path,
                        format!("schema reference {reference} does not resolve"),
                        "schema_error",
                    ))
                }
            }
        }
        if let Some(found) = self.check_type(schema, value, path) {
            return Some(found);
        }
        if let Some(found) = self.check_choices(schema, value, path, depth) {
            return Some(found);
        }
        if let Some(found) = check_values(schema, value, path) {
            return Some(found);
        }
        match value {
            Value::Object(object) => self.check_object(schema, object, path, depth),
            Value::Array(items) => self.check_array(schema, items, path, depth),
            _ => None,
        }
    }

    fn check_type(
        &self,
        schema: &Map<String, Value>,
        value: &Value,
        path: &[LocationItem],
    ) -> Option<SchemaViolation> {
        let allowed: Vec<&str> = match schema.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => return None,
        };
        if allowed.iter().any(|expected| type_matches(expected, value)) {
            return None;
        }
        Some(violation(
            path,
            format!(
                "expected {}, got {}",
                allowed.join(" or "),
                json_type(value)
            ),
            "type_error",
        ))
    }

    fn check_choices(
        &self,
        schema: &'a Map<String, Value>,
        value: &Value,
        path: &mut Vec<LocationItem>,
        depth: usize,
    ) -> Option<SchemaViolation> {
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for branch in all {
                if let Some(found) = self.check(branch, value, path, depth + 1) {
                    return Some(found);
                }
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            let Some(Value::Array(branches)) = schema.get(keyword) else {
                continue;
            };
            let mut best: Option<SchemaViolation> = None;
            let mut matched = false;
            for branch in branches {
                match self.check(branch, value, path, depth + 1) {
                    None => {
                        matched = true;
                        break;
                    }
                    Some(found) => {
                        let deeper = best
                            .as_ref()
                            .is_none_or(|current| found.path.len() > current.path.len());
                        if deeper {
                            best = Some(found);
                        }
                    }
                }
            }
            if !matched {
                return Some(match best {
                    Some(found) if found.path.len() > path.len() => found,
                    _ => violation(
                        path,
                        format!(
                            "{} does not match any of the allowed forms",
                            json_type(value)
                        ),
                        "value_error",
                    ),
                });
            }
        }
        None
    }

    fn check_object(
        &self,
        schema: &'a Map<String, Value>,
        object: &Map<String, Value>,
        path: &mut Vec<LocationItem>,
        depth: usize,
    ) -> Option<SchemaViolation> {
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    path.push(LocationItem::Key(key.to_owned()));
                    let found = violation(path, "field required".into(), "missing");
                    path.pop();
                    return Some(found);
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        for (key, item) in object {
            let declared = properties.and_then(|p| p.get(key));
            let item_schema = match (declared, additional) {
                (Some(declared), _) => Some(declared),
                (None, Some(Value::Bool(false))) => {
                    path.push(LocationItem::Key(key.clone()));
                    let found = violation(path, "unknown field".into(), "extra_forbidden");
                    path.pop();
                    return Some(found);
                }
                (None, Some(other)) => Some(other),
                (None, None) => None,
            };
            if let Some(item_schema) = item_schema {
                path.push(LocationItem::Key(key.clone()));
                let found = self.check(item_schema, item, path, depth + 1);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
        }
        None
    }

    fn check_array(
        &self,
        schema: &'a Map<String, Value>,
        items: &[Value],
        path: &mut Vec<LocationItem>,
        depth: usize,
    ) -> Option<SchemaViolation> {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                return Some(violation(
                    path,
                    format!("must have at least {min} items, got {}", items.len()),
                    "too_short",
                ));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if (items.len() as u64) > max {
                return Some(violation(
                    path,
                    format!("must have at most {max} items, got {}", items.len()),
                    "too_long",
                ));
            }
        }
        let item_schema = schema.get("items")?;
        for (index, item) in items.iter().enumerate() {
            path.push(LocationItem::Index(index as i64));
            let found = self.check(item_schema, item, path, depth + 1);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

fn check_values(
    schema: &Map<String, Value>,
    value: &Value,
    path: &[LocationItem],
) -> Option<SchemaViolation> {
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(value) {
            let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Some(violation(
                path,
                format!("must be one of {}, got {value}", names.join(", ")),
                "enum",
            ));
        }
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return Some(violation(
                path,
                format!("must be {expected}, got {value}"),
                "literal_error",
            ));
        }
    }
    if let Some(number) = value.as_f64() {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        if let Some(min) = bound("minimum") {
            if number < min {
                return Some(violation(
                    path,
                    format!("must be at least {min}, got {value}"),
                    "greater_than_equal",
                ));
            }
        }
        if let Some(max) = bound("maximum") {
            if number > max {
                return Some(violation(
                    path,
                    format!("must be at most {max}, got {value}"),
                    "less_than_equal",
                ));
            }
        }
        if let Some(min) = bound("exclusiveMinimum") {
            if number <= min {
                return Some(violation(
                    path,
                    format!("must be greater than {min}, got {value}"),
                    "greater_than",
                ));
            }
        }
        if let Some(max) = bound("exclusiveMaximum") {
            if number >= max {
                return Some(violation(
                    path,
                    format!("must be less than {max}, got {value}"),
                    "less_than",
                ));
            }
        }
    }
    if let Value::String(text) = value {
        let length = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if length < min {
                return Some(violation(
                    path,
                    format!("must be at least {min} characters long, got {length}"),
                    "string_too_short",
                ));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if length > max {
                return Some(violation(
                    path,
                    format!("must be at most {max} characters long, got {length}"),
                    "string_too_long",
                ));
            }
        }
        if let Some(Value::String(pattern)) = schema.get("pattern") {
            if let Some(regex) = compiled(pattern) {
                if !regex.is_match(text.as_str()) {
                    return Some(violation(
                        path,
                        format!("must match the pattern {pattern:?}"),
                        "string_pattern_mismatch",
                    ));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn keys(violation: &SchemaViolation) -> Vec<String> {
        violation.path.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn refs_required_and_unknown_fields() {
        let s = schema(json!({
            "type": "object",
            "properties": {"disk": {"$ref": "#/$defs/Disk"}},
            "required": ["disk"],
            "additionalProperties": false,
            "$defs": {"Disk": {
                "type": "object",
                "properties": {"size_gb": {"type": "integer", "minimum": 1, "maximum": 100}},
                "required": ["size_gb"]
            }}
        }));
        assert!(check(&s, &json!({"disk": {"size_gb": 10}})).is_none());
        let missing = check(&s, &json!({})).unwrap();
        assert_eq!(
            (keys(&missing), missing.kind),
            (vec!["disk".into()], "missing")
        );
        let big = check(&s, &json!({"disk": {"size_gb": 1000}})).unwrap();
        assert_eq!(keys(&big), vec!["disk", "size_gb"]);
        let wrong = check(&s, &json!({"disk": {"size_gb": "ten"}})).unwrap();
        assert_eq!(wrong.kind, "type_error");
        let extra = check(&s, &json!({"disk": {"size_gb": 1}, "colour": 1})).unwrap();
        assert_eq!(
            (keys(&extra), extra.kind),
            (vec!["colour".into()], "extra_forbidden")
        );
    }

    #[test]
    fn any_of_reports_the_deepest_branch() {
        let s = schema(json!({
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"anyOf": [
                {"type": "string", "enum": ["a", "b"]},
                {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
            ]}}}
        }));
        assert!(check(&s, &json!({"items": ["a", {"n": 1}]})).is_none());
        let bad = check(&s, &json!({"items": ["a", {"n": "x"}]})).unwrap();
        assert_eq!(keys(&bad), vec!["items", "1", "n"]);
        let neither = check(&s, &json!({"items": [true]})).unwrap();
        assert_eq!(keys(&neither), vec!["items", "0"]);
    }

    #[test]
    fn string_lengths_and_nullable_types() {
        let s = schema(json!({"type": "object", "properties": {
            "name": {"type": ["string", "null"], "minLength": 2, "maxLength": 3}
        }}));
        assert!(check(&s, &json!({"name": null})).is_none());
        assert!(check(&s, &json!({"name": "abc"})).is_none());
        assert!(check(&s, &json!({"name": "a"})).is_some());
        assert!(check(&s, &json!({"name": "abcd"})).is_some());
    }

    #[test]
    fn patterns_are_checked_and_broken_ones_ignored() {
        let s = schema(json!({"type": "object", "properties": {
            "zone": {"type": "string", "pattern": "^[a-z]+-[0-9]$"},
            "odd": {"type": "string", "pattern": "(unclosed"}
        }}));
        assert!(check(&s, &json!({"zone": "eu-1", "odd": "x"})).is_none());
        let bad = check(&s, &json!({"zone": "EU"})).unwrap();
        assert_eq!(bad.kind, "string_pattern_mismatch");
    }
}
