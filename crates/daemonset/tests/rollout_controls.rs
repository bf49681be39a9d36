//! everynode's rollout controls, alone and combined, through the same harness that replays
//! upstream's scenarios (without annotations those stay upstream's: `update.rs`).

mod harness;

use apimachinery::core::pod::is_ready;
use daemonset::pod::{revision_hash, target_node_name};
use daemonset::rollout_controls::{NODE_SELECTOR, NOT_READY_NODES, PARTITION, PAUSED, STRICT_BUDGET};
use harness::*;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

/// Five ready nodes (`node-0`…`node-4`, zone a for 0–2 and b for 3–4) with five ready pods of
/// the first template.
fn five_ready() -> Harness {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 3, json!({"zone": "a"}));
    h.add_nodes(3, 2, json!({"zone": "b"}));
    h.expect_sync(5, 0, 0);
    h.mark_pods_ready();
    h
}

fn annotate(h: &mut Harness, key: &str, value: Option<&str>) {
    let annotations = h.ds.metadata.annotations.get_or_insert_with(Default::default);
    match value {
        Some(v) => annotations.insert(key.to_string(), v.to_string()),
        None => annotations.remove(key),
    };
}

fn roll(h: &mut Harness, strategy: k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy) {
    set_image(&mut h.ds, "foo2/bar2");
    h.ds.spec.as_mut().unwrap().update_strategy = Some(strategy);
}

/// The nodes whose pod runs the current template, in name order.
fn updated_nodes(h: &mut Harness) -> Vec<String> {
    let hash = h.current_hash();
    let mut nodes: Vec<String> = h
        .pods
        .values()
        .filter(|p| revision_hash(p) == Some(hash.as_str()))
        .filter_map(|p| target_node_name(p).map(str::to_string))
        .collect();
    nodes.sort();
    nodes
}

/// Readies every pod and syncs, until a sync changes nothing.
fn settle(h: &mut Harness) {
    for _ in 0..20 {
        h.mark_pods_ready();
        let in_place = h.updated_in_place.len();
        let s = h.sync();
        if s.creates == 0 && s.deletes == 0 && h.updated_in_place.len() == in_place {
            return;
        }
    }
    panic!("did not settle");
}

#[test]
fn a_paused_rollout_replaces_nothing_and_new_nodes_still_get_pods() {
    let mut h = five_ready();
    annotate(&mut h, PAUSED, Some("true"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(2)));
    h.expect_sync(0, 0, 0);
    // A new node gets its pod, from the current template.
    h.add_nodes(5, 1, json!({"zone": "b"}));
    h.expect_sync(1, 0, 0);
    assert_eq!(updated_nodes(&mut h), ["node-5"]);
    // Even an old pod that fails is not replaced while paused.
    h.set_readiness(false, 1, |p| target_node_name(p) == Some("node-0"));
    h.expect_sync(0, 0, 0);
    annotate(&mut h, PAUSED, Some("false"));
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h).len(), 6);
}

#[test]
fn a_partition_holds_the_last_nodes_by_name_until_it_is_lowered() {
    let mut h = five_ready();
    annotate(&mut h, PARTITION, Some("3"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(5)));
    h.expect_sync(0, 2, 0);
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h), ["node-0", "node-1"]);
    // A percentage rounds up: 40% of 5 holds 2.
    annotate(&mut h, PARTITION, Some("40%"));
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h), ["node-0", "node-1", "node-2"]);
    annotate(&mut h, PARTITION, None);
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h).len(), 5);
}

