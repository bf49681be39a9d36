//! `policy/v1 PodDisruptionBudget`: validation (minAvailable and maxUnavailable are not both
//! set, each a count or a percentage of at most 100%), generation bookkeeping, status cleared
//! on create, and `kubectl get pdb` columns.

use apimachinery::validation::{FieldError, FieldErrors, Path, is_valid_percent};
use jiff::Timestamp;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget as Type, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::{Kind, first_generation, next_generation, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, i, s};

#[derive(Debug)]
pub struct PodDisruptionBudget;

const EVICTION_POLICIES: [&str; 2] = ["AlwaysAllow", "IfHealthyBudget"];

/// Upstream `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
pub fn validate_int_or_percent(value: &IntOrString, path: &Path, errs: &mut FieldErrors) {
    let bad = serde_json::to_value(value).unwrap_or_default();
    match value {
        IntOrString::Int(n) if *n < 0 => {
            errs.push(FieldError::invalid(path, *n, "must be greater than or equal to 0"));
        }
        IntOrString::Int(_) => {}
        IntOrString::String(s) => {
            let msgs = is_valid_percent(s);
            let invalid = !msgs.is_empty();
            errs.extend(msgs.into_iter().map(|m| FieldError::invalid(path, bad.clone(), m)));
            if !invalid && s.trim_end_matches('%').parse::<u64>().is_ok_and(|p| p > 100) {
                errs.push(FieldError::invalid(path, bad, "must not be greater than 100%"));
            }
        }
    }
}

/// Upstream `ValidatePodDisruptionBudgetSpec`.
fn validate_pdb(pdb: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    let Some(spec) = &pdb.spec else { return errs };
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        errs.push(FieldError::invalid(
            &path,
            serde_json::to_value(spec).unwrap_or_default(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    if let Some(v) = &spec.min_available {
        validate_int_or_percent(v, &path.child("minAvailable"), &mut errs);
    }
    if let Some(v) = &spec.max_unavailable {
        validate_int_or_percent(v, &path.child("maxUnavailable"), &mut errs);
    }
    if let Some(selector) = &spec.selector {
        errs.extend(apimachinery::validation::validate_label_selector(selector, &path.child("selector")));
    }
    if let Some(policy) = spec.unhealthy_pod_eviction_policy.as_deref()
        && !EVICTION_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(
            &path.child("unhealthyPodEvictionPolicy"),
            policy,
            &EVICTION_POLICIES,
        ));
    }
    errs
}

/// An `IntOrString` as upstream prints it, `N/A` when unset.
fn int_or_percent(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => "N/A".to_string(),
    }
}

impl Kind for PodDisruptionBudget {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_pdb(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_pdb(&typed(new)?))
    }

    /// Counts in the status are never negative.
    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = Vec::new();
        for field in ["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"] {
            let n = i(new, &["status", field]);
            if n < 0 {
                errs.push(FieldError::invalid(
                    &Path::new("status").child(field),
                    n,
                    "must be greater than or equal to 0",
                ));
            }
        }
        Ok(errs)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = serde_json::to_value(PodDisruptionBudgetStatus::default()).unwrap_or_default();
        first_generation(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = new["spec"] != old["spec"];
        next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Min Available", "string", 0, "The minimum number of pods that must be available."),
            col("Max Unavailable", "string", 0, "The maximum number of pods that may be unavailable."),
            col(
                "Allowed Disruptions",
                "integer",
                0,
                "Calculated number of pods that may be disrupted at this time.",
            ),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(int_or_percent(&obj["spec"]["minAvailable"])),
            json!(int_or_percent(&obj["spec"]["maxUnavailable"])),
            json!(i(obj, &["status", "disruptionsAllowed"])),
            json!(created(obj, now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    #[test]
    fn row() {
        assert_eq!(
            headers(&PodDisruptionBudget, false),
            "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE"
        );
        let pdb = json!({"spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 2}});
        assert_eq!(PodDisruptionBudget.cells(&pdb, now())[1..4], [json!("50%"), json!("N/A"), json!(2)]);
    }

    #[test]
    fn validation_and_generation() {
        let both = json!({"metadata": {"name": "p"}, "spec": {"minAvailable": 1, "maxUnavailable": "10%"}});
        assert_eq!(
            aggregate_message(&PodDisruptionBudget.validate(&both).unwrap()),
            "spec: Invalid value: {\"maxUnavailable\":\"10%\",\"minAvailable\":1}: minAvailable and maxUnavailable cannot be both set"
        );
        let too_much = json!({"metadata": {"name": "p"}, "spec": {"maxUnavailable": "150%"}});
        assert_eq!(
            aggregate_message(&PodDisruptionBudget.validate(&too_much).unwrap()),
            "spec.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
        );
        let mut created = json!({"metadata": {"name": "p"}, "spec": {"minAvailable": 1}});
        PodDisruptionBudget.prepare_for_create(&mut created);
        assert_eq!(created["metadata"]["generation"], 1);
        assert_eq!(created["status"]["disruptionsAllowed"], 0);
        let mut changed = created.clone();
        changed["spec"]["minAvailable"] = json!(2);
        PodDisruptionBudget.prepare_for_update(&mut changed, &created);
        assert_eq!(changed["metadata"]["generation"], 2);
    }
}
