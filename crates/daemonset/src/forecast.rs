//! A rollout's forecast: the controller's own sync decisions run forward on a virtual clock,
//! over a copy of a cluster, as a discrete-event simulation — no I/O, no sleeping.
//!
//! The world is the DaemonSet (with the proposed change), its nodes, its pods and revisions.
//! Each sync is the controller's: [`SyncContext::manage`], then, when that has nothing to do,
//! the rolling-update step with the rollout controls, capped at the controller's burst. What
//! the controller waits for happens after a modelled time: a created pod becomes Ready after
//! its node's [`Timing`] (never on a node that is not Ready), a deleted pod is gone after the
//! stop time, an in-place update restarts like a creation, and a Ready pod becomes available
//! `minReadySeconds` later. Every such happening wakes the controller, as its watch would.
//! The forecast ends when every node has what the rollout can give it, or when nothing is
//! left to happen: then it says which nodes block it and why.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{ContainerStatus, Node, Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::pod::{daemon_pod_template, new_daemon_pod, target_node_name};
use crate::revision::plan_history;
use crate::rollout_controls::{RolloutControls, Waiting, waiting};
use crate::sync::{FailedPodBackoff, PodState, is_rolling_update};
use crate::{Decision, SyncContext};
use apimachinery::core::pod::is_available;

/// The controller's burst: creates and deletes per sync (upstream `BurstReplicas`).
const BURST: usize = 250;
/// Happenings this close together are seen by one sync, as the controller's queue folds the
/// events that arrive while it syncs.
const FOLD: SignedDuration = SignedDuration::from_millis(100);
/// Past this, a forecast stops and reports what still waits.
const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 90);

/// How long what the controller waits for takes.
#[derive(Clone, Debug)]
pub struct Timing {
    /// From a daemon pod's creation to its Ready condition, on nodes without their own.
    pub ready: ReadyTime,
    /// Nodes whose pods take their own time.
    pub ready_on: BTreeMap<String, SignedDuration>,
    /// From a pod's deletion to its being gone.
    pub stop: SignedDuration,
}

impl Timing {
    pub fn fixed(ready: SignedDuration) -> Self {
        Timing { ready: ReadyTime::Fixed(ready), ready_on: BTreeMap::new(), stop: SignedDuration::ZERO }
    }

    /// The time a pod on `node` takes from creation to Ready.
    pub fn ready_on(&self, node: &str) -> SignedDuration {
        if let Some(t) = self.ready_on.get(node) {
            return *t;
        }
        match self.ready {
            ReadyTime::Fixed(t) => t,
            ReadyTime::Uniform { min, max } => {
                // Spread by the node's name, so a forecast is the same every time.
                let spread = (max - min).as_millis() as f64 * unit_fraction(node);
                min + SignedDuration::from_millis(spread as i64)
            }
        }
    }
}

/// How long each node's daemon pod took from its creation to Ready, as the cluster shows it
/// (pods Ready now, by their Ready condition's last transition; a pod restarted since reads
/// longer). Whole seconds, as the API keeps times.
pub fn observed_ready_times(pods: &[Pod]) -> BTreeMap<String, SignedDuration> {
    let mut out = BTreeMap::new();
    for pod in pods {
        let (Some(node), Some(created)) = (target_node_name(pod), pod.metadata.creation_timestamp.as_ref())
        else {
            continue;
        };
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
            .and_then(|c| c.last_transition_time.as_ref());
        if let Some(ready) = ready
            && ready.0 >= created.0
            && pod.metadata.deletion_timestamp.is_none()
        {
            out.insert(node.to_string(), ready.0.duration_since(created.0));
        }
    }
    out
}

