//! The scheduler: binds pending pods whose `schedulerName` is `default-scheduler` to a node,
//! as upstream's default plugins decide. Filters: NodeName, NodeAffinity (nodeSelector and
//! required terms), TaintToleration, NodeUnschedulable, NodeResourcesFit (requests against
//! allocatable minus the pods already bound) and NodePorts. Scores: preferred node affinity,
//! PreferNoSchedule taints, then the least allocated node. A pod that fits nowhere may preempt
//! pods of lower priority on one node ([`crate::preemption`]); it is then nominated to that
//! node (`status.nominatedNodeName`), which is kept for it while the victims terminate.
//! Events `Scheduled`, `FailedScheduling` and `Preempted`, and the `PodScheduled=False`
//! condition, in upstream's form.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use apimachinery::core::node_affinity::{node_selector_matches, required_node_affinity_matches};
use apimachinery::core::pod::is_terminal;
use apimachinery::core::taints::{find_untolerated_taint, tolerates};
use apimachinery::quantity::Quantity;
use client::EventRecorder;
use client::events::object_reference;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::preemption::{self, Outcome, priority};
use crate::scheduler_cache::SchedulerCache;
use client::informer::{self, Change, Informers, Store};
use client::pod_deletion;

pub const SCHEDULER_NAME: &str = "default-scheduler";
/// How many bindings are in flight at once.
const CONCURRENT_BINDINGS: usize = 64;

/// Why a node was filtered out, in upstream's wording (counted per reason).
fn reason_untolerated(taint: &Taint) -> String {
    format!("node(s) had untolerated taint {{{}: {}}}", taint.key, taint.value.as_deref().unwrap_or_default())
}

const REASON_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
const REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
const REASON_NODE_NAME: &str = "node(s) didn't match the requested node name";
const REASON_TOO_MANY_PODS: &str = "Too many pods";

/// A pod's requests, per resource (containers summed; init containers as their maximum).
pub fn pod_requests(pod: &Pod) -> BTreeMap<String, Quantity> {
    let mut total: BTreeMap<String, Quantity> = BTreeMap::new();
    let Some(spec) = &pod.spec else { return total };
    for c in &spec.containers {
        for (k, v) in c.resources.as_ref().and_then(|r| r.requests.as_ref()).into_iter().flatten() {
            *total.entry(k.clone()).or_default() += Quantity::parse(&v.0).unwrap_or_default();
        }
    }
    for c in spec.init_containers.iter().flatten() {
        for (k, v) in c.resources.as_ref().and_then(|r| r.requests.as_ref()).into_iter().flatten() {
            let q = Quantity::parse(&v.0).unwrap_or_default();
            let slot = total.entry(k.clone()).or_default();
            if q > *slot {
                *slot = q;
            }
        }
    }
    total
}

fn host_ports(pod: &Pod) -> Vec<(String, i32)> {
    let Some(spec) = &pod.spec else { return Vec::new() };
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            p.host_port.filter(|h| *h > 0).map(|h| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), h))
        })
        .collect()
}

/// What is already placed on a node.
#[derive(Default, Clone)]
pub struct NodeUsage {
    pub requested: BTreeMap<String, Quantity>,
    pub pods: usize,
    pub ports: HashSet<(String, i32)>,
}

impl NodeUsage {
    /// Counts a pod placed on the node.
    pub fn add(&mut self, pod: &Pod) {
        self.pods += 1;
        for (k, v) in pod_requests(pod) {
            *self.requested.entry(k).or_default() += v;
        }
        self.ports.extend(host_ports(pod));
    }
}

