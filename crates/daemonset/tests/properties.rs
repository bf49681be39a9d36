//! Invariants of the DaemonSet decisions, checked over generated clusters.

mod harness;

use std::collections::HashSet;

use apimachinery::core::pod::{is_available, is_terminating};
use daemonset::eligibility::node_should_run_daemon_pod;
use daemonset::pod::{target_node_name, template_generation};
use daemonset::pod_facts::PodFacts;
use daemonset::revision::compute_hash;
use daemonset::{FailedPodBackoff, SyncContext};
use harness::*;
use k8s_openapi::api::core::v1::{Node, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use serde_json::json;

const KEYS: [&str; 3] = ["a", "b", "c"];
const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn taint_strategy() -> impl Strategy<Value = serde_json::Value> {
    (0..3usize, 0..3usize, proptest::option::of(0..2usize)).prop_map(
        |(k, e, v)| json!({"key": KEYS[k], "effect": EFFECTS[e], "value": v.map(|v| format!("v{v}"))}),
    )
}

fn toleration_strategy() -> impl Strategy<Value = serde_json::Value> {
    (
        proptest::option::of(0..3usize),
        proptest::bool::ANY,
        proptest::option::of(0..3usize),
        proptest::option::of(0..2usize),
    )
        .prop_map(|(k, exists, e, v)| {
            let key = k.map(|k| KEYS[k]);
            let operator = if exists || key.is_none() { "Exists" } else { "Equal" };
            let value = if operator == "Exists" { None } else { v.map(|v| format!("v{v}")) };
            json!({"key": key, "operator": operator, "effect": e.map(|e| EFFECTS[e]), "value": value})
        })
}

/// A pod on a node: (current template?, ready?, terminating?, failed?).
type PodShape = (bool, bool, bool, bool);

fn node_strategy() -> impl Strategy<Value = (Vec<serde_json::Value>, bool, Vec<PodShape>)> {
    (
        proptest::collection::vec(taint_strategy(), 0..3),
        proptest::bool::ANY,
        proptest::collection::vec(
            (
                proptest::bool::ANY,
                proptest::bool::ANY,
                proptest::bool::weighted(0.1),
                proptest::bool::weighted(0.1),
            ),
            0..3,
        ),
    )
}

/// Builds a harness with the given nodes and pods, on the second template.
fn cluster(
    nodes: &[(Vec<serde_json::Value>, bool, Vec<PodShape>)],
    strategy: k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy,
) -> Harness {
    let mut ds = new_daemon_set("foo");
    ds.spec.as_mut().unwrap().update_strategy = Some(strategy);
    let mut h = Harness::new(ds);
    let old_hash = h.current_hash();
    set_image(&mut h.ds, "foo2/bar2");
    let new_hash = h.current_hash();
    for (i, (taints, labelled, pods)) in nodes.iter().enumerate() {
        let name = format!("node-{i}");
        let labels = if *labelled { simple_node_label() } else { json!({}) };
        let mut node: Node = new_node(&name, labels);
        node.spec = Some(serde_json::from_value(json!({"taints": taints})).unwrap());
        h.nodes.push(node);
        for (j, (current, ready, terminating, failed)) in pods.iter().enumerate() {
            let mut pod = h.new_pod(&format!("{name}-{j}"), &name, simple_daemon_set_label(), true);
            let hash = if *current { &new_hash } else { &old_hash };
            let labels = pod.metadata.labels.as_mut().unwrap();
            labels.insert("controller-revision-hash".into(), hash.clone());
            pod.metadata.creation_timestamp = Some(Time(t(j as i64)));
            set_ready(&mut pod, *ready, t(0));
            if *failed {
                pod.status.as_mut().unwrap().phase = Some("Failed".into());
            }
            if *terminating {
                pod.metadata.deletion_timestamp = Some(Time(t(5)));
            }
            h.add_pod(pod);
        }
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `manage` never plans two pods for one node, nor a pod where a live one runs (no surge).
    #[test]
    fn never_two_pods_for_one_node(nodes in proptest::collection::vec(node_strategy(), 0..12)) {
        for strategy in [update_strategies()[0].clone(), new_update_unavailable(IntOrString::Int(1))] {
            let mut h = cluster(&nodes, strategy);
            let hash = h.current_hash();
            let claimed = h.claimed();
            let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
            let ctx = SyncContext::new(&h.ds, &hash, &h.nodes, claimed.iter().copied().zip(&facts), h.now);
            let d = ctx.manage(&mut FailedPodBackoff::default());
            let unique: HashSet<&String> = d.create_on.iter().collect();
            prop_assert_eq!(unique.len(), d.create_on.len());
            for node in &d.create_on {
                prop_assert!(ctx.pods_on(node).is_empty(), "created on {} which has pods", node);
            }
            // And after syncing to a fixed point, each node holds at most one live pod.
            drop(ctx);
            for _ in 0..4 {
                h.sync();
            }
            for node in h.nodes.iter().map(|n| n.metadata.name.clone().unwrap()) {
                let live = h.pods_on(&node).into_iter().filter(|p| !is_terminating(p)).count();
                prop_assert!(live <= 1, "{} has {} live pods", node, live);
            }
        }
    }

    /// A rolling-update step never takes more than maxUnavailable pods down.
    #[test]
    fn rolling_update_respects_max_unavailable(nodes in proptest::collection::vec(node_strategy(), 1..15), budget in 1..5i32) {
        let mut h = cluster(&nodes, new_update_unavailable(IntOrString::Int(budget)));
        let hash = h.current_hash();
        let claimed = h.claimed();
        let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
        let ctx = SyncContext::new(&h.ds, &hash, &h.nodes, claimed.iter().copied().zip(&facts), h.now);
        let d = ctx.rolling_update();
        let deleted: HashSet<&String> = d.delete.iter().collect();
        // Unavailable nodes before: any node that should run without exactly one available pod.
        let mut unavailable_before = 0;
        let mut available_deleted = 0;
        for (node, e) in ctx.nodes() {
            let live: Vec<_> = ctx.pods_on(node).iter().filter(|p| !is_terminating(p)).collect();
            let available = live.len() == 1 && is_available(live[0], 0, h.now);
            if e.should_run && !available {
                unavailable_before += 1;
            }
            available_deleted += live.iter().filter(|p| is_available(p, 0, h.now) && deleted.contains(p.metadata.name.as_ref().unwrap())).count();
        }
        prop_assert!(available_deleted as i32 <= (budget - unavailable_before).max(0),
            "deleted {} available pods with budget {} and {} unavailable", available_deleted, budget, unavailable_before);
    }

    /// A surge step never starts more than maxSurge extra pods beside available old ones.
    #[test]
    fn rolling_update_respects_max_surge(nodes in proptest::collection::vec(node_strategy(), 1..15), surge in 1..5i32) {
        let mut h = cluster(&nodes, new_update_surge(IntOrString::Int(surge)));
        let hash = h.current_hash();
        let claimed = h.claimed();
        let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
        let ctx = SyncContext::new(&h.ds, &hash, &h.nodes, claimed.iter().copied().zip(&facts), h.now);
        let d = ctx.rolling_update();
        let generation = template_generation(&h.ds).map(|g| g.to_string());
        let is_updated = |p: &k8s_openapi::api::core::v1::Pod| PodFacts::of(p).is_updated(&hash, generation.as_deref());
        let mut surging_before = 0;
        let mut surged_beside_available = 0;
        for (node, _) in ctx.nodes() {
            let live: Vec<_> = ctx.pods_on(node).iter().filter(|p| !is_terminating(p)).collect();
            let new: Vec<_> = live.iter().filter(|p| is_updated(p)).collect();
            let old: Vec<_> = live.iter().filter(|p| !is_updated(p)).collect();
            if new.len() > 1 || old.len() > 1 || (new.len() == 1 && old.len() == 1 && !is_available(new[0], 0, h.now)) {
                surging_before += 1;
            }
            if d.create_on.iter().any(|n| n == node) && old.len() == 1 && is_available(old[0], 0, h.now) {
                surged_beside_available += 1;
            }
        }
        prop_assert!(surged_beside_available <= (surge - surging_before).max(0));
    }

    /// Adding a toleration never makes a node less eligible.
    #[test]
    fn a_toleration_never_reduces_eligibility(
        taints in proptest::collection::vec(taint_strategy(), 0..4),
        tolerations in proptest::collection::vec(toleration_strategy(), 0..3),
        extra in toleration_strategy(),
    ) {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {"taints": taints}})).unwrap();
        let with = |tolerations: &[serde_json::Value]| {
            let mut ds = new_daemon_set("foo");
            ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap().tolerations = Some(serde_json::from_value(json!(tolerations)).unwrap());
            node_should_run_daemon_pod(&node, &ds)
        };
        let before = with(&tolerations);
        let mut more = tolerations.clone();
        more.push(extra);
        let after = with(&more);
        prop_assert!(!before.should_run || after.should_run);
        prop_assert!(!before.should_continue_running || after.should_continue_running);
    }

    /// The hash is a pure function of the defaulted template and the collision count.
    #[test]
    fn hash_is_a_pure_function(image in "[a-z]{1,8}(:[0-9]{1,3})?", label in "[a-z]{1,5}", env in proptest::collection::vec("[A-Z]{1,4}", 0..3), count in proptest::option::of(0..5i32)) {
        let template = |image: &str| -> PodTemplateSpec {
            let mut t: PodTemplateSpec = serde_json::from_value(json!({"metadata": {"labels": {"app": label}},
                "spec": {"containers": [{"name": "c", "image": image, "env": env.iter().map(|e| json!({"name": e, "value": "1"})).collect::<Vec<_>>()}]}})).unwrap();
            apimachinery::core::set_defaults_pod_spec(t.spec.as_mut().unwrap());
            t
        };
        let a = template(&image);
        let round_tripped: PodTemplateSpec = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        prop_assert_eq!(compute_hash(&a, count), compute_hash(&round_tripped, count));
        prop_assert_eq!(compute_hash(&a, count), compute_hash(&template(&image), count));
        prop_assert_ne!(compute_hash(&a, count), compute_hash(&template(&format!("{image}x")), count));
    }
}

#[test]
fn target_node_is_always_known_for_created_pods() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 3, json!({}));
    h.sync();
    assert!(h.pods.values().all(|p| target_node_name(p).is_some()));
}
