//! The writes a simulated cluster makes most, end to end through the server: a kubelet's Lease
//! renewal, a kubelet's pod status patch and a controller's pod create, each through the
//! loopback transport (as `everynode up`'s components send them), decided, committed to a
//! temporary redb file and published to a watch that reads every event. Sixty-four requests in
//! flight at a time, as the kubelets keep them; the time is the CPU time of the whole process
//! per write.
//!
//! `cargo bench -p apiserver --bench writes`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apiserver::{RunningServer, ServerConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

/// The allocator `everynode` runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OBJECTS: usize = 5_000;
const IN_FLIGHT: usize = 64;

struct Cluster {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    _server: RunningServer,
    _dir: tempfile::TempDir,
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"name": "fluentd", "controller-revision-hash": "5d4f8b7c9",
            "pod-template-generation": "2"}},
        "spec": {"nodeName": format!("node-{name}"),
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [format!("node-{name}")]}]}]}}},
            "containers": [{"name": "fluentd", "image": "fluentd:v2",
                "resources": {"limits": {"memory": "200Mi"}, "requests": {"cpu": "100m", "memory": "200Mi"}}}]}})
}

/// A kubelet's status for a running pod; `restarts` makes each write a change.
fn running_status(restarts: usize) -> Value {
    let now = jiff::Timestamp::now().to_string();
    json!({"status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.0.2", "startTime": now,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}],
        "containerStatuses": [{"name": "fluentd", "image": "fluentd:v2", "imageID": "", "ready": true,
            "restartCount": restarts, "started": true, "state": {"running": {"startedAt": now}}}]}})
}

/// The CPU time this process has used, user and system, every thread's (Linux).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // The kernel's USER_HZ, 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

impl Cluster {
    fn start() -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .max_blocking_threads(16)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (server, client) = runtime.block_on(async {
            let mut config = ServerConfig::new(dir.path());
            config.port = 0;
            let server = apiserver::start(config).await.expect("the server starts");
            let client = kube::Client::new(server.loopback(), "default");
            let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
            let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
            futures::stream::iter(0..OBJECTS)
                .for_each_concurrent(IN_FLIGHT, |i| {
                    let (leases, pods) = (leases.clone(), pods.clone());
                    async move {
                        let lease = serde_json::from_value(json!({"metadata": {"name": format!("node-{i}")},
                            "spec": {"holderIdentity": format!("node-{i}"), "leaseDurationSeconds": 40}}))
                        .unwrap();
                        leases.create(&PostParams::default(), &lease).await.expect("a Lease");
                        let pod = serde_json::from_value(pod(&format!("ds-{i}"))).unwrap();
                        pods.create(&PostParams::default(), &pod).await.expect("a Pod");
                    }
                })
                .await;
            (server, client)
        });
        // Every write is published to a watcher, as the control plane's informers watch them.
        for path in ["/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", "/api/v1/pods"] {
            let client = client.clone();
            runtime.spawn(async move {
                let request = kube::core::Request::new(path)
                    .watch(&WatchParams::default(), "0")
                    .expect("a watch request");
                let mut events = client.request_events::<Value>(request).await.expect("a watch").boxed();
                while let Ok(Some(event)) = events.try_next().await {
                    std::hint::black_box(matches!(event, WatchEvent::Modified(_)));
                }
            });
        }
        Cluster { runtime, client, _server: server, _dir: dir }
    }

    /// Runs `iters` writes, `IN_FLIGHT` at a time, and returns the CPU time the process spent
    /// on them, every thread's (the committer's, the watchers'), which on two cores varies
    /// far less from run to run than the time they took.
    fn time<F, Fut>(&self, iters: u64, write: F) -> Duration
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.runtime.block_on(async {
            let start = process_cpu();
            futures::stream::iter(0..iters as usize).for_each_concurrent(IN_FLIGHT, &write).await;
            process_cpu().saturating_sub(start)
        })
    }
}

fn writes(c: &mut Criterion) {
    let cluster = Cluster::start();
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(1)).sample_size(20).measurement_time(Duration::from_secs(20));

    let next = Arc::new(AtomicUsize::new(0));
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-node-lease");
    group.bench_function("lease_renewal", |b| {
        b.iter_custom(|iters| {
            cluster.time(iters, |_| {
                let (leases, i) = (leases.clone(), next.fetch_add(1, Ordering::Relaxed) % OBJECTS);
                async move {
                    let now =
                        k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(jiff::Timestamp::now());
                    let patch = json!({"spec": {"holderIdentity": format!("node-{i}"),
                        "leaseDurationSeconds": 40, "renewTime": now}});
                    leases
                        .patch(&format!("node-{i}"), &PatchParams::default(), &Patch::Merge(patch))
                        .await
                        .expect("a renewal");
                }
            })
        })
    });

    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    group.bench_function("pod_status", |b| {
        b.iter_custom(|iters| {
            cluster.time(iters, |_| {
                let (pods, n) = (pods.clone(), next.fetch_add(1, Ordering::Relaxed));
                async move {
                    pods.patch_status(
                        &format!("ds-{}", n % OBJECTS),
                        &PatchParams::default(),
                        &Patch::Strategic(running_status(n / OBJECTS)),
                    )
                    .await
                    .expect("a status");
                }
            })
        })
    });

    group.bench_function("pod_create", |b| {
        b.iter_custom(|iters| {
            cluster.time(iters, |_| {
                let (pods, n) = (pods.clone(), next.fetch_add(1, Ordering::Relaxed));
                async move {
                    let pod = serde_json::from_value(pod(&format!("new-{n}"))).unwrap();
                    pods.create(&PostParams::default(), &pod).await.expect("a pod");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, writes);
criterion_main!(benches);
