//! The scenarios of upstream's `pkg/controller/daemon/daemon_controller_test.go`, one test per
//! upstream test under its name in snake_case, run against the pure decisions through
//! [`harness::Harness`].
//!
//! Scenarios that only exercise upstream's informer and client plumbing, not DaemonSet
//! semantics, are not replayed here; the mechanisms they test live in `crates/controller`:
//! - `test_delete_final_state_unknown`: tombstone unwrapping of client-go's informer cache,
//!   which kube-rs watchers do not have;
//! - `test_expectations_on_recreate` and `test_daemon_set_pod_create_expectations_error`:
//!   expectation bookkeeping (`controller::expectations`, unit-tested there);
//! - `test_simple_daemon_set_updates_status_error` and `test_store_daemon_set_status`: the
//!   status write's single retry after a conflict (`controller::sync::write_status`);
//! - `test_dont_do_anything_if_being_deleted_race`: the uncached GET before the first adoption
//!   (`controller::sync::recheck`).

mod harness;

use daemonset::SyncContext;
use daemonset::eligibility::{Eligibility, Placement, node_should_run_daemon_pod};
use daemonset::pod::target_node_name;
use daemonset::routing::{
    on_node_added, on_node_updated, on_pod_added, on_pod_deleted, on_pod_updated, should_ignore_node_update,
};
use daemonset::sync::status_changed;
use harness::*;
use jiff::SignedDuration;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

fn for_each_strategy(mut f: impl FnMut(Harness)) {
    for strategy in update_strategies() {
        let mut ds = new_daemon_set("foo");
        ds.spec.as_mut().unwrap().update_strategy = Some(strategy);
        f(Harness::new(ds));
    }
}

fn set_template(h: &mut Harness, v: Value) {
    let spec = h.ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    let mut merged = serde_json::to_value(&*spec).unwrap();
    for (k, val) in v.as_object().unwrap() {
        merged[k] = val.clone();
    }
    *spec = serde_json::from_value(merged).unwrap();
}

fn taint(h: &mut Harness, node: &str, taints: Value) {
    let n = h.node_mut(node);
    let mut v = serde_json::to_value(&*n).unwrap();
    v["spec"]["taints"] = taints;
    *n = serde_json::from_value(v).unwrap();
}

fn set_node_condition(h: &mut Harness, node: &str, type_: &str, status: &str) {
    let n = h.node_mut(node);
    let mut v = serde_json::to_value(&*n).unwrap();
    v["status"]["conditions"] = json!([{"type": type_, "status": status}]);
    *n = serde_json::from_value(v).unwrap();
}

#[test]
fn test_simple_daemon_set_launches_pods() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 5, json!({}));
        h.expect_sync(5, 0, 0);
    });
}

#[test]
fn test_simple_daemon_set_schedule_daemon_set_pods_launches_pods() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 5, json!({}));
        h.expect_sync(5, 0, 0);
        let mut covered: Vec<&str> = Vec::new();
        for pod in h.pods.values() {
            let spec = pod.spec.as_ref().unwrap();
            assert_eq!(spec.node_name, None, "daemon pods are not pre-bound");
            let terms = &spec
                .affinity
                .as_ref()
                .unwrap()
                .node_affinity
                .as_ref()
                .unwrap()
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .unwrap()
                .node_selector_terms;
            assert_eq!(terms.len(), 1);
            let fields = terms[0].match_fields.as_ref().unwrap();
            assert_eq!(
                (fields.len(), fields[0].key.as_str(), fields[0].operator.as_str()),
                (1, "metadata.name", "In")
            );
            covered.push(target_node_name(pod).unwrap());
        }
        covered.sort();
        assert_eq!(covered, ["node-0", "node-1", "node-2", "node-3", "node-4"], "every node exactly once");
    });
}

#[test]
fn test_simple_daemon_set_pod_create_errors() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 100, json!({}));
        h.create_limit = Some(10);
        let got = h.sync();
        assert_eq!(got.creates, 10);
        assert!(h.create_calls <= 15, "slow start stops after the failing batch: {} calls", h.create_calls);
        let status = h.ds.status.clone().unwrap();
        assert_eq!(
            (
                status.desired_number_scheduled,
                status.current_number_scheduled,
                status.updated_number_scheduled
            ),
            (100, 10, Some(10))
        );
    });
}

#[test]
fn test_simple_daemon_set_updates_status_after_launching_pods() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 5, json!({}));
        h.expect_sync(5, 0, 0);
        assert_eq!(h.ds.status.as_ref().unwrap().current_number_scheduled, 5);
    });
}

/// Upstream's `omitempty` on the status counters: a zero is left out of the object, so
/// `-o yaml` and jsonpath show them only when they count something.
#[test]
fn status_counters_that_are_zero_are_omitted() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 5, json!({}));
        h.expect_sync(5, 0, 0);
        let status = h.ds.status.clone().unwrap();
        // The new pods are not Ready yet: none available, all five unavailable.
        assert_eq!((status.number_available, status.number_unavailable), (None, Some(5)));
        assert_eq!(status.updated_number_scheduled, Some(5));
        let json = serde_json::to_value(&status).unwrap();
        assert!(json.get("numberAvailable").is_none(), "{json}");
        // The required counters are written even when zero, as upstream writes them.
        assert_eq!(json["numberReady"], 0);
        assert_eq!(json["numberMisscheduled"], 0);
    });
}

