//! Node lifecycle and taint-based eviction (upstream `nodelifecycle` and `tainteviction`).
//!
//! - A node whose Lease has not been renewed for the grace period (40 s by default) gets
//!   `Ready=Unknown`, its pods `Ready=False`, and the `node.kubernetes.io/unreachable`
//!   NoSchedule and NoExecute taints;
//!   a node reporting `Ready=False` gets the `not-ready` ones. The taints go when it recovers.
//! - A node with `MemoryPressure`, `DiskPressure`, `PIDPressure` or `NetworkUnavailable` `True`
//!   gets the matching `node.kubernetes.io/…` NoSchedule taint while it lasts.
//! - A pod on a node with NoExecute taints it does not tolerate is deleted at once; one that
//!   tolerates them all with `tolerationSeconds` is deleted after the shortest of those, timed
//!   from when the taint was seen; removing the taint cancels the pending deletion. Events on
//!   the pod as upstream: `TaintManagerEviction` "Marking for deletion Pod …" / "Cancelling
//!   deletion of Pod …".

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use apimachinery::core::taints::{TAINT_NOT_READY, TAINT_UNREACHABLE, tolerates};
use client::EventRecorder;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::kubelet::LEASE_NAMESPACE;
use client::informer::{self, Change, Informers, Store};
use client::pod_deletion;

/// What makes a node unhealthy, and so which taints it should carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    NotReady,
    Unreachable,
}

/// Decides a node's health from its Ready condition and its Lease's last renewal.
/// How often node health is checked: an eighth of the grace period, as upstream's 5 s
/// against 40 s, never more than 5 s apart.
fn monitor_period(grace: SignedDuration) -> Duration {
    let grace = Duration::try_from(grace).unwrap_or(Duration::from_secs(40));
    (grace / 8).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

pub fn health(node: &Node, renewed: Option<Timestamp>, grace: SignedDuration, now: Timestamp) -> Health {
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    // Like upstream's probe timestamp: the later of the Lease renewal and the Ready
    // condition's heartbeat, so a kubelet that just posted status counts as alive.
    let heartbeat = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0));
    let last = renewed.max(heartbeat).or(created).unwrap_or(now);
    if now.duration_since(last) > grace {
        return Health::Unreachable;
    }
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready.map(|c| c.status.as_str()) {
        Some("False") => Health::NotReady,
        Some("Unknown") => Health::Unreachable,
        _ => Health::Ready,
    }
}

/// The node conditions that taint a node `NoSchedule` while they are `True`, and their taints.
const CONDITION_TAINTS: [(&str, &str); 4] = [
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    ("NetworkUnavailable", "node.kubernetes.io/network-unavailable"),
];

/// The node's taints with the lifecycle and condition taints set for `health` and its
/// conditions, or `None` when they are right.
pub fn desired_taints(node: &Node, health: Health, now: Timestamp) -> Option<Vec<Taint>> {
    let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let wanted_key = match health {
        Health::Ready => None,
        Health::NotReady => Some(TAINT_NOT_READY),
        Health::Unreachable => Some(TAINT_UNREACHABLE),
    };
    let lifecycle = |t: &Taint| {
        (t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE) && t.effect != "PreferNoSchedule"
    };
    let mut next: Vec<Taint> =
        current.iter().filter(|t| !lifecycle(t) || Some(t.key.as_str()) == wanted_key).cloned().collect();
    // Condition taints (upstream's TaintNodesByCondition): NoSchedule while the condition holds.
    for (condition, key) in CONDITION_TAINTS {
        let holds = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == condition && c.status == "True"));
        let has = next.iter().any(|t| t.key == key && t.effect == "NoSchedule");
        if holds && !has {
            next.push(Taint {
                key: key.to_string(),
                effect: "NoSchedule".to_string(),
                time_added: None,
                value: None,
            });
        } else if !holds && has {
            next.retain(|t| !(t.key == key && t.effect == "NoSchedule"));
        }
    }
    if let Some(key) = wanted_key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !next.iter().any(|t| t.key == key && t.effect == effect) {
                next.push(Taint {
                    key: key.to_string(),
                    effect: effect.to_string(),
                    time_added: (effect == "NoExecute")
                        .then_some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
                    value: None,
                });
            }
        }
    }
    (next != current).then_some(next)
}

