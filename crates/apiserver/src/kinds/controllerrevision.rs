//! `apps/v1 ControllerRevision`: validation (its data and revision are immutable) and
//! `kubectl get controllerrevisions` columns.

use apimachinery::validation::FieldErrors;
use daemonset::validation;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ControllerRevision as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, i, s};

#[derive(Debug)]
pub struct ControllerRevision;

impl Kind for ControllerRevision {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validation::validate_controller_revision(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(validation::validate_controller_revision_update(&typed(new)?, &typed(old)?))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Controller", "string", 0, "The controller of this revision."),
            col("Revision", "integer", 0, "The revision number."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let controller = obj["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|refs| refs.iter().find(|r| r["controller"] == json!(true)))
            .map(|r| {
                let group = s(r, &["apiVersion"]).rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
                let kind = if group.is_empty() {
                    s(r, &["kind"]).to_string()
                } else {
                    format!("{}.{group}", s(r, &["kind"]))
                };
                format!("{}/{}", kind.to_lowercase(), s(r, &["name"]))
            })
            .unwrap_or_else(|| "<none>".to_string());
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(controller),
            json!(i(obj, &["revision"])),
            json!(created(obj, now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::now;

    #[test]
    fn row_names_the_controller() {
        let cr = json!({"metadata": {"name": "fluentd-6d8f", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd", "controller": true}]}, "revision": 3});
        assert_eq!(ControllerRevision.cells(&cr, now())[1..3], [json!("daemonset.apps/fluentd"), json!(3)]);
    }
}
