//! The scenarios of upstream's `pkg/controller/daemon/update_test.go`, one test per upstream
//! test under its name in snake_case.

mod harness;

use std::collections::HashMap;

use apimachinery::core::pod::is_ready;
use apimachinery::labels::Selector;
use daemonset::SyncContext;
use daemonset::ownership::{Claim, claim};
use daemonset::pod::target_node_name;
use harness::*;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

/// Five nodes with five ready pods of the first template.
fn five_ready() -> Harness {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 5, json!({}));
    h.expect_sync(5, 0, 0);
    h.mark_pods_ready();
    h
}

fn roll_to(h: &mut Harness, image: &str, strategy: k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy) {
    set_image(&mut h.ds, image);
    h.ds.spec.as_mut().unwrap().update_strategy = Some(strategy);
}

#[test]
fn test_daemon_set_updates_pods() {
    let mut h = five_ready();
    roll_to(&mut h, "foo2/bar2", new_update_unavailable(IntOrString::Int(2)));
    for (deletes, creates) in [(2, 2), (2, 2), (1, 1)] {
        h.expect_sync(0, deletes, 0);
        h.expect_sync(creates, 0, 0);
        h.mark_pods_ready();
    }
    h.expect_sync(0, 0, 0);
}

#[test]
fn test_daemon_set_updates_pods_with_max_surge() {
    let mut h = five_ready();
    roll_to(&mut h, "foo2/bar2", new_update_surge(IntOrString::Int(2)));
    h.expect_sync(2, 0, 0);
    h.expect_sync(0, 0, 0);
    h.mark_pods_ready();
    h.expect_sync(2, 2, 0);
    h.expect_sync(0, 0, 0);
    h.mark_pods_ready();
    h.expect_sync(1, 2, 0);
    h.expect_sync(0, 0, 0);
    h.mark_pods_ready();
    h.expect_sync(0, 1, 0);
    h.expect_sync(0, 0, 0);
}

#[test]
fn test_daemon_set_updates_pods_not_match_tainst_with_max_surge() {
    let mut ds = new_daemon_set("foo");
    let toleration = serde_json::from_value(json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}])).unwrap();
    ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap().tolerations = Some(toleration);
    let mut h = Harness::new(ds);
    h.add_nodes(0, 5, json!({}));
    h.node_mut("node-0").spec = Some(
        serde_json::from_value(
            json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}),
        )
        .unwrap(),
    );
    h.expect_sync(5, 0, 0);
    h.mark_pods_ready();
    change_template(&mut h.ds, |spec| spec.tolerations = None);
    h.ds.spec.as_mut().unwrap().update_strategy = Some(new_update_surge(IntOrString::Int(1)));
    // Surge one pod, and delete the pod of the no longer eligible node: enough are available.
    h.expect_sync(1, 1, 0);
    h.expect_sync(0, 0, 0);
    for _ in 0..3 {
        h.mark_pods_ready();
        h.expect_sync(1, 1, 0);
        h.expect_sync(0, 0, 0);
    }
    h.mark_pods_ready();
    h.expect_sync(0, 1, 0);
    h.expect_sync(0, 0, 0);
    assert!(h.pods_on("node-0").is_empty());
}

#[test]
fn test_daemon_set_updates_when_new_pod_is_not_ready() {
    let mut h = five_ready();
    roll_to(&mut h, "foo2/bar2", new_update_unavailable(IntOrString::Int(3)));
    h.expect_sync(0, 3, 0);
    h.expect_sync(3, 0, 0);
    h.expect_sync(0, 0, 0);
}

#[test]
fn test_daemon_set_updates_some_old_pods_not_ready() {
    let mut h = five_ready();
    roll_to(&mut h, "foo2/bar2", new_update_unavailable(IntOrString::Int(2)));
    h.expect_sync(0, 2, 0);
    h.expect_sync(2, 0, 0);
    h.expect_sync(0, 0, 0);
    let ready = |h: &Harness| h.pods.values().filter(|p| is_ready(p)).count();
    assert_eq!(ready(&h), 3);
    let originals: Vec<String> =
        h.pods.values().filter(|p| is_ready(p)).map(|p| p.metadata.name.clone().unwrap()).collect();
    set_image(&mut h.ds, "foo3/bar3");
    h.expect_sync(0, 2, 0);
    h.expect_sync(2, 0, 0);
    h.expect_sync(0, 0, 0);
    assert_eq!(ready(&h), 3);
    assert!(originals.iter().all(|n| h.pods.contains_key(n)), "the ready old pods are never deleted");
}

