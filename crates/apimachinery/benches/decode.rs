//! What finding duplicate keys costs on the write path: a daemon pod's JSON, as the
//! controller creates it and a kubelet writes its status, decoded by `serde_json` into a
//! `Value` and by `duplicate_fields::from_slice` (the same decoding, noting keys given twice).
//!
//! `cargo bench -p apimachinery --bench decode`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn pod() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "fluentd-x7k2p", "generateName": "fluentd-", "namespace": "logging",
            "labels": {"name": "fluentd", "controller-revision-hash": "6d4cf56db6", "pod-template-generation": "2"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd",
                "uid": "0b6e1c2e-8d9a-4c1f-9a55-3f1f0a3b6c11", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["k8s-worker-1234"]}]}]}}},
            "containers": [{"name": "fluentd", "image": "quay.io/fluentd_elasticsearch/fluentd:v2.5.2",
                "resources": {"limits": {"memory": "200Mi"}, "requests": {"cpu": "100m", "memory": "200Mi"}},
                "volumeMounts": [{"name": "varlog", "mountPath": "/var/log"}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"}],
            "tolerations": [
                {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"}],
            "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": true},
        "status": {"phase": "Running", "qosClass": "Burstable", "hostIP": "10.0.4.210", "podIP": "10.244.4.210",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-12-07T10:00:00Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-07T10:00:02Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-12-07T10:00:02Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-07T10:00:00Z"}],
            "containerStatuses": [{"name": "fluentd", "ready": true, "restartCount": 0, "started": true,
                "image": "quay.io/fluentd_elasticsearch/fluentd:v2.5.2", "imageID": "",
                "state": {"running": {"startedAt": "2026-12-07T10:00:01Z"}}}]}
    }))
    .unwrap()
}

fn decode(c: &mut Criterion) {
    let body = pod();
    let mut group = c.benchmark_group("decode a pod");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("serde_json::from_slice", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&body)).unwrap())
    });
    group.bench_function("duplicate_fields::from_slice", |b| {
        b.iter(|| apimachinery::duplicate_fields::from_slice(black_box(&body)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
