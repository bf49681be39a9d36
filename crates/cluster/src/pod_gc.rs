//! Pod garbage collection (upstream `podgc`): pods bound to nodes that no longer exist are
//! deleted at once (grace period 0), after a live read confirms the node is gone.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::Api;

use crate::informer::{self, Change, Informers, Store};
use crate::pod_deletion;

pub struct PodGc {
    client: Client,
    informers: Arc<Informers>,
    pods: Arc<Store<Pod>>,
    nodes: Arc<Store<Node>>,
}

impl PodGc {
    pub fn new(client: Client, informers: &Arc<Informers>) -> Arc<Self> {
        Arc::new(PodGc {
            client,
            informers: informers.clone(),
            pods: informers.pods.store(),
            nodes: informers.nodes.store(),
        })
    }

    /// Collects until the process stops: after node deletions, and every 20 s.
    pub async fn run(self: Arc<Self>) {
        let mut pod_rx = self.informers.pods.subscribe();
        let mut node_rx = self.informers.nodes.subscribe();
        let mut synced = (false, false);
        let mut tick = tokio::time::interval(Duration::from_secs(20));
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
                self.collect().await;
            }
        }
    }

    async fn collect(&self) {
        let nodes: HashSet<String> = self.nodes.list().iter().map(|n| informer::name(n.as_ref())).collect();
        let node_api: Api<Node> = Api::all(self.client.clone());
        let mut confirmed_gone: HashSet<String> = HashSet::new();
        for pod in self.pods.list() {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty())
            else {
                continue;
            };
            if nodes.contains(&node) {
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
            let name = informer::name(pod.as_ref());
            match pod_deletion::delete_instance(&self.client, &pod, Some(0)).await {
                Ok(()) => {
                    tracing::info!(pod = %name, node, "deleted a pod bound to a node that no longer exists")
                }
                Err(e) => tracing::debug!(pod = %name, error = %e, "pod GC delete failed"),
            }
        }
    }
}
