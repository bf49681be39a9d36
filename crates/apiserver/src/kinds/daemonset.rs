//! `apps/v1 DaemonSet`: upstream's defaults and validation (from the `daemonset` crate), the
//! generation and template-generation bookkeeping, and `kubectl get ds` columns.

use apimachinery::labels::{format_label_selector, format_labels};
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::FieldErrors;
use daemonset::validation;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, defaulted, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, CONTAINERS, ColumnDefinition, IMAGES, NAME, col, container_cells, created, i, s};

/// The annotation upstream keeps the template's generation in.
pub const TEMPLATE_GENERATION: &str = daemonset::pod::TEMPLATE_GENERATION_ANNOTATION;

#[derive(Debug)]
pub struct DaemonSet;

impl Kind for DaemonSet {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validation::validate_daemonset(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old) = (typed(new)?, typed(old)?);
        let mut errors = validation::validate_daemonset(&new);
        errors.extend(validation::validate_daemonset_update(&new, &old));
        Ok(errors)
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(validation::validate_daemonset_status_update(&typed(new)?, &typed(old)?))
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, daemonset::defaults::set_defaults_daemonset)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({
            "currentNumberScheduled": 0, "numberMisscheduled": 0,
            "desiredNumberScheduled": 0, "numberReady": 0,
        });
        obj["metadata"]["generation"] = json!(1);
        obj["metadata"]["annotations"][TEMPLATE_GENERATION] = json!("1");
    }

    /// `generation` moves with any spec change, the template generation with template changes.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        daemonset::generation::prepare_for_update(new, old);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod."),
            col(
                "Current",
                "integer",
                0,
                "The number of nodes running at least one daemon pod that are supposed to.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more ready.",
            ),
            col("Up-to-date", "integer", 0, "The total number of nodes running the updated daemon pod."),
            col(
                "Available",
                "integer",
                0,
                "The number of nodes running the daemon pod that have one or more available.",
            ),
            col("Node Selector", "string", 0, "The node selector of the pod template."),
            AGE,
            CONTAINERS,
            IMAGES,
            col("Selector", "string", 1, "A label query over pods that are managed by the daemon set."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let status = |f: &str| json!(i(obj, &["status", f]));
        let pod_spec = &obj["spec"]["template"]["spec"];
        let node_selector = serde_json::from_value(pod_spec["nodeSelector"].clone()).ok();
        let (names, images) = container_cells(pod_spec);
        let selector = serde_json::from_value(obj["spec"]["selector"].clone()).ok();
        vec![
            json!(s(obj, &["metadata", "name"])),
            status("desiredNumberScheduled"),
            status("currentNumberScheduled"),
            status("numberReady"),
            status("updatedNumberScheduled"),
            status("numberAvailable"),
            json!(format_labels(node_selector.as_ref())),
            json!(created(obj, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(selector.as_ref())),
        ]
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::DAEMONSET
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};

    #[test]
    fn generation_moves_on_spec_changes_only() {
        let old = json!({"metadata": {"name": "x", "generation": 3, "annotations": {TEMPLATE_GENERATION: "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}, "minReadySeconds": 0},
            "status": {"numberReady": 1}});
        let mut same = old.clone();
        same["metadata"]["labels"] = json!({"a": "b"});
        DaemonSet.prepare_for_update(&mut same, &old);
        assert_eq!(same["metadata"]["generation"], 3);
        let mut template = old.clone();
        template["spec"]["template"]["spec"]["containers"][0]["image"] = json!("2");
        DaemonSet.prepare_for_update(&mut template, &old);
        assert_eq!(template["metadata"]["generation"], 4);
        assert_eq!(template["metadata"]["annotations"][TEMPLATE_GENERATION], "3");
        let mut other = old.clone();
        other["spec"]["minReadySeconds"] = json!(5);
        DaemonSet.prepare_for_update(&mut other, &old);
        assert_eq!(other["metadata"]["generation"], 4);
        assert_eq!(other["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
    }

    #[test]
    fn row() {
        assert_eq!(
            headers(&DaemonSet, false),
            "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"
        );
        let ds = json!({"metadata": {"name": "fluentd", "creationTimestamp": "2026-01-01T00:58:00Z"},
            "spec": {"selector": {"matchLabels": {"name": "fluentd"}},
                     "template": {"spec": {"nodeSelector": {"type": "x", "a": "b"}, "containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}]}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert_eq!(
            DaemonSet.cells(&ds, now()),
            vec![
                json!("fluentd"),
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("a=b,type=x"),
                json!("2m"),
                json!("c1,c2"),
                json!("i1,i2"),
                json!("name=fluentd")
            ]
        );
    }
}