#[test]
fn test_daemon_set_updates_save_old_healthy_pods() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 20, json!({}));
    h.expect_sync(20, 0, 0);
    h.mark_pods_ready();
    roll_to(&mut h, "foo2/bar2", new_update_unavailable(IntOrString::Int(10)));
    h.expect_sync(0, 10, 0);
    h.expect_sync(10, 0, 0);
    h.expect_sync(0, 0, 0);
    let healthy: Vec<String> =
        h.pods.values().filter(|p| is_ready(p)).map(|p| p.metadata.name.clone().unwrap()).collect();
    assert_eq!(healthy.len(), 10);
    // Template changes with budgets 0..9: only the 10 unavailable pods are ever replaced.
    for (round, budget) in [3, 0, 9, 5, 1, 7, 2, 8, 4, 6].into_iter().enumerate() {
        roll_to(&mut h, &format!("foo{round}/bar"), new_update_unavailable(IntOrString::Int(budget)));
        h.expect_sync(0, 10, 0);
        h.expect_sync(10, 0, 0);
        h.expect_sync(0, 0, 0);
        assert!(healthy.iter().all(|n| h.pods.contains_key(n)), "round {round}: healthy old pods kept");
    }
    roll_to(&mut h, "final/bar", new_update_unavailable(IntOrString::Int(11)));
    h.expect_sync(0, 11, 0);
    h.expect_sync(11, 0, 0);
    h.expect_sync(0, 0, 0);
    assert_eq!(h.pods.values().filter(|p| is_ready(p)).count(), 9);
}

#[test]
fn test_daemon_set_updates_all_old_not_ready_pods_and_new_not_ready_pods() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 100, json!({}));
    h.expect_sync(100, 0, 0);
    h.mark_pods_ready();
    roll_to(&mut h, "foo2/bar2", new_update_unavailable(IntOrString::Int(10)));
    for _ in 0..10 {
        h.expect_sync(0, 10, 0);
        h.expect_sync(10, 0, 0);
        h.mark_pods_ready();
    }
    h.expect_sync(0, 0, 0);
    // A third template, already on 88 nodes but unready; of the 12 old pods, 2 are unready.
    set_image(&mut h.ds, "foo3/bar3");
    let hash = h.current_hash();
    let now = h.now;
    for (i, pod) in h.pods.values_mut().enumerate() {
        if i < 88 {
            pod.metadata.labels.as_mut().unwrap().insert("controller-revision-hash".into(), hash.clone());
            set_ready(pod, false, now);
        } else if i < 90 {
            set_ready(pod, false, now);
        }
    }
    let unready_old: Vec<String> =
        h.pods.values().skip(88).take(2).map(|p| p.metadata.name.clone().unwrap()).collect();
    h.expect_sync(0, 2, 0);
    assert!(
        unready_old.iter().all(|n| !h.pods.contains_key(n)),
        "the unready old pods are the ones replaced"
    );
    h.expect_sync(2, 0, 0);
    h.expect_sync(0, 0, 0);
}

#[test]
fn test_daemon_set_updates_all_old_pods_not_ready() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 5, json!({}));
    h.expect_sync(5, 0, 0);
    roll_to(&mut h, "foo2/bar2", new_update_unavailable(IntOrString::Int(3)));
    h.expect_sync(0, 5, 0);
    h.expect_sync(5, 0, 0);
    h.expect_sync(0, 0, 0);
}

