//! Manifests: resources written as YAML documents, several per file separated by `---`.
//!
//! A document has the platform's shape:
//!
//! ```yaml
//! provider: sandbox
//! resource: directory
//! name: reports
//! config:
//!   path: reports
//!   owner:                      # a field reference: a mapping with a `field` key
//!     provider: pragma
//!     resource: secret
//!     name: credentials
//!     field: config.data.owner
//!   volume:                     # a dependency: the same mapping without `field`
//!     provider: sandbox
//!     resource: volume
//!     name: main
//! tags: [reports]
//! depends_on: [sandbox/directory/base]
//! ```
//!
//! Inside `config`, a mapping whose keys are exactly `provider`, `resource`, `name` and `field`
//! is a field reference, and one whose keys are exactly `provider`, `resource` and `name` is a
//! dependency on that whole resource (written on the wire as a dependency marker).
//!
//! Limitation: a config value that is itself a mapping with exactly those keys cannot be
//! written literally in a manifest; it is always read as a reference.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::models::{JsonObject, LifecycleState, RawResource, ResourceReference};

/// One resource read from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The resource's provider.
    pub provider: String,
    /// Its resource type.
    pub resource: String,
    /// Its name.
    pub name: String,
    /// Its config, with references in their wire form.
    pub config: JsonObject,
    /// Its tags.
    pub tags: Option<Vec<String>>,
    /// Resources it depends on beside those its config references.
    pub depends_on: Vec<ResourceReference>,
    /// Where it was read from.
    pub source: Source,
}

/// Where a manifest document was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file, or `<input>` for text that came from elsewhere.
    pub file: PathBuf,
    /// The document's position in the file, from 1.
    pub document: usize,
    /// The line the document starts on, from 1.
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, document {} (line {})",
            self.file.display(),
            self.document,
            self.line
        )
    }
}

/// A manifest that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML or not in the platform's shape.
    #[error("{file}, document {document}, line {line}: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The document's position in the file, from 1.
        document: usize,
        /// The offending line in the file, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    provider: String,
    resource: String,
    name: String,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    depends_on: Vec<String>,
}

impl Manifest {
    /// The resource to send to the API, in the given lifecycle state (`pending` queues it,
    /// `draft` stores it without processing).
    pub fn to_resource(&self, state: LifecycleState) -> RawResource {
        let mut raw = RawResource::new(&self.provider, &self.resource, &self.name);
        raw.config = self.config.clone();
        raw.tags = self.tags.clone();
        raw.dependencies = self.depends_on.clone();
        raw.lifecycle_state = state;
        raw
    }

    /// The resource's id.
    pub fn id(&self) -> String {
        crate::models::resource_id(&self.provider, &self.resource, &self.name)
    }
}