#[test]
fn a_partition_holds_with_surge_too() {
    let mut h = five_ready();
    annotate(&mut h, PARTITION, Some("4"));
    roll(&mut h, new_update_surge(IntOrString::Int(5)));
    h.expect_sync(1, 0, 0);
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h), ["node-0"]);
    assert_eq!(
        h.pods.len(),
        5,
        "the surge pod replaced its old one: {:#?}",
        h.pods.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_node_selector_updates_only_the_nodes_it_matches() {
    let mut h = five_ready();
    annotate(&mut h, NODE_SELECTOR, Some("zone=b"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(2)));
    // An old pod out of scope that fails stays as it is, and counts against the budget: the
    // scoped nodes go one at a time.
    h.set_readiness(false, 1, |p| target_node_name(p) == Some("node-0"));
    assert_eq!(h.sync().deletes, 1);
    h.mark_pods_ready();
    h.set_readiness(false, 1, |p| target_node_name(p) == Some("node-0"));
    for _ in 0..5 {
        h.sync();
        let now = h.now;
        let others: Vec<String> = h
            .pods
            .values()
            .filter(|p| target_node_name(p) != Some("node-0"))
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        for name in others {
            set_ready(h.pod_mut(&name), true, now);
        }
    }
    assert_eq!(updated_nodes(&mut h), ["node-3", "node-4"]);
    assert!(h.pods_on("node-0").iter().all(|p| !is_ready(p)), "still the failing old pod");
    // Upstream replaces the failing pod at once, and one more within the budget.
    annotate(&mut h, NODE_SELECTOR, None);
    let first = h.sync();
    assert_eq!(first.deletes, 2);
    assert!(h.pods_on("node-0").is_empty(), "the failing pod went first");
}

/// node-0 stops reporting: NotReady, its pod not ready either.
fn node_0_down(h: &mut Harness) {
    let node = h.node_mut("node-0");
    node.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "Unknown".into();
    h.set_readiness(false, 1, |p| target_node_name(p) == Some("node-0"));
}

#[test]
fn not_ready_nodes_stall_an_upstream_rollout_and_not_a_skipping_one() {
    for (policy, updated) in [(None, 0), (Some("Skip"), 4)] {
        let mut h = five_ready();
        annotate(&mut h, NOT_READY_NODES, policy);
        roll(&mut h, new_update_unavailable(IntOrString::Int(1)));
        node_0_down(&mut h);
        // The node's replacement pod never gets ready there.
        for _ in 0..10 {
            h.sync();
            let ready_elsewhere: Vec<String> = h
                .pods
                .values()
                .filter(|p| target_node_name(p) != Some("node-0") && !is_ready(p))
                .map(|p| p.metadata.name.clone().unwrap())
                .collect();
            let now = h.now;
            for name in ready_elsewhere {
                set_ready(h.pod_mut(&name), true, now);
            }
        }
        let others: Vec<String> = updated_nodes(&mut h).into_iter().filter(|n| n != "node-0").collect();
        assert_eq!(others.len(), updated, "policy {policy:?}: {others:?}");
    }
}

#[test]
fn a_strict_budget_replaces_failing_old_pods_within_max_unavailable() {
    for (strict, deletes) in [(None, 3), (Some("true"), 1)] {
        let mut h = five_ready();
        annotate(&mut h, STRICT_BUDGET, strict);
        roll(&mut h, new_update_unavailable(IntOrString::Int(1)));
        h.set_readiness(false, 3, |_| true);
        assert_eq!(h.sync().deletes, deletes, "strict {strict:?}");
    }
    // Upstream gives each failing old pod its new one and the surge one more.
    for (strict, creates) in [(None, 3), (Some("true"), 1)] {
        let mut h = five_ready();
        annotate(&mut h, STRICT_BUDGET, strict);
        roll(&mut h, new_update_surge(IntOrString::Int(1)));
        h.set_readiness(false, 2, |_| true);
        assert_eq!(h.sync().creates, creates, "strict {strict:?}, with surge");
    }
}

#[test]
fn pause_and_partition_combine() {
    let mut h = five_ready();
    annotate(&mut h, PAUSED, Some("true"));
    annotate(&mut h, PARTITION, Some("2"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(5)));
    settle(&mut h);
    assert!(updated_nodes(&mut h).is_empty());
    annotate(&mut h, PAUSED, None);
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h), ["node-0", "node-1", "node-2"]);
}

#[test]
fn a_node_selector_and_a_partition_combine() {
    let mut h = five_ready();
    annotate(&mut h, NODE_SELECTOR, Some("zone=a"));
    annotate(&mut h, PARTITION, Some("3"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(5)));
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h), ["node-0", "node-1"], "two may go, both in zone a");
}

