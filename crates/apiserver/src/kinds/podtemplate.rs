//! `v1 PodTemplate`: its template's defaults and validation, a generation that follows the
//! template, and `kubectl get podtemplates` columns (no age: upstream prints none).

use apimachinery::labels::format_labels;
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::{FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodTemplate as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::workload;
use super::{Kind, canonical, defaulted, register, typed};
use crate::error::ApiResult;
use crate::printers::{ColumnDefinition, NAME, col, container_cells, s};

#[derive(Debug)]
pub struct PodTemplate;

fn validate(obj: &Value) -> ApiResult<FieldErrors> {
    let t: Type = typed(obj)?;
    Ok(apimachinery::core::validate_pod_template_spec(
        &t.template.unwrap_or_default(),
        &Path::new("template"),
    ))
}

impl Kind for PodTemplate {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        validate(new)
    }

    /// Pod templates have no status.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, |t: &mut Type| {
            if let Some(pod_spec) = t.template.as_mut().and_then(|t| t.spec.as_mut()) {
                apimachinery::core::set_defaults_pod_spec(pod_spec);
            }
        })
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        workload::reset_for_create(obj, None);
    }

    /// `generation` moves with the template.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = workload::spec_changed(self, new, old);
        workload::next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Containers", "string", 0, "Names of each container in the template."),
            col("Images", "string", 0, "Images referenced by each container in the template."),
            col("Pod Labels", "string", 0, "The labels for the pod template."),
        ]
    }

    fn cells(&self, obj: &Value, _now: Timestamp) -> Vec<Value> {
        let (names, images) = container_cells(&obj["template"]["spec"]);
        let labels = serde_json::from_value(obj["template"]["metadata"]["labels"].clone()).ok();
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(names),
            json!(images),
            json!(format_labels(labels.as_ref())),
        ]
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::POD_TEMPLATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn template(t: Value) -> Value {
        let mut obj =
            canonical::<Type>(&json!({"metadata": {"name": "t", "namespace": "default"}, "template": t}))
                .unwrap();
        PodTemplate.set_defaults(&mut obj).unwrap();
        obj
    }

    #[test]
    fn defaults_validation_and_generation() {
        let mut old = template(json!({"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}));
        assert_eq!(old["template"]["spec"]["restartPolicy"], "Always");
        assert!(PodTemplate.validate(&old).unwrap().is_empty());
        assert_eq!(
            aggregate_message(&PodTemplate.validate(&template(json!({}))).unwrap()),
            "template.spec.containers: Required value"
        );
        PodTemplate.prepare_for_create(&mut old);
        assert_eq!(old["metadata"]["generation"], 1);
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"a": "b"});
        PodTemplate.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 1);
        new["template"]["spec"]["containers"][0]["image"] = json!("busybox:1");
        PodTemplate.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn row() {
        assert_eq!(headers(&PodTemplate, false), "NAME CONTAINERS IMAGES POD LABELS");
        let t = template(json!({"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}));
        assert_eq!(
            PodTemplate.cells(&t, now()),
            vec![json!("t"), json!("c"), json!("busybox"), json!("app=x")]
        );
    }
}