/// The outcome of filtering one node.
pub fn filter(pod: &Pod, node: &Node, usage: &NodeUsage) -> Result<(), Vec<String>> {
    let Some(spec) = pod.spec.as_ref() else { return Ok(()) };
    let node_name = node.metadata.name.as_deref().unwrap_or_default();
    if let Some(wanted) = spec.node_name.as_deref().filter(|n| !n.is_empty())
        && wanted != node_name
    {
        return Err(vec![REASON_NODE_NAME.to_string()]);
    }
    if !required_node_affinity_matches(spec, node) {
        return Err(vec![REASON_AFFINITY.to_string()]);
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    if node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        if !tolerations.iter().any(|t| tolerates(t, &taint)) {
            return Err(vec![REASON_UNSCHEDULABLE.to_string()]);
        }
    }
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    if let Some(t) =
        find_untolerated_taint(taints, tolerations, |t| t.effect == "NoSchedule" || t.effect == "NoExecute")
    {
        return Err(vec![reason_untolerated(t)]);
    }
    let mut reasons = Vec::new();
    let empty = BTreeMap::new();
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref()).unwrap_or(&empty);
    let max_pods =
        allocatable.get("pods").and_then(|q| Quantity::parse(&q.0).ok()).map_or(110, |q| q.value() as usize);
    if usage.pods + 1 > max_pods {
        reasons.push(REASON_TOO_MANY_PODS.to_string());
    }
    for (resource, wanted) in pod_requests(pod) {
        if wanted == Quantity::ZERO {
            continue;
        }
        let capacity =
            allocatable.get(&resource).and_then(|q| Quantity::parse(&q.0).ok()).unwrap_or_default();
        let used = usage.requested.get(&resource).copied().unwrap_or_default();
        if used + wanted > capacity {
            reasons.push(format!("Insufficient {resource}"));
        }
    }
    if host_ports(pod).iter().any(|p| usage.ports.contains(p)) {
        reasons.push(REASON_PORTS.to_string());
    }
    if reasons.is_empty() { Ok(()) } else { Err(reasons) }
}

/// Higher is better: preferred affinity weights, minus PreferNoSchedule taints not tolerated,
/// then the free share of cpu and memory.
pub fn score(pod: &Pod, node: &Node, usage: &NodeUsage) -> i64 {
    let Some(spec) = pod.spec.as_ref() else { return 0 };
    let mut score = 0i64;
    if let Some(preferred) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.preferred_during_scheduling_ignored_during_execution.as_ref())
    {
        for term in preferred {
            let selector = k8s_openapi::api::core::v1::NodeSelector {
                node_selector_terms: vec![term.preference.clone()],
            };
            if node_selector_matches(&selector, node) {
                score += i64::from(term.weight) * 1000;
            }
        }
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let prefer_no = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "PreferNoSchedule" && !tolerations.iter().any(|tol| tolerates(tol, t)))
        .count();
    score -= prefer_no as i64 * 10_000;
    let empty = BTreeMap::new();
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref()).unwrap_or(&empty);
    for resource in ["cpu", "memory"] {
        let capacity =
            allocatable.get(resource).and_then(|q| Quantity::parse(&q.0).ok()).unwrap_or_default().millis();
        if capacity > 0 {
            let used = usage.requested.get(resource).copied().unwrap_or_default().millis();
            score += ((capacity - used).max(0) * 100 / capacity) as i64;
        }
    }
    score
}

/// The only nodes a pod may go to, when its required node affinity names them (every term
/// has a `metadata.name In` field requirement), as a DaemonSet's pods do; `None` for any
/// node. Upstream's NodeAffinity PreFilter narrows the search the same way.
pub fn required_node_names(pod: &Pod) -> Option<HashSet<String>> {
    let terms = &pod
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let mut names = HashSet::new();
    for term in terms {
        let named =
            term.match_fields.iter().flatten().find(|r| r.key == "metadata.name" && r.operator == "In")?;
        names.extend(named.values.iter().flatten().cloned());
    }
    (!terms.is_empty()).then_some(names)
}

/// `0/3 nodes are available: 1 node(s) …, 2 Insufficient cpu.`: each reason with the number
/// of nodes it applies to, sorted as upstream sorts them.
pub fn nodes_available(total: usize, reasons: &BTreeMap<String, usize>) -> String {
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    format!("0/{total} nodes are available: {}.", parts.join(", "))
}

/// Upstream's FailedScheduling message: the filter reasons, then what preemption found
/// (`preemption: …`, or nothing when it nominated a node).
pub fn failure_message(total: usize, reasons: &BTreeMap<String, usize>, preemption: &str) -> String {
    let filters = nodes_available(total, reasons);
    if preemption.is_empty() { filters } else { format!("{filters} {preemption}") }
}

pub struct Scheduler {
    client: Client,
    informers: Arc<Informers>,
    pods: Arc<Store<Pod>>,
    nodes: Arc<Store<Node>>,
    recorder: EventRecorder,
}

/// Whether the scheduler should place `pod`: unbound, not gated, not being deleted, not
/// terminal, and for this scheduler.
pub(crate) fn wants(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    let bound = spec.and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
    let ours =
        spec.and_then(|s| s.scheduler_name.as_deref()).is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME);
    // A gated pod waits until its gates are removed (upstream's SchedulingGates
    // PreEnqueue plugin); the API server gave it the SchedulingGated condition.
    let gated = spec.is_some_and(apimachinery::core::has_scheduling_gates);
    !bound && !gated && ours && pod.metadata.deletion_timestamp.is_none() && !is_terminal(pod)
}

