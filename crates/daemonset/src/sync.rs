//! One DaemonSet sync, decided without I/O: which pods to create and delete per node
//! (upstream `manage` / `podsShouldBeOnNode`), the rolling-update step with and without surge
//! (`rollingUpdate`), and the status counters (`updateDaemonSetStatus`).
//!
//! A [`SyncContext`] is built once per sync from the DaemonSet, its nodes and its claimed pods;
//! node eligibility and the pods-by-node grouping are computed once and shared by every
//! decision, so a sync costs O(nodes + pods).

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::eligibility::{Eligibility, Placement};
use crate::pod::template_generation;
use crate::pod_facts::{Phase, PodFacts, oldest_first};
use crate::rollout_controls::{NotReadyNodes, RolloutControls, partition_quota};

/// At most this many creates and this many deletes are issued per sync (upstream
/// `BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;

/// An event the controller records on the DaemonSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

impl DaemonEvent {
    pub fn selecting_all() -> Self {
        DaemonEvent {
            type_: "Warning",
            reason: "SelectingAll",
            message: "This daemon set is selecting all pods. A non-empty selector is required.".to_string(),
        }
    }
}

/// What one step of a sync decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Nodes that get a new daemon pod.
    pub create_on: Vec<String>,
    /// Daemon pods to delete, by name.
    pub delete: Vec<String>,
    /// Daemon pods to update in place to the current revision, by name.
    pub in_place: Vec<String>,
    pub events: Vec<DaemonEvent>,
    /// Sync again after this long (a failed pod waiting out its backoff).
    pub requeue_after: Option<SignedDuration>,
}

impl Decision {
    pub fn is_empty(&self) -> bool {
        self.create_on.is_empty() && self.delete.is_empty() && self.in_place.is_empty()
    }

    /// Caps creates and deletes at `burst` each, as upstream's `syncNodes` does.
    pub fn capped(mut self, burst: usize) -> Self {
        self.create_on.truncate(burst);
        self.delete.truncate(burst);
        self.in_place.truncate(burst);
        self
    }
}

/// Upstream's failed-pod backoff (`flowcontrol.Backoff`, 1 s doubling to 15 min), keyed per
/// DaemonSet, observed generation and node. Time is always a parameter.
#[derive(Clone, Debug)]
pub struct FailedPodBackoff {
    initial: SignedDuration,
    max: SignedDuration,
    entries: HashMap<String, (SignedDuration, Timestamp)>,
}

impl Default for FailedPodBackoff {
    fn default() -> Self {
        FailedPodBackoff::new(SignedDuration::from_secs(1), SignedDuration::from_mins(15))
    }
}

impl FailedPodBackoff {
    pub fn new(initial: SignedDuration, max: SignedDuration) -> Self {
        FailedPodBackoff { initial, max, entries: HashMap::new() }
    }

    /// Upstream `failedPodsBackoffKey`: `<uid>/<observedGeneration>/<node>`.
    pub fn key(ds: &DaemonSet, node: &str) -> String {
        let generation = ds.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
        format!("{}/{generation}/{node}", ds.metadata.uid.as_deref().unwrap_or_default())
    }

    fn expired(&self, now: Timestamp, last: Timestamp) -> bool {
        now.duration_since(last) > self.max * 2
    }

    /// Still waiting since the last [`FailedPodBackoff::next`] for this key.
    pub fn is_in_backoff(&self, key: &str, now: Timestamp) -> bool {
        self.entries.get(key).is_some_and(|(delay, last)| now.duration_since(*last) < *delay)
    }

    /// Records an attempt: the first one (or one after a long quiet) waits `initial`, each
    /// later one twice as long, up to `max`.
    pub fn next(&mut self, key: &str, now: Timestamp) {
        let delay = match self.entries.get(key) {
            Some((delay, last)) if !self.expired(now, *last) => (*delay * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(key.to_string(), (delay, now));
    }

    /// The current delay of a key.
    pub fn delay(&self, key: &str) -> Option<SignedDuration> {
        self.entries.get(key).map(|(d, _)| *d)
    }

    /// Forgets entries idle for more than twice the maximum delay.
    pub fn gc(&mut self, now: Timestamp) {
        let max = self.max;
        self.entries.retain(|_, (_, last)| now.duration_since(*last) <= max * 2);
    }
}

/// Upstream `GetScaledValueFromIntOrPercent` with rounding up; invalid strings count as 0
/// (validation refuses them).
pub fn scaled_value(v: Option<&IntOrString>, total: i32) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => match crate::validation::parse_percent(s) {
            Some(p) => ((i64::from(total) * p as i64 + 99) / 100) as i32,
            None => 0,
        },
    }
}