/// When a pod on a node with these taints must go: `Some(None)` at once, `Some(Some(s))` after
/// `s` seconds, `None` never (upstream `getMinTolerationTime`).
pub fn eviction_delay(pod: &Pod, taints: &[Taint]) -> Option<Option<i64>> {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return None;
    }
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
    let mut min: Option<i64> = None;
    for taint in no_execute {
        let matching: Vec<_> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(None);
        }
        for t in matching {
            if let Some(secs) = t.toleration_seconds {
                min = Some(min.map_or(secs, |m| m.min(secs)));
            }
        }
    }
    match min {
        None => None,
        Some(s) if s <= 0 => Some(None),
        Some(s) => Some(Some(s)),
    }
}

pub struct NodeLifecycle {
    client: Client,
    grace: SignedDuration,
    informers: Arc<Informers>,
    nodes: Arc<Store<Node>>,
    leases: Arc<Store<Lease>>,
    pods: Arc<Store<Pod>>,
    recorder: EventRecorder,
}

impl NodeLifecycle {
    pub fn new(client: Client, informers: &Arc<Informers>, grace: Duration) -> Arc<Self> {
        Arc::new(NodeLifecycle {
            recorder: EventRecorder::new(client.clone(), "taint-eviction-controller"),
            client,
            grace: SignedDuration::try_from(grace).unwrap_or(SignedDuration::from_secs(40)),
            informers: informers.clone(),
            nodes: informers.nodes.store(),
            leases: Arc::default(),
            pods: informers.pods.store(),
        })
    }

