//! Recording core/v1 Events about objects, as upstream's event recorder does: one Event per
//! occurrence, named `<object>.<random hex>`, with the reporting component as its source.
//! Recording never fails or delays the caller: as client-go's broadcaster, it queues the event
//! for a background writer, dropping it when 1,000 are already waiting; a failed write is
//! logged. A scheduler binding thousands of pods so never waits on their `Scheduled` events.
//!
//! Like client-go's event correlator, a spam filter limits each source to a burst of 25
//! events per involved object, refilled at one every five minutes; the rest are dropped. A
//! DaemonSet creating pods on 5,000 nodes so records 25 `SuccessfulCreate` events, not 5,000.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};
use tokio::sync::mpsc;

/// Events waiting to be written before new ones are dropped (client-go's `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// Events written at once.
const CONCURRENT_WRITES: usize = 8;

/// Records events for one component (e.g. `daemonset-controller`).
#[derive(Clone)]
pub struct EventRecorder {
    component: String,
    host: Option<String>,
    spam: Arc<Mutex<SpamFilter>>,
    queue: mpsc::Sender<Event>,
}

/// client-go's `EventSourceObjectSpamFilter`: a token bucket per involved object, for the
/// [`SpamFilter::CACHED`] objects most recently seen (an object forgotten starts afresh).
#[derive(Default)]
pub struct SpamFilter {
    buckets: HashMap<String, (f64, Instant)>,
}

impl SpamFilter {
    /// Events allowed at once per object.
    pub const BURST: f64 = 25.0;
    /// Tokens regained per second (one per five minutes).
    pub const REFILL_PER_SECOND: f64 = 1.0 / 300.0;
    /// Objects remembered (client-go's LRU cache holds 4,096).
    pub const CACHED: usize = 4096;

    /// Whether an event about `object` may be recorded at `now`, taking a token if so.
    pub fn allow(&mut self, object: &ObjectReference, now: Instant) -> bool {
        let key = format!(
            "{}/{}/{}/{}/{}",
            object.api_version.as_deref().unwrap_or_default(),
            object.kind.as_deref().unwrap_or_default(),
            object.namespace.as_deref().unwrap_or_default(),
            object.name.as_deref().unwrap_or_default(),
            object.uid.as_deref().unwrap_or_default(),
        );
        if self.buckets.len() >= 2 * Self::CACHED {
            // Forget all but the most recently seen, once per CACHED new objects: a scheduler
            // recording one event for each of thousands of pods pays O(1) per event, not a scan.
            let mut seen: Vec<Instant> = self.buckets.values().map(|(_, last)| *last).collect();
            seen.sort_unstable_by(|a, b| b.cmp(a));
            let cutoff = seen[Self::CACHED - 1];
            self.buckets.retain(|_, (_, last)| *last >= cutoff);
        }
        let (tokens, last) = self.buckets.entry(key).or_insert((Self::BURST, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * Self::REFILL_PER_SECOND).min(Self::BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
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
        EventRecorder { component: component.to_string(), host: None, spam: Arc::default(), queue }
    }

    /// Events from a node-local component carry the node as `source.host`.
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    /// Records an event about `object`, in its namespace (`default` for cluster-scoped ones).
    pub fn record(&self, object: &ObjectReference, type_: &str, reason: &str, message: &str) {
        if !self.spam.lock().unwrap_or_else(|e| e.into_inner()).allow(object, Instant::now()) {
            tracing::trace!(reason, object = ?object.name, "event dropped by the spam filter");
            return;
        }
        let namespace =
            object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_string());
        let now = Time(Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:016x}", object.name.as_deref().unwrap_or("object"), rand_u64())),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.to_string()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(EventSource { component: Some(self.component.clone()), host: self.host.clone() }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        };
        if self.queue.try_send(event).is_err() {
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

/// Writes queued events, a few at once, until every recorder is gone.
async fn write_events(client: Client, waiting: mpsc::Receiver<Event>) {
    let events = futures::stream::unfold(waiting, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
    events
        .for_each_concurrent(CONCURRENT_WRITES, |event| {
            let client = client.clone();
            async move {
                let namespace = event.metadata.namespace.clone().unwrap_or_default();
                let api: Api<Event> = Api::namespaced(client, &namespace);
                if let Err(e) = api.create(&PostParams::default(), &event).await {
                    tracing::debug!(reason = ?event.reason, object = ?event.involved_object.name, error = %e,
                        "recording an event failed");
                }
            }
        })
        .await;
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn reference(name: &str) -> ObjectReference {
        ObjectReference { kind: Some("DaemonSet".into()), name: Some(name.into()), ..Default::default() }
    }

    #[test]
    fn spam_filter_allows_a_burst_of_25_per_object_then_one_per_five_minutes() {
        let mut filter = SpamFilter::default();
        let t0 = Instant::now();
        let allowed = (0..100).filter(|_| filter.allow(&reference("a"), t0)).count();
        assert_eq!(allowed, 25);
        assert!(filter.allow(&reference("b"), t0), "another object has its own bucket");
        assert!(!filter.allow(&reference("a"), t0 + Duration::from_secs(299)));
        assert!(filter.allow(&reference("a"), t0 + Duration::from_secs(301)));
        assert!(!filter.allow(&reference("a"), t0 + Duration::from_secs(302)));
    }

    #[test]
    fn spam_filter_remembers_the_objects_seen_last() {
        let mut filter = SpamFilter::default();
        let t0 = Instant::now();
        let at = |i: u64| t0 + Duration::from_millis(i);
        while filter.allow(&reference("busy"), t0) {}
        while filter.allow(&reference("quiet"), t0) {}
        for i in 0..20_000u64 {
            assert!(filter.allow(&reference(&format!("pod-{i}")), at(i + 1)), "each new object may speak");
            if i % 1000 == 0 {
                assert!(!filter.allow(&reference("busy"), at(i + 1)), "a recent object stays limited");
            }
        }
        assert!(filter.buckets.len() < 2 * SpamFilter::CACHED, "bounded: {}", filter.buckets.len());
        assert!(!filter.allow(&reference("busy"), at(20_001)));
        assert!(filter.allow(&reference("quiet"), at(20_001)), "one long forgotten starts afresh");
    }
}
