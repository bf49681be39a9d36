//! DaemonSet and ControllerRevision validation as upstream's
//! `pkg/apis/apps/validation/validation.go` and the DaemonSet registry strategy do it, with
//! their field paths and messages. The API server calls these on every write.

use apimachinery::labels::Selector;
use apimachinery::validation::{FieldError, FieldErrors, Path, validate_label_selector};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const NON_NEGATIVE: &str = "must be greater than or equal to 0";
const PERCENT_FORMAT: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// Upstream's `ValidatePositiveIntOrPercent`: a non-negative int, or a percent string.
pub fn validate_positive_int_or_percent(v: &IntOrString, path: &Path) -> FieldErrors {
    match v {
        IntOrString::Int(i) if *i < 0 => vec![FieldError::invalid(path, *i, NON_NEGATIVE)],
        IntOrString::Int(_) => Vec::new(),
        IntOrString::String(s) if parse_percent(s).is_none() => {
            vec![FieldError::invalid(path, s.as_str(), PERCENT_FORMAT)]
        }
        IntOrString::String(_) => Vec::new(),
    }
}

/// Upstream's `IsNotMoreThan100Percent`: a percent string is at most `100%`.
pub fn is_not_more_than_100_percent(v: &IntOrString, path: &Path) -> FieldErrors {
    match v {
        IntOrString::String(s) if parse_percent(s).is_some_and(|p| p > 100) => {
            vec![FieldError::invalid(path, s.as_str(), "must not be greater than 100%")]
        }
        _ => Vec::new(),
    }
}

/// `"25%"` → 25; anything not `[0-9]+%` → None.
pub fn parse_percent(s: &str) -> Option<u64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether an int-or-percent is zero as upstream's `getIntOrPercentValue` reads it for the
/// both-zero and both-non-zero checks: `0`, `"0%"`, or a string that is neither a percent nor
/// a number.
pub fn int_or_percent_is_zero(v: Option<&IntOrString>) -> bool {
    match v {
        None => true,
        Some(IntOrString::Int(i)) => *i == 0,
        Some(IntOrString::String(s)) => match parse_percent(s) {
            Some(p) => p == 0,
            None => s.parse::<i64>().unwrap_or(0) == 0,
        },
    }
}

/// `ValidateDaemonSetSpec`.
pub fn validate_daemonset_spec(spec: &DaemonSetSpec, path: &Path) -> FieldErrors {
    let mut errs = validate_label_selector(&spec.selector, &path.child("selector"));
    let selector =
        Selector::from_label_selector(Some(&spec.selector)).unwrap_or_else(|_| Selector::nothing());
    let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    if selector.is_everything() {
        errs.push(FieldError::invalid(
            &path.child("selector"),
            serde_json::to_value(&spec.selector).unwrap_or_default(),
            "empty selector is invalid for daemonset",
        ));
    }
    if !selector.matches(&labels) {
        errs.push(FieldError::invalid(
            &path.child("template").child("metadata").child("labels"),
            serde_json::to_value(&labels).unwrap_or_default(),
            "`selector` does not match template `labels`",
        ));
    }
    let template_path = path.child("template");
    errs.extend(apimachinery::core::validate_pod_template_spec(&spec.template, &template_path));
    if let Some(pod) = &spec.template.spec {
        let pod_path = template_path.child("spec");
        if let Some(policy) = pod.restart_policy.as_deref()
            && policy != "Always"
        {
            errs.push(FieldError::not_supported(&pod_path.child("restartPolicy"), policy, &["Always"]));
        }
        if pod.active_deadline_seconds.is_some() {
            errs.push(FieldError::forbidden(
                &pod_path.child("activeDeadlineSeconds"),
                "activeDeadlineSeconds in DaemonSet is not Supported",
            ));
        }
    }
    if let Some(m) = spec.min_ready_seconds
        && m < 0
    {
        errs.push(FieldError::invalid(&path.child("minReadySeconds"), m, NON_NEGATIVE));
    }
    if let Some(l) = spec.revision_history_limit
        && l < 0
    {
        errs.push(FieldError::invalid(&path.child("revisionHistoryLimit"), l, NON_NEGATIVE));
    }
    let strategy_path = path.child("updateStrategy");
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    match strategy.type_.as_deref().unwrap_or_default() {
        "OnDelete" => {}
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required(&strategy_path.child("rollingUpdate"), "")),
            Some(ru) => {
                let ru_path = strategy_path.child("rollingUpdate");
                let (unavailable_path, surge_path) =
                    (ru_path.child("maxUnavailable"), ru_path.child("maxSurge"));
                let fields = [(&ru.max_unavailable, &unavailable_path), (&ru.max_surge, &surge_path)];
                for (v, p) in fields {
                    errs.extend(v.iter().flat_map(|v| validate_positive_int_or_percent(v, p)));
                }
                for (v, p) in fields {
                    errs.extend(v.iter().flat_map(|v| is_not_more_than_100_percent(v, p)));
                }
                let (unavailable_zero, surge_zero) = (
                    int_or_percent_is_zero(ru.max_unavailable.as_ref()),
                    int_or_percent_is_zero(ru.max_surge.as_ref()),
                );
                if !unavailable_zero && !surge_zero {
                    errs.push(FieldError::invalid(
                        &surge_path,
                        serde_json::to_value(&ru.max_surge).unwrap_or_default(),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                }
                if unavailable_zero && surge_zero {
                    errs.push(FieldError::required(&unavailable_path, "cannot be 0 when maxSurge is 0"));
                }
            }
        },
        other => errs.push(FieldError::not_supported(&strategy_path, other, &["RollingUpdate", "OnDelete"])),
    }
    errs
}

