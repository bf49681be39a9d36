//! What the rooms of the kinds that run pods share: generation bookkeeping, the selector and
//! pod-template checks of upstream's apps, batch and core validation, and their status counts.

use std::collections::BTreeMap;

use apimachinery::labels::Selector;
use apimachinery::validation::validate_label_selector;
use apimachinery::validation::{FieldError, FieldErrors, Path};
use daemonset::validation::NON_NEGATIVE;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Kind, canonical, defaulted};
use crate::error::ApiResult;

/// Everything of an object but its metadata and status: what `generation` follows.
pub fn spec_of(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for field in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(field);
        }
    }
    o
}

/// What create resets: `generation` is 1, and `status` starts as given (none for kinds
/// without one).
pub fn reset_for_create(obj: &mut Value, status: Option<Value>) {
    match status {
        Some(s) => obj["status"] = s,
        None => {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
    }
    obj["metadata"]["generation"] = json!(1);
}

/// Whether an update changes the spec. Upstream compares decoded, so defaulted, objects: a
/// client that leaves out a defaulted field changes nothing.
pub fn spec_changed(kind: &dyn Kind, new: &Value, old: &Value) -> bool {
    let mut defaulted = new.clone();
    if kind.set_defaults(&mut defaulted).is_err() {
        return spec_of(new) != spec_of(old);
    }
    spec_of(&defaulted) != spec_of(old)
}

/// `generation` moves by one when `changed`, and stays otherwise.
pub fn next_generation(new: &mut Value, old: &Value, changed: bool) {
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    new["metadata"]["generation"] = json!(if changed { generation + 1 } else { generation });
}

/// Whether `spec.selector` is absent. The typed form of the apps/v1 kinds requires a selector
/// and fills an absent one with `{}`, which upstream tells apart (`Required value`, not an
/// empty selector); their rooms keep it absent.
fn selector_absent(obj: &Value) -> bool {
    obj["spec"].is_object() && obj["spec"].get("selector").is_none_or(Value::is_null)
}

fn drop_selector(obj: &mut Value) {
    if let Some(spec) = obj["spec"].as_object_mut() {
        spec.remove("selector");
    }
}

/// `obj` as `T` sees it, an absent `spec.selector` kept absent.
pub fn canonical_keeping_selector<T: DeserializeOwned + Serialize>(
    obj: &Value,
) -> Result<Value, serde_json::Error> {
    let mut out = canonical::<T>(obj)?;
    if selector_absent(obj) {
        drop_selector(&mut out);
    }
    Ok(out)
}

/// `obj` with `T`'s defaults applied by `set`, an absent `spec.selector` kept absent.
pub fn defaulted_keeping_selector<T: DeserializeOwned + Serialize>(
    obj: &mut Value,
    set: impl FnOnce(&mut T),
) -> ApiResult<()> {
    let absent = selector_absent(obj);
    defaulted(obj, set)?;
    if absent {
        drop_selector(obj);
    }
    Ok(())
}

/// The selector at `spec.selector`, if one is given.
pub fn given_selector(obj: &Value) -> Option<LabelSelector> {
    obj["spec"].get("selector").filter(|v| !v.is_null()).and_then(|v| LabelSelector::deserialize(v).ok())
}

fn is_empty_selector(s: &LabelSelector) -> bool {
    s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// A selector as upstream's semantic equality sees it: empty lists and maps are absent ones.
fn normalized(s: Option<&LabelSelector>) -> Option<LabelSelector> {
    s.map(|s| LabelSelector {
        match_labels: s.match_labels.clone().filter(|m| !m.is_empty()),
        match_expressions: s.match_expressions.clone().filter(|e| !e.is_empty()),
    })
}

/// The apps/v1 selector checks: required, valid, and not empty (`empty selector is invalid
/// for <what>`).
pub fn validate_required_selector(selector: Option<&LabelSelector>, path: &Path, what: &str) -> FieldErrors {
    let Some(selector) = selector else { return vec![FieldError::required(path, "")] };
    let mut errs = validate_label_selector(selector, path);
    if is_empty_selector(selector) {
        errs.push(FieldError::invalid(
            path,
            serde_json::to_value(selector).unwrap_or_default(),
            format!("empty selector is invalid for {what}"),
        ));
    }
    errs
}

/// Upstream's `LabelSelectorAsSelector` (an absent selector selects nothing), or the error it
/// reports with `detail` when the selector cannot be converted.
pub fn as_selector(
    selector: Option<&LabelSelector>,
    path: &Path,
    detail: &str,
) -> Result<Selector, FieldError> {
    Selector::from_label_selector(selector)
        .map_err(|_| FieldError::invalid(path, serde_json::to_value(selector).unwrap_or_default(), detail))
}

/// `` `selector` does not match template `labels` ``, unless the selector selects everything.
pub fn validate_selector_matches(
    selector: &Selector,
    template: &PodTemplateSpec,
    path: &Path,
) -> FieldErrors {
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if selector.is_everything() || selector.matches(labels.unwrap_or(&BTreeMap::new())) {
        return Vec::new();
    }
    vec![FieldError::invalid(
        &path.child("metadata").child("labels"),
        serde_json::to_value(labels).unwrap_or_default(),
        "`selector` does not match template `labels`",
    )]
}

/// The pods of `owner` always restart: `restartPolicy` is `Always` and there is no
/// `activeDeadlineSeconds`.
pub fn validate_always_restarts(template: &PodTemplateSpec, path: &Path, owner: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(pod) = &template.spec else { return errs };
    let spec_path = path.child("spec");
    let policy = pod.restart_policy.as_deref().unwrap_or_default();
    if policy != "Always" {
        errs.push(FieldError::not_supported(&spec_path.child("restartPolicy"), policy, &["Always"]));
    }
    if pod.active_deadline_seconds.is_some() {
        errs.push(FieldError::forbidden(
            &spec_path.child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {owner} is not Supported"),
        ));
    }
    errs
}

/// Upstream's `ValidatePodTemplateSpecForReplicaSet` (and `...ForRC`): the template exists, the
/// selector matches its labels, it is a valid pod template, and its pods always restart.
pub fn validate_replicated_template(
    template: Option<&PodTemplateSpec>,
    selector: &Selector,
    path: &Path,
    owner: &str,
) -> FieldErrors {
    let Some(template) = template else { return vec![FieldError::required(path, "")] };
    let mut errs = validate_selector_matches(selector, template, path);
    errs.extend(apimachinery::core::validate_pod_template_spec(template, path));
    errs.extend(validate_always_restarts(template, path, owner));
    errs
}

/// Upstream's `ValidateNonnegativeField`, for a field that may be unset.
pub fn non_negative(value: Option<impl Into<i64>>, path: &Path) -> FieldErrors {
    match value.map(Into::into) {
        Some(v) if v < 0 => vec![FieldError::invalid(path, v, NON_NEGATIVE)],
        _ => Vec::new(),
    }
}

/// Upstream's `ValidateImmutableField`.
pub fn immutable<T: Serialize + PartialEq>(new: &T, old: &T, path: &Path) -> FieldErrors {
    if new == old {
        return Vec::new();
    }
    vec![FieldError::invalid(path, serde_json::to_value(new).unwrap_or_default(), "field is immutable")]
}

/// Whether two selectors are the same to upstream's semantic equality.
pub fn same_selector(a: Option<&LabelSelector>, b: Option<&LabelSelector>) -> bool {
    normalized(a) == normalized(b)
}

/// apps/v1 selectors never change.
pub fn immutable_selector(
    new: Option<&LabelSelector>,
    old: Option<&LabelSelector>,
    path: &Path,
) -> FieldErrors {
    if same_selector(new, old) {
        return Vec::new();
    }
    vec![FieldError::invalid(path, serde_json::to_value(new).unwrap_or_default(), "field is immutable")]
}

/// An apps/v1 update's `spec.selector`, as given (absent or not), unchanged.
pub fn apps_selector_unchanged(new: &Value, old: &Value) -> FieldErrors {
    immutable_selector(
        given_selector(new).as_ref(),
        given_selector(old).as_ref(),
        &Path::new("spec").child("selector"),
    )
}

/// The counts a replicated kind's status reports and upstream checks on `/status` updates.
pub struct ReplicaCounts {
    /// Each non-negative.
    pub counts: &'static [&'static str],
    /// Each at most `status.replicas`.
    pub at_most_replicas: &'static [&'static str],
    /// What `availableReplicas` above `readyReplicas` is told.
    pub available_above_ready: &'static str,
    /// Whether `collisionCount` may never be decremented.
    pub collision_count: bool,
}

