//! Crash-safe object storage with one global, strictly increasing resourceVersion, and the
//! watch cache built on it.
//!
//! Every object lives twice: durably in a redb table (`<group>/<plural>/<namespace>/<name>` →
//! JSON), and in memory as a sorted map per resource that serves every read. A write takes the
//! writer lock, decides its mutations against the in-memory state, commits them to redb with
//! an fsync (so an acknowledged write survives `kill -9`), and only then publishes them: to the
//! in-memory maps, to a bounded history used to resume watches, and to a broadcast channel that
//! live watchers read. Each event is encoded to JSON at most once however many watchers read it.
//! A watcher that falls behind the channel is cut loose, never allowed to block writers; its
//! client relists.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use bytes::Bytes;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::{ApiError, ApiResult};
use crate::resources::{self, RESOURCES, ResourceType};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RV_KEY: &str = "resourceVersion";

/// How many events are kept for watch resumption by default.
pub const DEFAULT_HISTORY: usize = 100_000;
/// How many events a live watcher may fall behind before it is cut loose.
const BROADCAST_CAPACITY: usize = 100_000;

/// One write of a transaction, staged before it commits: its resourceVersion, where it goes,
/// and the object with its encoded bytes (`None` deletes).
type StagedWrite = (u64, &'static ResourceType, ObjectKey, Option<(Value, Vec<u8>)>);

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
    #[error("stored object {key} is not valid JSON: {source}")]
    Corrupt { key: String, source: serde_json::Error },
    #[error("stored object {0} belongs to no served resource")]
    UnknownResource(String),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::internal(e)
    }
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects. Ordering by this key
/// gives upstream's list order.
pub type ObjectKey = (String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watchers see it.
#[derive(Debug)]
pub struct WatchEvent {
    pub resource_version: u64,
    pub resource: &'static ResourceType,
    pub event_type: EventType,
    /// The object after the change (for a delete: the last state, carrying the delete's RV).
    pub object: Arc<Value>,
    /// The object before the change, so selector watches can tell an object that stopped
    /// matching.
    pub previous: Option<Arc<Value>>,
    encoded: OnceLock<Bytes>,
}

impl WatchEvent {
    fn new(
        resource_version: u64,
        resource: &'static ResourceType,
        event_type: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) -> Self {
        WatchEvent { resource_version, resource, event_type, object, previous, encoded: OnceLock::new() }
    }

    /// `{"type":"ADDED","object":{…}}\n`, encoded once and shared by every watcher.
    pub fn json_line(&self) -> Bytes {
        self.encoded
            .get_or_init(|| {
                let mut line = serde_json::to_vec(&serde_json::json!({
                    "type": self.event_type.as_str(),
                    "object": &*self.object,
                }))
                .unwrap_or_default();
                line.push(b'\n');
                Bytes::from(line)
            })
            .clone()
    }

    pub fn key(&self) -> ObjectKey {
        object_key(&self.object)
    }
}

/// A change a write wants to make.
#[derive(Debug)]
pub enum Mutation {
    /// Create or replace the object (its namespace and name come from its metadata).
    Put {
        resource: &'static ResourceType,
        object: Value,
    },
    Delete {
        resource: &'static ResourceType,
        key: ObjectKey,
    },
}

struct State {
    resource_version: u64,
    objects: HashMap<&'static str, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Arc<WatchEvent>>,
    /// The oldest resourceVersion a watch may resume from.
    compacted_through: u64,
}

/// A read-only view of the store's current state, given to write decisions.
pub struct Snapshot<'a> {
    state: &'a State,
}

impl Snapshot<'_> {
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.state
            .objects
            .get(rt_key(rt))
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Objects of a resource, in one namespace or (with `None`) all.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<Arc<Value>> {
        list_in(self.state, rt, namespace)
    }

    pub fn resource_version(&self) -> u64 {
        self.state.resource_version
    }
}

fn list_in(state: &State, rt: &ResourceType, namespace: Option<&str>) -> Vec<Arc<Value>> {
    let Some(map) = state.objects.get(rt_key(rt)) else { return Vec::new() };
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
    db: redb::Database,
    writer: Mutex<()>,
    state: RwLock<State>,
    events: broadcast::Sender<Arc<WatchEvent>>,
    history_limit: usize,
}

/// The key of a resource in the in-memory map and the redb table: `apps/daemonsets`.
fn rt_key(rt: &ResourceType) -> &'static str {
    // Resources come from the static table, so their plural names are 'static; the key is
    // the group-qualified plural, precomputed for each entry.
    static KEYS: OnceLock<HashMap<(&'static str, &'static str), &'static str>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        RESOURCES
            .iter()
            .map(|r| ((r.group, r.plural), &*Box::leak(format!("{}/{}", r.group, r.plural).into_boxed_str())))
            .collect()
    });
    keys.get(&(rt.group, rt.plural)).copied().unwrap_or("")
}

