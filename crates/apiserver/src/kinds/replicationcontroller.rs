//! `v1 ReplicationController`: upstream's defaults (selector and labels from the template's
//! labels, one replica, the pod template's), validation of its selector and template, a
//! generation that follows the spec, `status.replicas` as a field selector, and
//! `kubectl get replicationcontrollers` columns.

use std::collections::BTreeMap;

use apimachinery::labels::{Selector, format_labels};
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ReplicationController as Type;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::workload::{self, ReplicaCounts};
use super::{Kind, canonical, defaulted, field_at, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, CONTAINERS, ColumnDefinition, IMAGES, NAME, col, container_cells, created, i, s};

#[derive(Debug)]
pub struct ReplicationController;

/// Upstream `SetDefaults_ReplicationController` and the pod template's defaults.
pub fn set_defaults_replication_controller(rc: &mut Type) {
    let Some(spec) = rc.spec.as_mut() else { return };
    if let Some(labels) =
        spec.template.as_ref().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone())
    {
        if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) {
            spec.selector = Some(labels.clone());
        }
        if rc.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            rc.metadata.labels = Some(labels);
        }
    }
    spec.replicas.get_or_insert(1);
    if let Some(pod_spec) = spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
        apimachinery::core::set_defaults_pod_spec(pod_spec);
    }
}

/// Upstream's `ValidateReplicationControllerSpec`: the selector (a label map) may not be
/// empty, and the template is validated as a replica set's.
fn validate(obj: &Value) -> ApiResult<FieldErrors> {
    let rc: Type = typed(obj)?;
    let path = Path::new("spec");
    let spec = rc.spec.unwrap_or_default();
    let mut errs =
        workload::non_negative(Some(spec.min_ready_seconds.unwrap_or(0)), &path.child("minReadySeconds"));
    let labels = spec.selector.clone().filter(|s| !s.is_empty());
    if labels.is_none() {
        errs.push(FieldError::required(&path.child("selector"), ""));
    }
    errs.extend(workload::non_negative(spec.replicas, &path.child("replicas")));
    let selector =
        Selector::from_label_selector(Some(&LabelSelector { match_labels: labels, match_expressions: None }))
            .unwrap_or_else(|_| Selector::nothing());
    errs.extend(workload::validate_replicated_template(
        spec.template.as_ref(),
        &selector,
        &path.child("template"),
        "ReplicationController",
    ));
    Ok(errs)
}

const STATUS: ReplicaCounts = ReplicaCounts {
    counts: &["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"],
    at_most_replicas: &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
    available_above_ready: "cannot be greater than readyReplicas",
    collision_count: false,
};

impl Kind for ReplicationController {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        validate(obj)
    }

    /// The spec as on create (a replication controller's selector may change).
    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        validate(new)
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(STATUS.validate(new, old))
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_replication_controller)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        workload::reset_for_create(obj, Some(json!({"replicas": 0})));
    }

    fn scale(&self) -> Option<crate::scale::ScalePaths> {
        Some(crate::scale::ScalePaths::replication_controller())
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = workload::spec_changed(self, new, old);
        workload::next_generation(new, old, changed);
    }

    fn field_value(&self, obj: &Value, label: &str) -> Option<String> {
        match label {
            "status.replicas" => Some(i(obj, &["status", "replicas"]).to_string()),
            _ => field_at(obj, label),
        }
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col(
                "Desired",
                "integer",
                0,
                "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
            ),
            col(
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
            ),
            col("Ready", "integer", 0, "The number of ready replicas for this replication controller."),
            AGE,
            CONTAINERS,
            IMAGES,
            col(
                "Selector",
                "string",
                1,
                "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
            ),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let (names, images) = container_cells(&obj["spec"]["template"]["spec"]);
        let selector: Option<BTreeMap<String, String>> =
            serde_json::from_value(obj["spec"]["selector"].clone()).ok();
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(i(obj, &["spec", "replicas"])),
            json!(i(obj, &["status", "replicas"])),
            json!(i(obj, &["status", "readyReplicas"])),
            json!(created(obj, now)),
            json!(names),
            json!(images),
            json!(format_labels(selector.as_ref())),
        ]
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::WORKLOAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn rc(spec: Value) -> Value {
        let mut obj =
            canonical::<Type>(&json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec}))
                .unwrap();
        ReplicationController.set_defaults(&mut obj).unwrap();
        obj
    }

    fn valid_spec() -> Value {
        json!({"template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}})
    }

    #[test]
    fn defaults_come_from_the_template() {
        let rc = rc(valid_spec());
        assert_eq!(rc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert!(ReplicationController.validate(&rc).unwrap().is_empty());
    }

    #[test]
    fn validation() {
        let mut spec = valid_spec();
        spec["selector"] = json!({"app": "other"});
        spec["replicas"] = json!(-2);
        assert_eq!(
            aggregate_message(&ReplicationController.validate(&rc(spec)).unwrap()),
            "[spec.replicas: Invalid value: -2: must be greater than or equal to 0, \
             spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`]"
        );
        assert_eq!(
            aggregate_message(&ReplicationController.validate(&rc(json!({}))).unwrap()),
            "[spec.selector: Required value, spec.template: Required value]"
        );
    }

    #[test]
    fn generation() {
        let mut old = rc(valid_spec());
        ReplicationController.prepare_for_create(&mut old);
        assert_eq!(
            (old["metadata"]["generation"].clone(), old["status"].clone()),
            (json!(1), json!({"replicas": 0}))
        );
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(5);
        ReplicationController.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn row() {
        assert_eq!(headers(&ReplicationController, false), "NAME DESIRED CURRENT READY AGE");
        let mut obj = rc(valid_spec());
        obj["status"] = json!({"replicas": 1});
        obj["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            ReplicationController.cells(&obj, now()),
            vec![
                json!("web"),
                json!(1),
                json!(1),
                json!(0),
                json!("60m"),
                json!("nginx"),
                json!("nginx:1.25"),
                json!("app=web")
            ]
        );
    }
}
