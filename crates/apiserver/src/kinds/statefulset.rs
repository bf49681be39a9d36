//! `apps/v1 StatefulSet`: upstream's defaults (ordered-ready pods, a rolling update from
//! partition 0, claims retained, one replica, ten revisions, the pod template's and the claim
//! templates'), validation of its policies, selector and template, the spec fields an update may
//! not change, a generation that follows the spec, and `kubectl get statefulsets` columns.

use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::{FieldError, FieldErrors, Path, validate_labels};
use daemonset::validation::{
    int_or_percent_is_zero, is_not_more_than_100_percent, validate_positive_int_or_percent,
};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet as Type, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PersistentVolumeClaimStatus};
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::workload::{self, ReplicaCounts};
use super::{Kind, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, CONTAINERS, ColumnDefinition, IMAGES, NAME, col, container_cells, created, i, s};

#[derive(Debug)]
pub struct StatefulSet;

/// Upstream `SetDefaults_StatefulSet`, and the defaults of its pod template and its claim
/// templates.
pub fn set_defaults_statefulset(sts: &mut Type) {
    let Some(spec) = sts.spec.as_mut() else { return };
    if spec.pod_management_policy.as_deref().unwrap_or_default().is_empty() {
        spec.pod_management_policy = Some("OrderedReady".to_string());
    }
    let strategy = spec.update_strategy.get_or_insert_with(StatefulSetUpdateStrategy::default);
    if strategy.type_.as_deref().unwrap_or_default().is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
        strategy.rolling_update.get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
    }
    if strategy.type_.as_deref() == Some("RollingUpdate")
        && let Some(rolling) = strategy.rolling_update.as_mut()
    {
        rolling.partition.get_or_insert(0);
    }
    let retention = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
    for policy in [&mut retention.when_deleted, &mut retention.when_scaled] {
        if policy.as_deref().unwrap_or_default().is_empty() {
            *policy = Some("Retain".to_string());
        }
    }
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    if let Some(pod_spec) = spec.template.spec.as_mut() {
        apimachinery::core::set_defaults_pod_spec(pod_spec);
    }
    for claim in spec.volume_claim_templates.iter_mut().flatten() {
        let claim_spec = claim.spec.get_or_insert_with(PersistentVolumeClaimSpec::default);
        claim_spec.volume_mode.get_or_insert_with(|| "Filesystem".to_string());
        let status = claim.status.get_or_insert_with(PersistentVolumeClaimStatus::default);
        status.phase.get_or_insert_with(|| "Pending".to_string());
    }
}

