//! References between resources, as they travel inside a config: a [`FieldReference`] to one
//! field of another resource, its typed face [`FieldRef`], the [`Field`] that holds either a
//! literal or a reference, and the [`Dependency`] on a whole resource.
//!
//! Wire forms inside a config:
//! - a reference: `{"provider": …, "resource": …, "name": …, "field": "outputs.url"}`;
//! - a resolved reference: `{"__field_ref__": true, "ref": {…}, "resolved_value": …}`;
//! - a dependency: `{"__dependency__": true, "provider": …, "resource": …, "name": …}`, which
//!   once resolved also carries `ref`, the whole resource (with `resolved_config` beside
//!   `config` when that resource's own config held references).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::authoring::lifecycle::LifecycleError;
use crate::authoring::resource::{Resource, ResourceType};
use crate::models::RawResource;

const FIELD_REF_MARKER: &str = "__field_ref__";
const DEPENDENCY_MARKER: &str = "__dependency__";

/// A reference to one field of another resource.
///
/// `field` is a dotted path from the resource root: `outputs.connection_url`,
/// `config.data.api_key`. A bare name (no dot) means an output and is normalised to
/// `outputs.<name>` on construction and on decoding.
///
/// ```
/// use pragma_sdk::authoring::FieldReference;
///
/// let url = FieldReference::new("mycloud", "database", "analytics", "connection_url");
/// assert_eq!(url.field, "outputs.connection_url");
/// let key = FieldReference::config("mycloud", "secret", "api", "data.key");
/// assert_eq!(key.field, "config.data.key");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FieldReference {
    /// Provider of the referenced resource.
    pub provider: String,
    /// Its resource type.
    pub resource: String,
    /// Its name.
    pub name: String,
    /// Dotted path of the field from the resource root.
    pub field: String,
}

fn normalise_field(field: String) -> String {
    if field.contains('.') {
        field
    } else {
        format!("outputs.{field}")
    }
}

impl FieldReference {
    /// A reference to `field` (a dotted path from the resource root, or a bare output name)
    /// of the resource `provider`/`resource`/`name`.
    pub fn new(
        provider: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
        field: impl Into<String>,
    ) -> Self {
        FieldReference {
            provider: provider.into(),
            resource: resource.into(),
            name: name.into(),
            field: normalise_field(field.into()),
        }
    }

    /// A reference to the config value at `path` (dotted, from the config root) of a resource.
    pub fn config(
        provider: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
        path: &str,
    ) -> Self {
        FieldReference::new(provider, resource, name, format!("config.{path}"))
    }

    /// A reference to the output value at `path` (dotted, from the outputs root) of a
    /// resource.
    pub fn output(
        provider: impl Into<String>,
        resource: impl Into<String>,
        name: impl Into<String>,
        path: &str,
    ) -> Self {
        FieldReference::new(provider, resource, name, format!("outputs.{path}"))
    }

    /// The id of the referenced resource.
    pub fn resource_id(&self) -> String {
        crate::models::resource_id(&self.provider, &self.resource, &self.name)
    }

    /// Whether `value` has the shape of a reference object (exactly the four string keys).
    pub fn is_reference_object(value: &Value) -> bool {
        match value {
            Value::Object(object) => {
                object.len() == 4
                    && ["provider", "resource", "name", "field"]
                        .iter()
                        .all(|key| object.get(*key).is_some_and(Value::is_string))
            }
            _ => false,
        }
    }
}

impl fmt::Display for FieldReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}:{}",
            self.provider, self.resource, self.name, self.field
        )
    }
}

impl<'de> Deserialize<'de> for FieldReference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            provider: String,
            resource: String,
            name: String,
            field: String,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(FieldReference::new(
            wire.provider,
            wire.resource,
            wire.name,
            wire.field,
        ))
    }
}

impl JsonSchema for FieldReference {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("FieldReference")
    }

    fn schema_id() -> Cow<'static, str> {
        Cow::Borrowed("pragma_sdk::FieldReference")
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A reference to one field of another resource.",
            "type": "object",
            "properties": {
                "provider": { "type": "string" },
                "resource": { "type": "string" },
                "name": { "type": "string" },
                "field": { "type": "string" }
            },
            "required": ["provider", "resource", "name", "field"],
            "additionalProperties": false
        })
    }
}

