//! `apps/v1 Deployment`: upstream's defaults (one replica, a 25%/25% rolling update, ten
//! revisions, a 600s progress deadline, the pod template's), validation of its selector,
//! template and strategy, a generation that follows spec and annotation changes, and
//! `kubectl get deployments` columns.

use apimachinery::labels::Selector;
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::{FieldError, FieldErrors, Path};
use daemonset::validation::{
    int_or_percent_is_zero, is_not_more_than_100_percent, validate_positive_int_or_percent,
};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    Deployment as Type, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::workload::{self, ReplicaCounts};
use super::{Kind, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, CONTAINERS, ColumnDefinition, IMAGES, NAME, col, container_cells, created, i, s};

#[derive(Debug)]
pub struct Deployment;

/// Upstream `SetDefaults_Deployment` and the pod template's defaults.
pub fn set_defaults_deployment(d: &mut Type) {
    let Some(spec) = d.spec.as_mut() else { return };
    spec.replicas.get_or_insert(1);
    let strategy = spec.strategy.get_or_insert_with(DeploymentStrategy::default);
    if strategy.type_.as_deref().unwrap_or_default().is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let rolling = strategy.rolling_update.get_or_insert_with(RollingUpdateDeployment::default);
        rolling.max_unavailable.get_or_insert_with(|| IntOrString::String("25%".to_string()));
        rolling.max_surge.get_or_insert_with(|| IntOrString::String("25%".to_string()));
    }
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    if let Some(pod_spec) = spec.template.spec.as_mut() {
        apimachinery::core::set_defaults_pod_spec(pod_spec);
    }
}