#[test]
fn test_no_nodes_does_nothing() {
    for_each_strategy(|mut h| h.expect_sync(0, 0, 0));
}

#[test]
fn test_one_node_daemon_launches_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_not_ready_node_daemon_does_launch_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        set_node_condition(&mut h, "node-0", "Ready", "False");
        h.expect_sync(1, 0, 0);
    });
}

fn resource_pod_spec(node: &str, memory: &str, cpu: &str) -> Value {
    json!({"nodeName": node, "containers": [{"name": "foo", "image": "foo/bar",
        "resources": {"requests": {"memory": memory, "cpu": cpu}}}]})
}

#[test]
fn test_insufficient_capacity_node_daemon_does_not_unschedule_running_pod() {
    for_each_strategy(|mut h| {
        set_template(&mut h, resource_pod_spec("too-much-mem", "75M", "75m"));
        h.nodes.push(
            serde_json::from_value(json!({"metadata": {"name": "too-much-mem"},
            "status": {"allocatable": {"memory": "100M", "cpu": "200m", "pods": "100"}}}))
            .unwrap(),
        );
        let mut unowned = h.new_pod("other", "too-much-mem", json!({}), false);
        unowned.spec = Some(serde_json::from_value(resource_pod_spec("too-much-mem", "75M", "75m")).unwrap());
        h.add_pod(unowned);
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_insufficient_capacity_node_sufficient_capacity_with_node_label_daemon_launch_pod() {
    for_each_strategy(|mut h| {
        set_template(&mut h, json!({"nodeSelector": simple_node_label()}));
        h.nodes.push(
            serde_json::from_value(json!({"metadata": {"name": "not-enough-resource"},
            "status": {"allocatable": {"memory": "50M", "cpu": "75m", "pods": "100"}}}))
            .unwrap(),
        );
        h.nodes.push(
            serde_json::from_value(
                json!({"metadata": {"name": "enough-resource", "labels": simple_node_label()},
            "status": {"allocatable": {"memory": "200M", "cpu": "200m", "pods": "100"}}}),
            )
            .unwrap(),
        );
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_network_unavailable_node_daemon_launches_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        set_node_condition(&mut h, "node-0", "NetworkUnavailable", "True");
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_dont_do_anything_if_being_deleted() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        h.ds.metadata.deletion_timestamp = Some(Time(t(1)));
        h.expect_sync(0, 0, 0);
        assert!(h.ds.status.is_none(), "no status write either");
    });
}

#[test]
fn test_port_conflict_with_same_daemon_pod_does_not_delete_pod() {
    for_each_strategy(|mut h| {
        let ports = json!({"containers": [{"name": "foo", "image": "foo/bar", "ports": [{"hostPort": 666, "containerPort": 666}]}]});
        set_template(&mut h, ports.clone());
        h.add_nodes(0, 1, json!({}));
        let mut pod = h.new_pod("existing", "node-0", simple_daemon_set_label(), true);
        let mut spec = ports;
        spec["nodeName"] = json!("node-0");
        pod.spec = Some(serde_json::from_value(spec).unwrap());
        h.add_pod(pod);
        h.expect_sync(0, 0, 0);
    });
}

#[test]
fn test_no_port_conflict_node_daemon_launches_pod() {
    for_each_strategy(|mut h| {
        set_template(
            &mut h,
            json!({"containers": [{"name": "foo", "image": "foo/bar", "ports": [{"hostPort": 6661, "containerPort": 6661}]}]}),
        );
        h.add_nodes(0, 1, json!({}));
        let mut pod = h.new_pod("other", "node-0", json!({}), false);
        pod.spec = Some(
            serde_json::from_value(
                json!({"nodeName": "node-0", "containers": [{"name": "foo", "image": "foo/bar",
            "ports": [{"hostPort": 6662, "containerPort": 6662}]}]}),
            )
            .unwrap(),
        );
        h.add_pod(pod);
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_pod_is_not_deleted_by_daemonset_with_empty_label_selector() {
    for_each_strategy(|mut h| {
        h.ds.spec.as_mut().unwrap().selector = Default::default();
        h.add_nodes(0, 1, json!({}));
        let pod = h.new_pod("unrelated", "node-0", json!({"bang": "boom"}), false);
        h.add_pod(pod);
        h.expect_sync(0, 0, 1);
        assert_eq!(h.events[0].reason, "SelectingAll");
    });
}

#[test]
fn test_deals_with_existing_pods() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 5, json!({}));
        h.add_pods("node-1", simple_daemon_set_label(), true, 1);
        h.add_pods("node-2", simple_daemon_set_label(), true, 2);
        h.add_pods("node-3", simple_daemon_set_label(), true, 5);
        h.add_pods("node-4", simple_daemon_set_label2(), true, 2);
        h.expect_sync(2, 5, 0);
    });
}

#[test]
fn test_selector_daemon_launches_pods() {
    let mut ds = new_daemon_set("foo");
    ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap().node_selector =
        Some(serde_json::from_value(simple_node_label()).unwrap());
    let mut h = Harness::new(ds);
    h.add_nodes(0, 4, json!({}));
    h.add_nodes(4, 3, simple_node_label());
    h.expect_sync(3, 0, 0);
}

#[test]
fn test_selector_daemon_deletes_unselected_pods() {
    for_each_strategy(|mut h| {
        set_template(&mut h, json!({"nodeSelector": simple_node_label()}));
        h.add_nodes(0, 5, json!({}));
        h.add_nodes(5, 5, simple_node_label());
        h.add_pods("node-0", simple_daemon_set_label2(), true, 2);
        h.add_pods("node-1", simple_daemon_set_label(), true, 3);
        h.add_pods("node-1", simple_daemon_set_label2(), true, 1);
        h.add_pods("node-4", simple_daemon_set_label(), true, 1);
        h.expect_sync(5, 4, 0);
    });
}

#[test]
fn test_selector_daemon_deals_with_existing_pods() {
    for_each_strategy(|mut h| {
        set_template(&mut h, json!({"nodeSelector": simple_node_label()}));
        h.add_nodes(0, 5, json!({}));
        h.add_nodes(5, 5, simple_node_label());
        h.add_pods("node-0", simple_daemon_set_label(), true, 1);
        h.add_pods("node-1", simple_daemon_set_label(), true, 3);
        h.add_pods("node-1", simple_daemon_set_label2(), true, 2);
        h.add_pods("node-2", simple_daemon_set_label(), true, 4);
        h.add_pods("node-6", simple_daemon_set_label(), true, 13);
        h.add_pods("node-7", simple_daemon_set_label2(), true, 4);
        h.add_pods("node-9", simple_daemon_set_label(), true, 1);
        h.add_pods("node-9", simple_daemon_set_label2(), true, 1);
        h.expect_sync(3, 20, 0);
    });
}

#[test]
fn test_bad_selector_daemon_does_nothing() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 4, json!({}));
        h.add_nodes(4, 3, simple_node_label());
        set_template(&mut h, json!({"nodeSelector": {"color": "red", "speed": "fast"}}));
        h.expect_sync(0, 0, 0);
    });
}