/// A typed reference to one output field whose value has type `T`.
///
/// Built from the generated references of a resource type, so a misspelt field does not
/// compile, and a reference only goes into a [`Field`] of the same value type:
///
/// ```
/// use pragma_sdk::authoring::{Field, FieldRef};
/// use pragma_sdk::{Config, Outputs, ResourceType};
///
/// #[derive(Config)]
/// pub struct DatabaseConfig { pub name: String }
/// #[derive(Outputs)]
/// pub struct DatabaseOutputs { pub connection_url: String, pub port: u16 }
/// #[derive(ResourceType)]
/// #[pragma(provider = "mycloud", resource = "database", config = DatabaseConfig, outputs = DatabaseOutputs)]
/// pub struct Database;
///
/// let url: FieldRef<String> = Database::outputs("analytics").connection_url;
/// let field = Field::<String>::from(url);
/// assert_eq!(field.reference().unwrap().field, "outputs.connection_url");
/// ```
pub struct FieldRef<T> {
    reference: FieldReference,
    _value: PhantomData<fn() -> T>,
}

impl<T> FieldRef<T> {
    /// A typed reference wrapping `reference`.
    pub fn new(reference: FieldReference) -> Self {
        FieldRef {
            reference,
            _value: PhantomData,
        }
    }

    /// The untyped reference.
    pub fn reference(&self) -> &FieldReference {
        &self.reference
    }

    /// The untyped reference, taken out.
    pub fn into_reference(self) -> FieldReference {
        self.reference
    }
}

impl<T> Clone for FieldRef<T> {
    fn clone(&self) -> Self {
        FieldRef::new(self.reference.clone())
    }
}

impl<T> fmt::Debug for FieldRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FieldRef").field(&self.reference).finish()
    }
}

impl<T> PartialEq for FieldRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.reference == other.reference
    }
}

impl<T> Eq for FieldRef<T> {}

/// A config value that is a literal `T`, a reference to another resource's field, or a
/// reference the platform has resolved to its value.
///
/// Limitation: a literal `T` that is itself a JSON object with exactly the keys `provider`,
/// `resource`, `name` and `field` (all strings) decodes as a reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    /// A literal value.
    Value(T),
    /// A reference, not resolved yet.
    Reference(FieldReference),
    /// A reference with the value the platform resolved it to.
    Resolved {
        /// The reference.
        reference: FieldReference,
        /// Its value.
        value: T,
    },
}

impl<T> Field<T> {
    /// The value: the literal, or the resolved value of a reference.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Infrastructure`] naming the reference when it is not resolved.
    pub fn value(&self) -> Result<&T, LifecycleError> {
        match self {
            Field::Value(value) | Field::Resolved { value, .. } => Ok(value),
            Field::Reference(reference) => Err(LifecycleError::infrastructure(format!(
                "field reference {reference} is not resolved"
            ))),
        }
    }

    /// The value, if there is one (a literal or a resolved reference).
    pub fn value_ref(&self) -> Option<&T> {
        match self {
            Field::Value(value) | Field::Resolved { value, .. } => Some(value),
            Field::Reference(_) => None,
        }
    }

    /// The reference, if the field holds one (resolved or not).
    pub fn reference(&self) -> Option<&FieldReference> {
        match self {
            Field::Value(_) => None,
            Field::Reference(reference) | Field::Resolved { reference, .. } => Some(reference),
        }
    }
}

