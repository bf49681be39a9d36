//! `rbac.authorization.k8s.io/v1 Role` and `ClusterRole`: path-segment names (`system:…`
//! names are fine), upstream's `ValidatePolicyRule` for each rule, a cluster role's
//! aggregation selectors, and upstream's default table (`NAME CREATED AT`), as it has no printer
//! for roles.

use apimachinery::validation::{FieldError, FieldErrors, Path, is_valid_path_segment_name};
use jiff::Timestamp;
use k8s_openapi::api::rbac::v1 as rbac;
use serde_json::Value;

use super::{Kind, default_table, typed_as};
use crate::error::ApiResult;
use crate::printers::ColumnDefinition;
use apimachinery::validation::validate_label_selector;

#[derive(Debug)]
pub struct Role;

#[derive(Debug)]
pub struct ClusterRole;

fn non_empty(obj: &Value, field: &str) -> bool {
    obj[field].as_array().is_some_and(|a| !a.is_empty())
}

/// Upstream `ValidatePolicyRule` over every rule.
fn validate_rules(obj: &Value, namespaced: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let rules = Path::new("rules");
    for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        let path = rules.index(i);
        if !non_empty(rule, "verbs") {
            errs.push(FieldError::required(&path.child("verbs"), "verbs must contain at least one value"));
        }
        if non_empty(rule, "nonResourceURLs") {
            if namespaced {
                errs.push(FieldError::invalid(
                    &path.child("nonResourceURLs"),
                    rule["nonResourceURLs"].clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if non_empty(rule, "apiGroups")
                || non_empty(rule, "resources")
                || non_empty(rule, "resourceNames")
            {
                errs.push(FieldError::invalid(
                    &path.child("nonResourceURLs"),
                    rule["nonResourceURLs"].clone(),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if !non_empty(rule, "apiGroups") {
            errs.push(FieldError::required(
                &path.child("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if !non_empty(rule, "resources") {
            errs.push(FieldError::required(
                &path.child("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

/// A cluster role's aggregation rule names at least one selector, each a valid one.
fn validate_aggregation(obj: &Value) -> FieldErrors {
    let Some(rule) = obj.get("aggregationRule").filter(|r| !r.is_null()) else { return Vec::new() };
    let path = Path::new("aggregationRule").child("clusterRoleSelectors");
    let selectors = rule["clusterRoleSelectors"].as_array().map(Vec::as_slice).unwrap_or_default();
    if selectors.is_empty() {
        return vec![FieldError::required(
            &path,
            "at least one clusterRoleSelector required if aggregationRule is non-nil",
        )];
    }
    let mut errs = Vec::new();
    for (i, selector) in selectors.iter().enumerate() {
        if let Ok(selector) = serde_json::from_value(selector.clone()) {
            errs.extend(validate_label_selector(&selector, &path.index(i)));
        }
    }
    errs
}

/// The rules both kinds follow, for one of them.
macro_rules! role {
    ($kind:ident, $validate:expr) => {
        impl Kind for $kind {
            typed_as!(rbac::$kind);

            /// RBAC names are path segments.
            fn name_errors(&self, name: &str) -> Vec<String> {
                is_valid_path_segment_name(name)
            }

            fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
                Ok($validate(obj))
            }

            fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
                Ok($validate(new))
            }

            /// No status subresource.
            fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
                Ok(Vec::new())
            }

            fn columns(&self) -> Vec<ColumnDefinition> {
                default_table::columns()
            }

            fn cells(&self, obj: &Value, _now: Timestamp) -> Vec<Value> {
                default_table::cells(obj)
            }
        }
    };
}

role!(Role, |obj| validate_rules(obj, true));
role!(ClusterRole, |obj| {
    let mut errs = validate_rules(obj, false);
    errs.extend(validate_aggregation(obj));
    errs
});

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::validation::aggregate_message;
    use serde_json::json;

    fn messages(kind: &dyn Kind, v: Value) -> String {
        let v = kind.canonical(&v).unwrap();
        aggregate_message(&kind.validate(&v).unwrap())
    }

    #[test]
    fn names_are_path_segments() {
        assert!(ClusterRole.name_errors("system:controller:daemon-set-controller").is_empty());
        assert!(Role.name_errors("lb-system:speaker").is_empty());
        assert!(!Role.name_errors("a/b").is_empty());
    }

    #[test]
    fn rules_are_checked_as_upstream() {
        assert_eq!(
            messages(
                &Role,
                json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]})
            ),
            "rules[0].verbs: Required value: verbs must contain at least one value"
        );
        assert_eq!(
            messages(
                &Role,
                json!({"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]})
            ),
            "rules[0].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs"
        );
        assert_eq!(
            messages(
                &ClusterRole,
                json!({"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "resources": ["pods"]}]})
            ),
            "rules[0].apiGroups: Required value: resource rules must supply at least one api group"
        );
        assert_eq!(
            messages(
                &ClusterRole,
                json!({"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}]})
            ),
            "[]"
        );
        assert_eq!(
            messages(
                &ClusterRole,
                json!({"metadata": {"name": "r"}, "aggregationRule": {"clusterRoleSelectors": []}})
            ),
            "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"
        );
    }
}