fn rolling_update(ds: &DaemonSet) -> Option<&k8s_openapi::api::apps::v1::RollingUpdateDaemonSet> {
    let strategy = ds.spec.as_ref()?.update_strategy.as_ref()?;
    if strategy.type_.as_deref() != Some("RollingUpdate") {
        return None;
    }
    strategy.rolling_update.as_ref()
}

/// Whether the DaemonSet uses the RollingUpdate strategy.
pub fn is_rolling_update(ds: &DaemonSet) -> bool {
    ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref())
        == Some("RollingUpdate")
}

/// Upstream `SurgeCount`.
pub fn surge_count(ds: &DaemonSet, desired: i32) -> i32 {
    rolling_update(ds).map_or(0, |r| scaled_value(r.max_surge.as_ref(), desired))
}

/// Upstream `UnavailableCount`.
pub fn unavailable_count(ds: &DaemonSet, desired: i32) -> i32 {
    rolling_update(ds).map_or(0, |r| scaled_value(r.max_unavailable.as_ref(), desired))
}

/// Upstream `AllowsSurge`: maxSurge resolves to more than zero.
pub fn allows_surge(ds: &DaemonSet) -> bool {
    surge_count(ds, 1) != 0
}

/// Why a sync does nothing at all (not even status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The selector is empty (`{}`): a `SelectingAll` warning, nothing else.
    SelectingAll,
    /// The DaemonSet is being deleted: its pods and history belong to the garbage collector.
    BeingDeleted,
}

/// Upstream `syncDaemonSet`'s early returns.
pub fn sync_guard(ds: &DaemonSet) -> Option<SkipReason> {
    let selector = ds.spec.as_ref().map(|s| &s.selector);
    let empty = selector.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
    });
    if empty {
        return Some(SkipReason::SelectingAll);
    }
    ds.metadata.deletion_timestamp.is_some().then_some(SkipReason::BeingDeleted)
}

/// A daemon pod as a sync holds it: the pod, read only to name it, and its facts.
pub type DaemonPod<'a> = (&'a Pod, &'a PodFacts);

/// Everything one sync of a DaemonSet decides from.
pub struct SyncContext<'a> {
    ds: &'a DaemonSet,
    hash: &'a str,
    /// The template generation as pods carry it in their label.
    generation_label: Option<String>,
    now: Timestamp,
    min_ready_seconds: i32,
    /// Every node, in the order given, with its eligibility.
    nodes: Vec<(&'a str, Eligibility)>,
    /// The same nodes' objects, for the rollout controls.
    node_objects: Vec<&'a Node>,
    /// Node name to position: built for every sync, so hashed with foldhash (what hashbrown
    /// uses by default) rather than SipHash, which cost more than the lookups it served.
    node_index: HashMap<&'a str, u32, foldhash::fast::RandomState>,
    /// Daemon pods grouped by node, oldest first within a node: node `i` has
    /// `pods[starts[i]..starts[i + 1]]`, and their facts at the same places of `facts`.
    /// Terminal pods that are being deleted are left out (upstream
    /// `getNodesToDaemonPods(includeDeletedTerminal=false)`).
    pods: Vec<&'a Pod>,
    facts: Vec<&'a PodFacts>,
    starts: Vec<u32>,
    /// Daemon pods aimed at nodes that are not in the list, by node name.
    vanished: BTreeMap<&'a str, (Vec<&'a Pod>, Vec<&'a PodFacts>)>,
}

impl<'a> SyncContext<'a> {
    /// `pods` are the daemon pods the DaemonSet has claimed, each with its facts
    /// ([`crate::pod_facts::of_each`] takes them for pods held without); `hash` is the current
    /// revision's.
    pub fn new(
        ds: &'a DaemonSet,
        hash: &'a str,
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: impl IntoIterator<Item = DaemonPod<'a>>,
        now: Timestamp,
    ) -> Self {
        let placement = Placement::new(ds);
        let nodes = nodes.into_iter().map(|n| (n, placement.eligibility(n)));
        Self::with_eligibility(ds, hash, nodes, pods, now)
    }

