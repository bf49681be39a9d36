//! A watch-fed cache of one kind that reports each change with the object's previous state,
//! for the cluster components (scheduler, simulated kubelets, node lifecycle).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::runtime::watcher;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// One change to the cache.
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
{
    let mut stream = watcher(api, config).boxed();
    let mut seen: Option<Vec<String>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "watch error; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        let sent = match event {
            watcher::Event::Init => {
                seen = Some(Vec::new());
                Ok(())
            }
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                if let Some(seen) = seen.as_mut() {
                    seen.push(key_of(&obj));
                }
                let new = Arc::new(obj);
                let old = store.put(new.clone());
                changes.send(Change::Applied { old, new })
            }
            watcher::Event::Delete(obj) => {
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

/// Starts [`run`] in the background and returns the stream of its changes.
pub fn spawn<K>(
    api: Api<K>,
    config: watcher::Config,
    store: Arc<Store<K>>,
) -> mpsc::UnboundedReceiver<Change<K>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(api, config, store, tx));
    rx
}

/// The name of an object.
pub fn name<K: Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

/// Namespace and name of a namespaced object.
pub fn namespace_name<K: Resource>(obj: &K) -> (String, String) {
    (obj.meta().namespace.clone().unwrap_or_default(), obj.meta().name.clone().unwrap_or_default())
}
