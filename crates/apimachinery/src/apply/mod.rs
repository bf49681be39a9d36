//! Server-side apply and managed fields, as upstream's structured-merge-diff defines them:
//! field sets and their `FieldsV1` form ([`fieldpath`]), the built-in types' list and map
//! semantics from upstream's schema ([`types`], [`schema`]), the typed operations on values
//! ([`typed`]: the fields a value sets, comparing, merging, removing), and the managers of an
//! object with the update and apply operations that change them ([`managers`]).

pub mod fieldpath;
pub mod managers;
mod schema;
pub mod typed;
pub mod types;

pub use fieldpath::FieldSet;
pub use managers::{Conflicts, ManagedFields, Operation, Write};
