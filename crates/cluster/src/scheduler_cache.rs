//! What the scheduler knows of pods between its passes, kept up to date from the pod
//! informer's changes: the pods waiting to be scheduled (upstream's scheduling queue) and the
//! pods bound to each node (upstream's scheduler cache). A pass reads the pending pods and the
//! nodes it looks at, not every pod of the cluster: a DaemonSet's burst of pods pinned to one
//! node each costs their number, whatever the cluster's size.

use std::collections::HashMap;
use std::sync::Arc;

use apimachinery::core::pod::is_terminal;
use k8s_openapi::api::core::v1::Pod;

use crate::scheduler::wants;
use client::informer::{Change, key_of};

#[derive(Default)]
pub struct SchedulerCache {
    /// Pods the scheduler should place, by `namespace/name`.
    pending: HashMap<String, Arc<Pod>>,
    /// The pods bound to each node that are not terminal (what takes room on it), by node,
    /// then by `namespace/name`.
    bound: HashMap<String, HashMap<String, Arc<Pod>>>,
    /// The node each bound pod is on, by `namespace/name`.
    node_of: HashMap<String, String>,
}

impl SchedulerCache {
    /// Takes in one change of the pod informer.
    pub fn apply(&mut self, change: &Change<Pod>) {
        match change {
            Change::Applied { new, .. } => {
                let key = key_of(new.as_ref());
                self.forget(&key);
                self.insert(key, new.clone());
            }
            Change::Deleted(old) => self.forget(&key_of(old.as_ref())),
            Change::Synced => {}
        }
    }

    fn forget(&mut self, key: &str) {
        self.pending.remove(key);
        if let Some(node) = self.node_of.remove(key)
            && let Some(pods) = self.bound.get_mut(&node)
        {
            pods.remove(key);
            if pods.is_empty() {
                self.bound.remove(&node);
            }
        }
    }

    fn insert(&mut self, key: String, pod: Arc<Pod>) {
        if wants(&pod) {
            self.pending.insert(key, pod);
            return;
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty());
        let Some(node) = node else { return };
        if is_terminal(&pod) {
            return;
        }
        self.node_of.insert(key.clone(), node.to_string());
        self.bound.entry(node.to_string()).or_default().insert(key, pod);
    }

    /// The pods waiting to be scheduled.
    pub fn pending(&self) -> impl Iterator<Item = &Arc<Pod>> {
        self.pending.values()
    }

    /// The pods bound to `node` that take room on it.
    pub fn bound_to(&self, node: &str) -> impl Iterator<Item = &Arc<Pod>> {
        self.bound.get(node).into_iter().flat_map(HashMap::values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: Option<&str>, phase: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
                "status": {"phase": phase}
            }))
            .unwrap(),
        )
    }

    fn names<'a>(pods: impl Iterator<Item = &'a Arc<Pod>>) -> Vec<String> {
        let mut v: Vec<String> = pods.map(|p| p.metadata.name.clone().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn follows_a_pod_from_pending_to_bound_to_gone() {
        let mut cache = SchedulerCache::default();
        cache.apply(&Change::Applied { old: None, new: pod("a", None, "Pending") });
        cache.apply(&Change::Applied { old: None, new: pod("b", Some("n1"), "Running") });
        assert_eq!(names(cache.pending()), ["a"]);
        assert_eq!(names(cache.bound_to("n1")), ["b"]);

        // Bound: no longer pending, and on its node.
        cache.apply(&Change::Applied { old: None, new: pod("a", Some("n1"), "Pending") });
        assert!(names(cache.pending()).is_empty());
        assert_eq!(names(cache.bound_to("n1")), ["a", "b"]);

        // A terminal pod takes no room; a deleted one is forgotten.
        cache.apply(&Change::Applied { old: None, new: pod("b", Some("n1"), "Succeeded") });
        assert_eq!(names(cache.bound_to("n1")), ["a"]);
        cache.apply(&Change::Deleted(pod("a", Some("n1"), "Running")));
        assert!(names(cache.bound_to("n1")).is_empty());
        assert!(cache.bound.is_empty() && cache.node_of.is_empty());
    }
}