    /// [`SyncContext::new`] with each node's eligibility already judged by the DaemonSet's
    /// [`Placement`] (a controller that remembers it per version of a node).
    pub fn with_eligibility(
        ds: &'a DaemonSet,
        hash: &'a str,
        nodes: impl IntoIterator<Item = (&'a Node, Eligibility)>,
        pods: impl IntoIterator<Item = DaemonPod<'a>>,
        now: Timestamp,
    ) -> Self {
        let (node_objects, eligibility): (Vec<&'a Node>, Vec<Eligibility>) = nodes.into_iter().unzip();
        let nodes: Vec<(&'a str, Eligibility)> = node_objects
            .iter()
            .zip(eligibility)
            .map(|(n, e)| (n.metadata.name.as_deref().unwrap_or_default(), e))
            .collect();
        let mut node_index = HashMap::with_capacity_and_hasher(nodes.len(), Default::default());
        for (i, (n, _)) in nodes.iter().enumerate() {
            node_index.insert(*n, i as u32);
        }
        // A counting sort by node index: no allocation per node.
        let mut placed: Vec<(u32, DaemonPod<'a>)> = Vec::with_capacity(nodes.len());
        let mut vanished_pods: BTreeMap<&'a str, Vec<DaemonPod<'a>>> = BTreeMap::new();
        let mut counts = vec![0u32; nodes.len() + 1];
        for (pod, facts) in pods {
            if facts.is_terminal() && facts.terminating {
                continue;
            }
            let Some(node) = facts.target_node.as_deref() else { continue };
            match node_index.get(node) {
                Some(&i) => {
                    counts[i as usize + 1] += 1;
                    placed.push((i, (pod, facts)));
                }
                None => vanished_pods.entry(node).or_default().push((pod, facts)),
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let starts = counts.clone();
        let mut grouped: Vec<Option<DaemonPod<'a>>> = vec![None; placed.len()];
        for (i, pod) in placed {
            let slot = &mut counts[i as usize];
            grouped[*slot as usize] = Some(pod);
            *slot += 1;
        }
        let mut grouped: Vec<DaemonPod<'a>> =
            grouped.into_iter().map(|p| p.expect("every slot is filled")).collect();
        for w in starts.windows(2) {
            if w[1] - w[0] > 1 {
                grouped[w[0] as usize..w[1] as usize].sort_by(|a, b| oldest_first(*a, *b));
            }
        }
        let (pods, facts) = grouped.into_iter().unzip();
        let vanished = vanished_pods
            .into_iter()
            .map(|(node, mut list)| {
                list.sort_by(|a, b| oldest_first(*a, *b));
                (node, list.into_iter().unzip())
            })
            .collect();
        SyncContext {
            ds,
            hash,
            generation_label: template_generation(ds).map(|g| g.to_string()),
            now,
            min_ready_seconds: ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0),
            nodes,
            node_objects,
            node_index,
            pods,
            facts,
            starts,
            vanished,
        }
    }

    fn available(&self, facts: &PodFacts) -> bool {
        facts.readiness(self.min_ready_seconds, self.now).available
    }

    /// Upstream `IsPodUpdated`, with the generation label computed once.
    fn updated(&self, facts: &PodFacts) -> bool {
        facts.is_updated(self.hash, self.generation_label.as_deref())
    }

    fn eligibility(&self, node: &str) -> Option<Eligibility> {
        self.node_index.get(node).map(|i| self.nodes[*i as usize].1)
    }

    fn pods_at(&self, i: usize) -> &[&'a Pod] {
        &self.pods[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// The daemon pods of node `i` with their facts.
    fn group_at(&self, i: usize) -> Group<'_, 'a> {
        let range = self.starts[i] as usize..self.starts[i + 1] as usize;
        Group { pods: &self.pods[range.clone()], facts: &self.facts[range] }
    }

    /// The eligibility of every node, in order.
    pub fn nodes(&self) -> &[(&'a str, Eligibility)] {
        &self.nodes
    }

    /// The daemon pods on a node, oldest first.
    pub fn pods_on(&self, node: &str) -> &[&'a Pod] {
        match self.node_index.get(node) {
            Some(&i) => self.pods_at(i as usize),
            None => self.vanished.get(node).map_or(&[], |(pods, _)| pods.as_slice()),
        }
    }

    /// What one sync does, in upstream `updateDaemonSet`'s order: `manage`, then, with a
    /// RollingUpdate strategy, a rollout step, but only when manage acted on nothing (upstream
    /// re-checks the expectations manage has just raised, so a sync that created or deleted
    /// waits for those to be observed before rolling). The step keeps manage's events and the
    /// earlier of their requeues. The controller and the upstream-replay tests both act on this.
    pub fn decide(&self, backoff: &mut FailedPodBackoff, controls: &RolloutControls) -> Decision {
        let managed = self.manage(backoff);
        if !managed.is_empty() || !is_rolling_update(self.ds) {
            return managed;
        }
        let mut step = self.rolling_update_with(controls);
        let mut events = managed.events;
        events.append(&mut step.events);
        step.events = events;
        step.requeue_after = match (managed.requeue_after, step.requeue_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        step
    }

    /// Upstream `manage`: per node, create a missing pod, delete failed, succeeded, excess and
    /// misplaced ones; then delete unscheduled pods aimed at nodes that no longer exist.
    pub fn manage(&self, backoff: &mut FailedPodBackoff) -> Decision {
        let mut d = Decision::default();
        let surge = allows_surge(self.ds);
        for (i, (node, eligibility)) in self.nodes.iter().enumerate() {
            self.pods_should_be_on_node(node, self.group_at(i), *eligibility, surge, backoff, &mut d);
        }
        for (pods, facts) in self.vanished.values() {
            for (pod, facts) in pods.iter().zip(facts) {
                if !facts.scheduled {
                    d.delete.push(pod_name(pod));
                }
            }
        }
        d
    }

    fn pods_should_be_on_node(
        &self,
        node: &str,
        pods: Group<'_, 'a>,
        e: Eligibility,
        surge: bool,
        backoff: &mut FailedPodBackoff,
        d: &mut Decision,
    ) {
        let namespace = self.ds.metadata.namespace.as_deref().unwrap_or_default();
        if pods.is_empty() {
            if e.should_run {
                d.create_on.push(node.to_string());
            }
            return;
        }
        if !e.should_continue_running {
            d.delete.extend(pods.iter().filter(|(_, f)| !f.terminating).map(|(p, _)| pod_name(p)));
            return;
        }
        let mut running: Vec<DaemonPod<'a>> = Vec::new();
        for (pod, facts) in pods.iter().filter(|(_, f)| !f.terminating) {
            match facts.phase {
                Phase::Failed => {
                    let key = FailedPodBackoff::key(self.ds, node);
                    if backoff.is_in_backoff(&key, self.now) {
                        let delay = backoff.delay(&key).unwrap_or_default();
                        d.requeue_after = Some(d.requeue_after.map_or(delay, |r| r.min(delay)));
                        continue;
                    }
                    backoff.next(&key, self.now);
                    d.events.push(DaemonEvent {
                        type_: "Warning",
                        reason: "FailedDaemonPod",
                        message: format!(
                            "Found failed daemon pod {namespace}/{} on node {node}, will try to kill it",
                            pod_name(pod)
                        ),
                    });
                    d.delete.push(pod_name(pod));
                }
                Phase::Succeeded => {
                    d.events.push(DaemonEvent {
                        type_: "Normal",
                        reason: "SucceededDaemonPod",
                        message: format!(
                            "Found succeeded daemon pod {namespace}/{} on node {node}, will try to delete it",
                            pod_name(pod)
                        ),
                    });
                    d.delete.push(pod_name(pod));
                }
                Phase::Active => running.push((pod, facts)),
            }
        }
        if !surge {
            // Oldest first already: keep the first, delete the rest.
            d.delete.extend(running.iter().skip(1).map(|(p, _)| pod_name(p)));
            return;
        }
        if running.is_empty() {
            if e.should_run {
                d.create_on.push(node.to_string());
            }
            return;
        }
        if running.len() == 1 {
            return;
        }
        let (mut oldest_new, mut oldest_old): (Option<DaemonPod<'a>>, Option<DaemonPod<'a>>) = (None, None);
        for (pod, facts) in running {
            let slot =
                if facts.revision_hash() == Some(self.hash) { &mut oldest_new } else { &mut oldest_old };
            match slot {
                None => *slot = Some((pod, facts)),
                Some(_) => d.delete.push(pod_name(pod)),
            }
        }
        if let (Some((_, new)), Some((old, old_facts))) = (oldest_new, oldest_old)
            && (!old_facts.is_ready() || self.available(new))
        {
            d.delete.push(pod_name(old));
        }
    }

    /// Upstream `updatedDesiredNodeCounts`: (maxSurge, maxUnavailable, desired).
    pub fn rollout_budget(&self) -> (i32, i32, i32) {
        let desired = self.nodes.iter().filter(|(_, e)| e.should_run).count() as i32;
        let mut max_unavailable = unavailable_count(self.ds, desired);
        let max_surge = surge_count(self.ds, desired);
        if desired > 0 && max_unavailable == 0 && max_surge == 0 {
            max_unavailable = 1;
        }
        (max_surge, max_unavailable, desired)
    }

    /// The nodes the rolling update examines, in a stable order: every node with pods and
    /// every node that should run one.
    fn rollout_nodes(&self) -> Vec<(&'a str, Group<'_, 'a>)> {
        let mut out: Vec<(&'a str, Group<'_, 'a>)> =
            Vec::with_capacity(self.nodes.len() + self.vanished.len());
        for (i, (node, e)) in self.nodes.iter().enumerate() {
            let pods = self.group_at(i);
            if !pods.is_empty() || e.should_run {
                out.push((node, pods));
            }
        }
        out.extend(self.vanished.iter().map(|(n, (pods, facts))| (*n, Group { pods, facts })));
        out
    }

    /// Upstream `findUpdatedPodsOnNode`: the one new and one old non-terminating pod, or
    /// `None` when there are more of either.
    #[allow(clippy::type_complexity)]
    fn updated_pods_on_node(
        &self,
        pods: Group<'_, 'a>,
    ) -> Option<(Option<DaemonPod<'a>>, Option<DaemonPod<'a>>)> {
        let (mut new, mut old) = (None, None);
        for (pod, facts) in pods.iter().filter(|(_, f)| !f.terminating) {
            let slot = if self.updated(facts) { &mut new } else { &mut old };
            if slot.is_some() {
                return None;
            }
            *slot = Some((pod, facts));
        }
        Some((new, old))
    }

    /// Upstream `rollingUpdate`: one step of a RollingUpdate rollout. Without surge it deletes
    /// old pods within maxUnavailable (unavailable old pods always); with surge it creates new
    /// pods within maxSurge (for unavailable old pods always) and deletes old pods whose
    /// replacement is available.
    pub fn rolling_update(&self) -> Decision {
        self.rolling_update_with(&RolloutControls::default())
    }

    /// [`SyncContext::rolling_update`] under everynode's rollout controls; with none set,
    /// exactly upstream's.
    pub fn rolling_update_with(&self, controls: &RolloutControls) -> Decision {
        if !is_rolling_update(self.ds) {
            return Decision::default();
        }
        let (max_surge, max_unavailable, desired) = self.rollout_budget();
        if !controls.is_upstream() {
            return self.roll_controlled(controls, max_surge, max_unavailable, desired);
        }
        if max_surge == 0 {
            self.roll_without_surge(max_unavailable)
        } else {
            self.roll_with_surge(max_surge, desired)
        }
    }

    /// The DaemonSet's pods of the current revision that are not being deleted.
    pub fn updated_pods(&self) -> Vec<&'a Pod> {
        let placed = self.pods.iter().zip(&self.facts);
        let vanished = self.vanished.values().flat_map(|(pods, facts)| pods.iter().zip(facts));
        placed.chain(vanished).filter(|(_, f)| !f.terminating && self.updated(f)).map(|(p, _)| *p).collect()
    }

    /// Whether a node's Ready condition is True.
    fn node_ready(&self, i: usize) -> bool {
        self.node_objects[i]
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    }

    /// Where each node stands in a controlled rollout, in the order nodes are updated (by
    /// name). Nodes that should not run a pod and have none are left out; so are vanished
    /// nodes' pods, which `manage` handles.
    pub fn rollout_standing(&self, controls: &RolloutControls) -> Vec<NodeStanding<'a>> {
        let mut out: Vec<NodeStanding<'a>> = Vec::with_capacity(self.nodes.len());
        for (i, (node, e)) in self.nodes.iter().enumerate() {
            let pods = self.group_at(i);
            if pods.is_empty() && !e.should_run {
                continue;
            }
            let (state, available, pod) = match self.updated_pods_on_node(pods) {
                None => (PodState::Several, false, None),
                Some((None, None)) => (PodState::Missing, false, None),
                // Updated in place: available once the kubelet runs the new images.
                Some((Some((new, new_facts)), None)) => (
                    PodState::Updated,
                    self.available(new_facts) && crate::in_place::images_current(new),
                    Some(new),
                ),
                Some((None, Some((old, old_facts)))) => {
                    (PodState::Old(old), self.available(old_facts), Some(old))
                }
                Some((Some((new, new_facts)), Some((old, old_facts)))) => (
                    PodState::Both { old, new_available: self.available(new_facts) },
                    self.available(old_facts),
                    Some(new),
                ),
            };
            let labels = self.node_objects[i].metadata.labels.as_ref();
            out.push(NodeStanding {
                node,
                should_run: e.should_run,
                in_scope: controls.in_scope(labels),
                wave: controls.wave_of(labels),
                skipped: controls.not_ready_nodes == NotReadyNodes::Skip && !self.node_ready(i),
                node_ready: self.node_ready(i),
                state,
                available,
                pod,
            });
        }
        // By wave (nodes without its label last), then by name.
        out.sort_by(|a, b| (a.wave.is_none(), a.wave, a.node).cmp(&(b.wave.is_none(), b.wave, b.node)));
        out
    }

    /// One rollout step under the controls: upstream's step and budget, spent only on the old
    /// pods the controls let go, in node-name order.
    fn roll_controlled(
        &self,
        controls: &RolloutControls,
        max_surge: i32,
        max_unavailable: i32,
        desired: i32,
    ) -> Decision {
        let mut d = Decision::default();
        if controls.paused {
            return d;
        }
        let standing = self.rollout_standing(controls);
        let mut quota = partition_quota(controls, &standing, desired);
        let counted: Vec<&NodeStanding<'a>> = standing.iter().filter(|s| !s.skipped).collect();
        let count = |f: &dyn Fn(&NodeStanding<'a>) -> bool| counted.iter().filter(|s| f(s)).count() as i32;
        // Only the current wave's old pods may go (every node's, without waves).
        let wave = crate::rollout_controls::current_wave(&standing);
        let old = |available: bool| {
            counted.iter().filter(move |s| {
                s.in_scope
                    && matches!(s.state, PodState::Old(_))
                    && s.available == available
                    && wave.is_none_or(|w| s.wave == w)
            })
        };
        let unavailable_old = count(&|s| matches!(s.state, PodState::Old(_)) && !s.available);
        // An old pod goes, or is updated in place where its revision allows.
        let replace = |pod: &Pod, d: &mut Decision| {
            let in_place = controls.in_place
                && crate::pod::revision_hash(pod).is_some_and(|h| controls.in_place_hashes.contains(h));
            if in_place { d.in_place.push(pod_name(pod)) } else { d.delete.push(pod_name(pod)) }
        };
        if max_surge == 0 {
            // Nodes down for the update and not available again.
            let in_flight = count(&|s| match s.state {
                PodState::Several | PodState::Missing | PodState::Both { .. } => true,
                PodState::Updated => !s.available,
                PodState::Old(_) => false,
            });
            // Unavailable old pods first: upstream replaces them all, a strict budget within
            // it; then available ones, within what the unavailable leave of the budget.
            let rooms = [
                (false, if controls.strict_budget { max_unavailable - in_flight } else { i32::MAX }),
                (true, max_unavailable - in_flight - unavailable_old),
            ];
            for (available, mut room) in rooms {
                for s in old(available) {
                    if quota <= 0 || room <= 0 {
                        break;
                    }
                    if let PodState::Old(pod) = s.state {
                        replace(pod, &mut d);
                    }
                    quota -= 1;
                    room -= 1;
                }
            }
            return d;
        }
        // With surge: a new pod beside the old one, which goes once the new one is available.
        let mut surging = count(&|s| match s.state {
            PodState::Several => true,
            PodState::Both { new_available, .. } => !new_available,
            _ => false,
        });
        let mut should_not_run = Vec::new();
        for s in &counted {
            match s.state {
                PodState::Both { old, new_available: true } => d.delete.push(pod_name(old)),
                PodState::Old(pod) if !s.should_run => {
                    if s.available {
                        should_not_run.push(pod_name(pod))
                    } else {
                        d.delete.push(pod_name(pod))
                    }
                }
                _ => {}
            }
        }
        let available = count(&|s| s.available);
        let deletable = (available - desired).clamp(0, should_not_run.len() as i32) as usize;
        d.delete.extend(should_not_run.into_iter().take(deletable));
        for wanted in [false, true] {
            for s in old(wanted).filter(|s| s.should_run) {
                // Unavailable old pods get their new pod at once upstream, within the surge
                // under a strict budget; available ones always wait for room.
                let bounded = wanted || controls.strict_budget;
                if quota <= 0 || (bounded && surging >= max_surge) {
                    break;
                }
                d.create_on.push(s.node.to_string());
                quota -= 1;
                if bounded {
                    surging += 1;
                }
            }
        }
        d
    }

    fn roll_without_surge(&self, max_unavailable: i32) -> Decision {
        let mut unavailable = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for (_, pods) in self.rollout_nodes() {
            let Some((new, old)) = self.updated_pods_on_node(pods) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some((_, new)), None) => {
                    if !self.available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some((old, old_facts))) => {
                    if !self.available(old_facts) {
                        replacements.push(pod_name(old));
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(pod_name(old));
                    }
                }
            }
        }
        let remaining = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        replacements.extend(candidates.into_iter().take(remaining));
        Decision { delete: replacements, ..Default::default() }
    }

    fn roll_with_surge(&self, max_surge: i32, desired: i32) -> Decision {
        let mut delete = Vec::new();
        let mut should_not_run = Vec::new();
        let mut candidates = Vec::new();
        let mut allowed = Vec::new();
        let (mut surging, mut available) = (0, 0);
        for (node, pods) in self.rollout_nodes() {
            let Some((new, old)) = self.updated_pods_on_node(pods) else {
                surging += 1;
                continue;
            };
            if let Some((_, f)) = old.or(new)
                && self.available(f)
            {
                available += 1;
            }
            let should_run = self.eligibility(node).is_some_and(|e| e.should_run);
            match (new, old) {
                (_, None) => {}
                (None, Some((old, old_facts))) => {
                    if !self.available(old_facts) {
                        if should_run {
                            allowed.push(node.to_string());
                        } else {
                            delete.push(pod_name(old));
                        }
                    } else if !should_run {
                        should_not_run.push(pod_name(old));
                    } else if surging < max_surge {
                        candidates.push(node.to_string());
                    }
                }
                (Some((_, new)), Some((old, _))) => {
                    if self.available(new) {
                        delete.push(pod_name(old));
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        let deletable = (available - desired).clamp(0, should_not_run.len() as i32) as usize;
        delete.extend(should_not_run.into_iter().take(deletable));
        let remaining = (max_surge - surging).clamp(0, candidates.len() as i32) as usize;
        allowed.extend(candidates.into_iter().take(remaining));
        Decision { create_on: allowed, delete, ..Default::default() }
    }

    /// Upstream `updateDaemonSetStatus`: the counters, from the oldest pod on each node that
    /// should run one. Conditions and the collision count are kept from `previous`;
    /// `observed_generation` is what the caller decided to report.
    pub fn status(
        &self,
        previous: Option<&DaemonSetStatus>,
        observed_generation: Option<i64>,
    ) -> DaemonSetStatus {
        let (mut desired, mut current, mut misscheduled, mut ready, mut available, mut updated) =
            (0, 0, 0, 0, 0, 0);
        for (i, (_, e)) in self.nodes.iter().enumerate() {
            let pods = self.group_at(i);
            if !e.should_run {
                if !pods.is_empty() {
                    misscheduled += 1;
                }
                continue;
            }
            desired += 1;
            let Some((_, pod)) = pods.first() else { continue };
            current += 1;
            let r = pod.readiness(self.min_ready_seconds, self.now);
            ready += i32::from(r.ready);
            available += i32::from(r.available);
            if self.updated(pod) {
                updated += 1;
            }
        }
        let previous = previous.cloned().unwrap_or_default();
        DaemonSetStatus {
            current_number_scheduled: current,
            desired_number_scheduled: desired,
            number_misscheduled: misscheduled,
            number_ready: ready,
            // Upstream's `omitempty`: a zero is not written, so `-o yaml` and jsonpath show
            // these fields only when they count something.
            number_available: non_zero(available),
            number_unavailable: non_zero(desired - available),
            updated_number_scheduled: non_zero(updated),
            observed_generation: observed_generation.or(previous.observed_generation).filter(|g| *g != 0),
            collision_count: previous.collision_count,
            conditions: previous.conditions,
        }
    }
}

/// The daemon pods of one node, oldest first, with their facts at the same places.
#[derive(Clone, Copy)]
struct Group<'s, 'a> {
    pods: &'s [&'a Pod],
    facts: &'s [&'a PodFacts],
}

impl<'s, 'a> Group<'s, 'a> {
    fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = DaemonPod<'a>> + 's {
        self.pods.iter().copied().zip(self.facts.iter().copied())
    }

    fn first(&self) -> Option<DaemonPod<'a>> {
        self.iter().next()
    }
}

/// Where one node stands in a controlled rollout.
#[derive(Clone, Debug)]
pub struct NodeStanding<'a> {
    pub node: &'a str,
    pub should_run: bool,
    /// The node-selector control lets its pod be updated.
    pub in_scope: bool,
    /// Left out of the rollout (a NotReady node under `not-ready-nodes: Skip`).
    pub skipped: bool,
    /// Its wave (the value of the wave label; `None` without waves, or without the label).
    pub wave: Option<&'a str>,
    pub state: PodState<'a>,
    /// Its old pod, or else its new one, is available (as upstream counts availability).
    pub available: bool,
    /// Its node's Ready condition is True.
    pub node_ready: bool,
    /// The pod that tells its state: the new one when there is one, else the old one.
    pub pod: Option<&'a Pod>,
}

/// A node's daemon pods, as a rollout sees them.
#[derive(Clone, Copy, Debug)]
pub enum PodState<'a> {
    /// None yet.
    Missing,
    /// One, on the current revision.
    Updated,
    /// One, on an old revision.
    Old(&'a Pod),
    /// An old one and its replacement (with surge).
    Both { old: &'a Pod, new_available: bool },
    /// More than one of either revision.
    Several,
}

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// `Some` unless zero: an `omitempty` integer of upstream's API types.
fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// Whether two statuses differ in anything the controller writes (upstream
/// `storeDaemonSetStatus` skips the write otherwise).
pub fn status_changed(old: Option<&DaemonSetStatus>, new: &DaemonSetStatus) -> bool {
    let Some(old) = old else { return true };
    old.current_number_scheduled != new.current_number_scheduled
        || old.desired_number_scheduled != new.desired_number_scheduled
        || old.number_misscheduled != new.number_misscheduled
        || old.number_ready != new.number_ready
        || old.number_available.unwrap_or(0) != new.number_available.unwrap_or(0)
        || old.number_unavailable.unwrap_or(0) != new.number_unavailable.unwrap_or(0)
        || old.updated_number_scheduled.unwrap_or(0) != new.updated_number_scheduled.unwrap_or(0)
        || old.observed_generation != new.observed_generation
        || old.conditions != new.conditions
}

/// Upstream's slow start: create batches of 1, 2, 4, … until `total` is covered.
pub fn slow_start_batches(total: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut done, mut size) = (0, 1);
    while done < total {
        let batch = size.min(total - done);
        out.push(batch);
        done += batch;
        size *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(scaled_value(Some(&pct("50%")), 3), 2);
        assert_eq!(scaled_value(Some(&pct("20%")), 2), 1);
        assert_eq!(scaled_value(Some(&pct("10%")), 5000), 500);
        assert_eq!(scaled_value(Some(&pct("0%")), 100), 0);
        assert_eq!(scaled_value(Some(&IntOrString::Int(7)), 3), 7);
        assert_eq!(scaled_value(None, 3), 0);
    }

    #[test]
    fn slow_start_doubles() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
        assert_eq!(slow_start_batches(15), vec![1, 2, 4, 8]);
    }

    #[test]
    fn backoff_doubles_and_expires() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut b = FailedPodBackoff::default();
        assert!(!b.is_in_backoff("k", t0));
        b.next("k", t0);
        assert_eq!(b.delay("k"), Some(SignedDuration::from_secs(1)));
        assert!(b.is_in_backoff("k", t0 + SignedDuration::from_millis(999)));
        assert!(!b.is_in_backoff("k", t0 + SignedDuration::from_secs(1)));
        b.next("k", t0 + SignedDuration::from_secs(1));
        assert_eq!(b.delay("k"), Some(SignedDuration::from_secs(2)));
        for i in 0..20 {
            b.next("k", t0 + SignedDuration::from_secs(2 + i));
        }
        assert_eq!(b.delay("k"), Some(SignedDuration::from_mins(15)), "capped");
        b.gc(t0 + SignedDuration::from_mins(60));
        assert_eq!(b.delay("k"), None, "idle entries are collected");
    }
}
