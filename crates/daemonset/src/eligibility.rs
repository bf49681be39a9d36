//! Which nodes should run a daemon pod (upstream `NodeShouldRunDaemonPod`): the template's
//! `nodeName`, its `nodeSelector` and required node affinity, and the node's taints against the
//! template's tolerations plus the default daemon tolerations.
//!
//! Resources, host ports, `spec.unschedulable` and the Ready condition are deliberately not
//! looked at: the scheduler decides fit, and the default tolerations cover the rest.

use apimachinery::core::node_affinity::required_node_affinity_matches;
use apimachinery::core::taints::{
    TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE, TAINT_NETWORK_UNAVAILABLE, TAINT_NOT_READY,
    TAINT_PID_PRESSURE, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, find_untolerated_taint,
};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, PodSpec, Taint, Toleration};

/// Whether a daemon pod should be created on a node, and whether one already there may stay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eligibility {
    /// A new daemon pod should be created here if none exists.
    pub should_run: bool,
    /// An existing daemon pod may keep running here.
    pub should_continue_running: bool,
}

impl Eligibility {
    pub const NONE: Eligibility = Eligibility { should_run: false, should_continue_running: false };
    pub const RUN: Eligibility = Eligibility { should_run: true, should_continue_running: true };
}

fn exists_toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.to_string()),
        operator: Some("Exists".to_string()),
        effect: Some(effect.to_string()),
        ..Default::default()
    }
}

/// The tolerations every daemon pod gets (upstream `AddOrUpdateDaemonPodTolerations`), with no
/// `tolerationSeconds`, so daemon pods stay on NotReady and unreachable nodes.
pub fn default_daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut out = vec![
        exists_toleration(TAINT_NOT_READY, "NoExecute"),
        exists_toleration(TAINT_UNREACHABLE, "NoExecute"),
        exists_toleration(TAINT_DISK_PRESSURE, "NoSchedule"),
        exists_toleration(TAINT_MEMORY_PRESSURE, "NoSchedule"),
        exists_toleration(TAINT_PID_PRESSURE, "NoSchedule"),
        exists_toleration(TAINT_UNSCHEDULABLE, "NoSchedule"),
    ];
    if host_network {
        out.push(exists_toleration(TAINT_NETWORK_UNAVAILABLE, "NoSchedule"));
    }
    out
}

fn same_toleration(a: &Toleration, b: &Toleration) -> bool {
    a.key == b.key && a.effect == b.effect && a.operator == b.operator && a.value == b.value
}

/// Upstream `AddOrUpdateTolerationInPodSpec` for each default toleration: one with the same key,
/// operator, value and effect is replaced; otherwise the default is appended.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network.unwrap_or(false);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for default in default_daemon_tolerations(host_network) {
        match tolerations.iter_mut().find(|t| same_toleration(t, &default)) {
            Some(existing) => *existing = default,
            None => tolerations.push(default),
        }
    }
}

/// The parts of a DaemonSet's template that decide placement, computed once per sync so that
/// each node costs only a few comparisons.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    spec: PodSpec,
    tolerations: Vec<Toleration>,
}

impl Placement {
    pub fn new(ds: &DaemonSet) -> Placement {
        let mut spec = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
        add_daemon_tolerations(&mut spec);
        let tolerations = spec.tolerations.clone().unwrap_or_default();
        // Only what placement reads is kept.
        let spec = PodSpec {
            node_name: spec.node_name,
            node_selector: spec.node_selector,
            affinity: spec.affinity,
            ..Default::default()
        };
        Placement { spec, tolerations }
    }

    /// Upstream `NodeShouldRunDaemonPod`.
    pub fn eligibility(&self, node: &Node) -> Eligibility {
        let node_name = node.metadata.name.as_deref().unwrap_or_default();
        if let Some(wanted) = self.spec.node_name.as_deref()
            && !wanted.is_empty()
            && wanted != node_name
        {
            return Eligibility::NONE;
        }
        if !required_node_affinity_matches(&self.spec, node) {
            return Eligibility::NONE;
        }
        let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
        let blocking = |t: &Taint| t.effect == "NoSchedule" || t.effect == "NoExecute";
        if find_untolerated_taint(taints, &self.tolerations, blocking).is_none() {
            return Eligibility::RUN;
        }
        let evicting = find_untolerated_taint(taints, &self.tolerations, |t| t.effect == "NoExecute");
        Eligibility { should_run: false, should_continue_running: evicting.is_none() }
    }
}