/// The creation-to-Ready time a forecast assumes from what was observed: the mean of the
/// middle 80% for every node, and their own for nodes notably slower (more than half again
/// and two seconds over it). `None` when nothing was observed.
pub fn timing_from_observed(observed: &BTreeMap<String, SignedDuration>) -> Option<Timing> {
    let mut times: Vec<SignedDuration> = observed.values().copied().collect();
    if times.is_empty() {
        return None;
    }
    times.sort();
    let trim = times.len() / 10;
    let middle = &times[trim..times.len() - trim];
    let mean_ms = middle.iter().map(|t| t.as_millis()).sum::<i128>() / middle.len() as i128;
    let typical = SignedDuration::from_millis(mean_ms as i64);
    let slow = typical.mul_f64(1.5).max(typical + SignedDuration::from_secs(2));
    let ready_on = observed.iter().filter(|(_, t)| **t > slow).map(|(n, t)| (n.clone(), *t)).collect();
    Some(Timing { ready: ReadyTime::Fixed(typical), ready_on, stop: SignedDuration::ZERO })
}

/// A creation-to-Ready time: one for every node, or spread evenly between two.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReadyTime {
    Fixed(SignedDuration),
    Uniform { min: SignedDuration, max: SignedDuration },
}

/// FNV-1a of `s`, as a fraction in [0, 1).
fn unit_fraction(s: &str) -> f64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// What a forecast starts from: the DaemonSet as it will be (the change applied, its
/// generation moved as the API server moves it), and the cluster as it is.
pub struct Start<'a> {
    pub ds: &'a DaemonSet,
    pub nodes: &'a [Node],
    /// The pods the DaemonSet controls.
    pub pods: &'a [Pod],
    pub revisions: &'a [ControllerRevision],
    pub now: Timestamp,
}

/// One node's course in the forecast, in seconds from its start.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodePlan {
    pub node: String,
    /// When the rollout first acts on it (deletes its old pod, creates its new one, updates
    /// it in place); `None`: never.
    pub start: Option<f64>,
    /// When it runs an available pod of the new revision; `None`: never.
    pub done: Option<f64>,
}

/// Nodes the rollout starts on at the same moment.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Wave {
    pub start: f64,
    /// When the last of its nodes is done (`None`: some never are).
    pub end: Option<f64>,
    pub nodes: Vec<String>,
}

/// A node that holds the rollout up, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Blocker {
    pub node: String,
    pub reason: String,
}

/// A rollout's forecast.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Forecast {
    /// Nodes that should run the daemon pod.
    pub desired: i32,
    /// Seconds until the rollout is complete; `None`: it never completes.
    pub duration: Option<f64>,
    pub waves: Vec<Wave>,
    pub nodes: Vec<NodePlan>,
    /// What holds it up at the end (empty when it completes).
    pub blocked: Vec<Blocker>,
    /// What, at the start, will slow it: NotReady nodes, pods already unavailable.
    pub risks: Vec<Blocker>,
    /// Syncs the forecast ran.
    pub syncs: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    Ready(String),
    Gone(String),
    Wake,
}

struct World<'a> {
    start: &'a Start<'a>,
    timing: &'a Timing,
    ds: &'a DaemonSet,
    hash: String,
    controls: RolloutControls,
    pods: BTreeMap<String, Pod>,
    queue: BinaryHeap<Reverse<(Timestamp, u64, Happening)>>,
    seq: u64,
    backoff: FailedPodBackoff,
    started: BTreeMap<String, Timestamp>,
    done: BTreeMap<String, Timestamp>,
    ready_nodes: BTreeMap<String, bool>,
    min_ready: SignedDuration,
    syncs: usize,
}

