//! Field references and dependency markers inside configs: finding them when a resource is
//! applied, and replacing them with their resolved forms before its provider runs.

use pragma_sdk::models::{resource_id, JsonObject, LocationItem};
use serde_json::{Map, Value};

/// What one reference inside a config points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The referenced resource's id.
    pub id: String,
    /// Its provider, resource type and name, which the id alone does not always tell apart
    /// (`_` may occur in each of them).
    pub names: [String; 3],
    /// Where the reference sits, from the root of the resource body.
    pub loc: Vec<LocationItem>,
}

/// Whether `object` is a field reference: exactly `provider`, `resource`, `name` and `field`,
/// all strings.
pub(crate) fn is_field_ref(object: &Map<String, Value>) -> bool {
    object.len() == 4
        && ["provider", "resource", "name", "field"]
            .iter()
            .all(|key| object.get(*key).is_some_and(Value::is_string))
}

/// Whether `object` is a dependency marker (`"__dependency__": true`).
pub(crate) fn is_dependency(object: &Map<String, Value>) -> bool {
    object.get("__dependency__") == Some(&Value::Bool(true))
}

fn target(object: &Map<String, Value>) -> Option<(String, [String; 3])> {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let (provider, resource, name) = (text("provider")?, text("resource")?, text("name")?);
    Some((
        resource_id(provider, resource, name),
        [provider.to_owned(), resource.to_owned(), name.to_owned()],
    ))
}

/// Finds every field reference and dependency marker in `config`, with `loc` starting at
/// `["body", "config"]`.
///
/// # Errors
///
/// The location and message of a dependency marker that lacks `provider`, `resource` or
/// `name`.
pub(crate) fn find(config: &JsonObject) -> Result<Vec<Reference>, (Vec<LocationItem>, String)> {
    let mut found = Vec::new();
    let mut loc = vec![
        LocationItem::Key("body".to_owned()),
        LocationItem::Key("config".to_owned()),
    ];
    for (key, value) in config {
        loc.push(LocationItem::Key(key.clone()));
        walk(value, &mut loc, &mut found)?;
        loc.pop();
    }
    Ok(found)
}

fn walk(
    value: &Value,
    loc: &mut Vec<LocationItem>,
    found: &mut Vec<Reference>,
) -> Result<(), (Vec<LocationItem>, String)> {
    match value {
        Value::Object(object) if is_field_ref(object) || is_dependency(object) => {
            match target(object) {
                Some((id, names)) => found.push(Reference {
                    id,
                    names,
                    loc: loc.clone(),
                }),
                None => {
                    return Err((
                        loc.clone(),
                        "dependency marker needs string provider, resource and name".to_owned(),
                    ))
                }
            }
        }
        Value::Object(object) => {
            for (key, item) in object {
                loc.push(LocationItem::Key(key.clone()));
                walk(item, loc, found)?;
                loc.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                loc.push(LocationItem::Index(index as i64));
                walk(item, loc, found)?;
                loc.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether `config` holds any reference.
pub(crate) fn has_references(config: &JsonObject) -> bool {
    fn any(value: &Value) -> bool {
        match value {
            Value::Object(object) => {
                is_field_ref(object) || is_dependency(object) || object.values().any(any)
            }
            Value::Array(items) => items.iter().any(any),
            _ => false,
        }
    }
    config.values().any(any)
}

/// What the resolver needs to know about referenced resources.
pub(crate) trait Lookup {
    /// The value at the dotted `field` path of resource `id` (`outputs.url`,
    /// `config.data.key`), with references inside configs resolved to their values.
    fn field(&self, id: &str, field: &str) -> Result<Value, String>;

    /// The whole resource `id` as the API returns it, plus its resolved config when its own
    /// config holds references.
    fn resource(&self, id: &str) -> Result<(Value, Option<JsonObject>), String>;
}

/// Replaces each reference in `config` with its resolved marker.
///
/// # Errors
///
/// A message naming the reference that could not be resolved.
pub(crate) fn resolve(config: &JsonObject, lookup: &dyn Lookup) -> Result<JsonObject, String> {
    let mut out = JsonObject::new();
    for (key, value) in config {
        out.insert(key.clone(), resolve_value(value, lookup)?);
    }
    Ok(out)
}

fn resolve_value(value: &Value, lookup: &dyn Lookup) -> Result<Value, String> {
    match value {
        Value::Object(object) if is_field_ref(object) => {
            let id = target(object).map(|(id, _)| id).unwrap_or_default();
            let field = object.get("field").and_then(Value::as_str).unwrap_or("");
            let resolved = lookup.field(&id, field)?;
            let mut marker = Map::new();
            marker.insert("__field_ref__".to_owned(), Value::Bool(true));
            marker.insert("ref".to_owned(), Value::Object(object.clone()));
            marker.insert("resolved_value".to_owned(), resolved);
            Ok(Value::Object(marker))
        }
        Value::Object(object) if is_dependency(object) => {
            let id = target(object).map(|(id, _)| id).unwrap_or_default();
            let (mut whole, resolved_config) = lookup.resource(&id)?;
            if let (Some(resolved), Value::Object(body)) = (resolved_config, &mut whole) {
                body.insert("resolved_config".to_owned(), Value::Object(resolved));
            }
            let mut marker = object.clone();
            marker.insert("ref".to_owned(), whole);
            Ok(Value::Object(marker))
        }
        Value::Object(object) => {
            let mut out = Map::new();
            for (key, item) in object {
                out.insert(key.clone(), resolve_value(item, lookup)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| resolve_value(item, lookup))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// The value at the dotted `path` below `root`: object keys, or list indexes.
pub(crate) fn at_path<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = root;
    for segment in path.split('.') {
        current = match current {
            Value::Object(object) => object.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_field_references_and_dependency_markers() {
        let config = json!({
            "url": {"provider": "p", "resource": "db", "name": "main", "field": "outputs.url"},
            "list": [{"__dependency__": true, "provider": "p", "resource": "a/b", "name": "n"}],
            "plain": {"provider": "p"}
        });
        let found = find(config.as_object().unwrap()).unwrap();
        let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["resource:p_a_b_n", "resource:p_db_main"]);
        assert_eq!(found[0].loc.len(), 4);
    }

    #[test]
    fn paths_walk_objects_and_lists() {
        let value = json!({"outputs": {"hosts": ["a", "b"]}});
        assert_eq!(at_path(&value, "outputs.hosts.1"), Some(&json!("b")));
        assert_eq!(at_path(&value, "outputs.missing"), None);
    }
}