/// `NodeShouldRunDaemonPod(node, ds)` for one node.
pub fn node_should_run_daemon_pod(node: &Node, ds: &DaemonSet) -> Eligibility {
    Placement::new(ds).eligibility(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn default_tolerations_replace_matching_ones() {
        let mut spec: PodSpec = serde_json::from_value(json!({"containers": [], "tolerations": [
            {"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
            {"key": "mine", "operator": "Exists"}]}))
        .unwrap();
        add_daemon_tolerations(&mut spec);
        let t = spec.tolerations.unwrap();
        assert_eq!(t.len(), 7, "6 defaults + the user's own");
        assert_eq!(t[0].toleration_seconds, None, "the user's tolerationSeconds is dropped");
        assert!(!t.iter().any(|t| t.key.as_deref() == Some(TAINT_NETWORK_UNAVAILABLE)));
        let mut host: PodSpec =
            serde_json::from_value(json!({"containers": [], "hostNetwork": true})).unwrap();
        add_daemon_tolerations(&mut host);
        assert!(
            host.tolerations.unwrap().iter().any(|t| t.key.as_deref() == Some(TAINT_NETWORK_UNAVAILABLE))
        );
    }

    fn node(labels: Value, taints: Value) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints}}),
        )
        .unwrap()
    }

    fn ds(template_spec: Value) -> DaemonSet {
        serde_json::from_value(
            json!({"metadata": {"name": "d"}, "spec": {"selector": {}, "template": {"spec": template_spec}}}),
        )
        .unwrap()
    }

    #[test]
    fn selector_affinity_and_name() {
        let n = node(json!({"type": "gpu", "zone": "3"}), json!([]));
        assert_eq!(
            node_should_run_daemon_pod(&n, &ds(json!({"containers": [], "nodeSelector": {"type": "gpu"}}))),
            Eligibility::RUN
        );
        assert_eq!(
            node_should_run_daemon_pod(&n, &ds(json!({"containers": [], "nodeSelector": {"type": "cpu"}}))),
            Eligibility::NONE
        );
        assert_eq!(
            node_should_run_daemon_pod(&n, &ds(json!({"containers": [], "nodeName": "n2"}))),
            Eligibility::NONE
        );
        let affinity = |op: &str, values: Value| {
            ds(
                json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": op, "values": values}]}]}}}}),
            )
        };
        assert!(node_should_run_daemon_pod(&n, &affinity("Gt", json!(["2"]))).should_run);
        assert!(!node_should_run_daemon_pod(&n, &affinity("Lt", json!(["2"]))).should_run);
        assert!(node_should_run_daemon_pod(&n, &affinity("In", json!(["1", "3"]))).should_run);
        assert!(!node_should_run_daemon_pod(&n, &affinity("NotIn", json!(["3"]))).should_run);
        assert!(node_should_run_daemon_pod(&n, &affinity("Exists", json!(null))).should_run);
        assert!(!node_should_run_daemon_pod(&n, &affinity("DoesNotExist", json!(null))).should_run);
    }

    #[test]
    fn taints_block_new_pods_and_no_execute_evicts() {
        let d = ds(json!({"containers": []}));
        let no_schedule = node(json!({}), json!([{"key": "k", "effect": "NoSchedule"}]));
        assert_eq!(
            node_should_run_daemon_pod(&no_schedule, &d),
            Eligibility { should_run: false, should_continue_running: true }
        );
        let no_execute = node(json!({}), json!([{"key": "k", "effect": "NoExecute"}]));
        assert_eq!(node_should_run_daemon_pod(&no_execute, &d), Eligibility::NONE);
        let prefer = node(json!({}), json!([{"key": "k", "effect": "PreferNoSchedule"}]));
        assert_eq!(node_should_run_daemon_pod(&prefer, &d), Eligibility::RUN);
        let system = node(
            json!({}),
            json!([
            {"key": TAINT_NOT_READY, "effect": "NoExecute"}, {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"},
            {"key": TAINT_DISK_PRESSURE, "effect": "NoSchedule"}]),
        );
        assert_eq!(node_should_run_daemon_pod(&system, &d), Eligibility::RUN, "default tolerations count");
        let network = node(json!({}), json!([{"key": TAINT_NETWORK_UNAVAILABLE, "effect": "NoSchedule"}]));
        assert!(!node_should_run_daemon_pod(&network, &d).should_run);
        assert!(
            node_should_run_daemon_pod(&network, &ds(json!({"containers": [], "hostNetwork": true})))
                .should_run
        );
    }
}