/// Runs the rollout of `start.ds` forward from `start.now` and says how it goes.
pub fn forecast(start: &Start<'_>, timing: &Timing) -> Forecast {
    let ds = start.ds;
    let pod_refs: Vec<&Pod> = start.pods.iter().collect();
    let rev_refs: Vec<&ControllerRevision> = start.revisions.iter().collect();
    let history = plan_history(ds, &rev_refs, &pod_refs);
    let mut controls = RolloutControls::of(ds).unwrap_or_default();
    if controls.in_place {
        let mut revisions = rev_refs.clone();
        revisions.extend(history.create.as_ref());
        controls.in_place_hashes = crate::in_place::compatible_hashes(ds, &revisions);
    }
    let mut world = World {
        start,
        timing,
        ds,
        hash: history.hash,
        controls,
        pods: start.pods.iter().map(|p| (p.metadata.name.clone().unwrap_or_default(), p.clone())).collect(),
        queue: BinaryHeap::new(),
        seq: 0,
        backoff: FailedPodBackoff::default(),
        started: BTreeMap::new(),
        done: BTreeMap::new(),
        ready_nodes: start.nodes.iter().map(|n| (name_of(n), node_is_ready(n))).collect(),
        min_ready: SignedDuration::from_secs(i64::from(
            ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0),
        )),
        syncs: 0,
    };
    world.run()
}

fn name_of(node: &Node) -> String {
    node.metadata.name.clone().unwrap_or_default()
}

fn node_is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// What a node that has it waits for no longer holds the rollout up.
fn settled(w: Waiting) -> bool {
    matches!(
        w,
        Waiting::Nothing
            | Waiting::NotScheduled
            | Waiting::Partition
            | Waiting::NodeSelector
            | Waiting::NodeReady
    )
}