impl<T> From<FieldRef<T>> for Field<T> {
    fn from(reference: FieldRef<T>) -> Self {
        Field::Reference(reference.reference)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(value) => value.serialize(serializer),
            Field::Reference(reference) => reference.serialize(serializer),
            Field::Resolved { reference, value } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry(FIELD_REF_MARKER, &true)?;
                map.serialize_entry("ref", reference)?;
                map.serialize_entry("resolved_value", value)?;
                map.end()
            }
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if let Value::Object(object) = &value {
            if let Some(marker) = object.get(FIELD_REF_MARKER) {
                if marker != &Value::Bool(true) {
                    return Err(D::Error::custom(format!(
                        "`{FIELD_REF_MARKER}` must be true, got {marker}"
                    )));
                }
                let reference = object
                    .get("ref")
                    .ok_or_else(|| D::Error::custom("resolved field reference without `ref`"))?;
                let reference = FieldReference::deserialize(reference)
                    .map_err(|err| D::Error::custom(format!("in `ref`: {err}")))?;
                let resolved = object.get("resolved_value").ok_or_else(|| {
                    D::Error::custom(format!(
                        "resolved field reference {reference} without `resolved_value`"
                    ))
                })?;
                let resolved = T::deserialize(resolved).map_err(|err| {
                    D::Error::custom(format!("resolved value of {reference}: {err}"))
                })?;
                return Ok(Field::Resolved {
                    reference,
                    value: resolved,
                });
            }
        }
        if FieldReference::is_reference_object(&value) {
            return FieldReference::deserialize(value)
                .map(Field::Reference)
                .map_err(D::Error::custom);
        }
        T::deserialize(value)
            .map(Field::Value)
            .map_err(D::Error::custom)
    }
}

impl<T: JsonSchema> JsonSchema for Field<T> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("Field_{}", T::schema_name()))
    }

    fn schema_id() -> Cow<'static, str> {
        Cow::Owned(format!("pragma_sdk::Field<{}>", T::schema_id()))
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<T>();
        let reference = generator.subschema_for::<FieldReference>();
        json_schema!({
            "anyOf": [
                value,
                reference,
                {
                    "type": "object",
                    "properties": {
                        FIELD_REF_MARKER: { "const": true },
                        "ref": reference,
                        "resolved_value": value
                    },
                    "required": [FIELD_REF_MARKER, "ref", "resolved_value"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// A dependency on a whole resource of type `T`, named in a config; the platform resolves it
/// to the resource before the handler runs.
///
/// ```
/// use pragma_sdk::authoring::Dependency;
/// # use pragma_sdk::{Config, Outputs, ResourceType};
/// # #[derive(Config)] pub struct NetworkConfig { pub cidr: String }
/// # #[derive(Outputs)] pub struct NetworkOutputs { pub id: String }
/// # #[derive(ResourceType)]
/// # #[pragma(provider = "mycloud", resource = "network", config = NetworkConfig, outputs = NetworkOutputs)]
/// # pub struct Network;
///
/// let network = Dependency::<Network>::new("main");
/// let wire = serde_json::to_value(&network).unwrap();
/// assert_eq!(wire["__dependency__"], true);
/// assert!(network.resolve().is_err());
/// ```
pub struct Dependency<T: ResourceType> {
    name: String,
    resolved: Option<Box<Resource<T>>>,
}

impl<T: ResourceType> Dependency<T> {
    /// An unresolved dependency on the resource of type `T` called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Dependency {
            name: name.into(),
            resolved: None,
        }
    }

    /// A dependency already resolved to `resource`.
    pub fn resolved(resource: Resource<T>) -> Self {
        Dependency {
            name: resource.name.clone(),
            resolved: Some(Box::new(resource)),
        }
    }

    /// The dependency's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the resource depended on.
    pub fn resource_id(&self) -> String {
        T::resource_id(&self.name)
    }

    /// Whether the platform has resolved it.
    pub fn is_resolved(&self) -> bool {
        self.resolved.is_some()
    }

    /// The resource depended on.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::DependencyNotReady`] when the dependency is not resolved.
    pub fn resolve(&self) -> Result<&Resource<T>, LifecycleError> {
        self.resolved
            .as_deref()
            .ok_or_else(|| LifecycleError::DependencyNotReady {
                provider: T::PROVIDER.to_owned(),
                resource: T::RESOURCE.to_owned(),
                name: self.name.clone(),
            })
    }
}

impl<T: ResourceType> Clone for Dependency<T>
where
    T::Config: Clone,
    T::Outputs: Clone,
{
    fn clone(&self) -> Self {
        Dependency {
            name: self.name.clone(),
            resolved: self.resolved.clone(),
        }
    }
}

impl<T: ResourceType> fmt::Debug for Dependency<T>
where
    T::Config: fmt::Debug,
    T::Outputs: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dependency")
            .field("provider", &T::PROVIDER)
            .field("resource", &T::RESOURCE)
            .field("name", &self.name)
            .field("resolved", &self.resolved)
            .finish()
    }
}

impl<T: ResourceType> Serialize for Dependency<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = match &self.resolved {
            Some(resource) => Some(resource.to_raw().map_err(S::Error::custom)?),
            None => None,
        };
        let mut map = serializer.serialize_map(Some(if raw.is_some() { 5 } else { 4 }))?;
        map.serialize_entry(DEPENDENCY_MARKER, &true)?;
        map.serialize_entry("provider", T::PROVIDER)?;
        map.serialize_entry("resource", T::RESOURCE)?;
        map.serialize_entry("name", &self.name)?;
        if let Some(raw) = &raw {
            map.serialize_entry("ref", raw)?;
        }
        map.end()
    }
}

