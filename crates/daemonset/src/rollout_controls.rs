//! Rollout controls beyond upstream, on the native DaemonSet: opt-in annotations under
//! `rollout.everynode.io/` that everynode's controller reads. Without any of them a rollout is
//! exactly upstream's; each narrows which old pods a RollingUpdate step may replace, and how
//! unavailability is counted:
//!
//! - `paused: "true"` — no pod is deleted or replaced for the update. Pods that are missing
//!   (a new node, a deleted pod) are still created, from the current template: a pause holds
//!   the replacement of running pods back, not the DaemonSet's spec.
//! - `partition: N` or `"N%"` — that many of the nodes that should run a pod (a percentage
//!   rounds up) stay on their old revision; nodes are updated in the order of their names, so
//!   the last ones by name are held. Lowering it continues the rollout.
//! - `node-selector: SELECTOR` — a label selector (`zone=a`, `tier in (canary)`): only the
//!   pods of matching nodes are updated.
//! - `not-ready-nodes: Skip` — pods on nodes whose Ready condition is not True neither count
//!   against `maxUnavailable` nor are replaced, so such nodes do not stall the rollout.
//!   `Count` (the default) is upstream's.
//! - `wave-label: LABEL` — nodes are updated in waves, one per value of the node label (a
//!   zone, a rack), in the order of the values: no node of a wave is touched before every
//!   node of the waves before it runs an available pod of the current revision. Nodes without
//!   the label come last.
//! - `progress-deadline-seconds: N`, `max-restarts: N` — a health gate: when a pod of the
//!   current revision is not available N seconds after it was created, or its containers
//!   restarted more than N times, the rollout halts itself: the controller sets `paused` and
//!   says why in `halted` (and an event), or, with `on-failure: Rollback`, rolls the
//!   DaemonSet back to its previous revision as `kubectl rollout undo` would.
//! - `in-place: "true"` — with `maxUnavailable` (no surge), an old pod whose revision
//!   differs from the current one only in container images (and template labels and
//!   annotations) is updated in place ([`crate::in_place`]) instead of replaced.
//! - `strict-budget: "true"` — never more than `maxUnavailable` nodes unavailable: old pods
//!   that are already unavailable are replaced within the budget too, where upstream replaces
//!   them all at once.
//!
//! Pods a control holds back are never replaced, even when unavailable.

use std::collections::BTreeMap;

use apimachinery::labels::Selector;
use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetCondition, DaemonSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use k8s_openapi::api::core::v1::Pod;

use crate::sync::{NodeStanding, PodState};
use apimachinery::core::pod::is_available;

/// The annotations' common prefix.
pub const PREFIX: &str = "rollout.everynode.io/";
pub const PAUSED: &str = "rollout.everynode.io/paused";
pub const PARTITION: &str = "rollout.everynode.io/partition";
pub const NODE_SELECTOR: &str = "rollout.everynode.io/node-selector";
pub const NOT_READY_NODES: &str = "rollout.everynode.io/not-ready-nodes";
pub const STRICT_BUDGET: &str = "rollout.everynode.io/strict-budget";
pub const WAVE_LABEL: &str = "rollout.everynode.io/wave-label";
pub const PROGRESS_DEADLINE: &str = "rollout.everynode.io/progress-deadline-seconds";
pub const MAX_RESTARTS: &str = "rollout.everynode.io/max-restarts";
pub const ON_FAILURE: &str = "rollout.everynode.io/on-failure";
/// Why the health gate halted the rollout (written by the controller with `paused`).
pub const HALTED: &str = "rollout.everynode.io/halted";
pub const IN_PLACE: &str = "rollout.everynode.io/in-place";

const KNOWN: [&str; 11] = [
    IN_PLACE,
    PAUSED,
    PARTITION,
    NODE_SELECTOR,
    NOT_READY_NODES,
    STRICT_BUDGET,
    WAVE_LABEL,
    PROGRESS_DEADLINE,
    MAX_RESTARTS,
    ON_FAILURE,
    HALTED,
];

