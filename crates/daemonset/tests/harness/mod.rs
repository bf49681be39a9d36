//! A stand-in for upstream's test controller (`newTestController`, `expectSyncDaemonSets`):
//! one DaemonSet, nodes, and a pod store that creates and deletes take effect in at once, as
//! upstream's fake pod control does. A sync runs history, `manage`, then the rolling update
//! over the updated store, and writes status, exactly as a caught-up controller would.
#![allow(dead_code)]

use std::collections::BTreeMap;

use apimachinery::labels::Selector;
use daemonset::ownership::{Claim, claim};
use daemonset::pod::{daemon_pod_template, new_daemon_pod, target_node_name};
use daemonset::revision::plan_history;
use daemonset::sync::{BURST_REPLICAS, DaemonEvent, Decision, SkipReason, sync_guard};
use daemonset::{FailedPodBackoff, SyncContext};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

pub fn simple_daemon_set_label() -> Value {
    json!({"name": "simple-daemon", "type": "production"})
}

pub fn simple_daemon_set_label2() -> Value {
    json!({"name": "simple-daemon", "type": "test"})
}

pub fn simple_node_label() -> Value {
    json!({"color": "blue", "speed": "fast"})
}

/// Upstream `newDaemonSet`: namespace `default`, OnDelete, revisionHistoryLimit 2, generation 1.
pub fn new_daemon_set(name: &str) -> DaemonSet {
    let mut ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "generation": 1,
            "annotations": {"deprecated.daemonset.template.generation": "1"}},
        "spec": {
            "selector": {"matchLabels": simple_daemon_set_label()},
            "updateStrategy": {"type": "OnDelete"},
            "revisionHistoryLimit": 2,
            "template": {"metadata": {"labels": simple_daemon_set_label()},
                "spec": {"containers": [{"name": "foo", "image": "foo/bar", "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log"}], "dnsPolicy": "Default"}}}}))
    .unwrap();
    daemonset::defaults::set_defaults_daemonset(&mut ds);
    ds
}

pub fn update_strategies() -> Vec<DaemonSetUpdateStrategy> {
    vec![
        DaemonSetUpdateStrategy { type_: Some("OnDelete".into()), rolling_update: None },
        new_update_unavailable(IntOrString::Int(1)),
    ]
}

pub fn new_update_surge(v: IntOrString) -> DaemonSetUpdateStrategy {
    DaemonSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDaemonSet {
            max_unavailable: Some(IntOrString::Int(0)),
            max_surge: Some(v),
        }),
    }
}

pub fn new_update_unavailable(v: IntOrString) -> DaemonSetUpdateStrategy {
    DaemonSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDaemonSet { max_unavailable: Some(v), max_surge: None }),
    }
}

/// Changes the template as the API server would: a new template generation.
pub fn change_template(ds: &mut DaemonSet, f: impl FnOnce(&mut k8s_openapi::api::core::v1::PodSpec)) {
    f(ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap());
    let annotations = ds.metadata.annotations.get_or_insert_with(Default::default);
    let generation: i64 =
        annotations.get("deprecated.daemonset.template.generation").and_then(|g| g.parse().ok()).unwrap_or(1);
    annotations.insert("deprecated.daemonset.template.generation".into(), (generation + 1).to_string());
    ds.metadata.generation = Some(ds.metadata.generation.unwrap_or(1) + 1);
}

pub fn set_image(ds: &mut DaemonSet, image: &str) {
    change_template(ds, |spec| spec.containers[0].image = Some(image.into()));
}

pub fn new_node(name: &str, labels: Value) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "allocatable": {"pods": "100"}}}))
    .unwrap()
}

pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

/// Counts of one sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sync {
    pub creates: usize,
    pub deletes: usize,
    pub events: usize,
}

pub struct Harness {
    pub ds: DaemonSet,
    pub nodes: Vec<Node>,
    pub pods: BTreeMap<String, Pod>,
    pub revisions: Vec<ControllerRevision>,
    pub backoff: FailedPodBackoff,
    pub now: Timestamp,
    pub events: Vec<DaemonEvent>,
    /// Fail creates after this many have succeeded (upstream's `FakePodControl.CreateLimit`).
    pub create_limit: Option<usize>,
    pub create_calls: usize,
    pub requeue_after: Option<SignedDuration>,
    /// Pods updated in place, by name, in order.
    pub updated_in_place: Vec<String>,
    seq: usize,
}

impl Harness {
    pub fn new(ds: DaemonSet) -> Self {
        Harness {
            ds,
            nodes: Vec::new(),
            pods: BTreeMap::new(),
            revisions: Vec::new(),
            backoff: FailedPodBackoff::default(),
            now: t(1_000),
            events: Vec::new(),
            create_limit: None,
            create_calls: 0,
            requeue_after: None,
            updated_in_place: Vec::new(),
            seq: 0,
        }
    }

