//! In-memory caches of DaemonSets, pods, nodes and ControllerRevisions, fed by watches, with
//! every change routed to the work queue as upstream's informer handlers route them
//! (`daemonset::routing`). Pods and revisions are indexed by namespace; nodes are kept sorted
//! by name.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use daemonset::ownership::controller_of;
use daemonset::pod_facts::PodFacts;
use daemonset::routing::{self, Routing, key_of, resolve_controller_ref, selecting};
use daemonset::{Eligibility, Placement};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::expectations::Expectations;
use crate::metrics::Metrics;
use crate::verdict::Verdict;
use client::informer::{Change, Informers};
use client::queue::WorkQueue;
use client::stripped::Stripped;

type ByNamespace<K> = HashMap<String, HashMap<String, Arc<K>>>;

/// A pod as the controller keeps it: the object, and the facts a sync reads of it, taken once
/// when this version of the pod arrives rather than at every sync.
#[derive(Debug)]
pub struct CachedPod {
    pub facts: PodFacts,
    /// The claim of the DaemonSet that last looked at this version.
    pub claimed: Verdict,
    pub pod: Arc<Pod>,
}

impl CachedPod {
    pub fn new(pod: Arc<Pod>) -> Self {
        CachedPod { facts: PodFacts::of(&pod), claimed: Verdict::default(), pod }
    }
}

/// A node as the controller keeps it: the object, and the last placement's verdict on this
/// version of it.
#[derive(Debug)]
pub struct CachedNode {
    pub placed: Verdict,
    pub node: Arc<Node>,
}

impl CachedNode {
    /// The node's eligibility under `placement` (whose token is `token`), judged once per
    /// version of the node and token.
    pub fn eligibility(&self, token: u64, placement: &Placement) -> Eligibility {
        let verdict = self.placed.of(token, || {
            let e = placement.eligibility(&self.node);
            u8::from(e.should_run) << 1 | u8::from(e.should_continue_running)
        });
        Eligibility { should_run: verdict & 2 != 0, should_continue_running: verdict & 1 != 0 }
    }
}

/// What the controller knows of the cluster.
#[derive(Default)]
pub struct Cache {
    daemonsets: RwLock<ByNamespace<DaemonSet>>,
    pods: RwLock<ByNamespace<CachedPod>>,
    revisions: RwLock<ByNamespace<ControllerRevision>>,
    nodes: RwLock<BTreeMap<String, Arc<CachedNode>>>,
    synced: [AtomicBool; 4],
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl Cache {
    pub fn daemonset(&self, namespace: &str, name: &str) -> Option<Arc<DaemonSet>> {
        read(&self.daemonsets).get(namespace)?.get(name).cloned()
    }

    pub fn daemonsets_in(&self, namespace: &str) -> Vec<Arc<DaemonSet>> {
        read(&self.daemonsets).get(namespace).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn all_daemonsets(&self) -> Vec<Arc<DaemonSet>> {
        read(&self.daemonsets).values().flat_map(|m| m.values().cloned()).collect()
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        read(&self.pods).get(namespace).and_then(|m| m.get(name)).map(|c| c.pod.clone())
    }

    pub fn pods_in(&self, namespace: &str) -> Vec<Arc<CachedPod>> {
        read(&self.pods).get(namespace).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn revisions_in(&self, namespace: &str) -> Vec<Arc<ControllerRevision>> {
        read(&self.revisions).get(namespace).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Every node, sorted by name.
    pub fn nodes(&self) -> Vec<Arc<CachedNode>> {
        read(&self.nodes).values().cloned().collect()
    }

    pub fn pod_count(&self) -> usize {
        read(&self.pods).values().map(HashMap::len).sum()
    }

    /// Every watch has delivered its initial list.
    pub fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Acquire))
    }
}

/// Where cache changes go.
#[derive(Clone)]
pub struct Router {
    pub cache: Arc<Cache>,
    pub queue: WorkQueue,
    pub expectations: Arc<Expectations>,
    pub metrics: Arc<Metrics>,
}

impl Router {
    fn apply(&self, r: Routing) {
        if let Some(key) = &r.observed_creation {
            self.expectations.creation_observed(key);
        }
        if let Some(key) = &r.observed_deletion {
            self.expectations.deletion_observed(key);
        }
        for key in &r.enqueue {
            self.queue.add(key);
        }
        if let Some((key, secs)) = r.enqueue_after {
            self.queue.add_after(&key, std::time::Duration::from_secs(secs.max(0) as u64));
        }
    }

