//! Pod garbage collection (upstream `podgc`), every 20 s and after node deletions:
//!
//! - Orphaned pods: pods bound to a node that no longer exists are collected once the node has
//!   stayed gone for the quarantine (40 s) and a live read confirms it: each is marked
//!   `DisruptionTarget` (`DeletionByPodGC`) and `Failed` unless it already finished, then
//!   deleted at once.
//! - Terminating pods that were never scheduled are deleted at once.
//! - Terminated pods (`Succeeded` or `Failed`) beyond the threshold (12,500) are deleted,
//!   oldest first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use client::informer::{self, Change, Informers, Store};
use client::pod_deletion;

/// How long a node must stay gone before its pods are collected (upstream's quarantine).
pub const QUARANTINE: Duration = Duration::from_secs(40);
/// How many terminated pods are kept (kube-controller-manager's
/// `--terminated-pod-gc-threshold`).
pub const TERMINATED_POD_THRESHOLD: usize = 12_500;
/// How often pods are looked at (upstream's `gcCheckPeriod`).
const CHECK_PERIOD: Duration = Duration::from_secs(20);

pub struct PodGc {
    client: Client,
    informers: Arc<Informers>,
    pods: Arc<Store<Pod>>,
    nodes: Arc<Store<Node>>,
    quarantine: Duration,
    terminated_threshold: usize,
}

/// Whether a pod has finished.
fn terminated(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Which terminated pods to delete so that at most `threshold` remain: the oldest.
pub fn excess_terminated(pods: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    let mut done: Vec<&Arc<Pod>> =
        pods.iter().filter(|p| terminated(p) && p.metadata.deletion_timestamp.is_none()).collect();
    if done.len() <= threshold {
        return Vec::new();
    }
    done.sort_by_key(|p| (p.metadata.creation_timestamp.clone().map(|t| t.0), informer::key_of(p.as_ref())));
    done[..done.len() - threshold].iter().map(|p| (*p).clone()).collect()
}

impl PodGc {
    /// `quarantine` is how long a node must stay gone ([`QUARANTINE`] normally);
    /// `terminated_threshold` how many finished pods are kept.
    pub fn new(
        client: Client,
        informers: &Arc<Informers>,
        quarantine: Duration,
        terminated_threshold: usize,
    ) -> Arc<Self> {
        Arc::new(PodGc {
            client,
            informers: informers.clone(),
            pods: informers.pods.store(),
            nodes: informers.nodes.store(),
            quarantine,
            terminated_threshold,
        })
    }

    /// Collects until the process stops: every check period, after node deletions, and when a
    /// quarantine ends.
    pub async fn run(self: Arc<Self>) {
        let mut pod_rx = self.informers.pods.subscribe();
        let mut node_rx = self.informers.nodes.subscribe();
        let mut synced = (false, false);
        let mut tick = tokio::time::interval(CHECK_PERIOD.min(self.quarantine.max(Duration::from_secs(1))));
        // Nodes seen gone, and since when.
        let mut missing: HashMap<String, Instant> = HashMap::new();
        loop {
            let collect = tokio::select! {
                Some(change) = pod_rx.recv() => {
                    if matches!(change, Change::Synced) { synced.0 = true; }
                    false
                }
                Some(change) = node_rx.recv() => match change {
                    Change::Synced => { synced.1 = true; true }
                    Change::Deleted(_) => true,
                    Change::Applied { .. } => false,
                },
                _ = tick.tick() => true,
            };
            if collect && synced.0 && synced.1 {
                self.collect(&mut missing).await;
            }
        }
    }

    async fn collect(&self, missing: &mut HashMap<String, Instant>) {
        let pods = self.pods.list();
        for pod in excess_terminated(&pods, self.terminated_threshold) {
            self.delete(&pod, "terminated pods over the threshold").await;
        }
        for pod in pods.iter().filter(|p| {
            p.metadata.deletion_timestamp.is_some()
                && p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty)
        }) {
            self.delete(pod, "a terminating pod that was never scheduled").await;
        }
        self.collect_orphans(&pods, missing).await;
    }

    async fn collect_orphans(&self, pods: &[Arc<Pod>], missing: &mut HashMap<String, Instant>) {
        let nodes: HashSet<String> = self.nodes.list().iter().map(|n| informer::name(n.as_ref())).collect();
        missing.retain(|n, _| !nodes.contains(n));
        let now = Instant::now();
        let node_api: Api<Node> = Api::all(self.client.clone());
        let mut confirmed_gone: HashSet<String> = HashSet::new();
        for pod in pods {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty())
            else {
                continue;
            };
            if nodes.contains(&node) {
                continue;
            }
            let since = *missing.entry(node.clone()).or_insert(now);
            if now.duration_since(since) < self.quarantine {
                continue;
            }
            if !confirmed_gone.contains(&node) {
                match node_api.get_opt(&node).await {
                    Ok(None) => {
                        confirmed_gone.insert(node.clone());
                    }
                    _ => continue,
                }
            }
            self.mark_failed(pod).await;
            self.delete(pod, "bound to a node that no longer exists").await;
        }
    }

    /// Upstream's `markFailedAndDeletePodWithCondition`: `DisruptionTarget`, and `Failed`
    /// unless the pod already finished.
    async fn mark_failed(&self, pod: &Pod) {
        let (ns, name) = informer::namespace_name(pod);
        let mut status = json!({"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists", "lastTransitionTime": Time(Timestamp::now()),
        }]});
        if !terminated(pod) {
            status["phase"] = json!("Failed");
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let patch = Patch::Strategic(json!({"status": status}));
        if let Err(e) = api.patch_status(&name, &PatchParams::default(), &patch).await {
            tracing::debug!(pod = %name, error = %e, "pod GC could not mark the pod failed");
        }
    }

    async fn delete(&self, pod: &Pod, why: &str) {
        let name = informer::name(pod);
        match pod_deletion::delete_instance(&self.client, pod, Some(0)).await {
            Ok(()) => tracing::info!(pod = %name, "pod GC deleted a pod: {why}"),
            Err(e) => tracing::debug!(pod = %name, error = %e, "pod GC delete failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, created: i64) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default",
                             "creationTimestamp": Time(Timestamp::from_second(1_800_000_000 + created).unwrap())},
                "status": {"phase": phase},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn the_oldest_terminated_pods_over_the_threshold_go() {
        let pods = vec![
            pod("new-done", "Succeeded", 30),
            pod("running", "Running", 0),
            pod("old-failed", "Failed", 10),
            pod("mid-done", "Succeeded", 20),
        ];
        let names = |v: Vec<Arc<Pod>>| v.iter().map(|p| informer::name(p.as_ref())).collect::<Vec<_>>();
        assert_eq!(names(excess_terminated(&pods, 1)), ["old-failed", "mid-done"]);
        assert_eq!(names(excess_terminated(&pods, 3)), Vec::<String>::new());
        assert_eq!(names(excess_terminated(&pods, 0)).len(), 3, "running pods are never collected this way");
    }
}
