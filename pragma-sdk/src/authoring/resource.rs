//! Resource types and typed resources.

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::authoring::validate::ConfigErrors;
use crate::decode::{self, DecodeError};
use crate::models::{
    self, JsonObject, LifecycleState, OwnerReference, RawResource, ResourceDefinition,
    ResourceReference, Timestamp,
};

/// What users set on a resource of some type. Usually derived with `#[derive(Config)]`.
///
/// Decoding refuses unknown fields; [`Config::validate`] checks the rules that serde cannot
/// (lengths, ranges, patterns, custom checks).
pub trait Config: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// Checks the config's validation rules.
    ///
    /// # Errors
    ///
    /// Every rule broken, each naming its field path.
    fn validate(&self) -> Result<(), ConfigErrors> {
        Ok(())
    }
}

/// What a resource of some type exposes to others once ready. Usually derived with
/// `#[derive(Outputs)]`.
pub trait Outputs: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// Typed references to each output field of one resource (one [`FieldRef`] per field).
    ///
    /// [`FieldRef`]: crate::authoring::FieldRef
    type Refs;

    /// The references to the outputs of the resource `provider`/`resource`/`name`.
    fn refs(provider: &str, resource: &str, name: &str) -> Self::Refs;
}

/// A resource type: its provider, its name, its config and its outputs. Derived with
/// `#[derive(ResourceType)]`.
pub trait ResourceType: Send + Sync + 'static {
    /// The provider that manages this type.
    const PROVIDER: &'static str;
    /// The type's name within its provider.
    const RESOURCE: &'static str;
    /// What the type is, from its doc comment.
    const DESCRIPTION: Option<&'static str> = None;

    /// What users set.
    type Config: Config;
    /// What the resource exposes.
    type Outputs: Outputs;

    /// The id of the resource of this type called `name`.
    fn resource_id(name: &str) -> String {
        models::resource_id(Self::PROVIDER, Self::RESOURCE, name)
    }

    /// Typed references to the outputs of the resource of this type called `name`.
    fn outputs(name: &str) -> <Self::Outputs as Outputs>::Refs {
        <Self::Outputs as Outputs>::refs(Self::PROVIDER, Self::RESOURCE, name)
    }

    /// The type's definition, as `GET /resources/types` lists it.
    fn definition() -> ResourceDefinition {
        ResourceDefinition {
            provider: Self::PROVIDER.to_owned(),
            resource: Self::RESOURCE.to_owned(),
            schema: schema_object::<Self::Config>(),
            outputs_schema: schema_object::<Self::Outputs>(),
            description: Self::DESCRIPTION.map(str::to_owned),
            tags: None,
            created_at: None,
            updated_at: None,
        }
    }
}

/// The JSON schema of `T` as a JSON object.
pub(crate) fn schema_object<T: JsonSchema>() -> JsonObject {
    match serde_json::to_value(schemars::schema_for!(T)) {
        Ok(Value::Object(object)) => object,
        _ => JsonObject::new(),
    }
}

/// One resource of type `T`, with typed config and outputs.
///
/// `outputs` is `None` until the provider has reported them.
pub struct Resource<T: ResourceType> {
    /// The resource's name.
    pub name: String,
    /// What the user set.
    pub config: T::Config,
    /// What the provider reported, once it has.
    pub outputs: Option<T::Outputs>,
    /// The lifecycle state.
    pub lifecycle_state: LifecycleState,
    /// Why processing failed, when it did.
    pub error: Option<String>,
    /// Tags for grouping and filtering.
    pub tags: Option<Vec<String>>,
    /// Resources this one depends on, beside those its config references.
    pub dependencies: Vec<ResourceReference>,
    /// Resources that own this one.
    pub owner_references: Vec<OwnerReference>,
    /// Whether the resource was successfully created at least once.
    pub provisioned: bool,
    /// The event being processed, while there is one.
    pub pending_event_id: Option<String>,
    /// When the resource was created.
    pub created_at: Option<Timestamp>,
    /// When the resource was last updated.
    pub updated_at: Option<Timestamp>,
    _type: PhantomData<fn() -> T>,
}

impl<T: ResourceType> Resource<T> {
    /// A new resource of type `T` called `name`, not yet stored.
    pub fn new(name: impl Into<String>, config: T::Config) -> Self {
        Resource {
            name: name.into(),
            config,
            outputs: None,
            lifecycle_state: LifecycleState::Draft,
            error: None,
            tags: None,
            dependencies: Vec::new(),
            owner_references: Vec::new(),
            provisioned: false,
            pending_event_id: None,
            created_at: None,
            updated_at: None,
            _type: PhantomData,
        }
    }