#[test]
fn test_name_daemon_set_launches_pods() {
    for_each_strategy(|mut h| {
        set_template(&mut h, json!({"nodeName": "node-0"}));
        h.add_nodes(0, 5, json!({}));
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_bad_name_daemon_set_does_nothing() {
    for_each_strategy(|mut h| {
        set_template(&mut h, json!({"nodeName": "node-10"}));
        h.add_nodes(0, 5, json!({}));
        h.expect_sync(0, 0, 0);
    });
}

#[test]
fn test_name_and_selector_daemon_set_launches_pods() {
    for_each_strategy(|mut h| {
        set_template(&mut h, json!({"nodeSelector": simple_node_label(), "nodeName": "node-6"}));
        h.add_nodes(0, 4, json!({}));
        h.add_nodes(4, 3, simple_node_label());
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_inconsistent_name_selector_daemon_set_does_nothing() {
    for_each_strategy(|mut h| {
        set_template(&mut h, json!({"nodeSelector": simple_node_label(), "nodeName": "node-0"}));
        h.add_nodes(0, 4, json!({}));
        h.add_nodes(4, 3, simple_node_label());
        h.expect_sync(0, 0, 0);
    });
}

#[test]
fn test_selector_daemon_set_launches_pods() {
    let mut h = Harness::new(new_daemon_set("foo"));
    set_template(&mut h, json!({"nodeSelector": simple_node_label()}));
    h.add_nodes(0, 4, json!({}));
    h.add_nodes(4, 3, simple_node_label());
    h.expect_sync(3, 0, 0);
}

#[test]
fn test_node_affinity_daemon_launches_pods() {
    for_each_strategy(|mut h| {
        set_template(
            &mut h,
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "color", "operator": "In", "values": ["blue"]}]}]}}}}),
        );
        h.add_nodes(0, 4, json!({}));
        h.add_nodes(4, 3, simple_node_label());
        h.expect_sync(3, 0, 0);
    });
}

#[test]
fn test_number_ready_status() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 2, json!({}));
        h.add_pods("node-0", simple_daemon_set_label(), true, 1);
        h.add_pods("node-1", simple_daemon_set_label(), true, 1);
        h.expect_sync(0, 0, 0);
        assert_eq!(h.ds.status.as_ref().unwrap().number_ready, 0);
        h.mark_pods_ready();
        h.expect_sync(0, 0, 0);
        assert_eq!(h.ds.status.as_ref().unwrap().number_ready, 2);
    });
}

#[test]
fn test_observed_generation() {
    for_each_strategy(|mut h| {
        h.ds.metadata.generation = Some(1);
        h.add_nodes(0, 1, json!({}));
        h.add_pods("node-0", simple_daemon_set_label(), true, 1);
        h.expect_sync(0, 0, 0);
        assert_eq!(h.ds.status.as_ref().unwrap().observed_generation, Some(1));
    });
}

