//! Which DaemonSets a change to a pod, node or revision concerns (upstream's informer event
//! handlers `addPod`, `updatePod`, `deletePod`, `addNode`, `updateNode`,
//! `shouldIgnoreNodeUpdate`), as pure functions the controller's watchers call.

use apimachinery::labels::Selector;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::eligibility::Placement;
use crate::ownership::controller_of;
use apimachinery::core::pod::is_ready;

/// A DaemonSet's queue key, `namespace/name`.
pub fn key_of(ds: &DaemonSet) -> String {
    format!(
        "{}/{}",
        ds.metadata.namespace.as_deref().unwrap_or_default(),
        ds.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Upstream `resolveControllerRef`: the DaemonSet a controller reference points at, if it is
/// a DaemonSet with that name and uid among `candidates` (the object's namespace).
pub fn resolve_controller_ref<'a>(
    owner: &OwnerReference,
    candidates: &[&'a DaemonSet],
) -> Option<&'a DaemonSet> {
    if owner.kind != "DaemonSet" || !owner.api_version.starts_with("apps/") {
        return None;
    }
    candidates.iter().copied().find(|ds| {
        ds.metadata.name.as_deref() == Some(owner.name.as_str())
            && ds.metadata.uid.as_deref() == Some(owner.uid.as_str())
    })
}

/// Upstream `GetPodDaemonSets`: the DaemonSets in `candidates` whose non-empty selector
/// matches the object's labels.
pub fn selecting<'a>(meta: &ObjectMeta, candidates: &[&'a DaemonSet]) -> Vec<&'a DaemonSet> {
    let empty = Default::default();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    candidates
        .iter()
        .copied()
        .filter(|ds| {
            let selector = ds.spec.as_ref().map(|s| &s.selector);
            match Selector::from_label_selector(selector) {
                Ok(sel) => !sel.is_everything() && sel.matches(labels),
                Err(_) => false,
            }
        })
        .collect()
}

/// What a pod or revision change asks of the controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    /// Sync these DaemonSets (keys) now.
    pub enqueue: Vec<String>,
    /// Sync this one again after this many seconds (a pod turned Ready under minReadySeconds).
    pub enqueue_after: Option<(String, i64)>,
    /// A creation or deletion the DaemonSet (key) was expecting has been observed.
    pub observed_creation: Option<String>,
    pub observed_deletion: Option<String>,
}

/// Upstream `addPod`.
pub fn on_pod_added(pod: &Pod, candidates: &[&DaemonSet]) -> Routing {
    if pod.metadata.deletion_timestamp.is_some() {
        return on_pod_deleted(pod, candidates);
    }
    match controller_of(&pod.metadata) {
        Some(owner) => match resolve_controller_ref(owner, candidates) {
            Some(ds) => Routing {
                enqueue: vec![key_of(ds)],
                observed_creation: Some(key_of(ds)),
                ..Default::default()
            },
            None => Routing::default(),
        },
        None => Routing {
            enqueue: selecting(&pod.metadata, candidates).into_iter().map(key_of).collect(),
            ..Default::default()
        },
    }
}

/// Upstream `updatePod`.
pub fn on_pod_updated(old: &Pod, new: &Pod, candidates: &[&DaemonSet]) -> Routing {
    if old.metadata.resource_version.is_some()
        && old.metadata.resource_version == new.metadata.resource_version
    {
        return Routing::default();
    }
    if new.metadata.deletion_timestamp.is_some() {
        return on_pod_deleted(new, candidates);
    }
    let (old_ref, new_ref) = (controller_of(&old.metadata), controller_of(&new.metadata));
    let ref_changed = old_ref != new_ref;
    let mut r = Routing::default();
    if ref_changed && let Some(ds) = old_ref.and_then(|o| resolve_controller_ref(o, candidates)) {
        r.enqueue.push(key_of(ds));
    }
    if let Some(owner) = new_ref {
        if let Some(ds) = resolve_controller_ref(owner, candidates) {
            r.enqueue.push(key_of(ds));
            let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
            if !is_ready(old) && is_ready(new) && min_ready > 0 {
                r.enqueue_after = Some((key_of(ds), i64::from(min_ready) + 1));
            }
        }
        return r;
    }
    if old.metadata.labels != new.metadata.labels || ref_changed {
        r.enqueue.extend(selecting(&new.metadata, candidates).into_iter().map(key_of));
    }
    r
}

/// Upstream `deletePod`: only a pod with a resolvable controller concerns anyone.
pub fn on_pod_deleted(pod: &Pod, candidates: &[&DaemonSet]) -> Routing {
    match controller_of(&pod.metadata).and_then(|o| resolve_controller_ref(o, candidates)) {
        Some(ds) => {
            Routing { enqueue: vec![key_of(ds)], observed_deletion: Some(key_of(ds)), ..Default::default() }
        }
        None => Routing::default(),
    }
}

/// Upstream `shouldIgnoreNodeUpdate`: only label and taint changes can change eligibility, so
/// heartbeats, conditions and allocatable changes are ignored.
pub fn should_ignore_node_update(old: &Node, new: &Node) -> bool {
    let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
    old.metadata.labels == new.metadata.labels && taints(old) == taints(new)
}

/// Upstream `addNode`: the DaemonSets that should run a pod on a new node.
pub fn on_node_added<'a>(node: &Node, daemonsets: &[(&'a DaemonSet, &Placement)]) -> Vec<&'a DaemonSet> {
    daemonsets.iter().filter(|(_, p)| p.eligibility(node).should_run).map(|(ds, _)| *ds).collect()
}

/// Upstream `updateNode`: the DaemonSets whose eligibility on the node changed.
pub fn on_node_updated<'a>(
    old: &Node,
    new: &Node,
    daemonsets: &[(&'a DaemonSet, &Placement)],
) -> Vec<&'a DaemonSet> {
    if should_ignore_node_update(old, new) {
        return Vec::new();
    }
    daemonsets.iter().filter(|(_, p)| p.eligibility(old) != p.eligibility(new)).map(|(ds, _)| *ds).collect()
}
