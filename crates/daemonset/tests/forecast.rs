//! Forecasts of rollouts: the controller's decisions run forward on a virtual clock
//! (`daemonset::forecast`), from clusters the upstream harness builds.

mod harness;

use std::collections::BTreeMap;

use daemonset::forecast::{Forecast, ReadyTime, Start, Timing, forecast};
use daemonset::rollout_controls::{PARTITION, WAVE_LABEL};
use harness::*;
use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

const READY: SignedDuration = SignedDuration::from_secs(10);

/// `n` Ready nodes running Ready pods of the first template, with `strategy`; the template then
/// changed to a new image.
fn changed(n: usize, strategy: k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy) -> Harness {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.ds.spec.as_mut().unwrap().update_strategy = Some(strategy);
    h.add_nodes(0, n, simple_node_label());
    while h.sync().creates > 0 {}
    assert_eq!(h.pods.len(), n);
    h.mark_pods_ready();
    // Ready for an hour: available whatever minReadySeconds.
    h.now += SignedDuration::from_hours(1);
    set_image(&mut h.ds, "foo/bar:v2");
    h
}

fn plan(h: &Harness, timing: &Timing) -> Forecast {
    let pods: Vec<_> = h.pods.values().cloned().collect();
    forecast(&Start { ds: &h.ds, nodes: &h.nodes, pods: &pods, revisions: &h.revisions, now: h.now }, timing)
}

fn wave_starts(f: &Forecast) -> Vec<(f64, usize)> {
    f.waves.iter().map(|w| (w.start, w.nodes.len())).collect()
}

#[test]
fn max_unavailable_one_replaces_one_node_at_a_time() {
    let h = changed(5, new_update_unavailable(IntOrString::Int(1)));
    let f = plan(&h, &Timing::fixed(READY));
    assert_eq!(f.desired, 5);
    assert_eq!(f.duration, Some(50.0));
    assert_eq!(wave_starts(&f), vec![(0.0, 1), (10.0, 1), (20.0, 1), (30.0, 1), (40.0, 1)]);
    // Upstream's step takes old pods in node order.
    let order: Vec<&str> = f.waves.iter().map(|w| w.nodes[0].as_str()).collect();
    assert_eq!(order, ["node-0", "node-1", "node-2", "node-3", "node-4"]);
    assert!(f.blocked.is_empty() && f.risks.is_empty());
}

#[test]
fn a_larger_budget_makes_fewer_waves() {
    let h = changed(5, new_update_unavailable(IntOrString::String("40%".into())));
    let f = plan(&h, &Timing::fixed(READY));
    assert_eq!(wave_starts(&f), vec![(0.0, 2), (10.0, 2), (20.0, 1)]);
    assert_eq!(f.duration, Some(30.0));
    assert_eq!(f.waves[0].end, Some(10.0));
}

#[test]
fn surge_starts_the_next_node_when_the_new_pod_is_available() {
    let h = changed(3, new_update_surge(IntOrString::Int(1)));
    let f = plan(&h, &Timing::fixed(READY));
    assert_eq!(wave_starts(&f), vec![(0.0, 1), (10.0, 1), (20.0, 1)]);
    assert_eq!(f.duration, Some(30.0));
}

#[test]
fn min_ready_seconds_lengthen_every_wave() {
    let mut h = changed(3, new_update_unavailable(IntOrString::Int(1)));
    h.ds.spec.as_mut().unwrap().min_ready_seconds = Some(5);
    let f = plan(&h, &Timing::fixed(READY));
    let starts: Vec<f64> = f.waves.iter().map(|w| w.start.round()).collect();
    assert_eq!(starts, vec![0.0, 15.0, 30.0]);
    assert!((f.duration.unwrap() - 45.0).abs() < 0.5, "{:?}", f.duration);
}

#[test]
fn a_stop_time_adds_to_each_wave() {
    let h = changed(3, new_update_unavailable(IntOrString::Int(1)));
    let timing = Timing { stop: SignedDuration::from_secs(4), ..Timing::fixed(READY) };
    let f = plan(&h, &timing);
    assert_eq!(wave_starts(&f), vec![(0.0, 1), (14.0, 1), (28.0, 1)]);
    assert_eq!(f.duration, Some(42.0));
}

#[test]
fn a_partition_holds_the_last_nodes() {
    let mut h = changed(5, new_update_unavailable(IntOrString::Int(1)));
    h.ds.metadata.annotations.as_mut().unwrap().insert(PARTITION.into(), "2".into());
    let f = plan(&h, &Timing::fixed(READY));
    assert_eq!(f.duration, Some(30.0));
    let started: Vec<&str> = f.nodes.iter().filter(|n| n.start.is_some()).map(|n| n.node.as_str()).collect();
    assert_eq!(started, ["node-0", "node-1", "node-2"]);
    assert!(f.blocked.is_empty());
}