    /// Watches nodes, leases and pods. Node health is checked every node monitor period
    /// (upstream's `--node-monitor-period`, 5 s against a 40 s grace period: an eighth of the
    /// grace period, at most 5 s); Lease renewals themselves trigger nothing (ten thousand
    /// nodes renew a thousand times a second). Taint eviction, as upstream's taint manager,
    /// looks at the pods that changed and the pods of nodes whose taints changed; every second
    /// it looks again at the pods with an eviction pending (a toleration running out, or a
    /// deletion that failed), so its cost follows the changes, not the cluster's size.
    pub async fn run(self: Arc<Self>) {
        let mut nodes = self.informers.nodes.subscribe();
        let lease_api = Api::<Lease>::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let mut leases = informer::spawn(lease_api, watcher::Config::default(), self.leases.clone());
        let mut pods = self.informers.pods.subscribe();
        let mut pending: HashMap<String, Timestamp> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut monitor = tokio::time::interval(monitor_period(self.grace));
        monitor.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut full = false;
            let mut check_nodes = false;
            let mut tainted: HashSet<String> = HashSet::new();
            let mut changed: HashSet<String> = HashSet::new();
            tokio::select! {
                _ = tick.tick() => full = true,
                _ = monitor.tick() => check_nodes = true,
                Some(c) = nodes.recv() => note_node(c, &mut tainted),
                Some(_) = leases.recv() => {}
                Some(c) = pods.recv() => note_pod(c, &mut changed, &mut pending),
            }
            loop {
                let mut any = false;
                if let Ok(c) = nodes.try_recv() {
                    note_node(c, &mut tainted);
                    any = true;
                }
                if let Ok(c) = pods.try_recv() {
                    note_pod(c, &mut changed, &mut pending);
                    any = true;
                }
                any |= leases.try_recv().is_ok();
                if !any {
                    break;
                }
            }
            let now = Timestamp::now();
            if check_nodes {
                self.monitor_nodes().await;
            }
            // Whatever woke this pass, every pod it gathered is looked at once, as it is now:
            // the pods that changed, those on nodes whose taints changed, and on the tick those
            // with an eviction pending (those no longer here are dropped).
            let mut look = changed;
            if full {
                look.extend(pending.keys().cloned());
            }
            if !tainted.is_empty() {
                for pod in self.pods.list() {
                    if pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_ref())
                        .is_some_and(|n| tainted.contains(n))
                    {
                        look.insert(informer::key_of(pod.as_ref()));
                    }
                }
            }
            for key in look {
                match self.pods.get(&key) {
                    Some(pod) => self.evict(&pod, now, &mut pending).await,
                    None => {
                        pending.remove(&key);
                    }
                }
            }
        }
    }

    async fn monitor_nodes(&self) {
        let now = Timestamp::now();
        let api: Api<Node> = Api::all(self.client.clone());
        for node in self.nodes.list() {
            let name = informer::name(node.as_ref());
            let renewed = self
                .leases
                .get(&format!("{LEASE_NAMESPACE}/{name}"))
                .and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
            let h = health(&node, renewed, self.grace, now);
            let mut resource_version = node.metadata.resource_version.clone();
            if h == Health::Unreachable {
                let ready = node
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
                if ready.is_none_or(|c| c.status != "Unknown") {
                    let stamp = apimachinery::duration::format_time(now);
                    let conditions: Vec<_> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
                        .into_iter()
                        .map(|t| {
                            json!({"type": t, "status": "Unknown", "reason": "NodeStatusUnknown",
                            "message": "Kubelet stopped posting node status.", "lastTransitionTime": stamp})
                        })
                        .collect();
                    // The taints below are written against the node as this leaves it.
                    let patched = api
                        .patch_status(
                            &name,
                            &PatchParams::default(),
                            &Patch::Strategic(json!({"status": {"conditions": conditions}})),
                        )
                        .await;
                    match patched {
                        Ok(updated) => {
                            resource_version = updated.metadata.resource_version;
                            self.mark_pods_not_ready(&name, &stamp).await;
                        }
                        Err(e) => {
                            tracing::debug!(node = %name, error = %e, "marking the node Unknown failed")
                        }
                    }
                }
            }
            if let Some(taints) = desired_taints(&node, h, now) {
                // No taints left: drop the field, as upstream's omitempty does.
                let taints = if taints.is_empty() { serde_json::Value::Null } else { json!(taints) };
                let patch =
                    json!({"spec": {"taints": taints}, "metadata": {"resourceVersion": resource_version}});
                if let Err(e) = api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
                    tracing::debug!(node = %name, error = %e, "updating lifecycle taints failed");
                }
            }
        }
    }

    /// Upstream's `MarkPodsNotReady`: a node that stopped reporting takes its pods' readiness
    /// with it (their kubelet cannot say otherwise until it is back).
    async fn mark_pods_not_ready(&self, node: &str, stamp: &str) {
        for pod in self.pods.list() {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
                continue;
            }
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
            if ready.is_none_or(|c| c.status == "False") {
                continue;
            }
            let (ns, name) = informer::namespace_name(pod.as_ref());
            let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": stamp}]}});
            if let Err(e) = Api::<Pod>::namespaced(self.client.clone(), &ns)
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
                .await
            {
                tracing::debug!(pod = %name, error = %e, "marking a pod not ready failed");
            }
        }
    }

    /// Deletes the pod now, or when its toleration runs out, if its node has NoExecute taints
    /// it does not tolerate; cancels a pending deletion whose taint went away.
    async fn evict(&self, pod: &Pod, now: Timestamp, pending: &mut HashMap<String, Timestamp>) {
        if pod.metadata.deletion_timestamp.is_some() {
            return;
        }
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else { return };
        let Some(node) = self.nodes.get(node) else { return };
        let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
        let key = informer::key_of(pod);
        match eviction_delay(pod, taints) {
            None => {
                if pending.remove(&key).is_some() {
                    let (ns, name) = informer::namespace_name(pod);
                    self.recorder.record_for(
                        pod,
                        "Normal",
                        "TaintManagerEviction",
                        &format!("Cancelling deletion of Pod {ns}/{name}"),
                    );
                }
            }
            Some(toleration) => {
                let deadline = match toleration {
                    None => now,
                    Some(secs) => {
                        *pending.entry(key.clone()).or_insert(now + SignedDuration::from_secs(secs))
                    }
                };
                if deadline <= now {
                    pending.remove(&key);
                    if !self.delete(pod).await {
                        // Tried again on the next tick.
                        pending.insert(key, now);
                    }
                }
            }
        }
    }

    /// Whether the pod is now being deleted (or already gone).
    async fn delete(&self, pod: &Pod) -> bool {
        let (ns, name) = informer::namespace_name(pod);
        self.recorder.record_for(
            pod,
            "Normal",
            "TaintManagerEviction",
            &format!("Marking for deletion Pod {ns}/{name}"),
        );
        pod_deletion::mark_disruption_target(
            &self.client,
            pod,
            "DeletionByTaintManager",
            "Taint manager: deleting due to NoExecute taint",
        )
        .await;
        match pod_deletion::delete_instance(&self.client, pod, None).await {
            Ok(_) => true,
            // Gone, or replaced by another instance of the same name: nothing left to evict.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => true,
            Err(e) => {
                tracing::debug!(pod = %name, error = %e, "taint eviction failed");
                false
            }
        }
    }
}