/// What the health gate does when it trips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Pause the rollout.
    #[default]
    Pause,
    /// Roll back to the previous revision.
    Rollback,
}

/// How pods on NotReady nodes count in a rollout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NotReadyNodes {
    /// Upstream's: they count against the budget like any unavailable pod.
    #[default]
    Count,
    /// Left out: not counted, not replaced.
    Skip,
}

/// The rollout controls a DaemonSet's annotations set.
#[derive(Clone, Debug, Default)]
pub struct RolloutControls {
    pub paused: bool,
    pub partition: Option<IntOrString>,
    pub node_selector: Option<Selector>,
    /// The node label whose values make the waves.
    pub wave_label: Option<String>,
    pub not_ready_nodes: NotReadyNodes,
    pub strict_budget: bool,
    /// The health gate: how long a new pod may take to become available, and how many
    /// restarts it may have.
    pub progress_deadline_seconds: Option<u32>,
    pub max_restarts: Option<u32>,
    pub on_failure: OnFailure,
    /// Why the health gate halted the rollout, if it did.
    pub halted: Option<String>,
    /// Update pods in place where their revision allows it.
    pub in_place: bool,
    /// The revision hashes whose pods can be updated in place to the current revision (the
    /// caller fills them from the DaemonSet's revisions, [`crate::in_place::compatible`]).
    pub in_place_hashes: std::collections::BTreeSet<String>,
    /// An annotation of the controls is present (`paused: "false"` included): the rollout's
    /// conditions are reported.
    pub reported: bool,
}

