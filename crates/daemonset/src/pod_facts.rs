//! What a sync reads of one daemon pod, taken once per version of the pod.
//!
//! A sync looks at every pod of its DaemonSet, and a rollout at 50,000 nodes runs hundreds of
//! syncs. Reading the pods' own objects each time (label maps, conditions, node affinity) was
//! most of a sync's cost, nearly every read a cache miss. A controller takes these facts when
//! a version of a pod arrives and keeps them beside it; [`crate::SyncContext`] reads only them,
//! and the pod itself only to name one it acts on. Each fact is what `crate::pod` and
//! `apimachinery::core::pod` read from the pod, and the tests below hold them to that; whether
//! a pod runs the current template (upstream `IsPodUpdated`) and the order of a node's pods
//! (`podByCreationTimestampAndPhase`) are judged here only.

use std::cmp::Ordering;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::ownership::controller_of;
use crate::pod::{CONTROLLER_REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL, target_node_name};
use apimachinery::core::pod::{Readiness, is_terminating, phase, ready_since};

/// A pod's phase as a sync tells phases apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Failed,
    Succeeded,
    /// Pending, Running, Unknown, or none yet.
    Active,
}

/// The facts of one version of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodFacts {
    /// Upstream `GetTargetNodeName`: `spec.nodeName`, else the node its affinity pins it to.
    pub target_node: Option<Box<str>>,
    /// `spec.nodeName` is set.
    pub scheduled: bool,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    pub phase: Phase,
    /// The Ready condition is True: `Some`, with its `lastTransitionTime` if it has one.
    ready_since: Option<Option<Timestamp>>,
    created: Option<Timestamp>,
    revision_hash: Option<Box<str>>,
    template_generation: Option<Box<str>>,
    /// The uid of its controller (the owner reference with `controller: true`).
    pub controller_uid: Option<Box<str>>,
}

impl PodFacts {
    pub fn of(pod: &Pod) -> PodFacts {
        let labels = pod.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map(|v| Box::from(v.as_str()));
        PodFacts {
            target_node: target_node_name(pod).map(Box::from),
            scheduled: pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty()),
            terminating: is_terminating(pod),
            phase: match phase(pod) {
                "Failed" => Phase::Failed,
                "Succeeded" => Phase::Succeeded,
                _ => Phase::Active,
            },
            ready_since: ready_since(pod),
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
            revision_hash: label(CONTROLLER_REVISION_HASH_LABEL),
            template_generation: label(TEMPLATE_GENERATION_LABEL),
            controller_uid: controller_of(&pod.metadata).map(|o| Box::from(o.uid.as_str())),
        }
    }

    /// Failed or Succeeded.
    pub fn is_terminal(&self) -> bool {
        self.phase != Phase::Active
    }

    pub fn is_ready(&self) -> bool {
        self.ready_since.is_some()
    }

    /// [`apimachinery::core::pod::readiness`].
    pub fn readiness(&self, min_ready_seconds: i32, now: Timestamp) -> Readiness {
        Readiness::since(self.ready_since, min_ready_seconds, now)
    }

    /// The `controller-revision-hash` label.
    pub fn revision_hash(&self) -> Option<&str> {
        self.revision_hash.as_deref()
    }

    /// Upstream `IsPodUpdated`, with the current template generation already formatted as its
    /// label value.
    pub fn is_updated(&self, hash: &str, generation_label: Option<&str>) -> bool {
        (!hash.is_empty() && self.revision_hash.as_deref() == Some(hash))
            || generation_label.is_some_and(|g| self.template_generation.as_deref() == Some(g))
    }
}

/// Upstream `podByCreationTimestampAndPhase`: scheduled pods first, then older, then by name
/// (the pods read only for their names, on a tie).
pub fn oldest_first(a: (&Pod, &PodFacts), b: (&Pod, &PodFacts)) -> Ordering {
    b.1.scheduled
        .cmp(&a.1.scheduled)
        .then_with(|| a.1.created.cmp(&b.1.created))
        .then_with(|| a.0.metadata.name.cmp(&b.0.metadata.name))
}

