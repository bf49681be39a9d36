//! `apps/v1 ReplicaSet`: upstream's defaults (one replica, the pod template's), validation of
//! its selector and template, a generation that follows the spec, `status.replicas` as a
//! field selector, and `kubectl get replicasets` columns.

use apimachinery::labels::format_label_selector;
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::workload::{self, ReplicaCounts};
use super::{Kind, field_at, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, CONTAINERS, ColumnDefinition, IMAGES, NAME, col, container_cells, created, i, s};

#[derive(Debug)]
pub struct ReplicaSet;

/// Upstream `SetDefaults_ReplicaSet` and the pod template's defaults.
pub fn set_defaults_replicaset(rs: &mut Type) {
    let Some(spec) = rs.spec.as_mut() else { return };
    spec.replicas.get_or_insert(1);
    if let Some(pod_spec) = spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
        apimachinery::core::set_defaults_pod_spec(pod_spec);
    }
}

/// Upstream's `ValidateReplicaSetSpec`.
fn validate(obj: &Value) -> ApiResult<FieldErrors> {
    let rs: Type = typed(obj)?;
    let path = Path::new("spec");
    let Some(spec) = &rs.spec else { return Ok(vec![FieldError::required(&path.child("selector"), "")]) };
    let mut errs = workload::non_negative(spec.replicas, &path.child("replicas"));
    errs.extend(workload::non_negative(
        Some(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    ));
    let given = workload::given_selector(obj);
    // Upstream names deployments here too.
    errs.extend(workload::validate_required_selector(given.as_ref(), &path.child("selector"), "deployment"));
    match workload::as_selector(given.as_ref(), &path.child("selector"), "invalid label selector") {
        Ok(selector) => errs.extend(workload::validate_replicated_template(
            Some(&spec.template.clone().unwrap_or_default()),
            &selector,
            &path.child("template"),
            "ReplicaSet",
        )),
        Err(e) => errs.push(e),
    }
    Ok(errs)
}

const STATUS: ReplicaCounts = ReplicaCounts {
    counts: &["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"],
    at_most_replicas: &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
    available_above_ready: "cannot be greater than readyReplicas",
    collision_count: false,
};

impl Kind for ReplicaSet {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        workload::canonical_keeping_selector::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        validate(obj)
    }

    /// The spec as on create, and (in apps/v1) a selector that never changes.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = validate(new)?;
        errs.extend(workload::apps_selector_unchanged(new, old));
        Ok(errs)
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(STATUS.validate(new, old))
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        workload::defaulted_keeping_selector(obj, set_defaults_replicaset)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        workload::reset_for_create(obj, Some(json!({"replicas": 0})));
    }

    fn scale(&self) -> Option<crate::scale::ScalePaths> {
        Some(crate::scale::ScalePaths::apps_workload())
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
                "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
            ),
            col(
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            col(
                "Selector",
                "string",
                1,
                "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
            ),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let (names, images) = container_cells(&obj["spec"]["template"]["spec"]);
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(i(obj, &["spec", "replicas"])),
            json!(i(obj, &["status", "replicas"])),
            json!(i(obj, &["status", "readyReplicas"])),
            json!(created(obj, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(workload::given_selector(obj).as_ref())),
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

    fn replicaset(spec: Value) -> Value {
        let mut obj = ReplicaSet
            .canonical(&json!({"metadata": {"name": "web-1", "namespace": "default"}, "spec": spec}))
            .unwrap();
        ReplicaSet.set_defaults(&mut obj).unwrap();
        obj
    }

    fn valid_spec() -> Value {
        json!({"selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}})
    }

    #[test]
    fn defaults_and_validation() {
        let rs = replicaset(valid_spec());
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert!(ReplicaSet.validate(&rs).unwrap().is_empty());
        let mut spec = valid_spec();
        spec["selector"] = json!({});
        spec["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        assert_eq!(
            aggregate_message(&ReplicaSet.validate(&replicaset(spec)).unwrap()),
            "[spec.selector: Invalid value: {}: empty selector is invalid for deployment, \
             spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported]"
        );
    }

    #[test]
    fn generation_and_status() {
        let mut old = replicaset(valid_spec());
        ReplicaSet.prepare_for_create(&mut old);
        ReplicaSet.set_defaults(&mut old).unwrap();
        assert_eq!(old["status"], json!({"replicas": 0}));
        assert_eq!(old["metadata"]["generation"], 1);
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(2);
        ReplicaSet.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
        assert_eq!(ReplicaSet.field_value(&old, "status.replicas").as_deref(), Some("0"));
    }

    #[test]
    fn row() {
        assert_eq!(headers(&ReplicaSet, true), "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR");
        let mut rs = replicaset(valid_spec());
        rs["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        rs["status"] = json!({"replicas": 1, "readyReplicas": 1});
        assert_eq!(
            ReplicaSet.cells(&rs, now()),
            vec![
                json!("web-1"),
                json!(1),
                json!(1),
                json!(1),
                json!("60m"),
                json!("nginx"),
                json!("nginx"),
                json!("app=web")
            ]
        );
        assert_eq!(ReplicaSet.cells(&json!({}), now())[7], json!("<none>"));
    }
}