#[test]
fn waves_by_zone_finish_one_zone_before_the_next() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.ds.spec.as_mut().unwrap().update_strategy = Some(new_update_unavailable(IntOrString::Int(5)));
    h.add_nodes(0, 2, json!({"zone": "a"}));
    h.add_nodes(2, 3, json!({"zone": "b"}));
    h.expect_sync(5, 0, 0);
    h.mark_pods_ready();
    set_image(&mut h.ds, "foo/bar:v2");
    h.ds.metadata.annotations.as_mut().unwrap().insert(WAVE_LABEL.into(), "zone".into());
    let f = plan(&h, &Timing::fixed(READY));
    assert_eq!(wave_starts(&f), vec![(0.0, 2), (10.0, 3)]);
    assert_eq!(f.duration, Some(20.0));
}

#[test]
fn a_not_ready_node_blocks_a_budget_of_one() {
    let mut h = changed(4, new_update_unavailable(IntOrString::Int(1)));
    // node-2 stops: its condition and its pod's readiness, as the node lifecycle marks them.
    h.node_mut("node-2").status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "Unknown".into();
    h.set_readiness(false, 1, |p| daemonset::pod::target_node_name(p) == Some("node-2"));
    let f = plan(&h, &Timing::fixed(READY));
    assert_eq!(f.duration, None, "never completes");
    assert_eq!(f.risks.len(), 1);
    assert_eq!(f.risks[0].node, "node-2");
    // Its unavailable old pod is replaced first; the new one never becomes ready and holds the
    // only unit of budget, so no other node starts.
    assert_eq!(wave_starts(&f), vec![(0.0, 1)]);
    assert_eq!(f.waves[0].nodes, ["node-2"]);
    let blocked: BTreeMap<&str, &str> =
        f.blocked.iter().map(|b| (b.node.as_str(), b.reason.as_str())).collect();
    assert!(blocked["node-2"].contains("NotReady"), "{blocked:?}");
    assert!(blocked["node-0"].contains("budget"), "{blocked:?}");
}

#[test]
fn spread_ready_times_stay_within_their_bounds_and_repeat() {
    let h = changed(20, new_update_unavailable(IntOrString::Int(20)));
    let timing = Timing {
        ready: ReadyTime::Uniform { min: SignedDuration::from_secs(5), max: SignedDuration::from_secs(15) },
        ..Timing::fixed(READY)
    };
    let f = plan(&h, &timing);
    let d = f.duration.unwrap();
    assert!((5.0..=15.1).contains(&d), "{d}");
    assert!(d > 10.0, "the slowest of 20 spread nodes ends past the middle: {d}");
    assert_eq!(plan(&h, &timing), f, "the same forecast every time");
    let done: Vec<f64> = f.nodes.iter().filter_map(|n| n.done).collect();
    assert!(done.iter().any(|d| *d < 10.0) && done.iter().any(|d| *d > 10.0), "{done:?}");
}

#[test]
fn five_thousand_nodes_with_min_ready_seconds() {
    let mut h = changed(5000, new_update_unavailable(IntOrString::String("10%".into())));
    h.ds.spec.as_mut().unwrap().min_ready_seconds = Some(300);
    let f = plan(&h, &Timing::fixed(READY));
    assert_eq!(f.waves.len(), 10);
    assert!(f.waves.iter().all(|w| w.nodes.len() == 500));
    let d = f.duration.unwrap();
    assert!((d - 10.0 * 310.0).abs() < 1.0, "{d}");
}

#[test]
fn readiness_is_estimated_from_what_the_pods_show() {
    use daemonset::forecast::{observed_ready_times, timing_from_observed};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let mut h = changed(12, new_update_unavailable(IntOrString::Int(1)));
    let names: Vec<String> = h.pods.keys().cloned().collect();
    for (i, name) in names.iter().enumerate() {
        let pod = h.pods.get_mut(name).unwrap();
        let created = t(1_000);
        pod.metadata.creation_timestamp = Some(Time(created));
        // Eleven nodes take 5 or 6 s; one takes 40 s.
        let took = if i == 3 { 40 } else { 5 + (i as i64 % 2) };
        set_ready(pod, true, created + SignedDuration::from_secs(took));
    }
    let observed = observed_ready_times(&h.pods.values().cloned().collect::<Vec<_>>());
    assert_eq!(observed.len(), 12);
    let timing = timing_from_observed(&observed).unwrap();
    let ReadyTime::Fixed(typical) = timing.ready else { panic!() };
    // The middle ten: five of 5 s and five of 6 s (the 40 s outlier is trimmed).
    assert_eq!(typical, SignedDuration::from_millis(5_500));
    assert_eq!(timing.ready_on.len(), 1, "{:?}", timing.ready_on);
    assert_eq!(timing.ready_on.values().next(), Some(&SignedDuration::from_secs(40)));
    assert!(timing_from_observed(&Default::default()).is_none());
}