    fn candidates(&self, namespace: &str) -> Vec<Arc<DaemonSet>> {
        self.cache.daemonsets_in(namespace)
    }

    fn pod_changed(&self, old: Option<&Pod>, new: Option<&Pod>) {
        let ns = new.or(old).and_then(|p| p.metadata.namespace.clone()).unwrap_or_default();
        let owned = self.candidates(&ns);
        let candidates: Vec<&DaemonSet> = owned.iter().map(Arc::as_ref).collect();
        let r = match (old, new) {
            (None, Some(new)) => routing::on_pod_added(new, &candidates),
            (Some(old), Some(new)) => {
                // A pod that starts terminating counts as deleted once, as upstream's
                // `updatePod` does; later updates of the terminating pod are plain updates.
                if old.metadata.deletion_timestamp.is_some() && new.metadata.deletion_timestamp.is_some() {
                    let mut r = routing::on_pod_deleted(new, &candidates);
                    r.observed_deletion = None;
                    r
                } else {
                    routing::on_pod_updated(old, new, &candidates)
                }
            }
            (Some(old), None) => {
                let mut r = routing::on_pod_deleted(old, &candidates);
                if old.metadata.deletion_timestamp.is_some() {
                    // Already counted when it started terminating.
                    r.observed_deletion = None;
                }
                r
            }
            (None, None) => Routing::default(),
        };
        self.apply(r);
    }

    fn revision_changed(&self, rev: &ControllerRevision) {
        let ns = rev.metadata.namespace.clone().unwrap_or_default();
        let owned = self.candidates(&ns);
        let candidates: Vec<&DaemonSet> = owned.iter().map(Arc::as_ref).collect();
        match controller_of(&rev.metadata) {
            Some(owner) => {
                if let Some(ds) = resolve_controller_ref(owner, &candidates) {
                    self.queue.add(&key_of(ds));
                }
            }
            None => {
                for ds in selecting(&rev.metadata, &candidates) {
                    self.queue.add(&key_of(ds));
                }
            }
        }
    }

    fn node_changed(&self, old: Option<&Node>, new: Option<&Node>) {
        if let (Some(old), Some(new)) = (old, new)
            && routing::should_ignore_node_update(old, new)
        {
            self.metrics.node_updates_ignored.inc();
            return;
        }
        let daemonsets = self.cache.all_daemonsets();
        let placements: Vec<Placement> = daemonsets.iter().map(|d| Placement::new(d)).collect();
        let pairs: Vec<(&DaemonSet, &Placement)> =
            daemonsets.iter().map(Arc::as_ref).zip(&placements).collect();
        let affected = match (old, new) {
            (None, Some(new)) => routing::on_node_added(new, &pairs),
            (Some(old), Some(new)) => routing::on_node_updated(old, new, &pairs),
            // Upstream has no node-delete handler; re-syncing those the node counted for
            // keeps their desired count right without waiting for pod GC.
            (Some(old), None) => routing::on_node_added(old, &pairs),
            (None, None) => Vec::new(),
        };
        for ds in affected {
            self.queue.add(&key_of(ds));
        }
    }