fn add_failed_pods(h: &mut Harness, node: &str, n: usize) {
    for i in 0..n {
        let mut pod = h.new_pod(&format!("failed-{node}-{i}"), node, simple_daemon_set_label(), true);
        pod.status.as_mut().unwrap().phase = Some("Failed".into());
        h.add_pod(pod);
    }
}

#[test]
fn test_daemon_kill_failed_pods() {
    for (failed, normal, creates, deletes, events) in
        [(0, 1, 0, 0, 0), (0, 0, 1, 0, 0), (1, 0, 0, 1, 1), (1, 3, 0, 3, 1)]
    {
        for_each_strategy(|mut h| {
            h.add_nodes(0, 1, json!({}));
            add_failed_pods(&mut h, "node-0", failed);
            h.add_pods("node-0", simple_daemon_set_label(), true, normal);
            h.expect_sync(creates, deletes, events);
        });
    }
}

#[test]
fn test_daemon_kill_failed_pods_backoff() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        // The backoff key carries the observed generation; keep it steady across syncs.
        h.ds.status = Some(
            serde_json::from_value(json!({"observedGeneration": 1, "currentNumberScheduled": 0,
            "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0}))
            .unwrap(),
        );
        add_failed_pods(&mut h, "node-0", 1);
        h.expect_sync(0, 1, 1);
        let key = daemonset::FailedPodBackoff::key(&h.ds, "node-0");
        let delay = h.backoff.delay(&key).unwrap();
        // The replacement fails again at once; the next deletion waits for the backoff.
        add_failed_pods(&mut h, "node-0", 1);
        h.expect_sync(0, 0, 0);
        assert_eq!(h.backoff.delay(&key), Some(delay), "the delay is unchanged while waiting");
        assert_eq!(h.requeue_after, Some(delay), "the DaemonSet is requeued after the delay");
        let start = h.now;
        h.now = start + delay - SignedDuration::from_nanos(1);
        assert!(h.backoff.is_in_backoff(&key, h.now));
        h.now = start + delay;
        assert!(!h.backoff.is_in_backoff(&key, h.now));
        h.expect_sync(0, 1, 1);
    });
}

#[test]
fn test_no_schedule_tainted_doesnt_evicit_running_intolerant_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        taint(&mut h, "node-0", json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]));
        h.add_pods("node-0", simple_daemon_set_label(), true, 1);
        h.expect_sync(0, 0, 0);
    });
}

#[test]
fn test_no_execute_tainted_does_evicit_running_intolerant_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        taint(
            &mut h,
            "node-0",
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}, {"key": "custom", "effect": "NoExecute"}]),
        );
        h.add_pods("node-0", simple_daemon_set_label(), true, 1);
        h.expect_sync(0, 1, 0);
    });
}

#[test]
fn test_tainted_node_daemon_does_not_launch_intolerant_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        taint(&mut h, "node-0", json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]));
        h.expect_sync(0, 0, 0);
    });
}

#[test]
fn test_tainted_node_daemon_launches_tolerate_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        taint(&mut h, "node-0", json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]));
        set_template(
            &mut h,
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"}]}),
        );
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_not_ready_node_daemon_launches_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        taint(&mut h, "node-0", json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]));
        set_node_condition(&mut h, "node-0", "Ready", "False");
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_unreachable_node_daemon_launches_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        taint(&mut h, "node-0", json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]));
        set_node_condition(&mut h, "node-0", "Ready", "Unknown");
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_node_daemon_launches_tolerate_pod() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        set_template(
            &mut h,
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"}]}),
        );
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_daemon_set_respects_termination() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        let mut pod = h.new_pod("terminating", "node-0", simple_daemon_set_label(), true);
        pod.metadata.deletion_timestamp = Some(Time(t(1)));
        h.add_pod(pod);
        h.expect_sync(0, 0, 0);
    });
}

