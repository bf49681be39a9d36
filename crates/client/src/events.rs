//! Recording core/v1 Events about objects, as upstream's event recorder does: an event named
//! `<object>.<hex>`, with the reporting component as its source, correlated as client-go's
//! `EventCorrelator` does (`event_correlator`): repeats become patches of the first event
//! with a rising `count`, similar events are aggregated, and a spam filter limits each source
//! to a burst of 25 events per object, refilled at one every five minutes.
//! Recording never fails or delays the caller: as client-go's broadcaster, it queues the write
//! for a background writer, dropping it when 1,000 are already waiting; a failed write is
//! logged. A scheduler binding thousands of pods so never waits on their `Scheduled` events.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use tokio::sync::mpsc;

use crate::event_correlator::{Correlated, EventCorrelator};

/// Events waiting to be written before new ones are dropped (client-go's `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// Events written at once.
const CONCURRENT_WRITES: usize = 8;

/// Records events for one component (e.g. `daemonset-controller`).
#[derive(Clone)]
pub struct EventRecorder {
    component: String,
    host: Option<String>,
    correlator: Arc<Mutex<EventCorrelator>>,
    queue: mpsc::Sender<Correlated>,
}

/// A reference to the object an event is about.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(K::kind(&()).to_string()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

impl EventRecorder {
    /// A recorder and its writer, a task on the current runtime that ends once every clone of
    /// the recorder is gone and the queue is written.
    pub fn new(client: Client, component: &str) -> Self {
        let (queue, waiting) = mpsc::channel(MAX_QUEUED_EVENTS);
        tokio::spawn(write_events(client, waiting));
        EventRecorder { component: component.to_string(), host: None, correlator: Arc::default(), queue }
    }

    /// Events from a node-local component carry the node as `source.host`.
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    /// Records an event about `object`, in its namespace (`default` for cluster-scoped ones).
    pub fn record(&self, object: &ObjectReference, type_: &str, reason: &str, message: &str) {
        let namespace =
            object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_string());
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    object.name.as_deref().unwrap_or("object"),
                    now.as_nanosecond().unsigned_abs() ^ u128::from(rand_u64() & 0xffff)
                )),
                namespace: Some(namespace),
                ..Default::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.to_string()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            source: Some(EventSource { component: Some(self.component.clone()), host: self.host.clone() }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        };
        let correlated =
            self.correlator.lock().unwrap_or_else(|e| e.into_inner()).correlate(event, now, Instant::now());
        if correlated == Correlated::Skip {
            tracing::trace!(reason, object = ?object.name, "event dropped by the spam filter");
            return;
        }
        if self.queue.try_send(correlated).is_err() {
            tracing::debug!(reason, object = ?object.name, "event dropped: the queue is full");
        }
    }

    /// [`EventRecorder::record`] for a typed object.
    pub fn record_for<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: &str,
        reason: &str,
        message: &str,
    ) {
        self.record(&object_reference(obj), type_, reason, message);
    }
}

/// Writes queued events until every recorder is gone: what has queued up is taken at once,
/// the writes for one Event in their order (its creation before its patches, only the last
/// of its patches), different Events a few at once.
async fn write_events(client: Client, mut waiting: mpsc::Receiver<Correlated>) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = waiting.try_recv() {
            batch.push(next);
        }
        let mut by_event: Vec<(String, Vec<Correlated>)> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for write in batch {
            let (Correlated::Create(e) | Correlated::Patch { event: e, .. }) = &write else { continue };
            let key = format!(
                "{}/{}",
                e.metadata.namespace.as_deref().unwrap_or_default(),
                e.metadata.name.as_deref().unwrap_or_default()
            );
            let i = *index.entry(key.clone()).or_insert_with(|| {
                by_event.push((key, Vec::new()));
                by_event.len() - 1
            });
            let writes = &mut by_event[i].1;
            // A later patch carries the whole count: an earlier one not yet sent is moot.
            if matches!(write, Correlated::Patch { .. })
                && matches!(writes.last(), Some(Correlated::Patch { .. }))
            {
                writes.pop();
            }
            writes.push(write);
        }
        futures::stream::iter(by_event)
            .for_each_concurrent(CONCURRENT_WRITES, |(_, writes)| {
                let client = client.clone();
                async move {
                    for write in writes {
                        write_event(&client, write).await;
                    }
                }
            })
            .await;
    }
}

async fn write_event(client: &Client, write: Correlated) {
    let (event, patch) = match write {
        Correlated::Create(event) => (event, None),
        Correlated::Patch { event, patch } => (event, Some(patch)),
        Correlated::Skip => return,
    };
    let api: Api<Event> =
        Api::namespaced(client.clone(), event.metadata.namespace.as_deref().unwrap_or_default());
    let name = event.metadata.name.clone().unwrap_or_default();
    let outcome = match patch {
        Some(patch) => match api.patch(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            // As client-go: the first event is gone (expired): write it anew.
            Err(kube::Error::Api(s)) if s.code == 404 => api.create(&PostParams::default(), &event).await,
            other => other,
        },
        None => api.create(&PostParams::default(), &event).await,
    };
    match outcome {
        // As client-go's "Server rejected event (will not retry!)": a refusal is a
        // misconfiguration someone must see.
        Err(kube::Error::Api(s)) if s.code == 403 => {
            tracing::warn!(reason = ?event.reason, "recording an event was refused: {}", s.message)
        }
        Err(e) => tracing::debug!(reason = ?event.reason, object = ?event.involved_object.name, error = %e,
            "recording an event failed"),
        Ok(_) => {}
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    h.finish()
}