impl RolloutControls {
    /// The controls of `ds`, or the errors naming each annotation that is not understood.
    pub fn of(ds: &DaemonSet) -> Result<RolloutControls, FieldErrors> {
        let empty = BTreeMap::new();
        let annotations = ds.metadata.annotations.as_ref().unwrap_or(&empty);
        let mut errs = Vec::new();
        let mut c = RolloutControls {
            reported: annotations.keys().any(|k| k.starts_with(PREFIX)),
            ..RolloutControls::default()
        };
        let path = |key: &str| Path::new("metadata").child("annotations").key(key);
        let boolean = |key: &str, errs: &mut FieldErrors| match annotations.get(key).map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                errs.push(FieldError::not_supported(&path(key), other, &["true", "false"]));
                false
            }
        };
        c.paused = boolean(PAUSED, &mut errs);
        c.strict_budget = boolean(STRICT_BUDGET, &mut errs);
        c.in_place = boolean(IN_PLACE, &mut errs);
        if let Some(v) = annotations.get(PARTITION) {
            match parse_partition(v) {
                Some(p) => c.partition = Some(p),
                None => errs.push(FieldError::invalid(
                    &path(PARTITION),
                    v.as_str(),
                    "must be a non-negative integer or percentage (e.g. 3 or \"25%\")",
                )),
            }
        }
        if let Some(v) = annotations.get(NODE_SELECTOR) {
            match Selector::parse(v) {
                Ok(s) => c.node_selector = Some(s),
                Err(e) => errs.push(FieldError::invalid(&path(NODE_SELECTOR), v.as_str(), e.to_string())),
            }
        }
        if let Some(v) = annotations.get(WAVE_LABEL) {
            let problems = apimachinery::validation::is_qualified_name(v);
            if problems.is_empty() {
                c.wave_label = Some(v.clone());
            } else {
                errs.push(FieldError::invalid(&path(WAVE_LABEL), v.as_str(), problems.join("; ")));
            }
        }
        let count = |key: &str, min: u32, errs: &mut FieldErrors| {
            let v = annotations.get(key)?;
            match v.parse::<u32>() {
                Ok(n) if n >= min => Some(n),
                _ => {
                    errs.push(FieldError::invalid(
                        &path(key),
                        v.as_str(),
                        format!("must be an integer of at least {min}"),
                    ));
                    None
                }
            }
        };
        c.progress_deadline_seconds = count(PROGRESS_DEADLINE, 1, &mut errs);
        c.max_restarts = count(MAX_RESTARTS, 0, &mut errs);
        match annotations.get(ON_FAILURE).map(String::as_str) {
            None | Some("Pause") => {}
            Some("Rollback") => c.on_failure = OnFailure::Rollback,
            Some(other) => {
                errs.push(FieldError::not_supported(&path(ON_FAILURE), other, &["Pause", "Rollback"]))
            }
        }
        c.halted = annotations.get(HALTED).cloned();
        match annotations.get(NOT_READY_NODES).map(String::as_str) {
            None | Some("Count") => {}
            Some("Skip") => c.not_ready_nodes = NotReadyNodes::Skip,
            Some(other) => {
                errs.push(FieldError::not_supported(&path(NOT_READY_NODES), other, &["Count", "Skip"]))
            }
        }
        for key in annotations.keys().filter(|k| k.starts_with(PREFIX) && !KNOWN.contains(&k.as_str())) {
            let known: Vec<&str> = KNOWN.iter().map(|k| &k[PREFIX.len()..]).collect();
            errs.push(FieldError::not_supported(&path(key), key.as_str(), &known));
        }
        if errs.is_empty() { Ok(c) } else { Err(errs) }
    }

    /// No control is set: the rollout is upstream's.
    pub fn is_upstream(&self) -> bool {
        !self.paused
            && self.partition.is_none()
            && self.node_selector.is_none()
            && self.wave_label.is_none()
            && !self.in_place
            && self.not_ready_nodes == NotReadyNodes::Count
            && !self.strict_budget
    }

    /// Whether a health gate is set.
    pub fn gated(&self) -> bool {
        self.progress_deadline_seconds.is_some() || self.max_restarts.is_some()
    }

    /// How many of `desired` nodes stay on the old revision.
    pub fn partition_of(&self, desired: i32) -> i32 {
        crate::sync::scaled_value(self.partition.as_ref(), desired).clamp(0, desired)
    }

    /// Whether the pod of a node with these labels may be updated.
    /// The wave of a node with these labels (`None`: the last one, of nodes without the label).
    pub fn wave_of<'l>(&self, labels: Option<&'l BTreeMap<String, String>>) -> Option<&'l str> {
        let label = self.wave_label.as_ref()?;
        labels.and_then(|l| l.get(label)).map(String::as_str)
    }

    pub fn in_scope(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let empty = BTreeMap::new();
        self.node_selector.as_ref().is_none_or(|s| s.matches(labels.unwrap_or(&empty)))
    }
}

/// Why each pod of the current revision fails the health gate at `now` (none without one):
/// `pods` are the DaemonSet's updated pods that are not being deleted.
pub fn health_failures(
    controls: &RolloutControls,
    pods: &[&Pod],
    min_ready_seconds: i32,
    now: Timestamp,
) -> Vec<String> {
    let mut out = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let restarts: i32 = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map_or(0, |c| c.iter().map(|c| c.restart_count).sum());
        if let Some(max) = controls.max_restarts
            && restarts > max as i32
        {
            out.push(format!("pod {name} restarted {restarts} times (at most {max})"));
            continue;
        }
        if let Some(deadline) = controls.progress_deadline_seconds
            && let Some(created) = pod.metadata.creation_timestamp.as_ref()
            && !is_available(pod, min_ready_seconds, now)
            && now.duration_since(created.0).as_secs() >= i64::from(deadline)
        {
            out.push(format!("pod {name} not available {deadline}s after it was created"));
        }
    }
    out
}

/// The condition types the controls maintain on `status.conditions`.
pub const PAUSED_CONDITION: &str = "Paused";
pub const COMPLETE_CONDITION: &str = "RolloutComplete";
pub const STUCK_CONDITION: &str = "RolloutStuck";
pub const PROGRESSING_CONDITION: &str = "Progressing";

