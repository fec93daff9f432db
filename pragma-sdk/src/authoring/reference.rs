//! References between resources: field references, typed output references, and
//! dependencies on whole resources.
//!
//! (Placeholder shapes; the full wire forms and schemas are built with the derive macros.)

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::authoring::resource::ResourceType;

/// A reference to one field of another resource: `field` is a dotted path from the resource
/// root (`outputs.connection_url`, `config.data.api_key`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldReference {
    /// Provider of the referenced resource.
    pub provider: String,
    /// Its resource type.
    pub resource: String,
    /// Its name.
    pub name: String,
    /// Dotted path of the field.
    pub field: String,
}

/// A typed reference to one output field, whose value has type `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// A config value that is either a literal `T` or a reference to another resource's field.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    /// A literal value.
    Value(T),
    /// A reference, not resolved yet.
    Reference(FieldReference),
}

/// A dependency on a whole resource of type `T`.
pub struct Dependency<T: ResourceType> {
    /// The dependency's name.
    pub name: String,
    _type: PhantomData<fn() -> T>,
}
