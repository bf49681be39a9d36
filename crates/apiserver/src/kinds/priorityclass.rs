//! `scheduling.k8s.io/v1 PriorityClass`: defaults, validation (the value is immutable), the
//! system classes that may not be deleted, and `kubectl get pc` columns.

use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::scheduling::v1::PriorityClass as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, defaulted, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, i, s};

#[derive(Debug)]
pub struct PriorityClass;

impl Kind for PriorityClass {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_priority_class(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old): (Type, Type) = (typed(new)?, typed(old)?);
        let mut errors = apimachinery::core::validate_priority_class(&new);
        if new.value != old.value {
            errors.push(FieldError::forbidden(&Path::new("value"), "may not be changed in an update."));
        }
        Ok(errors)
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, apimachinery::core::set_defaults_priority_class)
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Value", "integer", 0, "The priority value of the class."),
            col("Global-Default", "boolean", 0, "Whether this class applies to pods that name none."),
            AGE,
            col("PreemptionPolicy", "string", 0, "The policy for preempting pods with lower priority."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(i(obj, &["value"])),
            json!(obj["globalDefault"].as_bool().unwrap_or(false)),
            json!(created(obj, now)),
            json!(s(obj, &["preemptionPolicy"])),
        ]
    }

    fn protected(&self, name: &str) -> Option<&'static str> {
        ["system-node-critical", "system-cluster-critical"]
            .contains(&name)
            .then_some("this is a system priority class and cannot be deleted")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::headers;

    #[test]
    fn headers_are_upstreams() {
        assert_eq!(headers(&PriorityClass, false), "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY");
    }
}