#[test]
fn each_node_says_what_it_waits_for() {
    use daemonset::SyncContext;
    use daemonset::rollout_controls::{RolloutControls, Waiting, waiting};
    let mut h = five_ready();
    annotate(&mut h, PARTITION, Some("2"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(1)));
    h.expect_sync(0, 1, 0);
    let hash = h.current_hash();
    let controls = RolloutControls::of(&h.ds).unwrap();
    let claimed = h.claimed();
    let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
    let ctx = SyncContext::new(&h.ds, &hash, &h.nodes, claimed.iter().copied().zip(&facts), h.now);
    let standing = ctx.rollout_standing(&controls);
    let nodes: Vec<&str> = standing.iter().map(|s| s.node).collect();
    assert_eq!(nodes, ["node-0", "node-1", "node-2", "node-3", "node-4"]);
    use Waiting::*;
    assert_eq!(waiting(&controls, &standing, 5), [Creation, Budget, Budget, Partition, Partition]);
    let paused = RolloutControls { paused: true, ..controls.clone() };
    assert_eq!(waiting(&paused, &standing, 5), [Creation, Resume, Resume, Partition, Partition]);
    assert_eq!(Partition.to_string(), "partition");
}

#[test]
fn waves_finish_one_zone_before_the_next() {
    use daemonset::rollout_controls::WAVE_LABEL;
    let mut h = five_ready();
    // Zone b sorts after zone a whatever the node names: node-0 moves to zone b.
    h.node_mut("node-0").metadata.labels.as_mut().unwrap().insert("zone".into(), "b".into());
    annotate(&mut h, WAVE_LABEL, Some("zone"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(5)));
    h.expect_sync(0, 2, 0);
    assert!(h.pods_on("node-1").is_empty() && h.pods_on("node-2").is_empty(), "zone a first");
    h.expect_sync(2, 0, 0);
    // Zone a's new pods are not available yet: zone b waits.
    h.expect_sync(0, 0, 0);
    h.mark_pods_ready();
    h.expect_sync(0, 3, 0);
    settle(&mut h);
    assert_eq!(updated_nodes(&mut h).len(), 5);
}

#[test]
fn a_rollout_blocked_by_pods_that_do_not_recover_is_stuck() {
    use daemonset::SyncContext;
    use daemonset::rollout_controls::{RolloutControls, STUCK_CONDITION, conditions};
    let mut h = five_ready();
    annotate(&mut h, PAUSED, Some("false"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(1)));
    h.expect_sync(0, 1, 0);
    h.expect_sync(1, 0, 0);
    let condition = |h: &mut Harness, type_: &str| {
        let hash = h.current_hash();
        let controls = RolloutControls::of(&h.ds).unwrap();
        let claimed = h.claimed();
        let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
        let ctx = SyncContext::new(&h.ds, &hash, &h.nodes, claimed.iter().copied().zip(&facts), h.now);
        let status = ctx.status(h.ds.status.as_ref(), None);
        let all = conditions(&controls, &ctx.rollout_standing(&controls), &status, h.now).unwrap();
        all.into_iter().find(|c| c.type_ == type_).unwrap()
    };
    let stuck = |h: &mut Harness| {
        let c = condition(h, STUCK_CONDITION);
        (c.status, c.message.unwrap_or_default())
    };
    let progressing = |h: &mut Harness| {
        let c = condition(h, "Progressing");
        (c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default())
    };
    assert_eq!(
        progressing(&mut h),
        ("True".into(), "RevisionUpdating".into(), "1 of 5 nodes updated, 4 available".into())
    );
    // The new pod is only starting: not stuck.
    assert_eq!(stuck(&mut h).0, "False");
    // It crash loops: the budget is held by a pod that does not recover.
    let new_pod = h.pods_on("node-0")[0].metadata.name.clone().unwrap();
    let status = h.pod_mut(&new_pod).status.get_or_insert_with(Default::default);
    status.container_statuses = Some(vec![
        serde_json::from_value(json!({
            "name": "foo", "image": "foo2/bar2", "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}
        }))
        .unwrap(),
    ]);
    let (status, message) = stuck(&mut h);
    assert_eq!(status, "True");
    assert_eq!(
        message,
        format!("1 pods hold the budget and do not recover: 1 pods in CrashLoopBackOff ({new_pod})")
    );
    assert_eq!(progressing(&mut h).1, "RolloutStuck");
    // The waves and controls it goes by are in its message.
    annotate(&mut h, "rollout.everynode.io/wave-label", Some("zone"));
    annotate(&mut h, "rollout.everynode.io/strict-budget", Some("true"));
    assert_eq!(progressing(&mut h).2, "1 of 5 nodes updated, 4 available; wave zone=a; strict budget");
}