impl Scheduler {
    pub fn new(client: Client, informers: &Arc<Informers>) -> Arc<Self> {
        Arc::new(Scheduler {
            recorder: EventRecorder::new(client.clone(), SCHEDULER_NAME),
            client,
            informers: informers.clone(),
            pods: informers.pods.store(),
            nodes: informers.nodes.store(),
        })
    }

    /// Whether a pod change may let a pod be scheduled: a new pending pod, or a pod leaving
    /// (room for the ones that fit nowhere, such as preemptors waiting for their victims).
    fn may_help(change: &Change<Pod>, failed: &HashMap<String, String>) -> bool {
        match change {
            Change::Applied { new, .. } => wants(new),
            Change::Deleted(_) => !failed.is_empty(),
            Change::Synced => true,
        }
    }

    /// Schedules until the process stops: on every pod or node change, and every 5 s for pods
    /// that fit nowhere yet.
    pub async fn run(self: Arc<Self>) {
        let mut pod_rx = self.informers.pods.subscribe();
        let mut node_rx = self.informers.nodes.subscribe();
        let mut retry = tokio::time::interval(Duration::from_secs(5));
        let mut failed: HashMap<String, String> = HashMap::new();
        let mut cache = SchedulerCache::default();
        loop {
            let mut dirty = tokio::select! {
                Some(change) = pod_rx.recv() => {
                    cache.apply(&change);
                    Self::may_help(&change, &failed)
                }
                // A node change can only help pods that fit nowhere before.
                Some(_) = node_rx.recv() => !failed.is_empty(),
                _ = retry.tick() => !failed.is_empty(),
            };
            // Drain what queued up meanwhile, so one pass handles a burst.
            while let Ok(change) = pod_rx.try_recv() {
                cache.apply(&change);
                dirty |= Self::may_help(&change, &failed);
            }
            while node_rx.try_recv().is_ok() {
                dirty |= !failed.is_empty();
            }
            if dirty {
                self.schedule_pending(&cache, &mut failed).await;
            }
        }
    }