/// Validation of a DaemonSet on create (object metadata is validated by the caller), with
/// everynode's rollout-control annotations.
pub fn validate_daemonset(ds: &DaemonSet) -> FieldErrors {
    let mut errs = crate::rollout_controls::validate(ds);
    errs.extend(match &ds.spec {
        Some(spec) => validate_daemonset_spec(spec, &Path::new("spec")),
        None => vec![FieldError::required(&Path::new("spec").child("selector"), "")],
    });
    errs
}

/// What an update may not change: the selector (apps/v1).
pub fn validate_daemonset_update(new: &DaemonSet, old: &DaemonSet) -> FieldErrors {
    let (Some(n), Some(o)) = (&new.spec, &old.spec) else { return Vec::new() };
    if n.selector != o.selector {
        return vec![FieldError::invalid(
            &Path::new("spec").child("selector"),
            serde_json::to_value(&n.selector).unwrap_or_default(),
            "field is immutable",
        )];
    }
    Vec::new()
}

/// `ValidateDaemonSetStatusUpdate`: counters are non-negative and collisionCount never drops.
pub fn validate_daemonset_status_update(new: &DaemonSet, old: &DaemonSet) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(status) = &new.status else { return errs };
    let p = Path::new("status");
    let counters = [
        ("currentNumberScheduled", Some(status.current_number_scheduled as i64)),
        ("numberMisscheduled", Some(status.number_misscheduled as i64)),
        ("desiredNumberScheduled", Some(status.desired_number_scheduled as i64)),
        ("numberReady", Some(status.number_ready as i64)),
        ("observedGeneration", status.observed_generation),
        ("updatedNumberScheduled", status.updated_number_scheduled.map(i64::from)),
        ("numberAvailable", status.number_available.map(i64::from)),
        ("numberUnavailable", status.number_unavailable.map(i64::from)),
        ("collisionCount", status.collision_count.map(i64::from)),
    ];
    for (field, value) in counters {
        if let Some(v) = value
            && v < 0
        {
            errs.push(FieldError::invalid(&p.child(field), v, NON_NEGATIVE));
        }
    }
    let old_count = old.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    if let Some(c) = status.collision_count
        && c < old_count
    {
        errs.push(FieldError::invalid(&p.child("collisionCount"), c, "cannot be decremented"));
    }
    errs
}

pub fn validate_controller_revision(cr: &ControllerRevision) -> FieldErrors {
    let mut errs = Vec::new();
    if cr.data.is_none() {
        errs.push(FieldError::required(&Path::new("data"), "data is mandatory"));
    }
    if cr.revision < 0 {
        errs.push(FieldError::invalid(&Path::new("revision"), cr.revision, NON_NEGATIVE));
    }
    errs
}