#[test]
fn an_image_change_updates_pods_in_place_within_the_budget() {
    use daemonset::rollout_controls::IN_PLACE;
    let mut h = five_ready();
    annotate(&mut h, IN_PLACE, Some("true"));
    let names: Vec<String> = h.pods.keys().cloned().collect();
    roll(&mut h, new_update_unavailable(IntOrString::Int(2)));
    h.expect_sync(0, 0, 0);
    assert_eq!(h.updated_in_place, ["foo-1", "foo-2"], "two at a time, none deleted");
    h.expect_sync(0, 0, 0);
    assert_eq!(h.updated_in_place.len(), 2, "not before they are ready again");
    settle(&mut h);
    assert_eq!(h.updated_in_place.len(), 5);
    assert_eq!(h.pods.keys().cloned().collect::<Vec<_>>(), names, "every pod kept its name");
    assert_eq!(updated_nodes(&mut h).len(), 5);
}

#[test]
fn a_change_beyond_images_replaces_pods_as_usual() {
    use daemonset::rollout_controls::IN_PLACE;
    let mut h = five_ready();
    annotate(&mut h, IN_PLACE, Some("true"));
    change_template(&mut h.ds, |spec| {
        spec.containers[0].image = Some("foo2/bar2".into());
        spec.containers[0].args = Some(vec!["--verbose".into()]);
    });
    h.ds.spec.as_mut().unwrap().update_strategy = Some(new_update_unavailable(IntOrString::Int(2)));
    h.expect_sync(0, 2, 0);
    assert!(h.updated_in_place.is_empty());
}

#[test]
fn a_health_gate_on_a_node_scoped_rollout_judges_only_the_updated_pods() {
    use daemonset::SyncContext;
    use daemonset::rollout_controls::{MAX_RESTARTS, RolloutControls, health_failures};
    let mut h = five_ready();
    annotate(&mut h, NODE_SELECTOR, Some("zone=b"));
    annotate(&mut h, MAX_RESTARTS, Some("0"));
    roll(&mut h, new_update_unavailable(IntOrString::Int(1)));
    h.expect_sync(0, 1, 0);
    h.expect_sync(1, 0, 0);
    let restarted = |h: &mut Harness, node: &str| {
        let name = h.pods_on(node)[0].metadata.name.clone().unwrap();
        let status = h.pod_mut(&name).status.get_or_insert_with(Default::default);
        status.container_statuses = Some(vec![
            serde_json::from_value(json!({
                "name": "foo", "image": "x", "imageID": "", "ready": false, "restartCount": 2,
            }))
            .unwrap(),
        ]);
        name
    };
    // An old pod out of scope that restarts is not the new revision's failure…
    restarted(&mut h, "node-0");
    // …the new pod in zone b that restarts is.
    let new_pod = restarted(&mut h, "node-3");
    let hash = h.current_hash();
    let controls = RolloutControls::of(&h.ds).unwrap();
    let claimed = h.claimed();
    let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
    let ctx = SyncContext::new(&h.ds, &hash, &h.nodes, claimed.iter().copied().zip(&facts), h.now);
    let failures = health_failures(&controls, &ctx.updated_pods(), 0, h.now);
    assert_eq!(failures, [format!("pod {new_pod} restarted 2 times (at most 0)")]);
}
