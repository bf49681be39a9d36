//! Taints and tolerations (upstream `Toleration.ToleratesTaint` and
//! `FindMatchingUntoleratedTaint`), and the names of the taints the node lifecycle sets.

use k8s_openapi::api::core::v1::{Taint, Toleration};

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// The first taint passing `filter` that no toleration tolerates (upstream
/// `FindMatchingUntoleratedTaint`).
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints.iter().filter(|t| filter(t)).find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint { key: key.into(), value: value.map(Into::into), effect: effect.into(), ..Default::default() }
    }

    fn toleration(v: Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn toleration_matching() {
        let t = taint("app", Some("fluentd"), "NoExecute");
        assert!(tolerates(
            &toleration(
                json!({"key": "app", "operator": "Equal", "value": "fluentd", "effect": "NoExecute"})
            ),
            &t
        ));
        assert!(
            tolerates(&toleration(json!({"key": "app", "value": "fluentd"})), &t),
            "operator defaults to Equal, effect to all"
        );
        assert!(!tolerates(&toleration(json!({"key": "app", "value": "other"})), &t));
        assert!(tolerates(&toleration(json!({"key": "app", "operator": "Exists"})), &t));
        assert!(
            tolerates(&toleration(json!({"operator": "Exists"})), &t),
            "empty key with Exists tolerates everything"
        );
        assert!(!tolerates(
            &toleration(json!({"key": "app", "operator": "Exists", "effect": "NoSchedule"})),
            &t
        ));
        assert!(!tolerates(&toleration(json!({"key": "app", "operator": "Sometimes"})), &t));
    }
}