    /// Upstream `addNodes(store, start, count, labels)`.
    pub fn add_nodes(&mut self, start: usize, count: usize, labels: Value) {
        for i in start..start + count {
            self.nodes.push(new_node(&format!("node-{i}"), labels.clone()));
        }
    }

    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.metadata.name.as_deref() == Some(name)).unwrap()
    }

    /// Upstream `newPod(name, node, labels, ds)`: bound to `node`; when `owned`, controlled by
    /// the DaemonSet and labelled with its current hash.
    pub fn new_pod(&self, name: &str, node: &str, labels: Value, owned: bool) -> Pod {
        let mut pod = json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "foo", "image": "foo/bar"}]},
            "status": {"phase": "Running"}});
        if owned {
            // Upstream's owned test pods carry the current hash, so they count as updated.
            pod["metadata"]["ownerReferences"] = json!([daemonset::pod::controller_ref(&self.ds)]);
            pod["metadata"]["labels"]["controller-revision-hash"] =
                json!(daemonset::revision::daemonset_hash(&self.ds));
        }
        serde_json::from_value(pod).unwrap()
    }

    /// Upstream `addPods(store, node, labels, ds, n)`: owned pods named `<node>-<i>`.
    pub fn add_pods(&mut self, node: &str, labels: Value, owned: bool, n: usize) {
        for _ in 0..n {
            self.seq += 1;
            let name = format!("{node}-pod-{}", self.seq);
            let pod = self.new_pod(&name, node, labels.clone(), owned);
            self.pods.insert(name, pod);
        }
    }

    pub fn add_pod(&mut self, pod: Pod) {
        self.pods.insert(pod.metadata.name.clone().unwrap(), pod);
    }

    pub fn pod_mut(&mut self, name: &str) -> &mut Pod {
        self.pods.get_mut(name).unwrap()
    }

    /// The current hash, creating or renumbering revisions as the controller would.
    pub fn current_hash(&mut self) -> String {
        let revs: Vec<&ControllerRevision> = self.revisions.iter().collect();
        let pods: Vec<&Pod> = self.pods.values().collect();
        let plan = plan_history(&self.ds, &revs, &pods);
        if let Some(new) = plan.create.clone() {
            self.revisions.push(new);
        }
        if let (Some(name), Some(n)) = (&plan.current, plan.renumber_to) {
            self.revisions.iter_mut().find(|r| r.metadata.name.as_ref() == Some(name)).unwrap().revision = n;
        }
        plan.hash
    }

    /// The pods the DaemonSet owns or adopts.
    pub fn claimed(&self) -> Vec<&Pod> {
        claimed_pods(&self.ds, &self.pods)
    }

    fn apply(&mut self, d: Decision, hash: &str) -> (usize, usize) {
        let d = d.capped(BURST_REPLICAS);
        self.events.extend(d.events.iter().cloned());
        if let Some(after) = d.requeue_after {
            self.requeue_after = Some(after);
        }
        let template = daemon_pod_template(&self.ds, hash);
        let mut created = 0;
        'batches: for batch in daemonset::sync::slow_start_batches(d.create_on.len()) {
            let start = created;
            let mut failed = false;
            for node in &d.create_on[start..start + batch] {
                self.create_calls += 1;
                if self.create_limit.is_some_and(|limit| self.seq_created() >= limit) {
                    failed = true;
                    continue;
                }
                self.seq += 1;
                let mut pod = new_daemon_pod(&self.ds, &template, node);
                let name = format!("{}-{}", self.ds.metadata.name.as_deref().unwrap(), self.seq);
                pod.metadata.name = Some(name.clone());
                pod.metadata.uid = Some(format!("uid-{name}"));
                pod.metadata.creation_timestamp = Some(Time(self.now));
                pod.status = Some(serde_json::from_value(json!({"phase": "Pending"})).unwrap());
                self.pods.insert(name, pod);
                created += 1;
            }
            if failed {
                break 'batches;
            }
        }
        for name in &d.delete {
            self.pods.remove(name);
        }
        // In place: the controller's patch, applied as the API server applies a strategic
        // merge patch to a pod; the pod is not ready until its kubelet has restarted it.
        let in_place = daemonset::in_place::patch(&template);
        for name in &d.in_place {
            let now = self.now;
            let pod = self.pods.get_mut(name).unwrap();
            let patched = apimachinery::strategic_merge::strategic_merge_patch(
                &serde_json::to_value(&*pod).unwrap(),
                &in_place,
                apimachinery::strategic_merge::POD,
            )
            .unwrap();
            *pod = serde_json::from_value(patched).unwrap();
            set_ready(pod, false, now);
            self.updated_in_place.push(name.clone());
        }
        (created, d.delete.len())
    }

    fn seq_created(&self) -> usize {
        self.pods.values().filter(|p| p.metadata.generate_name.is_some()).count()
    }

    /// Upstream `syncDaemonSet` with a fake pod control that observes at once, as upstream's
    /// tests' `fakePodControl` does (it marks each create and delete observed): `manage`, then,
    /// the expectations being satisfied again, a rollout step on the pods as manage left them.
    /// The controller runs the same `updateDaemonSet` order through `SyncContext::decide`, where
    /// observations arrive by watch: a sync that created or deleted waits for them before
    /// rolling.
    pub fn sync(&mut self) -> Sync {
        let events_before = self.events.len();
        match sync_guard(&self.ds) {
            Some(SkipReason::SelectingAll) => {
                self.events.push(DaemonEvent::selecting_all());
                return Sync { creates: 0, deletes: 0, events: 1 };
            }
            Some(SkipReason::BeingDeleted) => return Sync { creates: 0, deletes: 0, events: 0 },
            None => {}
        }
        let hash = self.current_hash();
        let manage = {
            let claimed = claimed_pods(&self.ds, &self.pods);
            let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
            let ctx =
                SyncContext::new(&self.ds, &hash, &self.nodes, claimed.iter().copied().zip(&facts), self.now);
            ctx.manage(&mut self.backoff)
        };
        let (mut creates, mut deletes) = self.apply(manage, &hash);
        if daemonset::sync::is_rolling_update(&self.ds) {
            let step = {
                let claimed = self.claimed();
                let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
                let mut controls = daemonset::rollout_controls::RolloutControls::of(&self.ds).unwrap();
                let revisions: Vec<&ControllerRevision> = self.revisions.iter().collect();
                controls.in_place_hashes = daemonset::in_place::compatible_hashes(&self.ds, &revisions);
                SyncContext::new(&self.ds, &hash, &self.nodes, claimed.iter().copied().zip(&facts), self.now)
                    .rolling_update_with(&controls)
            };
            let (c, d) = self.apply(step, &hash);
            creates += c;
            deletes += d;
        }
        let status = {
            let claimed = self.claimed();
            let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
            let ctx =
                SyncContext::new(&self.ds, &hash, &self.nodes, claimed.iter().copied().zip(&facts), self.now);
            ctx.status(self.ds.status.as_ref(), self.ds.metadata.generation)
        };
        self.ds.status = Some(status);
        Sync { creates, deletes, events: self.events.len() - events_before }
    }

    /// Asserts one sync's creates, deletes and events (upstream `expectSyncDaemonSets`).
    #[track_caller]
    pub fn expect_sync(&mut self, creates: usize, deletes: usize, events: usize) {
        let got = self.sync();
        assert_eq!(
            (got.creates, got.deletes, got.events),
            (creates, deletes, events),
            "(creates, deletes, events)"
        );
    }

    /// Sets the Ready condition of up to `count` pods matching `f` (upstream `setPodReadiness`),
    /// with the transition at `now`.
    pub fn set_readiness(&mut self, ready: bool, count: usize, f: impl Fn(&Pod) -> bool) {
        let now = self.now;
        let mut left = count;
        for pod in self.pods.values_mut() {
            if left == 0 {
                break;
            }
            if pod.metadata.deletion_timestamp.is_some()
                || apimachinery::core::pod::is_ready(pod) == ready
                || !f(pod)
            {
                continue;
            }
            set_ready(pod, ready, now);
            left -= 1;
        }
        assert_eq!(left, 0, "could not mark {count} pods ready={ready}");
    }

    /// Upstream `markPodsReady`.
    pub fn mark_pods_ready(&mut self) {
        let now = self.now;
        for pod in self.pods.values_mut() {
            set_ready(pod, true, now);
        }
    }

    pub fn pods_on(&self, node: &str) -> Vec<&Pod> {
        self.pods.values().filter(|p| target_node_name(p) == Some(node)).collect()
    }
}

fn claimed_pods<'a>(ds: &DaemonSet, pods: &'a BTreeMap<String, Pod>) -> Vec<&'a Pod> {
    let selector = Selector::from_label_selector(Some(&ds.spec.as_ref().unwrap().selector)).unwrap();
    pods.values()
        .filter(|p| matches!(claim(ds, &selector, &p.metadata), Claim::Owned | Claim::Adopt))
        .collect()
}

pub fn set_ready(pod: &mut Pod, ready: bool, at: Timestamp) {
    let status = pod.status.get_or_insert_with(Default::default);
    status.phase = Some("Running".into());
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    conditions.retain(|c| c.type_ != "Ready");
    conditions.push(PodCondition {
        type_: "Ready".into(),
        status: if ready { "True" } else { "False" }.into(),
        last_transition_time: Some(Time(at)),
        ..Default::default()
    });
}