/// Container waiting reasons that do not pass by themselves.
const FAILING: [&str; 5] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
];

/// `status.conditions` as the controls leave them: `Paused` while paused (False, `Resumed`,
/// once resumed); `Progressing` as a Deployment's (True `RevisionUpdating` or
/// `NewRevisionAvailable`, Unknown `RolloutPaused`, False `RolloutStuck`), its message saying
/// how far the rollout is and which wave and controls it goes by; `RolloutStuck` (see
/// [`stuck`]); and `RolloutComplete`, True once every node that should run a pod runs an
/// available one of the current revision, else False with the reason it is not (yet):
/// `Paused`, `Partitioned`, `NodeSelector`, `NotReadyNodes` or `Progressing`. Without control
/// annotations these conditions go and the others stay, so a DaemonSet without annotations keeps
/// upstream's status. A condition's transition time moves only when its status does.
/// `standing` is [`crate::SyncContext::rollout_standing`], needed only while reported.
pub fn conditions(
    controls: &RolloutControls,
    standing: &[NodeStanding<'_>],
    status: &DaemonSetStatus,
    now: Timestamp,
) -> Option<Vec<DaemonSetCondition>> {
    let previous = status.conditions.clone().unwrap_or_default();
    let mut out: Vec<DaemonSetCondition> = previous
        .iter()
        .filter(|c| {
            ![PAUSED_CONDITION, PROGRESSING_CONDITION, COMPLETE_CONDITION, STUCK_CONDITION]
                .contains(&c.type_.as_str())
        })
        .cloned()
        .collect();
    if !controls.reported {
        let ours = previous.len() != out.len();
        return if ours { (!out.is_empty()).then_some(out) } else { status.conditions.clone() };
    }
    let truth = |ok: bool| if ok { "True" } else { "False" };
    let mut set = |type_: &str, status: &str, reason: &str, message: String| {
        let was = previous.iter().find(|c| c.type_ == type_);
        let last_transition_time = match was {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => Some(Time(now)),
        };
        out.push(DaemonSetCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: Some(reason.to_string()),
            message: Some(message),
            last_transition_time,
        });
    };
    let was_paused = previous.iter().any(|c| c.type_ == PAUSED_CONDITION);
    if let (true, Some(why)) = (controls.paused, &controls.halted) {
        set(PAUSED_CONDITION, "True", "HealthGate", format!("halted by the health gate: {why}"));
    } else if controls.paused {
        set(
            PAUSED_CONDITION,
            "True",
            "Paused",
            format!("{PAUSED} is \"true\": no pod is replaced for the update"),
        );
    } else if was_paused {
        set(PAUSED_CONDITION, "False", "Resumed", "the rollout goes on".to_string());
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    let old = |f: &dyn Fn(&NodeStanding<'_>) -> bool| {
        standing.iter().filter(|s| s.should_run && matches!(s.state, PodState::Old(_)) && f(s)).count()
    };
    let (old_total, out_of_scope, skipped) = (old(&|_| true), old(&|s| !s.in_scope), old(&|s| s.skipped));
    let held = controls.partition_of(desired).min(old_total as i32);
    let (ok, reason, message) = if updated == desired && available == desired && old_total == 0 {
        (true, "Complete", format!("{updated} of {desired} nodes updated and available"))
    } else if controls.paused {
        (false, "Paused", format!("paused with {updated} of {desired} nodes updated"))
    } else if old_total > 0 && held as usize == old_total {
        (false, "Partitioned", format!("{held} of {desired} nodes held on the old revision by {PARTITION}"))
    } else if old_total > 0 && out_of_scope + held as usize >= old_total {
        (false, "NodeSelector", format!("{out_of_scope} nodes outside {NODE_SELECTOR} keep the old revision"))
    } else if old_total > 0 && skipped + out_of_scope + held as usize >= old_total {
        (
            false,
            "NotReadyNodes",
            format!("{skipped} NotReady nodes keep the old revision until they are Ready"),
        )
    } else {
        (false, "Progressing", format!("{updated} of {desired} nodes updated, {available} available"))
    };
    let stuck = if ok { None } else { stuck(controls, standing, desired) };
    let (stuck_reason, stuck_message) = match &stuck {
        Some(why) => ("Blocked", why.clone()),
        None => (reason, "the rollout is not blocked".to_string()),
    };
    // Progressing, as a Deployment's: how the rollout goes, and the controls it goes by.
    let mut how = vec![format!("{updated} of {desired} nodes updated, {available} available")];
    if let (Some(label), Some(wave)) = (&controls.wave_label, current_wave(standing)) {
        how.push(match wave {
            Some(value) => format!("wave {label}={value}"),
            None => format!("the nodes without {label}"),
        });
    }
    if controls.in_place {
        how.push("pods updated in place where only images change".to_string());
    }
    if controls.strict_budget {
        how.push("strict budget".to_string());
    }
    let (progressing, progress_reason) = if ok {
        ("True", "NewRevisionAvailable")
    } else if controls.paused {
        ("Unknown", "RolloutPaused")
    } else if stuck.is_some() {
        ("False", "RolloutStuck")
    } else {
        ("True", "RevisionUpdating")
    };
    set(PROGRESSING_CONDITION, progressing, progress_reason, how.join("; "));
    set(COMPLETE_CONDITION, truth(ok), reason, message);
    set(STUCK_CONDITION, truth(stuck.is_some()), stuck_reason, stuck_message);
    Some(out)
}

/// Why the rollout cannot go on by itself, if it cannot: old pods wait for their turn while
/// everything that holds the budget fails in a way that does not pass (containers crash
/// looping or failing to pull, or nodes that are not Ready).
fn stuck(controls: &RolloutControls, standing: &[NodeStanding<'_>], desired: i32) -> Option<String> {
    if controls.paused || !waiting(controls, standing, desired).contains(&Waiting::Budget) {
        return None;
    }
    let blocking: Vec<&NodeStanding<'_>> = standing
        .iter()
        .filter(|s| !s.skipped && s.should_run)
        .filter(|s| match s.state {
            PodState::Old(_) | PodState::Updated => !s.available,
            PodState::Both { new_available, .. } => !new_available,
            PodState::Missing | PodState::Several => true,
        })
        .collect();
    let failing_reason = |s: &NodeStanding<'_>| -> Option<String> {
        let statuses = s.pod?.status.as_ref()?.container_statuses.as_ref()?;
        statuses.iter().find_map(|c| {
            let reason = c.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
            FAILING.contains(&reason.as_str()).then_some(reason)
        })
    };
    let mut failing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut not_ready = Vec::new();
    for s in &blocking {
        if !s.node_ready {
            not_ready.push(s.node.to_string());
        } else if let Some(reason) = failing_reason(s) {
            let name = s.pod.and_then(|p| p.metadata.name.clone()).unwrap_or_default();
            failing.entry(reason).or_default().push(name);
        } else {
            return None;
        }
    }
    if blocking.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = failing
        .iter()
        .map(|(reason, pods)| format!("{} pods in {reason} ({})", pods.len(), pods.join(", ")))
        .collect();
    if !not_ready.is_empty() {
        parts.push(format!("{} pods on NotReady nodes ({})", not_ready.len(), not_ready.join(", ")));
    }
    Some(format!("{} pods hold the budget and do not recover: {}", blocking.len(), parts.join("; ")))
}

/// What a node's pod waits for in a rollout, as `kubectl everynode status` tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Nothing: on the current revision and available.
    Nothing,
    /// A daemon pod to be created.
    Creation,
    /// The new pod to become available.
    NewPodAvailable,
    /// The old pod to go (its replacement is available).
    OldPodGone,
    /// Pods beyond one of a revision to go.
    ExtraPods,
    /// Its turn within `maxUnavailable` or `maxSurge`.
    Budget,
    /// The rollout to be resumed.
    Resume,
    /// The waves before its own to finish.
    Wave,
    /// The partition to be lowered.
    Partition,
    /// The node-selector control to match it.
    NodeSelector,
    /// Its node to be Ready again (`not-ready-nodes: Skip`).
    NodeReady,
    /// Nothing: it should not run a pod, and its pod is left to `manage`.
    NotScheduled,
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Waiting::Nothing | Waiting::NotScheduled => "-",
            Waiting::Creation => "pod creation",
            Waiting::NewPodAvailable => "new pod available",
            Waiting::OldPodGone => "old pod deletion",
            Waiting::ExtraPods => "extra pods deletion",
            Waiting::Budget => "its turn (budget)",
            Waiting::Resume => "resume",
            Waiting::Wave => "earlier waves",
            Waiting::Partition => "partition",
            Waiting::NodeSelector => "node-selector",
            Waiting::NodeReady => "node Ready",
        })
    }
}