fn db_key(rt: &ResourceType, key: &ObjectKey) -> String {
    format!("{}/{}/{}", rt_key(rt), key.0, key.1)
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
    /// Opens (or creates) the store at `path`, loading every object into memory.
    pub fn open(path: &Path, history_limit: usize) -> Result<Store, StorageError> {
        let db = redb::Database::create(path)?;
        let mut objects: HashMap<&'static str, BTreeMap<ObjectKey, Arc<Value>>> = HashMap::new();
        for rt in RESOURCES {
            objects.insert(rt_key(rt), BTreeMap::new());
        }
        let mut resource_version = 0;
        {
            let txn = db.begin_write()?;
            txn.open_table(OBJECTS)?;
            txn.open_table(META)?;
            txn.commit()?;
        }
        {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            if let Some(rv) = meta.get(RV_KEY)? {
                resource_version = rv.value();
            }
            let table = txn.open_table(OBJECTS)?;
            for entry in table.iter()? {
                let (k, v) = entry?;
                let key = k.value().to_string();
                let value: Value = serde_json::from_slice(v.value())
                    .map_err(|source| StorageError::Corrupt { key: key.clone(), source })?;
                let mut parts = key.splitn(3, '/');
                let (group, plural) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let rt = RESOURCES
                    .iter()
                    .find(|r| r.group == group && r.plural == plural)
                    .ok_or_else(|| StorageError::UnknownResource(key.clone()))?;
                objects.entry(rt_key(rt)).or_default().insert(object_key(&value), Arc::new(value));
            }
        }
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Ok(Store {
            db,
            writer: Mutex::new(()),
            state: RwLock::new(State {
                resource_version,
                objects,
                history: VecDeque::new(),
                compacted_through: resource_version,
            }),
            events,
            history_limit: history_limit.max(1),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Arc<Value>> {
        Snapshot { state: &self.read() }.get(rt, namespace, name)
    }

    /// The objects of a resource and the resourceVersion they are current at.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let state = self.read();
        (list_in(&state, rt, namespace), state.resource_version)
    }

    /// Runs one write: `decide` sees the current state and returns the mutations to make (or an
    /// error, which changes nothing). The mutations are committed durably, given successive
    /// resourceVersions, published, and returned as the stored objects (`None` for deletes).
    pub fn write<T>(
        &self,
        decide: impl FnOnce(&Snapshot<'_>) -> ApiResult<(Vec<Mutation>, T)>,
    ) -> ApiResult<(Vec<Option<Arc<Value>>>, T)> {
        let _writer = self.lock_writer();
        let (mutations, extra) = {
            let state = self.read();
            decide(&Snapshot { state: &state })?
        };
        if mutations.is_empty() {
            return Ok((Vec::new(), extra));
        }
        let mut rv = self.resource_version();
        // Stamp each mutation with its resourceVersion and encode it, before touching disk.
        let mut staged = Vec::with_capacity(mutations.len());
        for m in mutations {
            rv += 1;
            match m {
                Mutation::Put { resource, mut object } => {
                    object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
                    let key = object_key(&object);
                    let bytes = serde_json::to_vec(&object).map_err(ApiError::internal)?;
                    staged.push((rv, resource, key, Some((object, bytes))));
                }
                Mutation::Delete { resource, key } => staged.push((rv, resource, key, None)),
            }
        }
        self.commit(&staged, rv)?;
        self.publish(staged, rv).map(|objs| (objs, extra))
    }

    fn commit(&self, staged: &[StagedWrite], rv: u64) -> Result<(), StorageError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(OBJECTS)?;
            for (_, rt, key, put) in staged {
                let k = db_key(rt, key);
                match put {
                    Some((_, bytes)) => {
                        table.insert(k.as_str(), bytes.as_slice())?;
                    }
                    None => {
                        table.remove(k.as_str())?;
                    }
                }
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(RV_KEY, rv)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn publish(&self, staged: Vec<StagedWrite>, rv: u64) -> ApiResult<Vec<Option<Arc<Value>>>> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(staged.len());
        for (event_rv, rt, key, put) in staged {
            let map = state.objects.entry(rt_key(rt)).or_default();
            let event = match put {
                Some((object, _)) => {
                    let object = Arc::new(object);
                    let previous = map.insert(key, object.clone());
                    let event_type = if previous.is_some() { EventType::Modified } else { EventType::Added };
                    out.push(Some(object.clone()));
                    WatchEvent::new(event_rv, rt, event_type, object, previous)
                }
                None => {
                    out.push(None);
                    let Some(previous) = map.remove(&key) else { continue };
                    let mut last = (*previous).clone();
                    last["metadata"]["resourceVersion"] = Value::String(event_rv.to_string());
                    WatchEvent::new(event_rv, rt, EventType::Deleted, Arc::new(last), Some(previous))
                }
            };
            let event = Arc::new(event);
            state.history.push_back(event.clone());
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(event);
        }
        state.resource_version = rv;
        while state.history.len() > self.history_limit {
            if let Some(old) = state.history.pop_front() {
                state.compacted_through = old.resource_version;
            }
        }
        Ok(out)
    }

    /// Starts a watch of `rt` after `from` (a resourceVersion a client got from a list or an
    /// object). `None` means "from now, with the current objects as ADDED events first".
    /// A resourceVersion older than the retained history is `410 Gone`.
    pub fn watch(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        from: Option<u64>,
    ) -> ApiResult<WatchStart> {
        let state = self.read();
        // Subscribing under the read lock: publishers hold the write lock while sending, so no
        // event falls between the backlog and the live stream.
        let live = self.events.subscribe();
        let backlog = match from {
            None => list_in(&state, rt, namespace)
                .into_iter()
                .map(|o| {
                    let rv =
                        o["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                    Arc::new(WatchEvent::new(rv, resources_static(rt), EventType::Added, o, None))
                })
                .collect(),
            Some(rv) if rv < state.compacted_through => {
                return Err(ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    state.compacted_through + 1
                )));
            }
            Some(rv) => {
                let start = state.history.partition_point(|e| e.resource_version <= rv);
                state.history.range(start..).filter(|e| std::ptr::eq(e.resource, rt)).cloned().collect()
            }
        };
        Ok(WatchStart { backlog, live })
    }
}

fn resources_static(rt: &ResourceType) -> &'static ResourceType {
    resources::find(rt.group, rt.version, rt.plural).expect("served resource")
}
