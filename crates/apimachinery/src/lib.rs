//! The parts of Kubernetes' API machinery that both the API server and the controllers need,
//! as pure functions: label and field selectors, strategic merge patch, field-error reporting,
//! human-readable durations, and the core/v1 defaulting and validation rules.
//!
//! Nothing here does I/O or reads the clock; time is always a parameter.

pub mod apply;
pub mod core;
pub mod duplicate_fields;
pub mod duration;
pub mod fields;
pub mod jsonpath;
pub mod labels;
pub mod quantity;
pub mod strategic_merge;
pub mod structural;
pub mod validation;
pub mod version;