    /// The resource's id.
    pub fn id(&self) -> String {
        T::resource_id(&self.name)
    }

    /// Decodes a raw resource as one of type `T`.
    ///
    /// Empty outputs on a resource that was never provisioned decode as `None`.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the raw resource is of another type, or its config or outputs do
    /// not fit `T`'s (the path starts with `config` or `outputs`).
    pub fn from_raw(raw: RawResource) -> Result<Self, DecodeError> {
        if raw.provider != T::PROVIDER || raw.resource != T::RESOURCE {
            return Err(DecodeError {
                path: ".".to_owned(),
                message: format!(
                    "expected a resource of type {}/{}, got {}/{}",
                    T::PROVIDER,
                    T::RESOURCE,
                    raw.provider,
                    raw.resource
                ),
            });
        }
        let config = decode::from_value(Value::Object(raw.config)).map_err(|err| DecodeError {
            path: prefixed("config", &err.path),
            message: err.message,
        })?;
        let outputs = decode_outputs::<T::Outputs>(raw.outputs, raw.provisioned)?;
        Ok(Resource {
            name: raw.name,
            config,
            outputs,
            lifecycle_state: raw.lifecycle_state,
            error: raw.error,
            tags: raw.tags,
            dependencies: raw.dependencies,
            owner_references: raw.owner_references,
            provisioned: raw.provisioned,
            pending_event_id: raw.pending_event_id,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
            _type: PhantomData,
        })
    }

    /// The raw form of this resource, as the API takes it.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the config or outputs do not serialize to JSON objects.
    pub fn to_raw(&self) -> Result<RawResource, DecodeError> {
        let config = to_object(&self.config, "config")?;
        let outputs = match &self.outputs {
            Some(outputs) => to_object(outputs, "outputs")?,
            None => JsonObject::new(),
        };
        Ok(RawResource {
            provider: T::PROVIDER.to_owned(),
            resource: T::RESOURCE.to_owned(),
            name: self.name.clone(),
            config,
            dependencies: self.dependencies.clone(),
            owner_references: self.owner_references.clone(),
            outputs,
            error: self.error.clone(),
            lifecycle_state: self.lifecycle_state,
            pending_event_id: self.pending_event_id.clone(),
            provisioned: self.provisioned,
            tags: self.tags.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn prefixed(root: &str, path: &str) -> String {
    match path {
        "." | "" => root.to_owned(),
        rest if rest.starts_with('[') => format!("{root}{rest}"),
        rest => format!("{root}.{rest}"),
    }
}

fn to_object<S: Serialize>(value: &S, what: &str) -> Result<JsonObject, DecodeError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(DecodeError {
            path: what.to_owned(),
            message: format!("expected a JSON object, got {other}"),
        }),
        Err(err) => Err(DecodeError {
            path: what.to_owned(),
            message: err.to_string(),
        }),
    }
}

pub(crate) fn decode_outputs<O: DeserializeOwned>(
    outputs: JsonObject,
    provisioned: bool,
) -> Result<Option<O>, DecodeError> {
    let empty = outputs.is_empty();
    match decode::from_value(Value::Object(outputs)) {
        Ok(decoded) if !empty || provisioned => Ok(Some(decoded)),
        Ok(_) => Ok(None),
        Err(_) if empty => Ok(None),
        Err(err) => Err(DecodeError {
            path: prefixed("outputs", &err.path),
            message: err.message,
        }),
    }
}

impl<T: ResourceType> Clone for Resource<T>
where
    T::Config: Clone,
    T::Outputs: Clone,
{
    fn clone(&self) -> Self {
        Resource {
            name: self.name.clone(),
            config: self.config.clone(),
            outputs: self.outputs.clone(),
            lifecycle_state: self.lifecycle_state,
            error: self.error.clone(),
            tags: self.tags.clone(),
            dependencies: self.dependencies.clone(),
            owner_references: self.owner_references.clone(),
            provisioned: self.provisioned,
            pending_event_id: self.pending_event_id.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            _type: PhantomData,
        }
    }
}

impl<T: ResourceType> fmt::Debug for Resource<T>
where
    T::Config: fmt::Debug,
    T::Outputs: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("provider", &T::PROVIDER)
            .field("resource", &T::RESOURCE)
            .field("name", &self.name)
            .field("config", &self.config)
            .field("outputs", &self.outputs)
            .field("lifecycle_state", &self.lifecycle_state)
            .field("error", &self.error)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}