/// What each node of `standing` (in its order) waits for: the controls' view of the same step
/// the controller takes, so the nodes a partition holds are the last old ones by name.
pub fn waiting(controls: &RolloutControls, standing: &[NodeStanding<'_>], desired: i32) -> Vec<Waiting> {
    let mut quota = partition_quota(controls, standing, desired);
    let wave = current_wave(standing);
    standing
        .iter()
        .map(|s| match s.state {
            _ if s.skipped => Waiting::NodeReady,
            PodState::Missing => Waiting::Creation,
            PodState::Several => Waiting::ExtraPods,
            PodState::Both { new_available: false, .. } => Waiting::NewPodAvailable,
            PodState::Both { new_available: true, .. } => Waiting::OldPodGone,
            PodState::Updated if s.available => Waiting::Nothing,
            PodState::Updated => Waiting::NewPodAvailable,
            PodState::Old(_) if !s.should_run => Waiting::NotScheduled,
            PodState::Old(_) if !s.in_scope => Waiting::NodeSelector,
            PodState::Old(_) if quota <= 0 => Waiting::Partition,
            PodState::Old(_) if wave.is_some_and(|w| s.wave != w) => {
                quota -= 1;
                Waiting::Wave
            }
            PodState::Old(_) => {
                quota -= 1;
                if controls.paused { Waiting::Resume } else { Waiting::Budget }
            }
        })
        .collect()
}

/// How many more nodes the partition lets leave their old revision.
pub fn partition_quota(controls: &RolloutControls, standing: &[NodeStanding<'_>], desired: i32) -> i32 {
    let old_nodes =
        standing.iter().filter(|s| s.should_run && matches!(s.state, PodState::Old(_))).count() as i32;
    (old_nodes - controls.partition_of(desired)).max(0)
}

/// The wave being updated: that of the first node in rollout order that takes part and does
/// not yet run an available pod of the current revision (`None`: every wave is done).
pub fn current_wave<'a>(standing: &[NodeStanding<'a>]) -> Option<Option<&'a str>> {
    standing
        .iter()
        .find(|s| {
            s.should_run && s.in_scope && !s.skipped && !matches!(s.state, PodState::Updated if s.available)
        })
        .map(|s| s.wave)
}