    async fn schedule_pending(&self, cache: &SchedulerCache, failed: &mut HashMap<String, String>) {
        let mut pending: Vec<&Arc<Pod>> = cache.pending().collect();
        if pending.is_empty() {
            failed.clear();
            return;
        }
        // The pods this pass places, by node, on top of those bound before it.
        let mut placed: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
        let on_node = |placed: &HashMap<String, Vec<Arc<Pod>>>, node: &str| -> Vec<Arc<Pod>> {
            cache.bound_to(node).chain(placed.get(node).into_iter().flatten()).cloned().collect()
        };
        // Each node's usage, added up only for the nodes a pass looks at: a daemon pod is
        // pinned to one node, so a pass over a burst of them costs their number, not the
        // cluster's.
        let mut usage: HashMap<String, NodeUsage> = HashMap::new();
        fn usage_of<'a>(
            usage: &'a mut HashMap<String, NodeUsage>,
            pods_on: impl FnOnce() -> Vec<Arc<Pod>>,
            node: &str,
        ) -> &'a mut NodeUsage {
            usage.entry(node.to_string()).or_insert_with(|| {
                let mut u = NodeUsage::default();
                for pod in pods_on() {
                    u.add(&pod);
                }
                u
            })
        }
        // Every node, listed once a pass needs them all (a pod not pinned to named nodes, or
        // one that fits nowhere).
        let mut all_nodes: Option<Vec<Arc<Node>>> = None;
        // Higher priority first, then oldest: a nominated pod's node is reserved before any
        // pod of lower priority is considered.
        pending.sort_by(|a, b| {
            priority(b)
                .cmp(&priority(a))
                .then_with(|| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp))
        });
        let mut binds: Vec<(Arc<Pod>, String)> = Vec::new();
        for pod in pending {
            let mut rejected: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut best: Option<(i64, Arc<Node>)> = None;
            // A pod pinned to named nodes is only tried there; every other node fails its
            // node affinity, as filtering it would find.
            let named = required_node_names(pod);
            let named_nodes: Vec<Arc<Node>> = match &named {
                Some(names) => names.iter().filter_map(|n| self.nodes.get(n)).collect(),
                None => Vec::new(),
            };
            let candidates: &[Arc<Node>] = match named {
                Some(_) => &named_nodes,
                None => all_nodes.get_or_insert_with(|| self.nodes.list()),
            };
            for node in candidates {
                let name = node.metadata.name.as_deref().unwrap_or_default();
                let u = usage_of(&mut usage, || on_node(&placed, name), name);
                match filter(pod, node, u) {
                    Ok(()) => {
                        let s = score(pod, node, u);
                        if best
                            .as_ref()
                            .is_none_or(|(b, n)| s > *b || (s == *b && node.metadata.name < n.metadata.name))
                        {
                            best = Some((s, node.clone()));
                        }
                    }
                    Err(rs) => {
                        rejected.insert(informer::name(node.as_ref()), rs);
                    }
                }
            }
            if let Some((_, node)) = best {
                // Placed now, bound below with the others: later pods see the room it takes.
                let node_name = node.metadata.name.clone().unwrap_or_default();
                usage_of(&mut usage, || on_node(&placed, &node_name), &node_name).add(pod);
                placed.entry(node_name.clone()).or_default().push(pod.clone());
                binds.push((pod.clone(), node_name));
                continue;
            }
            let nodes = all_nodes.get_or_insert_with(|| self.nodes.list());
            if named.is_some() {
                for node in nodes.iter() {
                    rejected
                        .entry(informer::name(node.as_ref()))
                        .or_insert_with(|| vec![REASON_AFFINITY.to_string()]);
                }
            }
            if nodes.is_empty() {
                self.unschedulable(pod, "no nodes available to schedule pods", None, failed).await;
                continue;
            }
            let node_count = nodes.len();
            let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
            for r in rejected.values().flatten() {
                *reasons.entry(r.clone()).or_default() += 1;
            }
            let nominated = pod.status.as_ref().and_then(|s| s.nominated_node_name.clone());
            let terminating_victim = nominated.as_deref().is_some_and(|n| {
                on_node(&placed, n).iter().any(|p| {
                    p.metadata.deletion_timestamp.is_some() && preemption::priority(p) < priority(pod)
                })
            });
            let (postfilter, nominate) = match preemption::not_eligible(pod, terminating_victim) {
                Some(why) => (why.to_string(), nominated.clone()),
                None => match preemption::preempt(pod, nodes.iter(), &rejected, |n| on_node(&placed, n)) {
                    Outcome::Preempt(candidate) => {
                        for victim in &candidate.victims {
                            self.evict_victim(victim, pod, &candidate.node).await;
                        }
                        (String::new(), Some(candidate.node))
                    }
                    Outcome::Impossible(why) => {
                        (format!("preemption: {}", nodes_available(node_count, &why)), None)
                    }
                },
            };
            // Keep the nominated node's room for this pod while its victims terminate.
            if let Some(node) = nominate.as_deref().and_then(|n| self.nodes.get(n)) {
                let name = node.metadata.name.clone().unwrap_or_default();
                usage_of(&mut usage, || on_node(&placed, &name), &name).add(pod);
            }
            let message = failure_message(node_count, &reasons, &postfilter);
            let nominate = nominate.filter(|n| Some(n) != nominated.as_ref());
            self.unschedulable(pod, &message, nominate, failed).await;
        }
        let outcomes: Vec<(String, bool)> = futures::stream::iter(binds)
            .map(|(pod, node)| async move { (informer::key_of(pod.as_ref()), self.bind(&pod, &node).await) })
            .buffer_unordered(CONCURRENT_BINDINGS)
            .collect()
            .await;
        for (key, bound) in outcomes {
            if bound {
                failed.remove(&key);
            } else {
                // Tried again on the next retry tick.
                failed.entry(key).or_default();
            }
        }
        failed.retain(|k, _| self.pods.get(k).is_some_and(|p| wants(&p)));
    }

    /// Reports a pod that could not be scheduled: a `FailedScheduling` event and the
    /// `PodScheduled=False` condition once per distinct message (as upstream's event
    /// aggregation shows it), and the node it was nominated to, if newly nominated.
    async fn unschedulable(
        &self,
        pod: &Pod,
        message: &str,
        nominate: Option<String>,
        failed: &mut HashMap<String, String>,
    ) {
        let key = informer::key_of(pod);
        if failed.get(&key).map(String::as_str) == Some(message) && nominate.is_none() {
            return;
        }
        self.recorder.record_for(pod, "Warning", "FailedScheduling", message);
        failed.insert(key, message.to_string());
        let mut status = json!({"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": null, "lastTransitionTime": Time(Timestamp::now()),
        }]});
        if let Some(node) = nominate {
            status["nominatedNodeName"] = json!(node);
        }
        self.patch_status(pod, status).await;
    }

    /// Evicts one preemption victim as upstream does: a `DisruptionTarget` condition, a
    /// graceful delete of exactly that pod, and a `Preempted` event.
    async fn evict_victim(&self, victim: &Pod, preemptor: &Pod, node: &str) {
        let scheduler = preemptor.spec.as_ref().and_then(|s| s.scheduler_name.clone());
        let scheduler = scheduler.unwrap_or_else(|| SCHEDULER_NAME.to_string());
        let message = format!("{scheduler}: preempting to accommodate a higher priority pod");
        pod_deletion::mark_disruption_target(&self.client, victim, "PreemptionByScheduler", &message).await;
        match pod_deletion::delete_instance(&self.client, victim, None).await {
            Ok(()) => {
                let uid = preemptor.metadata.uid.as_deref().unwrap_or_default();
                let message = format!("Preempted by pod {uid} on node {node}");
                self.recorder.record_for(victim, "Normal", "Preempted", &message);
            }
            Err(e) => {
                tracing::debug!(pod = ?victim.metadata.name, error = %e, "deleting a preemption victim failed")
            }
        }
    }

    async fn patch_status(&self, pod: &Pod, status: serde_json::Value) {
        let (ns, name) = informer::namespace_name(pod);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let patch = Patch::Strategic(json!({"status": status}));
        if let Err(e) = api.patch_status(&name, &PatchParams::default(), &patch).await {
            tracing::debug!(pod = %name, error = %e, "updating the pod's scheduling status failed");
        }
    }

    async fn bind(&self, pod: &Pod, node: &str) -> bool {
        let (ns, name) = informer::namespace_name(pod);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                uid: pod.metadata.uid.clone(),
                ..Default::default()
            },
            target: ObjectReference {
                kind: Some("Node".into()),
                name: Some(node.to_string()),
                api_version: Some("v1".into()),
                ..Default::default()
            },
        };
        match api
            .create_subresource::<_, serde_json::Value>("binding", &name, &PostParams::default(), &binding)
            .await
        {
            Ok(_) => {
                let reference = object_reference(pod);
                self.recorder.record(
                    &reference,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                );
                true
            }
            Err(e) => {
                tracing::debug!(pod = %name, node, error = %e, "binding failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, extra: serde_json::Value) -> Node {
        let mut v = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}});
        if let Some(spec) = extra.get("spec") {
            v["spec"] = spec.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn filters_explain_themselves() {
        let tainted = node(
            "cp",
            json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
        );
        let p = pod(json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "3"}}}]}));
        assert_eq!(
            filter(&p, &tainted, &NodeUsage::default()),
            Err(vec!["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }".to_string()])
        );
        assert_eq!(
            filter(&p, &node("w", json!({})), &NodeUsage::default()),
            Err(vec!["Insufficient cpu".to_string()])
        );
        let cordoned = node("c", json!({"spec": {"unschedulable": true}}));
        let small = pod(json!({"containers": [{"name": "c"}]}));
        assert_eq!(
            filter(&small, &cordoned, &NodeUsage::default()),
            Err(vec![REASON_UNSCHEDULABLE.to_string()])
        );
        let tolerant = pod(
            json!({"containers": [{"name": "c"}], "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert_eq!(filter(&tolerant, &cordoned, &NodeUsage::default()), Ok(()));
        let pinned = pod(
            json!({"containers": [{"name": "c"}], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["w2"]}]}]}}}}),
        );
        assert_eq!(
            filter(&pinned, &node("w1", json!({})), &NodeUsage::default()),
            Err(vec![REASON_AFFINITY.to_string()])
        );
        assert_eq!(filter(&pinned, &node("w2", json!({})), &NodeUsage::default()), Ok(()));
        let ported =
            pod(json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}));
        let used = NodeUsage { ports: [("TCP".to_string(), 80)].into_iter().collect(), ..Default::default() };
        assert_eq!(filter(&ported, &node("w", json!({})), &used), Err(vec![REASON_PORTS.to_string()]));
    }

    #[test]
    fn failure_message_is_upstreams() {
        let reasons: BTreeMap<String, usize> = [
            ("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }".to_string(), 1),
            ("Insufficient cpu".to_string(), 2),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            failure_message(
                3,
                &reasons,
                "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
            ),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn preferred_affinity_and_prefer_no_schedule_score() {
        let p = pod(
            json!({"containers": [{"name": "c"}], "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "preference": {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["b"]}]}}]}}}),
        );
        let (a, b) = (node("a", json!({})), node("b", json!({})));
        assert!(score(&p, &b, &NodeUsage::default()) > score(&p, &a, &NodeUsage::default()));
        let avoided = node("c", json!({"spec": {"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}}));
        assert!(score(&p, &a, &NodeUsage::default()) > score(&p, &avoided, &NodeUsage::default()));
    }
}
