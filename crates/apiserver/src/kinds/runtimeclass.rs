//! `node.k8s.io/v1 RuntimeClass`: validation (the handler is a DNS label that may not change;
//! scheduling constraints) and `kubectl get runtimeclasses` columns.

use apimachinery::validation::{FieldError, FieldErrors, Path, is_dns1123_label, validate_labels};
use jiff::Timestamp;
use k8s_openapi::api::node::v1::RuntimeClass as Type;
use serde_json::{Value, json};

use super::{Kind, immutable, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct RuntimeClass;

fn validate_runtime_class(rc: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    for m in is_dns1123_label(&rc.handler) {
        errs.push(FieldError::invalid(&Path::new("handler"), rc.handler.as_str(), m));
    }
    if let Some(scheduling) = &rc.scheduling {
        let path = Path::new("scheduling");
        if let Some(selector) = &scheduling.node_selector {
            errs.extend(validate_labels(selector, &path.child("nodeSelector")));
        }
        if let Some(tolerations) = &scheduling.tolerations {
            errs.extend(apimachinery::core::validate_tolerations(tolerations, &path.child("tolerations")));
        }
    }
    errs
}

impl Kind for RuntimeClass {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_runtime_class(&typed(obj)?))
    }

    /// The handler may not change.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old): (Type, Type) = (typed(new)?, typed(old)?);
        let mut errs = validate_runtime_class(&new);
        errs.extend(immutable(&new.handler, &old.handler, &Path::new("handler")));
        Ok(errs)
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Handler", "string", 0, "The container runtime configuration that runs the class's pods."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![json!(s(obj, &["metadata", "name"])), json!(s(obj, &["handler"])), json!(created(obj, now))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    #[test]
    fn row_and_validation() {
        assert_eq!(headers(&RuntimeClass, false), "NAME HANDLER AGE");
        let rc = json!({"metadata": {"name": "gvisor"}, "handler": "runsc"});
        assert_eq!(RuntimeClass.cells(&rc, now())[1], json!("runsc"));
        let mut changed = rc.clone();
        changed["handler"] = json!("kata");
        assert_eq!(
            aggregate_message(&RuntimeClass.validate_update(&changed, &rc).unwrap()),
            "handler: Invalid value: \"kata\": field is immutable"
        );
    }
}