#[test]
fn test_daemon_set_updates_all_old_pods_not_ready_max_surge() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 5, json!({}));
    h.expect_sync(5, 0, 0);
    roll_to(&mut h, "foo2/bar2", new_update_surge(IntOrString::Int(3)));
    // All old pods are unavailable, so all are surged at once.
    h.now = t(100);
    h.expect_sync(5, 0, 0);
    // Waiting for the new pods to go ready; the unready old pods are deleted.
    h.now = t(200);
    h.expect_sync(0, 5, 0);
    h.set_readiness(true, 5, |_| true);
    h.ds.spec.as_mut().unwrap().min_ready_seconds = Some(15);
    set_image(&mut h.ds, "foo3/bar3");
    h.now = t(300);
    h.expect_sync(3, 0, 0);
    let hash = h.current_hash();
    let current_nodes: Vec<String> = h
        .pods
        .values()
        .filter(|p| p.metadata.labels.as_ref().unwrap().get("controller-revision-hash") == Some(&hash))
        .map(|p| target_node_name(p).unwrap().to_string())
        .collect();
    h.set_readiness(true, 2, |p| {
        p.metadata.labels.as_ref().unwrap().get("controller-revision-hash") == Some(&hash)
    });
    h.set_readiness(false, 1, |p| {
        p.metadata.labels.as_ref().unwrap().get("controller-revision-hash") != Some(&hash)
            && !current_nodes.iter().any(|n| Some(n.as_str()) == target_node_name(p))
    });
    // The new pods wait out minReadySeconds; the node whose old pod went unready gets one now.
    h.now = t(310);
    h.expect_sync(1, 0, 0);
    // The new pods are available: the old pods go, and the last node is surged.
    h.now = t(320);
    h.expect_sync(1, 3, 0);
    h.set_readiness(true, 3, |p| {
        p.metadata.labels.as_ref().unwrap().get("controller-revision-hash") == Some(&hash)
    });
    h.now = t(340);
    h.expect_sync(0, 2, 0);
    h.now = t(350);
    h.expect_sync(0, 0, 0);
}

#[test]
fn test_daemon_set_updates_no_template_changed() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 5, json!({}));
    h.expect_sync(5, 0, 0);
    h.ds.spec.as_mut().unwrap().update_strategy = Some(new_update_unavailable(IntOrString::Int(3)));
    h.expect_sync(0, 0, 0);
}

#[test]
fn test_get_unavailable_numbers() {
    struct Case {
        name: &'static str,
        nodes: usize,
        strategy: k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy,
        pods: &'static [(&'static str, bool)],
        want: (i32, i32, i32),
        empty_nodes: usize,
    }
    let pct = |s: &str| IntOrString::String(s.into());
    let cases = [
        Case {
            name: "No nodes",
            nodes: 0,
            strategy: new_update_unavailable(IntOrString::Int(0)),
            pods: &[],
            want: (0, 0, 0),
            empty_nodes: 0,
        },
        Case {
            name: "Two nodes with ready pods",
            nodes: 2,
            strategy: new_update_unavailable(IntOrString::Int(1)),
            pods: &[("node-0", false), ("node-1", false)],
            want: (0, 1, 2),
            empty_nodes: 0,
        },
        Case {
            name: "Two nodes, one node without pods",
            nodes: 2,
            strategy: new_update_unavailable(IntOrString::Int(0)),
            pods: &[("node-0", false)],
            want: (0, 1, 2),
            empty_nodes: 1,
        },
        Case {
            name: "Two nodes, one node without pods, surge",
            nodes: 2,
            strategy: new_update_surge(IntOrString::Int(0)),
            pods: &[("node-0", false)],
            want: (0, 1, 2),
            empty_nodes: 1,
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable in percents",
            nodes: 2,
            strategy: new_update_unavailable(pct("50%")),
            pods: &[("node-0", false), ("node-1", false)],
            want: (0, 1, 2),
            empty_nodes: 0,
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable in percents, surge",
            nodes: 2,
            strategy: new_update_surge(pct("50%")),
            pods: &[("node-0", false), ("node-1", false)],
            want: (1, 0, 2),
            empty_nodes: 0,
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable is 100%, surge",
            nodes: 2,
            strategy: new_update_surge(pct("100%")),
            pods: &[("node-0", false), ("node-1", false)],
            want: (2, 0, 2),
            empty_nodes: 0,
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable in percents, pod terminating",
            nodes: 3,
            strategy: new_update_unavailable(pct("50%")),
            pods: &[("node-0", false), ("node-1", true)],
            want: (0, 2, 3),
            empty_nodes: 1,
        },
    ];
    for c in cases {
        let mut ds = new_daemon_set("x");
        ds.spec.as_mut().unwrap().update_strategy = Some(c.strategy);
        let mut h = Harness::new(ds);
        h.add_nodes(0, c.nodes, json!({}));
        for (i, (node, terminating)) in c.pods.iter().enumerate() {
            let mut pod = h.new_pod(&format!("pod-{i}"), node, simple_daemon_set_label(), true);
            set_ready(&mut pod, true, t(1));
            if *terminating {
                pod.metadata.deletion_timestamp = Some(Time(t(1)));
            }
            h.add_pod(pod);
        }
        let claimed = h.claimed();
        let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
        let ctx = SyncContext::new(&h.ds, "", &h.nodes, claimed.iter().copied().zip(&facts), h.now);
        assert_eq!(ctx.rollout_budget(), c.want, "{}", c.name);
        let empty = ctx.nodes().iter().filter(|(n, e)| e.should_run && ctx.pods_on(n).is_empty()).count();
        assert_eq!(empty, c.empty_nodes, "{}", c.name);
    }
}