impl ReplicaCounts {
    pub fn validate(&self, new: &Value, old: &Value) -> FieldErrors {
        let path = Path::new("status");
        let status = &new["status"];
        let count = |f: &str| status[f].as_i64();
        let mut errs = Vec::new();
        for f in self.counts {
            errs.extend(non_negative(count(f), &path.child(f)));
        }
        let replicas = count("replicas").unwrap_or(0);
        for f in self.at_most_replicas {
            if let Some(v) = count(f)
                && v > replicas
            {
                errs.push(FieldError::invalid(&path.child(f), v, "cannot be greater than status.replicas"));
            }
        }
        let available = count("availableReplicas").unwrap_or(0);
        if available > count("readyReplicas").unwrap_or(0) {
            errs.push(FieldError::invalid(
                &path.child("availableReplicas"),
                available,
                self.available_above_ready,
            ));
        }
        if self.collision_count
            && let Some(before) = old["status"]["collisionCount"].as_i64()
        {
            let now = count("collisionCount");
            if now.is_none_or(|n| n < before) {
                errs.push(FieldError::invalid(
                    &path.child("collisionCount"),
                    now.unwrap_or(0),
                    "cannot be decremented",
                ));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::validation::aggregate_message;

    #[test]
    fn selectors() {
        let path = Path::new("spec").child("selector");
        assert_eq!(
            aggregate_message(&validate_required_selector(None, &path, "deployment")),
            "spec.selector: Required value"
        );
        let empty = LabelSelector::default();
        assert_eq!(
            aggregate_message(&validate_required_selector(Some(&empty), &path, "statefulset")),
            "spec.selector: Invalid value: {}: empty selector is invalid for statefulset"
        );
        let a: LabelSelector = serde_json::from_value(json!({"matchLabels": {"a": "b"}})).unwrap();
        let b: LabelSelector =
            serde_json::from_value(json!({"matchLabels": {"a": "b"}, "matchExpressions": []})).unwrap();
        assert!(immutable_selector(Some(&a), Some(&b), &path).is_empty());
        assert_eq!(
            aggregate_message(&immutable_selector(Some(&a), Some(&empty), &path)),
            "spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: field is immutable"
        );
    }

    #[test]
    fn a_missing_selector_stays_missing() {
        let body = json!({"metadata": {"name": "d"}, "spec": {"template": {}}});
        let out = canonical_keeping_selector::<k8s_openapi::api::apps::v1::Deployment>(&body).unwrap();
        assert!(out["spec"].get("selector").is_none());
        let mut obj = out;
        defaulted_keeping_selector(&mut obj, |_: &mut k8s_openapi::api::apps::v1::Deployment| {}).unwrap();
        assert!(obj["spec"].get("selector").is_none());
        assert_eq!(given_selector(&obj), None);
    }

    #[test]
    fn replica_counts() {
        let counts = ReplicaCounts {
            counts: &["replicas", "readyReplicas", "availableReplicas"],
            at_most_replicas: &["readyReplicas"],
            available_above_ready: "cannot be greater than readyReplicas",
            collision_count: true,
        };
        let old = json!({"status": {"collisionCount": 2}});
        let new = json!({"status": {"replicas": -1, "readyReplicas": 1, "availableReplicas": 2, "collisionCount": 1}});
        assert_eq!(
            aggregate_message(&counts.validate(&new, &old)),
            "[status.replicas: Invalid value: -1: must be greater than or equal to 0, \
             status.readyReplicas: Invalid value: 1: cannot be greater than status.replicas, \
             status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas, \
             status.collisionCount: Invalid value: 1: cannot be decremented]"
        );
    }
}