/// Upstream's `ValidateDeploymentStrategy`.
fn validate_strategy(strategy: &DeploymentStrategy, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    match strategy.type_.as_deref().unwrap_or_default() {
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required(
                &path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let path = path.child("rollingUpdate");
                let zero = IntOrString::Int(0);
                let unavailable = ru.max_unavailable.as_ref().unwrap_or(&zero);
                let surge = ru.max_surge.as_ref().unwrap_or(&zero);
                errs.extend(validate_positive_int_or_percent(unavailable, &path.child("maxUnavailable")));
                errs.extend(validate_positive_int_or_percent(surge, &path.child("maxSurge")));
                if int_or_percent_is_zero(Some(unavailable)) && int_or_percent_is_zero(Some(surge)) {
                    errs.push(FieldError::invalid(
                        &path.child("maxUnavailable"),
                        serde_json::to_value(unavailable).unwrap_or_default(),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(is_not_more_than_100_percent(unavailable, &path.child("maxUnavailable")));
            }
        },
        _ => errs.push(FieldError::not_supported(
            path,
            serde_json::to_value(strategy).unwrap_or_default(),
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

/// Upstream's `ValidateDeploymentSpec`.
fn validate_spec(obj: &Value, spec: &DeploymentSpec) -> FieldErrors {
    let path = Path::new("spec");
    let mut errs = workload::non_negative(spec.replicas, &path.child("replicas"));
    let given = workload::given_selector(obj);
    errs.extend(workload::validate_required_selector(given.as_ref(), &path.child("selector"), "deployment"));
    match workload::as_selector(given.as_ref(), &path.child("selector"), "invalid label selector") {
        Ok(selector) => errs.extend(workload::validate_replicated_template(
            Some(&spec.template),
            &selector,
            &path.child("template"),
            "ReplicaSet",
        )),
        Err(e) => errs.push(e),
    }
    errs.extend(validate_strategy(&spec.strategy.clone().unwrap_or_default(), &path.child("strategy")));
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    errs.extend(workload::non_negative(Some(min_ready), &path.child("minReadySeconds")));
    errs.extend(workload::non_negative(spec.revision_history_limit, &path.child("revisionHistoryLimit")));
    if let Some(deadline) = spec.progress_deadline_seconds {
        let p = path.child("progressDeadlineSeconds");
        errs.extend(workload::non_negative(Some(deadline), &p));
        if deadline <= min_ready {
            errs.push(FieldError::invalid(&p, deadline, "must be greater than minReadySeconds"));
        }
    }
    errs
}

fn validate(obj: &Value) -> ApiResult<FieldErrors> {
    let d: Type = typed(obj)?;
    match &d.spec {
        Some(spec) => Ok(validate_spec(obj, spec)),
        None => Ok(vec![FieldError::required(&Path::new("spec").child("selector"), "")]),
    }
}

const STATUS: ReplicaCounts = ReplicaCounts {
    counts: &[
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "collisionCount",
    ],
    at_most_replicas: &["updatedReplicas", "readyReplicas", "availableReplicas"],
    available_above_ready: "cannot be greater than readyReplicas",
    collision_count: true,
};

impl Kind for Deployment {
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
        workload::defaulted_keeping_selector(obj, set_defaults_deployment)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        workload::reset_for_create(obj, Some(json!({})));
    }

    /// `generation` moves with the spec, and with the annotations (which the deployment
    /// controller copies to its replica sets).
    fn scale(&self) -> Option<crate::scale::ScalePaths> {
        Some(crate::scale::ScalePaths::apps_workload())
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = workload::spec_changed(self, new, old)
            || new["metadata"]["annotations"] != old["metadata"]["annotations"];
        workload::next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "string",
                0,
                "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "string",
                0,
                "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            col(
                "Selector",
                "string",
                1,
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
            ),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let (names, images) = container_cells(&obj["spec"]["template"]["spec"]);
        let selector = match Selector::from_label_selector(workload::given_selector(obj).as_ref()) {
            Ok(s) => s.to_string(),
            Err(_) => "<invalid>".to_string(),
        };
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(format!("{}/{}", i(obj, &["status", "readyReplicas"]), i(obj, &["spec", "replicas"]))),
            json!(i(obj, &["status", "updatedReplicas"])),
            json!(i(obj, &["status", "availableReplicas"])),
            json!(created(obj, now)),
            json!(names),
            json!(images),
            json!(selector),
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

    fn deployment(spec: Value) -> Value {
        let mut obj = Deployment
            .canonical(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default"}, "spec": spec}))
            .unwrap();
        Deployment.set_defaults(&mut obj).unwrap();
        obj
    }

    fn valid_spec() -> Value {
        json!({"selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}})
    }

    fn errors(spec: Value) -> String {
        aggregate_message(&Deployment.validate(&deployment(spec)).unwrap())
    }

    #[test]
    fn defaults() {
        let d = deployment(valid_spec());
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
        let recreate = deployment(json!({"strategy": {"type": "Recreate"}}));
        assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn a_valid_deployment_passes() {
        assert!(Deployment.validate(&deployment(valid_spec())).unwrap().is_empty());
    }

    #[test]
    fn selector_rules() {
        let mut spec = valid_spec();
        spec["selector"]["matchLabels"]["app"] = json!("other");
        assert_eq!(
            errors(spec),
            "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
        );
        let mut spec = valid_spec();
        spec.as_object_mut().unwrap().remove("selector");
        assert_eq!(
            errors(spec),
            "[spec.selector: Required value, spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`]"
        );
        let mut spec = valid_spec();
        spec["selector"] = json!({});
        assert_eq!(
            errors(spec),
            "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
        );
    }

    #[test]
    fn template_and_strategy_rules() {
        let mut spec = valid_spec();
        spec["replicas"] = json!(-1);
        spec["template"]["spec"]["restartPolicy"] = json!("Never");
        spec["strategy"] = json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}});
        spec["minReadySeconds"] = json!(600);
        assert_eq!(
            errors(spec),
            "[spec.replicas: Invalid value: -1: must be greater than or equal to 0, \
             spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\", \
             spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0, \
             spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds]"
        );
        let mut spec = valid_spec();
        spec["strategy"] = json!({"type": "Recreate", "rollingUpdate": {}});
        assert_eq!(
            errors(spec),
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        );
    }

    #[test]
    fn selector_is_immutable() {
        let old = deployment(valid_spec());
        let mut spec = valid_spec();
        spec["selector"]["matchLabels"]["tier"] = json!("x");
        spec["template"]["metadata"]["labels"]["tier"] = json!("x");
        let new = deployment(spec);
        assert_eq!(
            aggregate_message(&Deployment.validate_update(&new, &old).unwrap()),
            "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"x\"}}: field is immutable"
        );
    }

    #[test]
    fn generation_follows_spec_and_annotations() {
        let mut old = deployment(valid_spec());
        Deployment.prepare_for_create(&mut old);
        assert_eq!(old["metadata"]["generation"], 1);
        assert_eq!(old["status"], json!({}));
        let mut labels = old.clone();
        labels["metadata"]["labels"] = json!({"a": "b"});
        Deployment.prepare_for_update(&mut labels, &old);
        assert_eq!(labels["metadata"]["generation"], 1);
        let mut undefaulted = old.clone();
        undefaulted["spec"].as_object_mut().unwrap().remove("revisionHistoryLimit");
        Deployment.prepare_for_update(&mut undefaulted, &old);
        assert_eq!(undefaulted["metadata"]["generation"], 1, "a defaulted field left out changes nothing");
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(3);
        Deployment.prepare_for_update(&mut scaled, &old);
        assert_eq!(scaled["metadata"]["generation"], 2);
        let mut annotated = old.clone();
        annotated["metadata"]["annotations"] = json!({"a": "b"});
        Deployment.prepare_for_update(&mut annotated, &old);
        assert_eq!(annotated["metadata"]["generation"], 2);
    }

    #[test]
    fn status_counts() {
        let old = deployment(valid_spec());
        let mut new = old.clone();
        new["status"] = json!({"replicas": 1, "readyReplicas": 2});
        assert_eq!(
            aggregate_message(&Deployment.validate_status_update(&new, &old).unwrap()),
            "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"
        );
    }

    #[test]
    fn row() {
        assert_eq!(headers(&Deployment, false), "NAME READY UP-TO-DATE AVAILABLE AGE");
        assert_eq!(
            headers(&Deployment, true),
            "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"
        );
        let mut d = deployment(json!({"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "a", "image": "i1"}, {"name": "b", "image": "i2"}]}}}));
        d["metadata"]["creationTimestamp"] = json!("2026-01-01T00:58:00Z");
        d["status"] = json!({"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 1});
        assert_eq!(
            Deployment.cells(&d, now()),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(1),
                json!("2m"),
                json!("a,b"),
                json!("i1,i2"),
                json!("app=web")
            ]
        );
        assert_eq!(Deployment.cells(&json!({}), now())[7], json!(""), "no selector prints as nothing");
    }
}
