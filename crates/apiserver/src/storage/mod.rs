//! Crash-safe object storage with one global, strictly increasing resourceVersion, and the
//! watch cache built on it. Storage names no kind: the API server hands in each
//! [`Resource`] (its key prefix and what its selectors read).
//!
//! Every object lives twice: durably in a [`Backend`] (redb: `<group>/<plural>/<namespace>/<name>`
//! → JSON), and in memory as a sorted map per resource that serves every read. A write takes the
//! writer lock, decides its mutations against the latest state (which includes writes staged
//! but not yet durable), and stages them. The committer thread ([`commit`]) commits everything
//! staged in one backend transaction with one fsync (group commit), while the writers it
//! carries wait without holding a thread ([`Pending`]): concurrent writers share the cost of the
//! fsync and an acknowledged write still survives `kill -9`. Only then are the writes
//! published: to the committed maps that serve reads, to a bounded history used to resume
//! watches ([`watch_cache`]), and to a broadcast channel that live watchers read. Reads and
//! watches never see a write before it is durable. A watcher that falls behind the channel is
//! cut loose, never allowed to block writers; its client relists.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Debug;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::{ApiError, ApiResult};

mod backend;
mod commit;
mod object;
mod watch_cache;

pub use backend::{Backend, Redb};
pub use commit::Pending;
use commit::{StopsWrites, Waiter};
pub use object::Object;
pub use watch_cache::{EventType, Selectable, WatchEvent};

/// What storage knows of a resource: where its objects live and what selectors read of them.
/// Storage names no kind; the API server hands its resources in.
pub trait Resource: Sync + Debug {
    /// `apps/daemonsets` (`/pods` for the core group): the prefix of its objects' keys on disk
    /// and the name of its map in memory.
    fn storage_key(&self) -> &'static str;

    /// What label and field selectors read of one version of `obj`.
    fn selectable(&self, obj: &Value) -> Selectable;
}

/// How many events are kept for watch resumption by default. Each event keeps the object's
/// version at that point as JSON, so this bounds memory: 25,000 events of pods of a few
/// kilobytes hold under a hundred MiB. A client resuming from further back gets `410 Gone`
/// and relists, as from a compacted etcd.
pub const DEFAULT_HISTORY: usize = 25_000;
/// The fewest events a live watcher may fall behind before it is cut loose. It may fall
/// behind as far as the history reaches (a watcher further behind could not resume anyway);
/// the channel keeps that many events alive too.
const MIN_BROADCAST_CAPACITY: usize = 1024;

/// One write, staged before it commits: its resourceVersion, where it goes, and what it does.
struct StagedWrite {
    rv: u64,
    resource: &'static dyn Resource,
    key: ObjectKey,
    change: Change,
}

enum Change {
    /// Creates or replaces the object.
    Put(Object),
    /// Removes the object; watchers see its last state, carrying the delete's
    /// resourceVersion (`None` when there was nothing to delete).
    Delete(Option<Object>),
}

/// What a write stored, per mutation: the object, or `None` for a delete.
pub type Stored = Vec<Option<Object>>;