/// Reads every manifest document of a file.
///
/// # Errors
///
/// [`ManifestError::Io`] when the file cannot be read, [`ManifestError::Invalid`] naming the
/// file, document and line of the first document that is not a valid manifest.
pub fn read_file(path: impl AsRef<Path>) -> Result<Vec<Manifest>, ManifestError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Reads every manifest document of `text`, naming `file` in errors.
///
/// Empty documents (only comments or blank lines) are skipped.
///
/// # Errors
///
/// [`ManifestError::Invalid`] naming the file, document and line of the first document that
/// is not a valid manifest.
///
/// ```
/// let text = "provider: pragma\nresource: secret\nname: db\nconfig:\n  data: {user: admin}\n";
/// let manifests = pragma_sdk::manifest::parse(text, "secrets.yaml").unwrap();
/// assert_eq!(manifests[0].name, "db");
///
/// let err = pragma_sdk::manifest::parse("provider: x\n---\nname: [", "bad.yaml").unwrap_err();
/// assert!(err.to_string().starts_with("bad.yaml, document 1, line 1"));
/// ```
pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Vec<Manifest>, ManifestError> {
    let file = file.as_ref();
    let mut manifests = Vec::new();
    for (index, (start_line, body)) in split_documents(text).into_iter().enumerate() {
        let document = index + 1;
        if body.lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with('#')
        }) {
            continue;
        }
        let invalid = |line: usize, message: String| ManifestError::Invalid {
            file: file.to_path_buf(),
            document,
            line,
            message,
        };
        let parsed: Document = serde_norway::from_str(&body).map_err(|err| {
            let line = err
                .location()
                .map_or(start_line, |location| start_line + location.line() - 1);
            invalid(line, strip_location(&err.to_string()))
        })?;
        let config = match parsed.config {
            None | Some(Value::Null) => JsonObject::new(),
            Some(Value::Object(object)) => rewrite_references(object),
            Some(other) => {
                return Err(invalid(
                    start_line,
                    format!("config must be a mapping, got {}", kind(&other)),
                ))
            }
        };
        let mut depends_on = Vec::with_capacity(parsed.depends_on.len());
        for entry in &parsed.depends_on {
            let reference = parse_dependency(entry).ok_or_else(|| {
                invalid(
                    start_line,
                    format!("depends_on entry {entry:?} is not provider/resource/name"),
                )
            })?;
            depends_on.push(reference);
        }
        manifests.push(Manifest {
            provider: parsed.provider,
            resource: parsed.resource,
            name: parsed.name,
            config,
            tags: parsed.tags,
            depends_on,
            source: Source {
                file: file.to_path_buf(),
                document,
                line: start_line,
            },
        });
    }
    Ok(manifests)
}

/// `manifests` reordered so that every resource comes after the others of the set that it
/// references (in its config or its `depends_on`); otherwise the order is kept. Applying
/// them in this order lets a file name a resource before the one it depends on. Within a
/// reference cycle, which the platform refuses when the manifests are applied, the order is
/// that of a depth-first walk from the first of them.
///
/// ```
/// let text = "provider: p\nresource: app\nname: web\ndepends_on: [p/db/main]\n---\n\
///             provider: p\nresource: db\nname: main\n";
/// let manifests = pragma_sdk::manifest::parse(text, "m.yaml").unwrap();
/// let ordered = pragma_sdk::manifest::in_dependency_order(manifests);
/// assert_eq!(ordered[0].name, "main");
/// ```
pub fn in_dependency_order(manifests: Vec<Manifest>) -> Vec<Manifest> {
    let ids: Vec<String> = manifests.iter().map(Manifest::id).collect();
    let position: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (id.as_str(), index))
        .collect();
    let needs: Vec<Vec<usize>> = manifests
        .iter()
        .map(|manifest| {
            let mut referenced = Vec::new();
            collect_reference_ids(&Value::Object(manifest.config.clone()), &mut referenced);
            referenced.extend(manifest.depends_on.iter().map(ResourceReference::id));
            let own = manifest.id();
            referenced
                .iter()
                .filter(|id| **id != own)
                .filter_map(|id| position.get(id.as_str()).copied())
                .collect()
        })
        .collect();
    // Depth-first, in file order: a manifest goes out after what it needs; one met again
    // while its own needs are being placed is part of a cycle and goes out as it stands.
    let mut placed = vec![false; manifests.len()];
    let mut visiting = vec![false; manifests.len()];
    let mut order = Vec::with_capacity(manifests.len());
    for start in 0..manifests.len() {
        let mut stack = vec![(start, 0)];
        while let Some((node, next)) = stack.pop() {
            if placed[node] {
                continue;
            }
            visiting[node] = true;
            match needs[node].get(next) {
                Some(&need) => {
                    stack.push((node, next + 1));
                    if !placed[need] && !visiting[need] {
                        stack.push((need, 0));
                    }
                }
                None => {
                    visiting[node] = false;
                    placed[node] = true;
                    order.push(node);
                }
            }
        }
    }
    let mut slots: Vec<Option<Manifest>> = manifests.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|index| slots[index].take())
        .collect()
}