#[test]
fn test_taint_pressure_node_daemon_launches_pod() {
    for_each_strategy(|mut h| {
        h.ds.metadata.namespace = Some("kube-system".into());
        set_template(&mut h, json!({"priorityClassName": "system-node-critical", "priority": 2000001000}));
        h.add_nodes(0, 1, json!({}));
        taint(
            &mut h,
            "node-0",
            json!([
            {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/pid-pressure", "effect": "NoSchedule"}]),
        );
        h.expect_sync(1, 0, 0);
    });
}

#[test]
fn test_node_should_run_daemon_pod() {
    let node = |labels: Value, unschedulable: bool| -> Node {
        serde_json::from_value(json!({"metadata": {"name": "test-node", "labels": labels}, "spec": {"unschedulable": unschedulable},
            "status": {"allocatable": {"memory": "75M", "cpu": "75m", "pods": "100"}}})).unwrap()
    };
    let ds_with = |spec: Value| {
        let mut ds = new_daemon_set("ds");
        let mut template =
            serde_json::to_value(ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap()).unwrap();
        for (k, v) in spec.as_object().unwrap() {
            template[k] = v.clone();
        }
        ds.spec.as_mut().unwrap().template.spec = Some(serde_json::from_value(template).unwrap());
        ds
    };
    let affinity = |key: &str| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": ["blue"]}]}]}}})
    };
    let cases = [
        (
            "InsufficientResourceError",
            node(json!({}), false),
            ds_with(
                json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"memory": "200M"}}}]}),
            ),
            Eligibility::RUN,
        ),
        (
            "ErrNodeSelectorNotMatch on nodeName",
            node(json!({}), false),
            ds_with(json!({"nodeName": "other-node"})),
            Eligibility::NONE,
        ),
        (
            "ErrPodNotFitsHostPorts",
            node(json!({}), false),
            ds_with(
                json!({"containers": [{"name": "c", "image": "i", "ports": [{"hostPort": 666, "containerPort": 666}]}]}),
            ),
            Eligibility::RUN,
        ),
        (
            "ErrNodeSelectorNotMatch",
            node(json!({}), false),
            ds_with(json!({"nodeSelector": simple_node_label()})),
            Eligibility::NONE,
        ),
        (
            "node selector matches",
            node(simple_node_label(), false),
            ds_with(json!({"nodeSelector": simple_node_label()})),
            Eligibility::RUN,
        ),
        (
            "ErrPodAffinityNotMatch",
            node(json!({}), false),
            ds_with(json!({"affinity": affinity("color")})),
            Eligibility::NONE,
        ),
        (
            "node affinity matches",
            node(simple_node_label(), false),
            ds_with(json!({"affinity": affinity("color")})),
            Eligibility::RUN,
        ),
        (
            "ShouldRunDaemonPodOnUnschedulableNode",
            node(json!({}), true),
            ds_with(json!({})),
            Eligibility::RUN,
        ),
    ];
    for (name, n, ds, want) in cases {
        assert_eq!(node_should_run_daemon_pod(&n, &ds), want, "{name}");
    }
}

fn placements(dss: &[daemonset_types::DaemonSet]) -> Vec<Placement> {
    dss.iter().map(Placement::new).collect()
}

mod daemonset_types {
    pub use k8s_openapi::api::apps::v1::DaemonSet;
}

#[test]
fn test_update_node() {
    let ds = new_daemon_set("ds");
    let mut selective = new_daemon_set("selective");
    selective.spec.as_mut().unwrap().template.spec.as_mut().unwrap().node_selector =
        Some(serde_json::from_value(simple_node_label()).unwrap());
    let dss = [ds, selective];
    let p = placements(&dss);
    let pairs: Vec<(&daemonset_types::DaemonSet, &Placement)> = dss.iter().zip(&p).collect();
    let plain = new_node("node1", json!({}));
    assert!(on_node_updated(&plain, &plain.clone(), &pairs).is_empty(), "Nothing changed");
    let labelled = new_node("node1", simple_node_label());
    let keys: Vec<_> =
        on_node_updated(&plain, &labelled, &pairs).iter().map(|d| d.metadata.name.clone().unwrap()).collect();
    assert_eq!(keys, ["selective"], "Node labels changed");
    let mut tainted = plain.clone();
    tainted.spec =
        Some(serde_json::from_value(json!({"taints": [{"key": "k", "effect": "NoSchedule"}]})).unwrap());
    let keys: Vec<_> =
        on_node_updated(&tainted, &plain, &pairs).iter().map(|d| d.metadata.name.clone().unwrap()).collect();
    assert_eq!(keys, ["ds"], "Node taints changed");
    let mut allocatable = plain.clone();
    allocatable.status.as_mut().unwrap().allocatable =
        Some(serde_json::from_value(json!({"pods": "101"})).unwrap());
    assert!(on_node_updated(&plain, &allocatable, &pairs).is_empty(), "Node Allocatable changed");
}

#[test]
fn test_should_ignore_node_update() {
    let a = new_node("node1", json!({}));
    assert!(should_ignore_node_update(&a, &a.clone()));
    assert!(!should_ignore_node_update(&a, &new_node("node1", json!({"new": "label"}))));
    let mut tainted = a.clone();
    tainted.spec =
        Some(serde_json::from_value(json!({"taints": [{"key": "k", "effect": "NoSchedule"}]})).unwrap());
    assert!(!should_ignore_node_update(&a, &tainted));
}

#[test]
fn test_add_node() {
    let mut ds = new_daemon_set("foo");
    ds.spec.as_mut().unwrap().template.spec.as_mut().unwrap().node_selector =
        Some(serde_json::from_value(simple_node_label()).unwrap());
    let p = Placement::new(&ds);
    let pairs = [(&ds, &p)];
    assert!(on_node_added(&new_node("node1", json!({})), &pairs).is_empty());
    assert_eq!(on_node_added(&new_node("node2", simple_node_label()), &pairs).len(), 1);
}

fn owned_pod(name: &str, ds: &daemonset_types::DaemonSet) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": "1", "labels": simple_daemon_set_label(),
        "ownerReferences": [daemonset::pod::controller_ref(ds)]}, "spec": {"containers": [], "nodeName": "node-0"}})).unwrap()
}