/// Every object, per resource (by storage key: `apps/daemonsets`), in list order.
type Objects = HashMap<Box<str>, BTreeMap<ObjectKey, Object>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("opening the database: {0}")]
    Open(#[from] redb::DatabaseError),
    #[error("database transaction: {0}")]
    Transaction(#[from] redb::TransactionError),
    #[error("database table: {0}")]
    Table(#[from] redb::TableError),
    #[error("database storage: {0}")]
    Storage(#[from] redb::StorageError),
    #[error("database commit: {0}")]
    Commit(#[from] redb::CommitError),
    #[error("stored object {key} is not a JSON object: {source}")]
    Corrupt { key: String, source: serde_json::Error },
    #[error("starting the committer thread: {0}")]
    Thread(std::io::Error),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::internal(e)
    }
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects. Ordering by this key
/// gives upstream's list order.
pub type ObjectKey = (String, String);

/// A change a write wants to make.
#[derive(Debug)]
pub enum Mutation {
    /// Create or replace the object (its namespace and name come from its metadata).
    Put {
        resource: &'static dyn Resource,
        object: Value,
    },
    Delete {
        resource: &'static dyn Resource,
        key: ObjectKey,
    },
}

/// What is durable and published: what reads and watches see.
struct State {
    resource_version: u64,
    objects: Objects,
    history: VecDeque<Arc<WatchEvent>>,
    /// The oldest resourceVersion a watch may resume from.
    compacted_through: u64,
}

/// What writers decide against: the committed state plus every staged write.
struct Latest {
    resource_version: u64,
    objects: Objects,
    /// Staged writes the committer has not taken yet, in resourceVersion order.
    queue: Vec<StagedWrite>,
    /// Who waits for the queued writes to be durable (or, after a write that changed nothing,
    /// for the writes it saw).
    waiters: Vec<Waiter>,
    /// Set when the store closes: the committer commits what is queued and stops.
    closing: bool,
    /// Set if the committer thread died: writes fail at once instead of waiting forever.
    stopped: bool,
}

/// A read-only view of the store's latest state, given to write decisions.
pub struct Snapshot<'a> {
    objects: &'a Objects,
}

impl Snapshot<'_> {
    pub fn get(&self, rt: &dyn Resource, namespace: &str, name: &str) -> Option<Object> {
        self.objects
            .get(rt.storage_key())
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Objects of a resource, in one namespace or (with `None`) all.
    pub fn list(&self, rt: &dyn Resource, namespace: Option<&str>) -> Vec<Object> {
        list_in(self.objects, rt, namespace)
    }
}

fn list_in(objects: &Objects, rt: &dyn Resource, namespace: Option<&str>) -> Vec<Object> {
    let Some(map) = objects.get(rt.storage_key()) else { return Vec::new() };
    match namespace {
        None => map.values().cloned().collect(),
        Some(ns) => map
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

/// What a watch starts from.
pub struct WatchStart {
    /// Events to send before the live ones.
    pub backlog: Vec<Arc<WatchEvent>>,
    pub live: broadcast::Receiver<Arc<WatchEvent>>,
}

pub struct Store {
    shared: Arc<Shared>,
    /// The thread that commits staged writes in groups, publishes them, and tells their writers.
    committer: Option<std::thread::JoinHandle<()>>,
}

/// What the store shares with its committer thread.
struct Shared {
    backend: Box<dyn Backend>,
    writer: Mutex<Latest>,
    /// Signalled when a write is staged, a waiter registers, or the store closes.
    staged: Condvar,
    /// Every write up to this resourceVersion is durable and published: `State`'s
    /// resourceVersion, readable without its lock, so a writer holding the writer lock never
    /// waits for a publish to finish.
    durable: AtomicU64,
    state: RwLock<State>,
    events: broadcast::Sender<Arc<WatchEvent>>,
    history_limit: usize,
}

/// The map of a resource's objects, made on its first write.
fn objects_of<'a>(objects: &'a mut Objects, rt: &dyn Resource) -> &'a mut BTreeMap<ObjectKey, Object> {
    objects.entry(rt.storage_key().into()).or_default()
}

/// An object's key on disk: `<group>/<plural>/<namespace>/<name>`.
fn db_key(rt: &dyn Resource, key: &ObjectKey) -> String {
    format!("{}/{}/{}", rt.storage_key(), key.0, key.1)
}

/// The `(namespace, name)` of an object.
pub fn object_key(obj: &Value) -> ObjectKey {
    let meta = &obj["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

impl Store {
    /// Opens (or creates) a redb store at `path`, loading every object into memory.
    pub fn open(path: &Path, history_limit: usize) -> Result<Store, StorageError> {
        Store::with_backend(Box::new(Redb::open(path)?), history_limit)
    }

    /// A store over `backend`, loading every object into memory.
    pub fn with_backend(backend: Box<dyn Backend>, history_limit: usize) -> Result<Store, StorageError> {
        let mut objects: Objects = HashMap::new();
        let resource_version = backend.load(&mut |key, json| {
            let object = Object::load(json)
                .map_err(|source| StorageError::Corrupt { key: key.to_string(), source })?;
            // `<group>/<plural>/<namespace>/<name>`: the resource is the part before the second
            // slash.
            let resource = key.match_indices('/').nth(1).map_or(key, |(i, _)| &key[..i]);
            match objects.get_mut(resource) {
                Some(map) => map,
                None => objects.entry(resource.into()).or_default(),
            }
            .insert(object.key().clone(), object);
            Ok(())
        })?;
        let (events, _) = broadcast::channel(history_limit.max(MIN_BROADCAST_CAPACITY));
        let shared = Arc::new(Shared {
            backend,
            writer: Mutex::new(Latest {
                resource_version,
                objects: objects.clone(),
                queue: Vec::new(),
                waiters: Vec::new(),
                closing: false,
                stopped: false,
            }),
            staged: Condvar::new(),
            durable: AtomicU64::new(resource_version),
            state: RwLock::new(State {
                resource_version,
                objects,
                history: VecDeque::new(),
                compacted_through: resource_version,
            }),
            events,
            history_limit: history_limit.max(1),
        });
        let committer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("everynode-commit".into())
                .spawn(move || {
                    let _stopped = StopsWrites(&shared);
                    shared.run_committer()
                })
                .map_err(StorageError::Thread)?
        };
        Ok(Store { shared, committer: Some(committer) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.shared.read()
    }

    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    pub fn get(&self, rt: &dyn Resource, namespace: &str, name: &str) -> Option<Object> {
        let state = self.read();
        Snapshot { objects: &state.objects }.get(rt, namespace, name)
    }

    /// The objects of a resource and the resourceVersion they are current at.
    pub fn list(&self, rt: &dyn Resource, namespace: Option<&str>) -> (Vec<Object>, u64) {
        let state = self.read();
        (list_in(&state.objects, rt, namespace), state.resource_version)
    }

    /// The objects of a resource as they were at `rv` (a list with `resourceVersionMatch=Exact`),
    /// rebuilt from the current ones and the retained history: each object changed since is
    /// taken as its last change at or before `rv`, or left out when its first change after
    /// was its creation. `410 Gone` where the history no longer tells.
    pub fn list_at(
        &self,
        rt: &'static dyn Resource,
        namespace: Option<&str>,
        rv: u64,
    ) -> ApiResult<Vec<Object>> {
        let state = self.read();
        let too_old = || ApiError::gone("The resourceVersion for the provided list is too old.");
        if rv < state.compacted_through {
            return Err(too_old());
        }
        let in_scope = |e: &&Arc<WatchEvent>| {
            e.resource.storage_key() == rt.storage_key() && namespace.is_none_or(|ns| e.object.key().0 == ns)
        };
        let start = state.history.partition_point(|e| e.resource_version() <= rv);
        // The first change of each object after `rv`.
        let mut after: HashMap<&ObjectKey, &WatchEvent> = HashMap::new();
        for e in state.history.range(start..).filter(in_scope) {
            after.entry(e.object.key()).or_insert(e);
        }
        if after.is_empty() {
            return Ok(list_in(&state.objects, rt, namespace));
        }
        let mut objects: BTreeMap<ObjectKey, Object> =
            list_in(&state.objects, rt, namespace).into_iter().map(|o| (o.key().clone(), o)).collect();
        // The last change at or before `rv` of each object changed since.
        let mut before: HashMap<&ObjectKey, &WatchEvent> = HashMap::new();
        for e in state.history.range(..start).rev().filter(in_scope) {
            if after.contains_key(e.object.key()) {
                before.entry(e.object.key()).or_insert(e);
                if before.len() == after.len() {
                    break;
                }
            }
        }
        for (key, first_after) in after {
            match before.get(key) {
                Some(e) if e.event_type == EventType::Deleted => {
                    objects.remove(key);
                }
                Some(e) => {
                    objects.insert(key.clone(), e.object.clone());
                }
                None if first_after.event_type == EventType::Added => {
                    objects.remove(key);
                }
                None => return Err(too_old()),
            }
        }
        Ok(objects.into_values().collect())
    }

    /// No write holds the writer right now: one that starts now is unlikely to wait for it.
    pub fn writer_is_free(&self) -> bool {
        self.shared.writer_is_free()
    }

    /// Runs one write: `decide` sees the latest state and returns the mutations to make (or an
    /// error, which changes nothing). The mutations are given successive resourceVersions and
    /// staged; the committer thread commits them durably with whatever else is staged, then
    /// publishes them. The stored objects (`None` for deletes) are the outcome, [`Pending`]
    /// until then.
    pub fn write<T>(
        &self,
        decide: impl FnOnce(&Snapshot<'_>) -> ApiResult<(Vec<Mutation>, T)>,
    ) -> ApiResult<Pending<(Stored, T)>> {
        let shared = &self.shared;
        let mut latest = shared.lock_writer();
        if latest.stopped {
            return Err(ApiError::internal("the store's committer stopped; writes are refused"));
        }
        let (mutations, extra) = decide(&Snapshot { objects: &latest.objects })?;
        if mutations.is_empty() {
            // What it decided on may still be on its way to disk: answer once it is there.
            let durable = (latest.resource_version > shared.durable.load(Ordering::Acquire)).then(|| {
                let rx = latest.waiter();
                drop(latest);
                shared.staged.notify_one();
                rx
            });
            return Ok(Pending { value: (Vec::new(), extra), durable });
        }
        // Stamp each mutation with its resourceVersion and encode it, before touching disk; the
        // latest state takes each at once, so later mutations of the same write see it.
        let mut staged = Vec::with_capacity(mutations.len());
        let mut stored = Vec::with_capacity(mutations.len());
        let mut rv = latest.resource_version;
        for m in mutations {
            rv += 1;
            match m {
                Mutation::Put { resource, mut object } => {
                    object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
                    let key = object_key(&object);
                    let map = objects_of(&mut latest.objects, resource);
                    // The event that will announce it: what watchers are sent shares its bytes.
                    let event_type =
                        if map.contains_key(&key) { EventType::Modified } else { EventType::Added };
                    let object = Object::encode(resource, &object, event_type);
                    map.insert(key.clone(), object.clone());
                    stored.push(Some(object.clone()));
                    staged.push(StagedWrite { rv, resource, key, change: Change::Put(object) });
                }
                Mutation::Delete { resource, key } => {
                    // Watchers see the last state, carrying the delete's resourceVersion.
                    let last = objects_of(&mut latest.objects, resource)
                        .remove(&key)
                        .map(|last| last.at_resource_version(resource, rv, EventType::Deleted));
                    stored.push(None);
                    staged.push(StagedWrite { rv, resource, key, change: Change::Delete(last) });
                }
            }
        }
        latest.resource_version = rv;
        latest.queue.extend(staged);
        let durable = latest.waiter();
        drop(latest);
        shared.staged.notify_one();
        Ok(Pending { value: (stored, extra), durable: Some(durable) })
    }

    /// Decides a write as [`Store::write`] does, against the same latest state, but stages
    /// nothing (`dryRun=All`): the outcome is what would have been stored, with no new
    /// resourceVersion, and nothing is written, published or awaited.
    pub fn dry_run<T>(
        &self,
        decide: impl FnOnce(&Snapshot<'_>) -> ApiResult<(Vec<Mutation>, T)>,
    ) -> ApiResult<Pending<(Stored, T)>> {
        let latest = self.shared.lock_writer();
        if latest.stopped {
            return Err(ApiError::internal("the store's committer stopped; writes are refused"));
        }
        let (mutations, extra) = decide(&Snapshot { objects: &latest.objects })?;
        drop(latest);
        let stored = mutations
            .into_iter()
            .map(|m| match m {
                Mutation::Put { resource, object } => {
                    Some(Object::encode(resource, &object, EventType::Added))
                }
                Mutation::Delete { .. } => None,
            })
            .collect();
        Ok(Pending { value: (stored, extra), durable: None })
    }

    /// Starts a watch of `rt` after `from` (a resourceVersion a client got from a list or an
    /// object). `None` means "from now, with the current objects as ADDED events first".
    /// A resourceVersion older than the retained history is `410 Gone`.
    pub fn watch(
        &self,
        rt: &'static dyn Resource,
        namespace: Option<&str>,
        from: Option<u64>,
    ) -> ApiResult<WatchStart> {
        let state = self.read();
        // Subscribing under the read lock: publishers hold the write lock while sending, so no
        // event falls between the backlog and the live stream.
        let live = self.shared.events.subscribe();
        let backlog = match from {
            None => list_in(&state.objects, rt, namespace)
                .into_iter()
                .map(|object| {
                    Arc::new(WatchEvent {
                        resource: rt,
                        event_type: EventType::Added,
                        object,
                        previous: None,
                    })
                })
                .collect(),
            Some(rv) if rv < state.compacted_through => {
                return Err(ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    state.compacted_through + 1
                )));
            }
            Some(rv) => {
                let start = state.history.partition_point(|e| e.resource_version() <= rv);
                state
                    .history
                    .range(start..)
                    .filter(|e| e.resource.storage_key() == rt.storage_key())
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart { backlog, live })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shared.lock_writer().closing = true;
        self.shared.staged.notify_one();
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn writer_is_free(&self) -> bool {
        matches!(self.writer.try_lock(), Ok(_) | Err(std::sync::TryLockError::Poisoned(_)))
    }

    fn lock_writer(&self) -> MutexGuard<'_, Latest> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A resource as the API server would hand it in: ConfigMaps, selectable by name and
    /// namespace.
    #[derive(Debug)]
    struct ConfigMaps;

    impl Resource for ConfigMaps {
        fn storage_key(&self) -> &'static str {
            "/configmaps"
        }

        fn selectable(&self, obj: &Value) -> Selectable {
            let field = |f: &str| obj["metadata"][f].as_str().map(str::to_string);
            Selectable::new(
                BTreeMap::new(),
                vec![("metadata.name", field("name")), ("metadata.namespace", field("namespace"))],
            )
        }
    }

    fn configmaps() -> &'static dyn Resource {
        &ConfigMaps
    }

    /// Stages a ConfigMap `name` in `default`.
    fn stage(store: &Store, name: &str) -> ApiResult<Pending<(Stored, ())>> {
        store.write(|_| {
            let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default"}});
            Ok((vec![Mutation::Put { resource: configmaps(), object }], ()))
        })
    }

    /// Writes a ConfigMap `name` in `default`; its resourceVersion.
    fn put(store: &Store, name: &str) -> u64 {
        let (stored, ()) = stage(store, name).unwrap().durable_blocking().unwrap();
        stored[0].as_ref().unwrap().resource_version()
    }

    /// Deletes the ConfigMap `name` in `default`.
    fn delete(store: &Store, name: &str) {
        store
            .write(|_| {
                let key = ("default".to_string(), name.to_string());
                Ok((vec![Mutation::Delete { resource: configmaps(), key }], ()))
            })
            .unwrap()
            .durable_blocking()
            .unwrap();
    }

    #[test]
    fn concurrent_writers_share_commits_and_every_write_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = Arc::new(Store::open(&path, 10_000).unwrap());
        let mut live = store.watch(configmaps(), None, None).unwrap().live;
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..100).map(|i| put(&store, &format!("cm-{t}-{i}"))).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut rvs: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        rvs.sort();
        assert_eq!(rvs, (1..=800).collect::<Vec<_>>(), "every write has its own resourceVersion");
        assert_eq!(store.resource_version(), 800);
        // Watchers see every write once, in resourceVersion order.
        let seen: Vec<u64> = (0..800).map(|_| live.try_recv().unwrap().resource_version()).collect();
        assert_eq!(seen, (1..=800).collect::<Vec<_>>());
        drop(live);
        drop(store);
        let reopened = Store::open(&path, 10_000).unwrap();
        assert_eq!(reopened.resource_version(), 800);
        assert_eq!(reopened.list(configmaps(), Some("default")).0.len(), 800);
    }

    #[test]
    fn writes_staged_when_the_store_closes_are_committed_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = Store::open(&path, 100).unwrap();
        let pending: Vec<_> = (0..50).map(|i| stage(&store, &format!("cm-{i}")).unwrap()).collect();
        // Seen by later writers at once, durable once the committer gets to them.
        let (_, seen) = store
            .write(|snap| Ok((Vec::new(), snap.list(configmaps(), None).len())))
            .unwrap()
            .durable_blocking()
            .unwrap();
        assert_eq!(seen, 50);
        drop(store);
        for p in pending {
            p.durable_blocking().expect("committed before the store closed");
        }
        let reopened = Store::open(&path, 100).unwrap();
        assert_eq!(reopened.resource_version(), 50);
        assert_eq!(reopened.list(configmaps(), None).0.len(), 50);
    }

    /// Committing an object of this name panics the committer thread.
    pub(super) const PANICS_IN_COMMIT: &str = "panics-in-commit";

    #[test]
    fn writes_fail_instead_of_hanging_if_the_committer_dies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb"), 100).unwrap();
        put(&store, "fine");
        let doomed = stage(&store, PANICS_IN_COMMIT).unwrap();
        assert!(doomed.durable_blocking().is_err(), "the write in flight fails");
        // Whether it is staged before the committer's death is noticed or refused after, a
        // later write fails rather than waits.
        let later = stage(&store, "later").and_then(Pending::durable_blocking);
        assert!(later.is_err(), "later writes fail");
        assert!(store.write(|_| Ok((Vec::new(), ()))).is_err(), "and once it is noticed, at once");
        assert_eq!(store.list(configmaps(), None).0.len(), 1, "what was committed stays readable");
    }

    #[test]
    fn a_write_decides_against_writes_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb"), 100).unwrap();
        put(&store, "a");
        let (_, seen) = store
            .write(|snap| Ok((Vec::new(), snap.get(configmaps(), "default", "a").is_some())))
            .unwrap()
            .durable_blocking()
            .unwrap();
        assert!(seen);
    }

    fn line_of(event: &WatchEvent, as_type: EventType) -> Value {
        let line = event.json_line_as(as_type);
        assert!(line.ends_with(b"}\n"), "one line per event");
        serde_json::from_slice(&line).unwrap()
    }

    #[test]
    fn watch_events_carry_their_object_as_json_and_what_selectors_need() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb"), 100).unwrap();
        let mut live = store.watch(configmaps(), None, None).unwrap().live;
        put(&store, "a");
        let added = live.try_recv().unwrap();
        assert_eq!(added.event_type, EventType::Added);
        let line = line_of(&added, EventType::Added);
        assert_eq!(line["type"], "ADDED");
        assert_eq!(line["object"]["metadata"]["resourceVersion"], "1");
        assert_eq!(added.object()["metadata"]["name"], "a");
        assert_eq!(added.selectable().field("metadata.name").as_deref(), Some("a"));
        assert_eq!(added.selectable().namespace(), Some("default"));
        // A selector watch may see the same change as another type; the object is unchanged.
        let as_deleted = line_of(&added, EventType::Deleted);
        assert_eq!(as_deleted["type"], "DELETED");
        assert_eq!(as_deleted["object"], line["object"]);

        delete(&store, "a");
        let deleted = live.try_recv().unwrap();
        assert_eq!(deleted.event_type, EventType::Deleted);
        let line = line_of(&deleted, EventType::Deleted);
        assert_eq!(line["object"]["metadata"]["name"], "a", "the last state");
        assert_eq!(line["object"]["metadata"]["resourceVersion"], "2", "with the delete's resourceVersion");
        assert_eq!(deleted.selectable().field("metadata.name").as_deref(), Some("a"));

        // Deleting what is not there publishes nothing.
        delete(&store, "a");
        assert!(live.try_recv().is_err());
    }
}