fn string_key<E: serde::de::Error>(object: &Map<String, Value>, key: &str) -> Result<String, E> {
    match object.get(key) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(E::custom(format!(
            "dependency `{key}` must be a string, got {other}"
        ))),
        None => Err(E::custom(format!("dependency marker without `{key}`"))),
    }
}

impl<'de, T: ResourceType> Deserialize<'de> for Dependency<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Value::Object(mut object) = value else {
            return Err(D::Error::custom(format!(
                "expected a dependency marker on {}/{}, got {value}",
                T::PROVIDER,
                T::RESOURCE
            )));
        };
        if object.get(DEPENDENCY_MARKER) != Some(&Value::Bool(true)) {
            return Err(D::Error::custom(format!(
                "expected a dependency marker (`{DEPENDENCY_MARKER}`: true) on {}/{}",
                T::PROVIDER,
                T::RESOURCE
            )));
        }
        let provider: String = string_key(&object, "provider")?;
        let resource: String = string_key(&object, "resource")?;
        let name: String = string_key(&object, "name")?;
        if provider != T::PROVIDER || resource != T::RESOURCE {
            return Err(D::Error::custom(format!(
                "dependency on {provider}/{resource}/{name} where a {}/{} is expected",
                T::PROVIDER,
                T::RESOURCE
            )));
        }
        let resolved = match object.remove("ref") {
            None | Some(Value::Null) => None,
            Some(Value::Object(mut raw)) => {
                if let Some(resolved_config) = raw.remove("resolved_config") {
                    if !resolved_config.is_null() {
                        raw.insert("config".to_owned(), resolved_config);
                    }
                }
                let raw: RawResource =
                    serde_json::from_value(Value::Object(raw)).map_err(|err| {
                        D::Error::custom(format!(
                            "dependency {name}: `ref` is not a resource: {err}"
                        ))
                    })?;
                let resource = Resource::<T>::from_raw(raw)
                    .map_err(|err| D::Error::custom(format!("dependency {name}: `ref` {err}")))?;
                Some(Box::new(resource))
            }
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "dependency {name}: `ref` must be a resource object, got {other}"
                )))
            }
        };
        Ok(Dependency { name, resolved })
    }
}

impl<T: ResourceType> JsonSchema for Dependency<T> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("Dependency_{}_{}", T::PROVIDER, T::RESOURCE))
    }

    fn schema_id() -> Cow<'static, str> {
        Cow::Owned(format!(
            "pragma_sdk::Dependency<{}/{}>",
            T::PROVIDER,
            T::RESOURCE
        ))
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": format!("A dependency on a {}/{} resource.", T::PROVIDER, T::RESOURCE),
            "type": "object",
            "properties": {
                DEPENDENCY_MARKER: { "const": true },
                "provider": { "const": T::PROVIDER },
                "resource": { "const": T::RESOURCE },
                "name": { "type": "string" },
                "ref": { "type": ["object", "null"] }
            },
            "required": [DEPENDENCY_MARKER, "provider", "resource", "name"],
            "additionalProperties": false
        })
    }
}