fn orphan_pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": "1", "labels": labels},
        "spec": {"containers": [], "nodeName": "node-0"}}),
    )
    .unwrap()
}

#[test]
fn test_add_pod() {
    let (ds1, ds2) = (new_daemon_set("foo1"), new_daemon_set("foo2"));
    let all = [&ds1, &ds2];
    let r = on_pod_added(&owned_pod("pod1", &ds1), &all);
    assert_eq!(r.enqueue, ["default/foo1"]);
    assert_eq!(r.observed_creation.as_deref(), Some("default/foo1"));
    assert_eq!(on_pod_added(&owned_pod("pod2", &ds2), &all).enqueue, ["default/foo2"]);
}

#[test]
fn test_add_pod_orphan() {
    let (ds1, ds2, mut ds3) = (new_daemon_set("foo1"), new_daemon_set("foo2"), new_daemon_set("foo3"));
    ds3.spec.as_mut().unwrap().selector.match_labels =
        Some(serde_json::from_value(simple_daemon_set_label2()).unwrap());
    let r = on_pod_added(&orphan_pod("pod1", simple_daemon_set_label()), &[&ds1, &ds2, &ds3]);
    assert_eq!(r.enqueue, ["default/foo1", "default/foo2"]);
}

#[test]
fn test_update_pod() {
    let (ds1, ds2) = (new_daemon_set("foo1"), new_daemon_set("foo2"));
    for ds in [&ds1, &ds2] {
        let old = owned_pod("pod", ds);
        let mut new = old.clone();
        new.metadata.resource_version = Some("2".into());
        assert_eq!(on_pod_updated(&old, &new, &[&ds1, &ds2]).enqueue, [daemonset::routing::key_of(ds)]);
    }
}

#[test]
fn test_update_pod_orphan_same_labels() {
    let (ds1, ds2) = (new_daemon_set("foo1"), new_daemon_set("foo2"));
    let old = orphan_pod("pod", simple_daemon_set_label());
    let mut new = old.clone();
    new.metadata.resource_version = Some("2".into());
    assert!(on_pod_updated(&old, &new, &[&ds1, &ds2]).enqueue.is_empty());
}

#[test]
fn test_update_pod_orphan_with_new_labels() {
    let (ds1, ds2) = (new_daemon_set("foo1"), new_daemon_set("foo2"));
    let old = orphan_pod("pod", json!({"other": "label"}));
    let mut new = orphan_pod("pod", simple_daemon_set_label());
    new.metadata.resource_version = Some("2".into());
    assert_eq!(on_pod_updated(&old, &new, &[&ds1, &ds2]).enqueue, ["default/foo1", "default/foo2"]);
}

#[test]
fn test_update_pod_change_controller_ref() {
    let (ds1, ds2) = (new_daemon_set("foo1"), new_daemon_set("foo2"));
    let old = owned_pod("pod", &ds2);
    let mut new = owned_pod("pod", &ds1);
    new.metadata.resource_version = Some("2".into());
    assert_eq!(on_pod_updated(&old, &new, &[&ds1, &ds2]).enqueue, ["default/foo2", "default/foo1"]);
}

#[test]
fn test_update_pod_controller_ref_removed() {
    let (ds1, ds2) = (new_daemon_set("foo1"), new_daemon_set("foo2"));
    let old = owned_pod("pod", &ds1);
    let mut new = old.clone();
    new.metadata.owner_references = None;
    new.metadata.resource_version = Some("2".into());
    assert_eq!(
        on_pod_updated(&old, &new, &[&ds1, &ds2]).enqueue,
        ["default/foo1", "default/foo1", "default/foo2"]
    );
}

#[test]
fn test_delete_pod() {
    let (ds1, ds2) = (new_daemon_set("foo1"), new_daemon_set("foo2"));
    let r = on_pod_deleted(&owned_pod("pod", &ds1), &[&ds1, &ds2]);
    assert_eq!(r.enqueue, ["default/foo1"]);
    assert_eq!(r.observed_deletion.as_deref(), Some("default/foo1"));
}

#[test]
fn test_delete_pod_orphan() {
    let ds1 = new_daemon_set("foo1");
    assert!(on_pod_deleted(&orphan_pod("pod", simple_daemon_set_label()), &[&ds1]).enqueue.is_empty());
}