/// Upstream's `ValidateStatefulSetSpec`. Its pod spec is not validated (upstream leaves that
/// out: the claim templates provide volumes the template mounts).
fn validate(obj: &Value) -> ApiResult<FieldErrors> {
    let sts: Type = typed(obj)?;
    let path = Path::new("spec");
    let Some(spec) = &sts.spec else { return Ok(vec![FieldError::required(&path.child("selector"), "")]) };
    let mut errs = Vec::new();
    match spec.pod_management_policy.as_deref().unwrap_or_default() {
        "" => errs.push(FieldError::required(&path.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            &path.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let strategy_path = path.child("updateStrategy");
    let rolling_path = strategy_path.child("rollingUpdate");
    match strategy.type_.as_deref().unwrap_or_default() {
        "" => errs.push(FieldError::required(&strategy_path, "")),
        "OnDelete" => {
            if let Some(ru) = &strategy.rolling_update {
                errs.push(FieldError::invalid(
                    &rolling_path,
                    serde_json::to_value(ru).unwrap_or_default(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = &strategy.rolling_update {
                errs.extend(workload::non_negative(
                    Some(ru.partition.unwrap_or(0)),
                    &rolling_path.child("partition"),
                ));
                if let Some(max) = &ru.max_unavailable {
                    let p = rolling_path.child("maxUnavailable");
                    errs.extend(validate_positive_int_or_percent(max, &p));
                    if int_or_percent_is_zero(Some(max)) {
                        errs.push(FieldError::invalid(
                            &p,
                            serde_json::to_value(max).unwrap_or_default(),
                            "cannot be 0",
                        ));
                    }
                    errs.extend(is_not_more_than_100_percent(max, &p));
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            &strategy_path,
            serde_json::to_value(&strategy).unwrap_or_default(),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(retention) = &spec.persistent_volume_claim_retention_policy {
        let p = path.child("persistentVolumeClaimRetentionPolicy");
        for (field, value) in
            [("whenDeleted", &retention.when_deleted), ("whenScaled", &retention.when_scaled)]
        {
            let value = value.as_deref().unwrap_or_default();
            if !["Retain", "Delete"].contains(&value) {
                errs.push(FieldError::not_supported(&p.child(field), value, &["Retain", "Delete"]));
            }
        }
    }
    errs.extend(workload::non_negative(spec.replicas, &path.child("replicas")));
    errs.extend(workload::non_negative(
        Some(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    ));
    if let Some(ordinals) = &spec.ordinals {
        errs.extend(workload::non_negative(Some(ordinals.start.unwrap_or(0)), &path.child("ordinals.start")));
    }
    let given = workload::given_selector(obj);
    errs.extend(workload::validate_required_selector(given.as_ref(), &path.child("selector"), "statefulset"));
    let template_path = path.child("template");
    match workload::as_selector(given.as_ref(), &path.child("selector"), "") {
        Ok(selector) => {
            errs.extend(workload::validate_selector_matches(&selector, &spec.template, &template_path));
            // Upstream checks these at `template.labels` and `template.annotations`.
            let meta = spec.template.metadata.clone().unwrap_or_default();
            if let Some(labels) = &meta.labels {
                errs.extend(validate_labels(labels, &template_path.child("labels")));
            }
            if let Some(annotations) = &meta.annotations {
                errs.extend(apimachinery::core::validate_annotations(
                    annotations,
                    &template_path.child("annotations"),
                ));
            }
        }
        Err(e) => errs.push(e),
    }
    errs.extend(workload::validate_always_restarts(&spec.template, &template_path, "StatefulSet"));
    Ok(errs)
}

/// What an update may change: replicas, ordinals, the template, the update strategy, the claim
/// retention policy and minReadySeconds. (The selector is compared as given, beside.)
fn validate_spec_update(new: &StatefulSetSpec, old: &StatefulSetSpec, selector_changed: bool) -> FieldErrors {
    let mut comparable = new.clone();
    comparable.selector = old.selector.clone();
    comparable.replicas = old.replicas;
    comparable.ordinals = old.ordinals.clone();
    comparable.template = old.template.clone();
    comparable.update_strategy = old.update_strategy.clone();
    comparable.persistent_volume_claim_retention_policy =
        old.persistent_volume_claim_retention_policy.clone();
    comparable.min_ready_seconds = old.min_ready_seconds;
    if comparable == *old && !selector_changed {
        return Vec::new();
    }
    vec![FieldError::forbidden(
        &Path::new("spec"),
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    )]
}

const STATUS: ReplicaCounts = ReplicaCounts {
    counts: &[
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
        "availableReplicas",
        "observedGeneration",
        "collisionCount",
    ],
    at_most_replicas: &["readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"],
    available_above_ready: "cannot be greater than status.readyReplicas",
    collision_count: true,
};

impl Kind for StatefulSet {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        workload::canonical_keeping_selector::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        validate(obj)
    }

    /// The spec as on create, and only the fields upstream lets change (the selector among
    /// those that may not).
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = validate(new)?;
        let (new_sts, old_sts): (Type, Type) = (typed(new)?, typed(old)?);
        // The typed form cannot tell an absent selector from `{}`; the JSON can.
        let selector_changed = !workload::same_selector(
            workload::given_selector(new).as_ref(),
            workload::given_selector(old).as_ref(),
        );
        errs.extend(validate_spec_update(
            &new_sts.spec.unwrap_or_default(),
            &old_sts.spec.unwrap_or_default(),
            selector_changed,
        ));
        Ok(errs)
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(STATUS.validate(new, old))
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        workload::defaulted_keeping_selector(obj, set_defaults_statefulset)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        workload::reset_for_create(obj, Some(json!({"replicas": 0, "availableReplicas": 0})));
    }

    fn scale(&self) -> Option<crate::scale::ScalePaths> {
        Some(crate::scale::ScalePaths::apps_workload())
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = workload::spec_changed(self, new, old);
        workload::next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![NAME, col("Ready", "string", 0, "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let (names, images) = container_cells(&obj["spec"]["template"]["spec"]);
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(format!("{}/{}", i(obj, &["status", "readyReplicas"]), i(obj, &["spec", "replicas"]))),
            json!(created(obj, now)),
            json!(names),
            json!(images),
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

    fn statefulset(spec: Value) -> Value {
        let mut obj = StatefulSet
            .canonical(&json!({"metadata": {"name": "db", "namespace": "default"}, "spec": spec}))
            .unwrap();
        StatefulSet.set_defaults(&mut obj).unwrap();
        obj
    }

    fn valid_spec() -> Value {
        json!({"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
               "template": {"metadata": {"labels": {"app": "db"}},
                            "spec": {"containers": [{"name": "pg", "image": "postgres:16",
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
               "volumeClaimTemplates": [{"metadata": {"name": "data"},
                   "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]})
    }

    #[test]
    fn defaults() {
        let sts = statefulset(valid_spec());
        let spec = &sts["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
        assert_eq!(spec["volumeClaimTemplates"][0]["status"]["phase"], "Pending");
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
        let on_delete = statefulset(json!({"updateStrategy": {"type": "OnDelete"}}));
        assert_eq!(on_delete["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }

    #[test]
    fn validation() {
        assert!(StatefulSet.validate(&statefulset(valid_spec())).unwrap().is_empty());
        let mut spec = valid_spec();
        spec["selector"] = json!({});
        spec["podManagementPolicy"] = json!("Sometimes");
        spec["template"]["spec"]["restartPolicy"] = json!("OnFailure");
        assert_eq!(
            aggregate_message(&StatefulSet.validate(&statefulset(spec)).unwrap()),
            "[spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel', \
             spec.selector: Invalid value: {}: empty selector is invalid for statefulset, \
             spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"]"
        );
    }

    #[test]
    fn forbidden_updates() {
        let old = statefulset(valid_spec());
        let mut spec = valid_spec();
        spec["replicas"] = json!(3);
        spec["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
        assert!(StatefulSet.validate_update(&statefulset(spec), &old).unwrap().is_empty());
        let mut spec = valid_spec();
        spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert_eq!(
            aggregate_message(&StatefulSet.validate_update(&statefulset(spec), &old).unwrap()),
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        );
    }

    #[test]
    fn generation() {
        let mut old = statefulset(valid_spec());
        StatefulSet.prepare_for_create(&mut old);
        assert_eq!(old["metadata"]["generation"], 1);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
        StatefulSet.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn row() {
        assert_eq!(headers(&StatefulSet, true), "NAME READY AGE CONTAINERS IMAGES");
        let mut sts = statefulset(valid_spec());
        sts["status"] = json!({"replicas": 1, "readyReplicas": 1});
        sts["metadata"]["creationTimestamp"] = json!("2026-01-01T00:59:30Z");
        assert_eq!(
            StatefulSet.cells(&sts, now()),
            vec![json!("db"), json!("1/1"), json!("30s"), json!("pg"), json!("postgres:16")]
        );
    }
}