/// The ids of every resource `value` references: mappings with string `provider`,
/// `resource` and `name` (field references and dependency markers alike).
fn collect_reference_ids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            let text = |key: &str| object.get(key).and_then(Value::as_str);
            if let (Some(provider), Some(resource), Some(name)) =
                (text("provider"), text("resource"), text("name"))
            {
                out.push(crate::models::resource_id(provider, resource, name));
            }
            for nested in object.values() {
                collect_reference_ids(nested, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_reference_ids(item, out);
            }
        }
        _ => {}
    }
}

/// Splits YAML text into documents, each with the line its body starts on: at `---` lines
/// (whose remainder, as in `--- {provider: …}`, starts the next document) and after `...`
/// lines. A byte order mark is dropped, and so are directives (`%YAML 1.2`) before a
/// document, whose lines stay as blank lines so that line numbers hold.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    // Whether `current` holds anything yet that a `---` line must close as a document.
    let mut open = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let rest = line.strip_prefix("---");
        if let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with([' ', '\t'])) {
            if open {
                documents.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            open = true;
            let rest = rest.trim_start();
            if rest.is_empty() || rest.starts_with('#') {
                start = number + 1;
            } else {
                start = number;
                current.push_str(rest);
                current.push('\n');
            }
        } else if line == "..." || line.starts_with("... ") {
            if open || !current.trim().is_empty() {
                documents.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            open = false;
            start = number + 1;
        } else if line.starts_with('%') && current.trim().is_empty() {
            current.push('\n');
        } else {
            if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
                open = true;
            }
            current.push_str(line);
            current.push('\n');
        }
    }
    if open || documents.is_empty() {
        documents.push((start, current));
    }
    documents
}

fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(position) => message[..position].to_owned(),
        None => message.to_owned(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `provider/resource/name`, where the resource type may itself hold `/`.
fn parse_dependency(entry: &str) -> Option<ResourceReference> {
    let (provider, rest) = entry.split_once('/')?;
    let (resource, name) = rest.rsplit_once('/')?;
    if provider.is_empty() || resource.is_empty() || name.is_empty() {
        return None;
    }
    Some(ResourceReference::new(provider, resource, name))
}

fn is_reference_key(key: &str) -> bool {
    matches!(key, "provider" | "resource" | "name")
}

fn rewrite_references(object: Map<String, Value>) -> Map<String, Value> {
    object
        .into_iter()
        .map(|(key, value)| (key, rewrite_value(value)))
        .collect()
}

fn rewrite_value(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let all_strings = object.values().all(Value::is_string);
            let reference_keys = object.keys().filter(|k| is_reference_key(k)).count();
            if all_strings && reference_keys == 3 && object.len() == 3 {
                let mut marker = object;
                marker.insert("__dependency__".to_owned(), Value::Bool(true));
                Value::Object(marker)
            } else if all_strings
                && reference_keys == 3
                && object.len() == 4
                && object.contains_key("field")
            {
                Value::Object(object)
            } else {
                Value::Object(rewrite_references(object))
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rewrite_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SET: &str = "\
# two resources
provider: pragma
resource: secret
name: creds
config:
  data:
    password: hunter2
---
provider: sandbox
resource: directory
name: reports
config:
  path: reports
  owner:
    provider: pragma
    resource: secret
    name: creds
    field: config.data.password
  volume:
    provider: sandbox
    resource: volume
    name: main
  list:
    - provider: sandbox
      resource: volume
      name: other
tags: [a, b]
depends_on: [sandbox/storage/bucket/base]
";

    #[test]
    fn parses_documents_with_references_and_dependencies() {
        let manifests = parse(SET, "set.yaml").unwrap();
        assert_eq!(manifests.len(), 2);
        assert_eq!(manifests[0].source.line, 1);
        assert_eq!(manifests[1].source.document, 2);
        assert_eq!(manifests[1].source.line, 9);
        let config = &manifests[1].config;
        assert_eq!(
            config["owner"],
            json!({"provider": "pragma", "resource": "secret", "name": "creds",
                   "field": "config.data.password"})
        );
        assert_eq!(config["volume"]["__dependency__"], json!(true));
        assert_eq!(config["list"][0]["__dependency__"], json!(true));
        assert_eq!(
            manifests[1].tags,
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        let dependency = &manifests[1].depends_on[0];
        assert_eq!(
            (dependency.provider.as_str(), dependency.resource.as_str()),
            ("sandbox", "storage/bucket")
        );
        let raw = manifests[1].to_resource(LifecycleState::Pending);
        assert_eq!(raw.lifecycle_state, LifecycleState::Pending);
        assert_eq!(raw.dependencies.len(), 1);
    }

    #[test]
    fn errors_name_file_document_and_line() {
        let text = "provider: a\nresource: b\nname: c\n---\nprovider: a\nresource: b\n\
                    name: d\nconfig:\n  x: [1, 2\n";
        let err = parse(text, "broken.yaml").unwrap_err().to_string();
        assert!(err.starts_with("broken.yaml, document 2, line "), "{err}");
        let line: usize = err["broken.yaml, document 2, line ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((9..=10).contains(&line), "{err}");
    }

    #[test]
    fn missing_and_unknown_keys_are_refused() {
        let err = parse("provider: a\nresource: b\n", "m.yaml").unwrap_err();
        assert!(err.to_string().contains("missing field `name`"), "{err}");
        let err = parse("provider: a\nresource: b\nname: c\ncolour: red\n", "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn bad_config_and_dependencies_are_refused() {
        let err = parse("provider: a\nresource: b\nname: c\nconfig: 3\n", "m.yaml").unwrap_err();
        assert!(
            err.to_string().contains("config must be a mapping"),
            "{err}"
        );
        let err = parse(
            "provider: a\nresource: b\nname: c\ndepends_on: [x]\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"x\""), "{err}");
    }

    #[test]
    fn empty_documents_are_skipped() {
        let manifests = parse(
            "---\n# nothing\n---\nprovider: a\nresource: b\nname: c\n",
            "m",
        )
        .unwrap();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].source.document, 2);
    }

    #[test]
    fn a_document_may_start_on_its_separator_line() {
        let text = "--- {provider: a, resource: b, name: one}\n--- # two\nprovider: a\nresource: b\nname: two\n";
        let manifests = parse(text, "m").unwrap();
        let names: Vec<_> = manifests.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(manifests[0].source.line, 1);
        assert_eq!(manifests[1].source.line, 3);

        let err = parse("provider: a\n--- {provider: a, name: x}\n", "m").unwrap_err();
        let err = err.to_string();
        assert!(err.starts_with("m, document 1"), "{err}");
        let err = parse(
            "--- {provider: a, resource: b, name: x, colour: red}\n",
            "m",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn byte_order_marks_directives_and_document_ends_are_understood() {
        let text = "\u{feff}%YAML 1.2\n---\nprovider: a\nresource: b\nname: one\n...\n---\nprovider: a\nresource: b\nname: two\n...\n";
        let manifests = parse(text, "m").unwrap();
        let found: Vec<_> = manifests
            .iter()
            .map(|m| (m.name.as_str(), m.source.document, m.source.line))
            .collect();
        assert_eq!(found, [("one", 1, 3), ("two", 2, 8)]);
        let err = parse("\u{feff}provider: a\nresource: b\n", "m")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `name`"), "{err}");
    }

    #[test]
    fn manifests_are_ordered_after_what_they_reference() {
        let text = "\
provider: p
resource: app
name: web
config:
  url: {provider: p, resource: db, name: main, field: outputs.url}
  secret: {provider: pragma, resource: secret, name: creds, field: config.data.pw}
---
provider: p
resource: cache
name: c
---
provider: p
resource: db
name: main
depends_on: [pragma/secret/creds]
---
provider: pragma
resource: secret
name: creds
config: {data: {pw: x}}
---
provider: p
resource: loop
name: a
depends_on: [p/loop/b]
---
provider: p
resource: loop
name: b
depends_on: [p/loop/a]
";
        let ordered = in_dependency_order(parse(text, "m").unwrap());
        let names: Vec<_> = ordered.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["creds", "main", "web", "c", "b", "a"]);
        assert!(in_dependency_order(Vec::new()).is_empty());
    }
}