/// The facts of each pod, in order: for callers that hold pods, not facts.
pub fn of_each<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Vec<PodFacts> {
    pods.into_iter().map(PodFacts::of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::{CONTROLLER_REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL, revision_hash};
    use apimachinery::core::pod::{is_ready, is_terminal, readiness};
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn pods() -> Vec<Pod> {
        let ready = |status: &str, at: Option<&str>| {
            let mut c = json!({"type": "Ready", "status": status});
            if let Some(at) = at {
                c["lastTransitionTime"] = json!(at);
            }
            c
        };
        vec![
            pod(json!({"metadata": {"name": "a", "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u0"},
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "u1", "controller": true}]}})),
            pod(json!({"metadata": {"name": "b", "creationTimestamp": "2026-01-01T00:00:01Z",
                "labels": {"controller-revision-hash": "h1", "pod-template-generation": "2"}},
                "spec": {"containers": [], "nodeName": "n1"},
                "status": {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}, ready("True", Some("2026-01-01T00:00:10Z"))]}})),
            pod(json!({"metadata": {"name": "c", "creationTimestamp": "2026-01-01T00:00:01Z",
                "deletionTimestamp": "2026-01-01T00:01:00Z", "labels": {"controller-revision-hash": "h2"}},
                "spec": {"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                    {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}},
                "status": {"phase": "Failed", "conditions": [ready("False", Some("2026-01-01T00:00:10Z"))]}})),
            pod(
                json!({"metadata": {"name": "d", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"pod-template-generation": "3"}},
                "spec": {"containers": [], "nodeName": ""}, "status": {"phase": "Succeeded", "conditions": [ready("True", None)]}}),
            ),
            pod(json!({"metadata": {"name": "e", "creationTimestamp": "2026-01-01T00:00:01Z"},
                "spec": {"containers": [], "nodeName": "n1"}, "status": {"phase": "Pending"}})),
        ]
    }

    #[test]
    fn facts_read_what_the_pod_functions_read() {
        let now: Timestamp = "2026-01-01T00:00:20Z".parse().unwrap();
        for p in &pods() {
            let f = PodFacts::of(p);
            assert_eq!(f.target_node.as_deref(), target_node_name(p));
            assert_eq!(f.terminating, is_terminating(p));
            assert_eq!(f.is_terminal(), is_terminal(p));
            assert_eq!(f.is_ready(), is_ready(p));
            assert_eq!(f.revision_hash(), revision_hash(p));
            assert_eq!(f.controller_uid.as_deref(), controller_of(&p.metadata).map(|o| o.uid.as_str()));
            for min_ready in [0, 5, 10, 30] {
                assert_eq!(
                    f.readiness(min_ready, now),
                    readiness(p, min_ready, now),
                    "{:?} {min_ready}",
                    p.metadata.name
                );
            }
        }
    }

    #[test]
    fn updated_by_hash_or_generation() {
        let p = pod(
            json!({"metadata": {"name": "p", "labels": {CONTROLLER_REVISION_HASH_LABEL: "h1", TEMPLATE_GENERATION_LABEL: "2"}}}),
        );
        let f = PodFacts::of(&p);
        assert!(f.is_updated("h1", Some("5")));
        assert!(f.is_updated("h2", Some("2")));
        assert!(!f.is_updated("h2", Some("3")));
        assert!(!f.is_updated("", None));
        let unlabelled = PodFacts::of(&pod(json!({"metadata": {"name": "q"}})));
        assert!(!unlabelled.is_updated("h1", Some("2")));
    }

    #[test]
    fn ordering_puts_scheduled_and_older_first() {
        let a = pod(
            json!({"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:02Z"}, "spec": {"containers": [], "nodeName": "n"}}),
        );
        let b = pod(
            json!({"metadata": {"name": "b", "creationTimestamp": "2026-01-01T00:00:01Z"}, "spec": {"containers": []}}),
        );
        let c = pod(
            json!({"metadata": {"name": "c", "creationTimestamp": "2026-01-01T00:00:01Z"}, "spec": {"containers": [], "nodeName": "n"}}),
        );
        let d = pod(
            json!({"metadata": {"name": "d", "creationTimestamp": "2026-01-01T00:00:01Z"}, "spec": {"containers": [], "nodeName": "n"}}),
        );
        let facts = of_each([&b, &a, &d, &c]);
        let mut v: Vec<(&Pod, &PodFacts)> = [&b, &a, &d, &c].into_iter().zip(&facts).collect();
        v.sort_by(|x, y| oldest_first(*x, *y));
        let names: Vec<_> = v.iter().map(|(p, _)| p.metadata.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["c", "d", "a", "b"]);
    }
}