#[test]
fn test_delete_no_daemon_pod() {
    let ds = new_daemon_set("foo");
    let unowned = orphan_pod("unowned", simple_daemon_set_label());
    let mut other_controller = orphan_pod("other", simple_daemon_set_label());
    other_controller.metadata.owner_references = Some(
        serde_json::from_value(json!([
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid", "controller": true}]))
        .unwrap(),
    );
    for pod in [unowned, other_controller] {
        assert!(on_pod_deleted(&pod, &[&ds]).enqueue.is_empty());
    }
}

#[test]
fn test_delete_unscheduled_pod_for_not_existing_node() {
    for_each_strategy(|mut h| {
        h.add_nodes(0, 1, json!({}));
        h.add_pods("node-0", simple_daemon_set_label(), true, 1);
        h.add_pods("node-1", simple_daemon_set_label(), true, 1);
        let mut unscheduled = h.new_pod("unscheduled", "", simple_daemon_set_label(), true);
        unscheduled.spec.as_mut().unwrap().node_name = None;
        unscheduled.spec.as_mut().unwrap().affinity = Some(daemonset::pod::pin_to_node(None, "node-2"));
        h.add_pod(unscheduled);
        h.expect_sync(0, 1, 0);
        assert!(!h.pods.contains_key("unscheduled"));
    });
}

#[test]
fn test_get_nodes_to_daemon_pods() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 2, json!({}));
    h.add_pods("node-0", simple_daemon_set_label(), true, 1);
    h.add_pods("node-1", simple_daemon_set_label(), true, 1);
    let orphan = orphan_pod("matching-orphan", simple_daemon_set_label());
    h.add_pod(orphan);
    h.add_pod(h.new_pod("non-matching-owned", "node-0", simple_daemon_set_label2(), true));
    h.add_pod(h.new_pod("non-matching-orphan", "node-1", simple_daemon_set_label2(), false));
    let mut other = h.new_pod("other-owner", "node-0", simple_daemon_set_label(), false);
    other.metadata.owner_references = Some(serde_json::from_value(json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "x", "uid": "x", "controller": true}])).unwrap());
    h.add_pod(other);
    let mut failed = h.new_pod("failed", "node-1", simple_daemon_set_label(), true);
    failed.status.as_mut().unwrap().phase = Some("Failed".into());
    h.add_pod(failed.clone());
    let mut deleted_failed = failed;
    deleted_failed.metadata.name = Some("failed-and-deleted".into());
    deleted_failed.metadata.deletion_timestamp = Some(Time(t(1)));
    h.add_pod(deleted_failed);
    let mut orphan_1 = orphan_pod("matching-orphan-1", simple_daemon_set_label());
    orphan_1.spec.as_mut().unwrap().node_name = Some("node-1".into());
    h.add_pod(orphan_1);
    let mut succeeded = h.new_pod("succeeded", "node-0", simple_daemon_set_label(), true);
    succeeded.status.as_mut().unwrap().phase = Some("Succeeded".into());
    h.add_pod(succeeded.clone());
    let mut deleted_succeeded = succeeded;
    deleted_succeeded.metadata.name = Some("succeeded-and-deleted".into());
    deleted_succeeded.metadata.deletion_timestamp = Some(Time(t(1)));
    h.add_pod(deleted_succeeded);
    let claimed = h.claimed();
    let facts = daemonset::pod_facts::of_each(claimed.iter().copied());
    let ctx = SyncContext::new(&h.ds, "", &h.nodes, claimed.iter().copied().zip(&facts), h.now);
    let names = |node: &str| {
        let mut v: Vec<String> = ctx.pods_on(node).iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        v.sort();
        v
    };
    // "exclude deleted terminal pods": what a sync works from.
    assert_eq!(names("node-0"), ["matching-orphan", "node-0-pod-1", "succeeded"]);
    assert_eq!(
        names("node-1"),
        ["failed", "matching-orphan-1", "node-1-pod-2"],
        "terminal pods count unless they are being deleted"
    );
    // "include deleted terminal pods": what history cleanup works from is every claimed pod.
    let mut claimed: Vec<String> = h.claimed().iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    claimed.sort();
    assert_eq!(
        claimed,
        [
            "failed",
            "failed-and-deleted",
            "matching-orphan",
            "matching-orphan-1",
            "node-0-pod-1",
            "node-1-pod-2",
            "succeeded",
            "succeeded-and-deleted"
        ]
    );
}

#[test]
fn history_cleanup_keeps_the_revisions_of_deleted_terminal_pods() {
    // Upstream's "include deleted terminal pods" is what `cleanupHistory` reads: a Failed pod
    // being deleted still holds its revision.
    let mut ds = new_daemon_set("foo");
    ds.spec.as_mut().unwrap().revision_history_limit = Some(0);
    let mut h = Harness::new(ds);
    h.add_nodes(0, 1, json!({}));
    let old_hash = h.current_hash();
    h.add_pods("node-0", simple_daemon_set_label(), true, 1);
    let pod = h.pods.keys().next().unwrap().clone();
    let p = h.pod_mut(&pod);
    p.metadata.labels.as_mut().unwrap().insert("controller-revision-hash".into(), old_hash.clone());
    p.status.as_mut().unwrap().phase = Some("Failed".into());
    p.metadata.deletion_timestamp = Some(Time(t(1)));
    set_image(&mut h.ds, "new");
    let new_hash = h.current_hash();
    assert_ne!(new_hash, old_hash);
    let old: Vec<&ControllerRevision> = h
        .revisions
        .iter()
        .filter(|r| r.metadata.labels.as_ref().unwrap()["controller-revision-hash"] == old_hash)
        .collect();
    assert_eq!(old.len(), 1);
    let claimed = h.claimed();
    assert!(daemonset::revision::history_to_truncate(&h.ds, &old, &claimed).is_empty());
    assert_eq!(daemonset::revision::history_to_truncate(&h.ds, &old, &[]).len(), 1);
}