#[test]
fn test_controlled_histories() {
    let ds = new_daemon_set("ds1");
    let revision = |name: &str, namespace: &str, owned: bool| -> ControllerRevision {
        let mut r = json!({"metadata": {"name": name, "namespace": namespace, "labels": simple_daemon_set_label()}, "revision": 1});
        if owned {
            r["metadata"]["ownerReferences"] = json!([daemonset::pod::controller_ref(&ds)]);
        }
        serde_json::from_value(r).unwrap()
    };
    let all = [
        revision("ds1-x1", "default", true),
        revision("ds1-x2", "default", false),
        revision("ds1-x3", "default-other", false),
    ];
    let selector = Selector::from_label_selector(Some(&ds.spec.as_ref().unwrap().selector)).unwrap();
    // The controller lists revisions in the DaemonSet's namespace only, then claims them.
    let claims: HashMap<&str, Claim> = all
        .iter()
        .filter(|r| r.metadata.namespace == ds.metadata.namespace)
        .map(|r| (r.metadata.name.as_deref().unwrap(), claim(&ds, &selector, &r.metadata)))
        .collect();
    assert_eq!(claims.get("ds1-x1"), Some(&Claim::Owned));
    assert_eq!(claims.get("ds1-x2"), Some(&Claim::Adopt), "an orphan in the same namespace is adopted");
    assert_eq!(claims.get("ds1-x3"), None, "other namespaces are never looked at");
}

/// The controller's order of one sync (`SyncContext::decide`): a rollout step only when
/// `manage` acted on nothing, since the expectations manage raises are observed later, by
/// watch; upstream's tests observe at once and take both in one sync (the harness above).
#[test]
fn a_sync_that_manages_waits_for_its_observations_before_rolling() {
    let mut h = five_ready();
    roll_to(&mut h, "foo2/bar2", new_update_surge(IntOrString::Int(2)));
    let decide = |h: &mut Harness| {
        let hash = h.current_hash();
        let controls = daemonset::rollout_controls::RolloutControls::of(&h.ds).unwrap();
        let mut backoff = daemonset::FailedPodBackoff::default();
        let claimed = h.claimed();
        let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
        let d = SyncContext::new(&h.ds, &hash, &h.nodes, claimed.iter().copied().zip(&facts), h.now)
            .decide(&mut backoff, &controls);
        (d.create_on.len(), d.delete.len())
    };
    // Nothing to manage: the step surges two new pods.
    assert_eq!(decide(&mut h), (2, 0));
    h.expect_sync(2, 0, 0);
    h.mark_pods_ready();
    // Now manage deletes the two old pods whose replacements are ready; the next surge waits.
    assert_eq!(decide(&mut h), (0, 2));
    h.expect_sync(2, 2, 0);
}