impl World<'_> {
    fn run(&mut self) -> Forecast {
        let t0 = self.start.now;
        let mut now = t0;
        let risks = self.risks(now);
        let (desired, complete) = loop {
            self.sync_until_quiet(now);
            let (desired, complete, _) = self.look(now);
            if complete {
                break (desired, true);
            }
            // The next happening, and those that fold into the same sync.
            let Some(Reverse((at, _, _))) = self.queue.peek() else { break (desired, false) };
            if at.duration_since(t0) > HORIZON {
                break (desired, false);
            }
            let until = *at + FOLD;
            now = now.max(*at);
            while let Some(Reverse((at, _, _))) = self.queue.peek() {
                if *at > until {
                    break;
                }
                let Reverse((at, _, happening)) = self.queue.pop().expect("peeked");
                now = now.max(at);
                self.happen(happening, at);
            }
        };
        let blocked = if complete { Vec::new() } else { self.look(now).2 };
        let secs = |t: &Timestamp| t.duration_since(t0).as_secs_f64();
        let mut nodes: Vec<NodePlan> = self
            .start
            .nodes
            .iter()
            .map(name_of)
            .filter(|n| self.started.contains_key(n) || self.done.contains_key(n))
            .map(|n| NodePlan {
                start: self.started.get(&n).map(secs),
                done: self.done.get(&n).map(secs),
                node: n,
            })
            .collect();
        nodes.sort_by(|a, b| a.start.partial_cmp(&b.start).unwrap().then_with(|| a.node.cmp(&b.node)));
        let mut waves: Vec<Wave> = Vec::new();
        for n in nodes.iter().filter(|n| n.start.is_some()) {
            match waves.last_mut() {
                Some(w) if Some(w.start) == n.start => {
                    w.nodes.push(n.node.clone());
                    w.end = w.end.zip(n.done).map(|(a, b)| a.max(b));
                }
                _ => waves.push(Wave { start: n.start.unwrap(), end: n.done, nodes: vec![n.node.clone()] }),
            }
        }
        Forecast {
            desired,
            duration: complete.then(|| secs(&now)),
            waves,
            nodes,
            blocked,
            risks,
            syncs: self.syncs,
        }
    }

    fn context(&self, now: Timestamp) -> (Vec<&Pod>, Timestamp) {
        (self.pods.values().collect(), now)
    }

    /// Syncs as the controller does after each of its own actions, until one changes nothing.
    fn sync_until_quiet(&mut self, now: Timestamp) {
        for _ in 0..10_000 {
            let decision = {
                let pods: Vec<&Pod> = self.pods.values().collect();
                let facts = crate::pod_facts::of_each(pods.iter().copied());
                let ctx = SyncContext::new(
                    self.ds,
                    &self.hash,
                    self.start.nodes,
                    pods.into_iter().zip(&facts),
                    now,
                );
                let manage = ctx.manage(&mut self.backoff);
                if manage.is_empty() && is_rolling_update(self.ds) {
                    let mut step = ctx.rolling_update_with(&self.controls);
                    step.requeue_after = step.requeue_after.or(manage.requeue_after);
                    step
                } else {
                    manage
                }
            };
            self.syncs += 1;
            if let Some(after) = decision.requeue_after {
                self.schedule(now + after, Happening::Wake);
            }
            if decision.is_empty() {
                return;
            }
            self.carry_out(decision.capped(BURST), now);
        }
    }

    fn schedule(&mut self, at: Timestamp, happening: Happening) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, happening)));
    }

    fn mark_started(&mut self, node: &str, now: Timestamp) {
        self.started.entry(node.to_string()).or_insert(now);
    }

    /// Schedules a pod's readiness on `node`, unless the node is not Ready.
    fn schedule_ready(&mut self, pod: String, node: &str, now: Timestamp) {
        if self.ready_nodes.get(node).copied().unwrap_or(false) {
            let at = now + self.timing.ready_on(node);
            self.schedule(at, Happening::Ready(pod));
        }
    }

    fn carry_out(&mut self, d: Decision, now: Timestamp) {
        let template = daemon_pod_template(self.ds, &self.hash);
        for node in &d.create_on {
            let mut pod = new_daemon_pod(self.ds, &template, node);
            let prefix = pod.metadata.generate_name.clone().unwrap_or_default();
            let name = loop {
                self.seq += 1;
                let name = format!("{prefix}{}", self.seq);
                if !self.pods.contains_key(&name) {
                    break name;
                }
            };
            pod.metadata.name = Some(name.clone());
            pod.metadata.uid = Some(format!("forecast-{}", self.seq));
            pod.metadata.creation_timestamp = Some(Time(now));
            pod.status = Some(PodStatus { phase: Some("Pending".into()), ..Default::default() });
            self.pods.insert(name.clone(), pod);
            self.mark_started(node, now);
            self.schedule_ready(name, node, now);
        }
        for name in &d.delete {
            let Some(pod) = self.pods.get_mut(name) else { continue };
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            pod.metadata.deletion_timestamp = Some(Time(now));
            let node = target_node_name(pod).unwrap_or_default().to_string();
            if !node.is_empty() {
                self.mark_started(&node, now);
            }
            self.schedule(now + self.timing.stop, Happening::Gone(name.clone()));
        }
        if !d.in_place.is_empty() {
            let patch = crate::in_place::patch(&template);
            for name in &d.in_place {
                let Some(pod) = self.pods.get_mut(name) else { continue };
                let Ok(value) = serde_json::to_value(&*pod) else { continue };
                let Ok(patched) = apimachinery::strategic_merge::strategic_merge_patch(
                    &value,
                    &patch,
                    apimachinery::strategic_merge::POD,
                ) else {
                    continue;
                };
                let Ok(updated) = serde_json::from_value::<Pod>(patched) else { continue };
                *pod = updated;
                set_ready(pod, false, now);
                let node = target_node_name(pod).unwrap_or_default().to_string();
                self.mark_started(&node, now);
                self.schedule_ready(name.clone(), &node, now);
            }
        }
    }

    fn happen(&mut self, happening: Happening, at: Timestamp) {
        match happening {
            Happening::Ready(name) => {
                let Some(pod) = self.pods.get_mut(&name) else { return };
                if pod.metadata.deletion_timestamp.is_some() {
                    return;
                }
                set_ready(pod, true, at);
                if self.min_ready > SignedDuration::ZERO {
                    // Available strictly after minReadySeconds: the controller's requeue.
                    let later = at + self.min_ready + SignedDuration::from_millis(1);
                    self.schedule(later, Happening::Wake);
                }
            }
            Happening::Gone(name) => {
                self.pods.remove(&name);
            }
            Happening::Wake => {}
        }
    }

    /// How far the rollout is at `now`: the desired count, whether it is complete, and what
    /// every unsettled node waits for. Records the nodes newly done.
    fn look(&mut self, now: Timestamp) -> (i32, bool, Vec<Blocker>) {
        let (standing, waits, desired): (Vec<(String, bool, bool)>, Vec<Waiting>, i32) = {
            let (pods, now) = self.context(now);
            let facts = crate::pod_facts::of_each(pods.iter().copied());
            let ctx =
                SyncContext::new(self.ds, &self.hash, self.start.nodes, pods.into_iter().zip(&facts), now);
            let standing = ctx.rollout_standing(&self.controls);
            let (_, _, desired) = ctx.rollout_budget();
            let waits = waiting(&self.controls, &standing, desired);
            let rows = standing.iter().map(|s| (s.node.to_string(), s.node_ready, s.should_run)).collect();
            (rows, waits, desired)
        };
        let mut blocked = Vec::new();
        for ((node, node_ready, should_run), wait) in standing.iter().zip(&waits) {
            if *wait == Waiting::Nothing && *should_run {
                self.done.entry(node.clone()).or_insert(now);
            }
            if settled(*wait) {
                continue;
            }
            let reason = match wait {
                Waiting::NewPodAvailable | Waiting::Creation if !node_ready => {
                    "node is NotReady: its new pod cannot become ready, and counts against the budget"
                        .to_string()
                }
                other => format!("waits for {other}"),
            };
            blocked.push(Blocker { node: node.clone(), reason });
        }
        (desired, blocked.is_empty(), blocked)
    }

    /// What will slow the rollout down, seen at its start.
    fn risks(&self, now: Timestamp) -> Vec<Blocker> {
        let (pods, now) = self.context(now);
        let facts = crate::pod_facts::of_each(pods.iter().copied());
        let ctx = SyncContext::new(self.ds, &self.hash, self.start.nodes, pods.into_iter().zip(&facts), now);
        let mut out = Vec::new();
        for s in ctx.rollout_standing(&self.controls) {
            if !s.should_run {
                continue;
            }
            if !s.node_ready {
                out.push(Blocker {
                    node: s.node.to_string(),
                    reason: "node is NotReady: a new pod there cannot become ready".into(),
                });
            } else if let PodState::Old(old) = s.state
                && !is_available(old, self.min_ready.as_secs() as i32, now)
            {
                out.push(Blocker {
                    node: s.node.to_string(),
                    reason: "its pod is already unavailable: replaced first, within the budget".into(),
                });
            }
        }
        out
    }
}

/// Sets a pod's Ready condition, running the images its spec names.
fn set_ready(pod: &mut Pod, ready: bool, at: Timestamp) {
    let node = target_node_name(pod).map(str::to_string);
    let containers: Vec<(String, String)> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    if let Some(spec) = pod.spec.as_mut()
        && spec.node_name.is_none()
    {
        spec.node_name = node;
    }
    let status = pod.status.get_or_insert_with(Default::default);
    status.phase = Some("Running".into());
    if ready {
        status.container_statuses = Some(
            containers
                .into_iter()
                .map(|(name, image)| ContainerStatus { name, image, ready: true, ..Default::default() })
                .collect(),
        );
    }
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    conditions.retain(|c| c.type_ != "Ready");
    conditions.push(PodCondition {
        type_: "Ready".into(),
        status: if ready { "True" } else { "False" }.into(),
        last_transition_time: Some(Time(at)),
        ..Default::default()
    });
}
