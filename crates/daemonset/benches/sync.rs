//! One full sync decision — history, eligibility of every node, per-node reconciliation, the
//! rolling-update step and status — for one DaemonSet mid-rollout over N nodes and N pods.
//!
//! `cargo bench -p daemonset --bench sync`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use daemonset::pod::{controller_ref, daemon_pod_template, new_daemon_pod};
use daemonset::pod_facts::PodFacts;
use daemonset::revision::{daemonset_hash, plan_history};
use daemonset::{Eligibility, FailedPodBackoff, Placement, SyncContext};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn daemonset() -> DaemonSet {
    let mut ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "fluentd", "namespace": "logging", "uid": "uid-1", "generation": 2,
            "annotations": {"deprecated.daemonset.template.generation": "2"}},
        "spec": {"selector": {"matchLabels": {"name": "fluentd"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {"metadata": {"labels": {"name": "fluentd"}}, "spec": {
                "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}},
                "containers": [{"name": "fluentd", "image": "fluentd:v2",
                    "resources": {"limits": {"memory": "200Mi"}, "requests": {"cpu": "100m", "memory": "200Mi"}}}]}}}}))
    .unwrap();
    daemonset::defaults::set_defaults_daemonset(&mut ds);
    ds
}

/// N nodes, and one pod per node: the first half on the new template, the rest old; all Ready.
fn cluster(n: usize) -> (DaemonSet, Vec<Node>, Vec<Pod>) {
    let ds = daemonset();
    let hash = daemonset_hash(&ds);
    let new_template = daemon_pod_template(&ds, &hash);
    let mut old_template = daemon_pod_template(&ds, "old");
    let old_labels = old_template.metadata.as_mut().unwrap().labels.as_mut().unwrap();
    old_labels.insert("pod-template-generation".into(), "1".into());
    let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let nodes = (0..n)
        .map(|i| {
            serde_json::from_value(json!({"metadata": {"name": format!("node-{i}"), "labels": {
                "kubernetes.io/os": "linux", "kubernetes.io/hostname": format!("node-{i}")}},
                "spec": {"taints": if i % 50 == 0 { json!([{"key": "dedicated", "effect": "PreferNoSchedule"}]) } else { json!([]) }}}))
            .unwrap()
        })
        .collect();
    let pods = (0..n)
        .map(|i| {
            let template = if i < n / 2 { &new_template } else { &old_template };
            let mut pod = new_daemon_pod(&ds, template, &format!("node-{i}"));
            pod.metadata.name = Some(format!("fluentd-{i}"));
            pod.metadata.owner_references = Some(vec![controller_ref(&ds)]);
            pod.metadata.creation_timestamp = Some(Time(now));
            pod.spec.as_mut().unwrap().node_name = Some(format!("node-{i}"));
            pod.status = Some(serde_json::from_value(json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]})).unwrap());
            pod
        })
        .collect();
    (ds, nodes, pods)
}

/// One sync's decisions; the pods' facts are taken before, as a controller takes them once
/// per version of a pod.
fn full_sync(ds: &DaemonSet, nodes: &[Node], pods: &[Pod], facts: &[PodFacts], now: Timestamp) -> usize {
    let refs: Vec<&Pod> = pods.iter().collect();
    let history = plan_history(ds, &[], &refs);
    let ctx = SyncContext::new(ds, &history.hash, nodes, pods.iter().zip(facts), now);
    let manage = ctx.manage(&mut FailedPodBackoff::default());
    let rollout = ctx.rolling_update();
    let status = ctx.status(ds.status.as_ref(), ds.metadata.generation);
    manage.create_on.len() + rollout.delete.len() + status.desired_number_scheduled as usize
}

/// The same, each node's eligibility also judged before, as the controller remembers it per
/// version of a node.
fn sync_nodes_remembered(
    ds: &DaemonSet,
    nodes: &[(&Node, Eligibility)],
    pods: &[Pod],
    facts: &[PodFacts],
    now: Timestamp,
) -> usize {
    let refs: Vec<&Pod> = pods.iter().collect();
    let history = plan_history(ds, &[], &refs);
    let ctx =
        SyncContext::with_eligibility(ds, &history.hash, nodes.iter().copied(), pods.iter().zip(facts), now);
    let manage = ctx.manage(&mut FailedPodBackoff::default());
    let rollout = ctx.rolling_update();
    let status = ctx.status(ds.status.as_ref(), ds.metadata.generation);
    manage.create_on.len() + rollout.delete.len() + status.desired_number_scheduled as usize
}

fn bench(c: &mut Criterion) {
    let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
    let mut group = c.benchmark_group("full_sync_decision");
    group.sample_size(20);
    for n in [500usize, 5_000, 50_000] {
        let (ds, nodes, pods) = cluster(n);
        let facts = daemonset::pod_facts::of_each(&pods);
        // Mid-rollout: half updated, 10% budget → deletions planned, none created.
        assert_eq!(full_sync(&ds, &nodes, &pods, &facts, now), n.div_ceil(10) + n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(full_sync(&ds, &nodes, &pods, &facts, now)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("sync_decision_nodes_remembered");
    group.sample_size(20);
    for n in [500usize, 5_000, 50_000] {
        let (ds, nodes, pods) = cluster(n);
        let facts = daemonset::pod_facts::of_each(&pods);
        let placement = Placement::new(&ds);
        let judged: Vec<(&Node, Eligibility)> = nodes.iter().map(|n| (n, placement.eligibility(n))).collect();
        assert_eq!(sync_nodes_remembered(&ds, &judged, &pods, &facts, now), n.div_ceil(10) + n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(sync_nodes_remembered(&ds, &judged, &pods, &facts, now)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