/// A revision's data never changes; only its number (and metadata) may.
pub fn validate_controller_revision_update(
    new: &ControllerRevision,
    old: &ControllerRevision,
) -> FieldErrors {
    let mut errs = validate_controller_revision(new);
    if new.data != old.data {
        errs.push(FieldError::invalid(
            &Path::new("data"),
            serde_json::to_value(&new.data).unwrap_or_default(),
            "field is immutable",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::set_defaults_daemonset;
    use apimachinery::validation::aggregate_message;
    use serde_json::{Value, json};

    fn ds(spec: Value) -> DaemonSet {
        let mut d: DaemonSet = serde_json::from_value(
            json!({"metadata": {"name": "fluentd", "namespace": "logging"}, "spec": spec}),
        )
        .unwrap();
        set_defaults_daemonset(&mut d);
        d
    }

    fn valid_spec() -> Value {
        json!({"selector": {"matchLabels": {"name": "fluentd"}},
               "template": {"metadata": {"labels": {"name": "fluentd"}},
                            "spec": {"containers": [{"name": "fluentd", "image": "fluentd:v1"}]}}})
    }

    fn errors(spec: Value) -> String {
        aggregate_message(&validate_daemonset(&ds(spec)))
    }

    #[test]
    fn a_valid_daemonset_passes() {
        assert!(validate_daemonset(&ds(valid_spec())).is_empty());
    }

    #[test]
    fn selector_must_match_template_labels() {
        let mut spec = valid_spec();
        spec["selector"]["matchLabels"]["name"] = json!("other");
        assert_eq!(
            errors(spec),
            "spec.template.metadata.labels: Invalid value: {\"name\":\"fluentd\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn empty_selector_is_invalid() {
        let mut spec = valid_spec();
        spec["selector"] = json!({});
        assert!(
            errors(spec)
                .contains("spec.selector: Invalid value: {}: empty selector is invalid for daemonset")
        );
    }

    #[test]
    fn both_zero_and_both_non_zero() {
        let mut spec = valid_spec();
        spec["updateStrategy"] = json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}});
        assert_eq!(
            errors(spec.clone()),
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
        );
        spec["updateStrategy"] = json!({"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}});
        assert_eq!(
            errors(spec),
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"
        );
    }

    #[test]
    fn percentages() {
        let mut spec = valid_spec();
        spec["updateStrategy"] = json!({"rollingUpdate": {"maxUnavailable": "150%"}});
        assert_eq!(
            errors(spec.clone()),
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
        );
        spec["updateStrategy"] = json!({"rollingUpdate": {"maxUnavailable": "ten"}});
        assert!(errors(spec.clone()).contains("a valid percent string must be"));
        spec["updateStrategy"] = json!({"rollingUpdate": {"maxUnavailable": -1}});
        assert!(
            errors(spec).contains("maxUnavailable: Invalid value: -1: must be greater than or equal to 0")
        );
    }

    #[test]
    fn template_rules() {
        let mut spec = valid_spec();
        spec["template"]["spec"]["restartPolicy"] = json!("Never");
        spec["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        spec["minReadySeconds"] = json!(-1);
        spec["updateStrategy"] = json!({"type": "Sometimes"});
        let e = errors(spec);
        assert!(
            e.contains(
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ),
            "{e}"
        );
        assert!(e.contains("spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"));
        assert!(e.contains("spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"));
        assert!(e.contains("spec.updateStrategy: Unsupported value: \"Sometimes\": supported values: \"RollingUpdate\", \"OnDelete\""));
        let mut none = valid_spec();
        none["template"]["spec"]["containers"] = json!([]);
        assert_eq!(errors(none), "spec.template.spec.containers: Required value");
    }

    #[test]
    fn selector_is_immutable() {
        let old = ds(valid_spec());
        let mut spec = valid_spec();
        spec["selector"]["matchLabels"]["tier"] = json!("x");
        spec["template"]["metadata"]["labels"]["tier"] = json!("x");
        let new = ds(spec);
        assert_eq!(
            validate_daemonset_update(&new, &old)[0].to_string().split(": ").last().unwrap(),
            "field is immutable"
        );
    }

    #[test]
    fn status_counters() {
        let old = ds(valid_spec());
        let mut new = old.clone();
        new.status = Some(
            serde_json::from_value(json!({"currentNumberScheduled": -1, "numberMisscheduled": 0,
            "desiredNumberScheduled": 0, "numberReady": 0}))
            .unwrap(),
        );
        assert_eq!(
            aggregate_message(&validate_daemonset_status_update(&new, &old)),
            "status.currentNumberScheduled: Invalid value: -1: must be greater than or equal to 0"
        );
    }
}