fn surge_harness() -> Harness {
    let mut ds = new_daemon_set("foo");
    ds.spec.as_mut().unwrap().update_strategy = Some(new_update_surge(IntOrString::Int(1)));
    let mut h = Harness::new(ds);
    h.add_nodes(0, 5, json!({}));
    h
}

/// An owned pod created at `created`, Ready since `ready`; `current` keeps the current hash
/// label, otherwise it is removed (an old pod, as upstream's surge tests make them).
fn aged_pod(h: &Harness, name: &str, node: &str, current: bool, created: i64, ready: Option<i64>) -> Pod {
    let mut pod = h.new_pod(name, node, simple_daemon_set_label(), true);
    if !current {
        pod.metadata.labels.as_mut().unwrap().remove("controller-revision-hash");
    }
    pod.metadata.creation_timestamp = Some(Time(t(created)));
    if let Some(at) = ready {
        set_ready(&mut pod, true, t(at));
    }
    pod
}

#[test]
fn test_surge_deals_with_existing_pods() {
    let mut h = surge_harness();
    h.add_pods("node-1", simple_daemon_set_label(), true, 1);
    h.add_pods("node-2", simple_daemon_set_label(), true, 2);
    h.add_pods("node-3", simple_daemon_set_label(), true, 5);
    h.add_pods("node-4", simple_daemon_set_label2(), true, 2);
    h.expect_sync(2, 5, 0);
}

#[test]
fn test_surge_preserves_ready_old_pods() {
    let mut h = surge_harness();
    h.add_pod(aged_pod(&h, "new", "node-1", true, 100, None));
    h.add_pod(aged_pod(&h, "old", "node-1", false, 50, Some(50)));
    h.add_pod(aged_pod(&h, "oldest-extra", "node-1", false, 60, Some(60)));
    h.add_pods("node-2", simple_daemon_set_label(), true, 1);
    h.now = t(101);
    h.expect_sync(3, 1, 0);
    assert!(h.pods.contains_key("old") && !h.pods.contains_key("oldest-extra"), "the t=60 old pod goes");
}

#[test]
fn test_surge_creates_new_pod_when_at_max_surge_and_old_pod_deleted() {
    let mut h = surge_harness();
    h.add_pod(aged_pod(&h, "node-0-new", "node-0", true, 100, None));
    h.add_pod(aged_pod(&h, "node-0-old", "node-0", false, 50, Some(50)));
    for i in 1..4 {
        h.add_pod(aged_pod(&h, &format!("node-{i}-old"), &format!("node-{i}"), false, 50, Some(50)));
    }
    let mut terminating = aged_pod(&h, "node-4-old", "node-4", false, 50, Some(50));
    terminating.metadata.deletion_timestamp = Some(Time(t(100)));
    h.add_pod(terminating);
    h.now = t(101);
    h.expect_sync(1, 0, 0);
    assert_eq!(h.pods_on("node-4").len(), 2, "node-4 gets its new pod beside the terminating one");
}

#[test]
fn test_surge_deletes_unready_old_pods() {
    let mut h = surge_harness();
    h.add_pod(aged_pod(&h, "new", "node-1", true, 100, None));
    h.add_pod(aged_pod(&h, "old-unready", "node-1", false, 50, None));
    h.add_pod(aged_pod(&h, "old-ready", "node-1", false, 60, Some(60)));
    h.add_pods("node-2", simple_daemon_set_label(), true, 1);
    h.now = t(101);
    h.expect_sync(3, 2, 0);
}

fn min_ready_surge(new_ready_for: i64) -> Harness {
    let mut h = surge_harness();
    h.ds.spec.as_mut().unwrap().min_ready_seconds = Some(15);
    h.now = t(100 + new_ready_for);
    h.add_pod(aged_pod(&h, "new", "node-1", true, 100, Some(100)));
    h.add_pod(aged_pod(&h, "old", "node-1", false, 50, Some(50)));
    h.add_pod(aged_pod(&h, "old-extra", "node-1", false, 60, Some(60)));
    h.add_pods("node-2", simple_daemon_set_label(), true, 1);
    h
}

#[test]
fn test_surge_preserves_old_ready_with_unsatisfied_min_ready() {
    min_ready_surge(10).expect_sync(3, 1, 0);
}

#[test]
fn test_surge_deletes_old_ready_with_unsatisfied_min_ready() {
    min_ready_surge(20).expect_sync(3, 2, 0);
}

#[test]
fn status_is_written_only_when_it_changes() {
    let mut h = Harness::new(new_daemon_set("foo"));
    h.add_nodes(0, 1, json!({}));
    h.expect_sync(1, 0, 0);
    let first = h.ds.status.clone().unwrap();
    assert!(!status_changed(Some(&first), &first));
    h.mark_pods_ready();
    h.expect_sync(0, 0, 0);
    assert!(status_changed(Some(&first), h.ds.status.as_ref().unwrap()));
}