fn parse_partition(v: &str) -> Option<IntOrString> {
    if let Some(p) = v.strip_suffix('%') {
        return p.parse::<u32>().ok().map(|_| IntOrString::String(v.to_string()));
    }
    v.parse::<i32>().ok().filter(|n| *n >= 0).map(IntOrString::Int)
}

/// Validation of the annotations, as the API server applies it to DaemonSets it stores.
pub fn validate(ds: &DaemonSet) -> FieldErrors {
    RolloutControls::of(ds).err().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(annotations: &[(&str, &str)]) -> DaemonSet {
        let mut ds = DaemonSet::default();
        ds.metadata.annotations =
            Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        ds
    }

    #[test]
    fn no_annotation_is_upstream() {
        assert!(RolloutControls::of(&DaemonSet::default()).unwrap().is_upstream());
        assert!(RolloutControls::of(&ds(&[("other.io/x", "y")])).unwrap().is_upstream());
        assert!(RolloutControls::of(&ds(&[(PAUSED, "false")])).unwrap().is_upstream());
    }

    #[test]
    fn each_annotation_reads_as_its_control() {
        let c = RolloutControls::of(&ds(&[
            (PAUSED, "true"),
            (PARTITION, "25%"),
            (NODE_SELECTOR, "zone in (a,b)"),
            (NOT_READY_NODES, "Skip"),
            (STRICT_BUDGET, "true"),
        ]))
        .unwrap();
        assert!(c.paused && c.strict_budget && !c.is_upstream());
        assert_eq!(c.partition_of(10), 3, "a percentage rounds up");
        assert_eq!(c.not_ready_nodes, NotReadyNodes::Skip);
        let zone = |z: &str| BTreeMap::from([("zone".to_string(), z.to_string())]);
        assert!(c.in_scope(Some(&zone("b"))));
        assert!(!c.in_scope(Some(&zone("c"))));
        assert!(!c.in_scope(None));
        let n = RolloutControls::of(&ds(&[(PARTITION, "12")])).unwrap();
        assert_eq!((n.partition_of(20), n.partition_of(5)), (12, 5), "at most every node");
    }

    #[test]
    fn bad_values_name_their_annotation() {
        let errs = RolloutControls::of(&ds(&[
            (PAUSED, "yes"),
            (PARTITION, "-1"),
            (NODE_SELECTOR, "zone in ("),
            (NOT_READY_NODES, "Ignore"),
            ("rollout.everynode.io/pasued", "true"),
        ]))
        .unwrap_err();
        let messages: Vec<String> = errs.iter().map(FieldError::to_string).collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert!(
            messages[0]
                .starts_with("metadata.annotations[rollout.everynode.io/paused]: Unsupported value: \"yes\""),
            "{messages:#?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("rollout.everynode.io/partition]: Invalid value: \"-1\""))
        );
        assert!(messages.iter().any(|m| m.contains("rollout.everynode.io/pasued]: Unsupported value")));
    }

    #[test]
    fn the_health_gate_names_pods_that_restart_too_often_or_miss_their_deadline() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let pod = |name: &str, created: &str, ready: bool, restarts: i32| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "creationTimestamp": created},
                "status": {
                    "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                    "lastTransitionTime": created}],
                    "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": ready, "restartCount": restarts}],
                },
            }))
            .unwrap()
        };
        let slow = pod("slow", "2026-01-01T00:08:00Z", false, 0);
        let fresh = pod("fresh", "2026-01-01T00:09:30Z", false, 0);
        let crashing = pod("crashing", "2026-01-01T00:09:50Z", false, 3);
        let fine = pod("fine", "2026-01-01T00:00:00Z", true, 1);
        let pods = [&slow, &fresh, &crashing, &fine];
        let controls = RolloutControls::of(&ds(&[(PROGRESS_DEADLINE, "60"), (MAX_RESTARTS, "1")])).unwrap();
        assert!(controls.gated());
        assert_eq!(
            health_failures(&controls, &pods, 0, now),
            ["pod slow not available 60s after it was created", "pod crashing restarted 3 times (at most 1)",]
        );
        assert!(health_failures(&RolloutControls::default(), &pods, 0, now).is_empty(), "no gate");
        let bad = RolloutControls::of(&ds(&[(PROGRESS_DEADLINE, "0"), (ON_FAILURE, "Undo")])).unwrap_err();
        assert_eq!(bad.len(), 2);
    }
}