/// Notes a node whose taints changed (or that is new): its pods need another look.
fn note_node(change: Change<Node>, tainted: &mut HashSet<String>) {
    if let Change::Applied { old, new } = change {
        let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
        if old.is_none_or(|o| taints(&o) != taints(&new)) {
            tainted.insert(informer::name(new.as_ref()));
        }
    }
}

/// Notes a pod that changed; a deleted pod's pending eviction is forgotten.
fn note_pod(change: Change<Pod>, changed: &mut HashSet<String>, pending: &mut HashMap<String, Timestamp>) {
    match change {
        Change::Applied { new, .. } => {
            changed.insert(informer::key_of(new.as_ref()));
        }
        Change::Deleted(pod) => {
            pending.remove(&informer::key_of(pod.as_ref()));
        }
        Change::Synced => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn node(ready: &str, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n", "creationTimestamp": "1970-01-01T00:00:00Z"}, "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}})).unwrap()
    }

    #[test]
    fn the_monitor_period_is_an_eighth_of_the_grace_period_up_to_upstreams_five_seconds() {
        assert_eq!(monitor_period(SignedDuration::from_secs(40)), Duration::from_secs(5));
        assert_eq!(monitor_period(SignedDuration::from_secs(3)), Duration::from_millis(375));
        assert_eq!(monitor_period(SignedDuration::from_secs(400)), Duration::from_secs(5));
    }

    #[test]
    fn health_from_lease_and_condition() {
        let grace = SignedDuration::from_secs(40);
        assert_eq!(health(&node("True", json!([])), Some(t(100)), grace, t(130)), Health::Ready);
        assert_eq!(health(&node("True", json!([])), Some(t(100)), grace, t(141)), Health::Unreachable);
        assert_eq!(health(&node("False", json!([])), Some(t(100)), grace, t(110)), Health::NotReady);
    }

    #[test]
    fn lifecycle_taints_come_and_go() {
        let healthy = node("True", json!([{"key": "mine", "effect": "NoSchedule"}]));
        assert_eq!(desired_taints(&healthy, Health::Ready, t(1)), None);
        let tainted = desired_taints(&healthy, Health::Unreachable, t(1)).unwrap();
        let keys: Vec<_> = tainted.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
        assert_eq!(
            keys,
            [("mine", "NoSchedule"), (TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")]
        );
        let unreachable = node("Unknown", serde_json::to_value(&tainted).unwrap());
        assert_eq!(desired_taints(&unreachable, Health::Unreachable, t(2)), None);
        let recovered = desired_taints(&unreachable, Health::Ready, t(3)).unwrap();
        assert_eq!(recovered.len(), 1);
    }

    #[test]
    fn pressure_conditions_taint_while_they_hold() {
        let mut pressed = node("True", json!([]));
        pressed
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .push(serde_json::from_value(json!({"type": "DiskPressure", "status": "True"})).unwrap());
        let tainted = desired_taints(&pressed, Health::Ready, t(1)).unwrap();
        let keys: Vec<_> = tainted.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
        assert_eq!(keys, [("node.kubernetes.io/disk-pressure", "NoSchedule")]);
        pressed.spec.as_mut().unwrap().taints = Some(tainted);
        assert_eq!(desired_taints(&pressed, Health::Ready, t(2)), None);
        pressed.status.as_mut().unwrap().conditions.as_mut().unwrap()[1].status = "False".into();
        assert_eq!(desired_taints(&pressed, Health::Ready, t(3)), Some(vec![]));
    }

    #[test]
    fn eviction_delays() {
        let taints: Vec<Taint> =
            serde_json::from_value(json!([{"key": "app", "value": "x", "effect": "NoExecute"}])).unwrap();
        let pod = |tolerations: serde_json::Value| -> Pod {
            serde_json::from_value(
                json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tolerations}}),
            )
            .unwrap()
        };
        assert_eq!(eviction_delay(&pod(json!([])), &taints), Some(None), "untolerated: at once");
        assert_eq!(
            eviction_delay(&pod(json!([{"key": "app", "operator": "Exists"}])), &taints),
            None,
            "tolerated forever"
        );
        assert_eq!(
            eviction_delay(
                &pod(
                    json!([{"key": "app", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}])
                ),
                &taints
            ),
            Some(Some(5))
        );
        assert_eq!(eviction_delay(&pod(json!([])), &[]), None, "no NoExecute taint");
    }
}