    fn daemonset_changed(&self, old: Option<&DaemonSet>, new: Option<&DaemonSet>) {
        let Some(ds) = new.or(old) else { return };
        let key = key_of(ds);
        let uid_changed = matches!((old, new), (Some(o), Some(n)) if o.metadata.uid != n.metadata.uid);
        if new.is_none() || uid_changed {
            self.expectations.delete(&key);
        }
        self.queue.add(&key);
    }
}

/// One watched kind: how to store it and route its changes.
trait Watched: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static {
    fn slot(cache: &Cache) -> usize;
    fn get(cache: &Cache, ns: &str, name: &str) -> Option<Arc<Self>>;
    fn put(cache: &Cache, obj: Arc<Self>);
    fn remove(cache: &Cache, ns: &str, name: &str) -> Option<Arc<Self>>;
    fn all(cache: &Cache) -> Vec<Arc<Self>>;
    fn changed(router: &Router, old: Option<&Self>, new: Option<&Self>);
}

macro_rules! namespaced {
    ($t:ty, $field:ident, $slot:expr, $changed:expr) => {
        impl Watched for $t {
            fn slot(_: &Cache) -> usize {
                $slot
            }
            fn get(cache: &Cache, ns: &str, name: &str) -> Option<Arc<Self>> {
                read(&cache.$field).get(ns)?.get(name).cloned()
            }
            fn put(cache: &Cache, obj: Arc<Self>) {
                let ns = obj.namespace().unwrap_or_default();
                write(&cache.$field).entry(ns).or_default().insert(obj.name_any(), obj);
            }
            fn remove(cache: &Cache, ns: &str, name: &str) -> Option<Arc<Self>> {
                write(&cache.$field).get_mut(ns)?.remove(name)
            }
            fn all(cache: &Cache) -> Vec<Arc<Self>> {
                read(&cache.$field).values().flat_map(|m| m.values().cloned()).collect()
            }
            fn changed(router: &Router, old: Option<&Self>, new: Option<&Self>) {
                let f: fn(&Router, Option<&Self>, Option<&Self>) = $changed;
                f(router, old, new)
            }
        }
    };
}

namespaced!(DaemonSet, daemonsets, 0, |r, o, n| r.daemonset_changed(o, n));
namespaced!(ControllerRevision, revisions, 2, |r, o, n| {
    if let Some(rev) = n.or(o) {
        r.revision_changed(rev)
    }
});

impl Watched for Pod {
    fn slot(_: &Cache) -> usize {
        1
    }
    fn get(cache: &Cache, ns: &str, name: &str) -> Option<Arc<Self>> {
        cache.pod(ns, name)
    }
    fn put(cache: &Cache, obj: Arc<Self>) {
        let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
        write(&cache.pods).entry(ns).or_default().insert(name, Arc::new(CachedPod::new(obj)));
    }
    fn remove(cache: &Cache, ns: &str, name: &str) -> Option<Arc<Self>> {
        write(&cache.pods).get_mut(ns)?.remove(name).map(|c| c.pod.clone())
    }
    fn all(cache: &Cache) -> Vec<Arc<Self>> {
        read(&cache.pods).values().flat_map(|m| m.values().map(|c| c.pod.clone())).collect()
    }
    fn changed(router: &Router, old: Option<&Self>, new: Option<&Self>) {
        router.pod_changed(old, new)
    }
}

impl Watched for Node {
    fn slot(_: &Cache) -> usize {
        3
    }
    fn get(cache: &Cache, _: &str, name: &str) -> Option<Arc<Self>> {
        read(&cache.nodes).get(name).map(|c| c.node.clone())
    }
    fn put(cache: &Cache, obj: Arc<Self>) {
        write(&cache.nodes)
            .insert(obj.name_any(), Arc::new(CachedNode { placed: Verdict::default(), node: obj }));
    }
    fn remove(cache: &Cache, _: &str, name: &str) -> Option<Arc<Self>> {
        write(&cache.nodes).remove(name).map(|c| c.node.clone())
    }
    fn all(cache: &Cache) -> Vec<Arc<Self>> {
        read(&cache.nodes).values().map(|c| c.node.clone()).collect()
    }
    fn changed(router: &Router, old: Option<&Self>, new: Option<&Self>) {
        router.node_changed(old, new)
    }
}

/// Stores `new` and routes the change from what the cache held before.
fn applied<K: Watched>(router: &Router, new: Arc<K>) {
    let old = K::get(&router.cache, &new.namespace().unwrap_or_default(), &new.name_any());
    K::put(&router.cache, new.clone());
    K::changed(router, old.as_deref(), Some(&new));
}

/// Forgets `gone` and routes its deletion, from what the cache held if it held it.
fn deleted<K: Watched>(router: &Router, gone: &K) {
    let old = K::remove(&router.cache, &gone.namespace().unwrap_or_default(), &gone.name_any());
    K::changed(router, Some(old.as_deref().unwrap_or(gone)), None);
}

async fn watch_kind<K: Watched>(client: Client, router: Router) {
    // Managed fields are not the controller's concern: they are skipped while decoding, as
    // kube-controller-manager's informers drop them.
    let api: Api<Stripped<K>> = Api::all_with(client, &Default::default());
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    let mut relist: Option<HashMap<(String, String), ()>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                client::informer::log_watch_error(K::kind(&()).as_ref(), &e);
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        let cache = &router.cache;
        match event {
            watcher::Event::Init => relist = Some(HashMap::new()),
            watcher::Event::InitApply(Stripped(obj)) | watcher::Event::Apply(Stripped(obj)) => {
                if let Some(seen) = relist.as_mut() {
                    seen.insert((obj.namespace().unwrap_or_default(), obj.name_any()), ());
                }
                applied(&router, Arc::new(obj));
            }
            watcher::Event::Delete(Stripped(obj)) => deleted(&router, &obj),
            watcher::Event::InitDone => {
                if let Some(seen) = relist.take() {
                    for gone in K::all(cache) {
                        let key = (gone.namespace().unwrap_or_default(), gone.name_any());
                        if !seen.contains_key(&key) {
                            K::remove(cache, &key.0, &key.1);
                            K::changed(&router, Some(&gone), None);
                        }
                    }
                }
                cache.synced[K::slot(cache)].store(true, Ordering::Release);
            }
        }
    }
}

