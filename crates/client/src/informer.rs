//! A watch-fed cache of one kind that reports each change with the object's previous state,
//! for the cluster components (scheduler, simulated kubelets, node lifecycle).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use crate::stripped::Stripped;
use futures::StreamExt;
use kube::runtime::watcher;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// One change to the cache.
#[derive(Clone)]
pub enum Change<K> {
    /// Added (`old` is `None`) or updated.
    Applied {
        old: Option<Arc<K>>,
        new: Arc<K>,
    },
    Deleted(Arc<K>),
    /// The initial list (or a relist) is complete.
    Synced,
}

/// The objects of one kind, by `namespace/name` (or `name`).
pub struct Store<K> {
    objects: RwLock<HashMap<String, Arc<K>>>,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store { objects: RwLock::new(HashMap::new()) }
    }
}

pub fn key_of<K: Resource>(obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{}", obj.meta().name.as_deref().unwrap_or_default()),
        _ => obj.meta().name.clone().unwrap_or_default(),
    }
}

impl<K: Resource> Store<K> {
    pub fn get(&self, key: &str) -> Option<Arc<K>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    pub fn list(&self) -> Vec<Arc<K>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(&self, obj: Arc<K>) -> Option<Arc<K>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner()).insert(key_of(obj.as_ref()), obj)
    }

    fn remove(&self, key: &str) -> Option<Arc<K>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner()).remove(key)
    }
}

/// Watches `api` into `store` and sends every change to `changes` until the receiver is gone.
pub async fn run<K>(
    api: Api<K>,
    config: watcher::Config,
    store: Arc<Store<K>>,
    changes: mpsc::UnboundedSender<Change<K>>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    // Who owns which field is the API server's business: caches skip it while decoding, as
    // kube-controller-manager's and the scheduler's informers drop it.
    let dt = K::DynamicType::default();
    let api: Api<Stripped<K>> = match api.namespace().map(str::to_string) {
        Some(ns) => Api::namespaced_with(api.into_client(), &ns, &dt),
        None => Api::all_with(api.into_client(), &dt),
    };
    let mut stream = watcher(api, config).boxed();
    let mut seen: Option<Vec<String>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                log_watch_error(std::any::type_name::<K>(), &e);
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        let sent = match event {
            watcher::Event::Init => {
                seen = Some(Vec::new());
                Ok(())
            }
            watcher::Event::InitApply(Stripped(obj)) | watcher::Event::Apply(Stripped(obj)) => {
                if let Some(seen) = seen.as_mut() {
                    seen.push(key_of(&obj));
                }
                let new = Arc::new(obj);
                let old = store.put(new.clone());
                changes.send(Change::Applied { old, new })
            }
            watcher::Event::Delete(Stripped(obj)) => {
                let old = store.remove(&key_of(&obj)).unwrap_or_else(|| Arc::new(obj));
                changes.send(Change::Deleted(old))
            }
            watcher::Event::InitDone => {
                if let Some(seen) = seen.take() {
                    let seen: std::collections::HashSet<String> = seen.into_iter().collect();
                    for obj in store.list() {
                        if !seen.contains(&key_of(obj.as_ref())) {
                            store.remove(&key_of(obj.as_ref()));
                            let _ = changes.send(Change::Deleted(obj));
                        }
                    }
                }
                changes.send(Change::Synced)
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Logs a failed list or watch, which is retried. Most failures are the server going away or
/// a watch expiring, told at debug level; a refusal (401, 403) will not pass by itself and is
/// told as a warning, with the server's words (as client-go's reflector reports
/// `failed to list *v1.Node: nodes is forbidden: …`).
pub fn log_watch_error(kind: &str, e: &watcher::Error) {
    let refused = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => {
            matches!(s.code, 401 | 403).then_some(&s.message)
        }
        watcher::Error::WatchError(s) => matches!(s.code, 401 | 403).then_some(&s.message),
        _ => None,
    };
    match refused {
        Some(message) => tracing::warn!(kind, "failed to list or watch: {message}; retrying"),
        None => tracing::debug!(kind, error = %e, "watch error; retrying"),
    }
}

/// Starts [`run`] in the background and returns the stream of its changes.
pub fn spawn<K>(
    api: Api<K>,
    config: watcher::Config,
    store: Arc<Store<K>>,
) -> mpsc::UnboundedReceiver<Change<K>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(api, config, store, tx));
    rx
}

/// One watch of a kind shared by several components, as client-go's shared informers: one
/// cache, and every change sent to each subscriber. A subscriber that comes late is first sent
/// what the cache holds (and `Synced`, once the initial list is done). The watch starts with
/// the informer and stops once every subscriber has gone.
pub struct SharedInformer<K> {
    store: Arc<Store<K>>,
    fanout: Arc<std::sync::Mutex<Fanout<K>>>,
}

struct Fanout<K> {
    subscribers: Vec<mpsc::UnboundedSender<Change<K>>>,
    synced: bool,
}

impl<K> SharedInformer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    pub fn start(api: Api<K>, config: watcher::Config) -> Self {
        let store: Arc<Store<K>> = Arc::default();
        let fanout = Arc::new(std::sync::Mutex::new(Fanout { subscribers: Vec::new(), synced: false }));
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(run(api, config, store.clone(), tx));
        let shared = fanout.clone();
        tokio::spawn(async move {
            let mut had_subscribers = false;
            while let Some(change) = rx.recv().await {
                let mut f = shared.lock().unwrap_or_else(|e| e.into_inner());
                if matches!(change, Change::Synced) {
                    f.synced = true;
                }
                f.subscribers.retain(|s| s.send(change.clone()).is_ok());
                had_subscribers |= !f.subscribers.is_empty();
                if had_subscribers && f.subscribers.is_empty() {
                    return;
                }
            }
        });
        SharedInformer { store, fanout }
    }

    /// The shared cache.
    pub fn store(&self) -> Arc<Store<K>> {
        self.store.clone()
    }

    /// A stream of every change from now on, after what the cache already holds.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Change<K>> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Under the fan-out lock no change is sent, so nothing falls between the replay and
        // the changes after it; a change already in the cache but not yet sent arrives twice,
        // which subscribers treat as what it is: the object's current state.
        let mut f = self.fanout.lock().unwrap_or_else(|e| e.into_inner());
        for obj in self.store.list() {
            let _ = tx.send(Change::Applied { old: None, new: obj });
        }
        if f.synced {
            let _ = tx.send(Change::Synced);
        }
        f.subscribers.push(tx);
        rx
    }
}

/// The node and pod informers the in-process cluster components share, so that a large
/// cluster's nodes and pods are decoded and cached once rather than once per component.
pub struct Informers {
    pub nodes: SharedInformer<k8s_openapi::api::core::v1::Node>,
    pub pods: SharedInformer<k8s_openapi::api::core::v1::Pod>,
}

impl Informers {
    pub fn start(client: kube::Client) -> Arc<Informers> {
        Arc::new(Informers {
            nodes: SharedInformer::start(Api::all(client.clone()), watcher::Config::default()),
            pods: SharedInformer::start(Api::all(client), watcher::Config::default()),
        })
    }
}

/// The name of an object.
pub fn name<K: Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

/// Namespace and name of a namespaced object.
pub fn namespace_name<K: Resource>(obj: &K) -> (String, String) {
    (obj.meta().namespace.clone().unwrap_or_default(), obj.meta().name.clone().unwrap_or_default())
}
