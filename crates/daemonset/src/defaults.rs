//! Upstream `SetDefaults_DaemonSet` (`pkg/apis/apps/v1/defaults.go`) plus the core/v1 defaults
//! of its pod template. The API server calls this on every create and update.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The default `spec.revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Fills in every field upstream defaults: the update strategy (`RollingUpdate` with
/// maxUnavailable 1 and maxSurge 0; nothing for `OnDelete`), the revision history limit, and the
/// pod template's core/v1 defaults.
pub fn set_defaults_daemonset(ds: &mut DaemonSet) {
    let Some(spec) = ds.spec.as_mut() else { return };
    let strategy = spec.update_strategy.get_or_insert_with(DaemonSetUpdateStrategy::default);
    if strategy.type_.as_deref().unwrap_or_default().is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let rolling = strategy.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
        rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
        rolling.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit.get_or_insert(DEFAULT_REVISION_HISTORY_LIMIT);
    if let Some(pod_spec) = spec.template.spec.as_mut() {
        apimachinery::core::set_defaults_pod_spec(pod_spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(spec: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": spec})).unwrap()
    }

    #[test]
    fn rolling_update_is_the_default_strategy() {
        let mut d = ds(json!({"selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}));
        set_defaults_daemonset(&mut d);
        let spec = d.spec.unwrap();
        let strategy = spec.update_strategy.unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        let rolling = strategy.rolling_update.unwrap();
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
        assert_eq!(spec.revision_history_limit, Some(10));
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
        assert_eq!(pod.containers[0].image_pull_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn on_delete_gets_no_rolling_update() {
        let mut d = ds(json!({"updateStrategy": {"type": "OnDelete"}, "revisionHistoryLimit": 0,
            "template": {"spec": {"containers": []}}}));
        set_defaults_daemonset(&mut d);
        let spec = d.spec.unwrap();
        assert!(spec.update_strategy.unwrap().rolling_update.is_none());
        assert_eq!(spec.revision_history_limit, Some(0));
    }

    #[test]
    fn explicit_values_are_kept() {
        let mut d = ds(json!({"updateStrategy": {"rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {"spec": {"containers": []}}}));
        set_defaults_daemonset(&mut d);
        let rolling = d.spec.unwrap().update_strategy.unwrap().rolling_update.unwrap();
        assert_eq!(rolling.max_unavailable, Some(IntOrString::String("10%".into())));
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
    }
}