/// Follows a shared informer of `K` (one the process's other components also read): the same
/// objects, decoded once, stored and routed as [`watch_kind`] does. The informer takes care of
/// relists, sending the objects that went as deletions.
async fn follow_shared<K: Watched>(mut changes: UnboundedReceiver<Change<K>>, router: Router) {
    let cache = &router.cache;
    while let Some(change) = changes.recv().await {
        match change {
            // The informer's `old` is its own previous state; the controller routes against
            // what it last saw, which the informer may have sent before this subscription.
            Change::Applied { new, .. } => applied(&router, new),
            Change::Deleted(gone) => deleted(&router, gone.as_ref()),
            Change::Synced => cache.synced[K::slot(cache)].store(true, Ordering::Release),
        }
    }
}

/// Starts the four watches; they run until the returned handles are aborted. With `shared`,
/// nodes and pods come from those informers instead of watches of the controller's own.
pub fn start(client: Client, router: Router, shared: Option<&Informers>) -> Vec<tokio::task::JoinHandle<()>> {
    let (pods, nodes) = match shared {
        Some(informers) => (
            tokio::spawn(follow_shared(informers.pods.subscribe(), router.clone())),
            tokio::spawn(follow_shared(informers.nodes.subscribe(), router.clone())),
        ),
        None => (
            tokio::spawn(watch_kind::<Pod>(client.clone(), router.clone())),
            tokio::spawn(watch_kind::<Node>(client.clone(), router.clone())),
        ),
    };
    vec![
        tokio::spawn(watch_kind::<DaemonSet>(client.clone(), router.clone())),
        pods,
        tokio::spawn(watch_kind::<ControllerRevision>(client, router)),
        nodes,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(tolerations: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d", "namespace": "ns", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], "tolerations": tolerations}}}}))
        .unwrap()
    }

    #[test]
    fn a_nodes_eligibility_is_each_placements_own() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"},
            "spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}}))
        .unwrap();
        let cached = CachedNode { placed: Verdict::default(), node: Arc::new(node) };
        let tokens = crate::verdict::Tokens::default();
        let plain = ds(json!([]));
        let tolerant = ds(json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]));
        let (p1, p2) = (Placement::new(&plain), Placement::new(&tolerant));
        let (t1, t2) = (tokens.token("ns/d", &plain, &p1), tokens.token("ns/d", &tolerant, &p2));
        let kept_off = Eligibility { should_run: false, should_continue_running: true };
        for _ in 0..2 {
            assert_eq!(cached.eligibility(t1, &p1), kept_off);
            assert_eq!(cached.eligibility(t1, &p1), p1.eligibility(&cached.node));
            assert_eq!(cached.eligibility(t2, &p2), Eligibility::RUN, "a new placement is judged anew");
        }
    }
}
