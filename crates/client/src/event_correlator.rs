//! client-go's `EventCorrelator`, the logic between recording an event and writing it: events
//! that differ only in their message are aggregated once ten of them come within ten minutes
//! (one event, `(combined from similar events): …`), an event seen before is written again as
//! a patch of the first one (its `count` up, its `lastTimestamp` now), and a spam filter
//! limits what each source says about one object. `kubectl describe` then shows
//! `(x12 over 5m)` where there would be twelve rows. Pure: the caller passes the time and
//! writes what comes out.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::{Value, json};

/// Distinct messages of similar events before they are aggregated (client-go's
/// `defaultAggregateMaxEvents`).
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// How long similar events count towards aggregation (`defaultAggregateIntervalInSeconds`).
pub const AGGREGATE_INTERVAL: SignedDuration = SignedDuration::from_secs(600);
/// Keys each cache remembers (client-go's LRU caches hold 4,096).
pub const CACHED: usize = 4096;
/// The message prefix of an aggregated event.
pub const COMBINED: &str = "(combined from similar events): ";

/// A map that remembers the [`CACHED`] entries used most recently: once it holds twice as
/// many, it forgets all but those, so each use costs O(1) amortized.
struct Recent<K, V> {
    entries: HashMap<K, (V, u64)>,
    tick: u64,
}

impl<K: Hash + Eq, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent { entries: HashMap::new(), tick: 0 }
    }
}

impl<K: Hash + Eq, V> Recent<K, V> {
    fn entry(&mut self, key: K, new: impl FnOnce() -> V) -> &mut V {
        if self.entries.len() >= 2 * CACHED && !self.entries.contains_key(&key) {
            let mut ticks: Vec<u64> = self.entries.values().map(|(_, t)| *t).collect();
            ticks.sort_unstable_by(|a, b| b.cmp(a));
            let cutoff = ticks[CACHED - 1];
            self.entries.retain(|_, (_, t)| *t >= cutoff);
        }
        self.tick += 1;
        let tick = self.tick;
        let (value, used) = self.entries.entry(key).or_insert_with(|| (new(), tick));
        *used = tick;
        value
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// client-go's `EventSourceObjectSpamFilter`: a token bucket per source and involved object.
#[derive(Default)]
pub struct SpamFilter {
    buckets: Recent<String, (f64, Instant)>,
}

impl SpamFilter {
    /// Events allowed at once per object.
    pub const BURST: f64 = 25.0;
    /// Tokens regained per second (one per five minutes).
    pub const REFILL_PER_SECOND: f64 = 1.0 / 300.0;

    /// Whether `event` may be written at `now`, taking a token if so.
    pub fn allow(&mut self, event: &Event, now: Instant) -> bool {
        let source = event.source.clone().unwrap_or_default();
        let key = [
            source.component.as_deref().unwrap_or_default(),
            source.host.as_deref().unwrap_or_default(),
            &object_key(&event.involved_object),
        ]
        .join("/");
        let (tokens, last) = self.buckets.entry(key, || (Self::BURST, now));
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

fn object_key(o: &ObjectReference) -> String {
    [
        o.kind.as_deref(),
        o.namespace.as_deref(),
        o.name.as_deref(),
        o.field_path.as_deref(),
        o.uid.as_deref(),
        o.api_version.as_deref(),
    ]
    .map(Option::unwrap_or_default)
    .join("/")
}

/// The key of events that are the same but for their message (client-go's
/// `EventAggregatorByReasonFunc`).
fn aggregate_key(e: &Event) -> String {
    let source = e.source.clone().unwrap_or_default();
    [
        source.component.as_deref().unwrap_or_default(),
        source.host.as_deref().unwrap_or_default(),
        &object_key(&e.involved_object),
        e.type_.as_deref().unwrap_or_default(),
        e.reason.as_deref().unwrap_or_default(),
        e.reporting_component.as_deref().unwrap_or_default(),
        e.reporting_instance.as_deref().unwrap_or_default(),
    ]
    .join("/")
}

/// The key of events that are the same in everything (client-go's `getEventKey`): their
/// aggregate key and their message.
fn event_key(aggregate: &str, e: &Event) -> String {
    format!("{aggregate}/{}", e.message.as_deref().unwrap_or_default())
}

struct AggregateRecord {
    messages: BTreeSet<String>,
    last: Timestamp,
}

/// What was last written for an event key: where a repeat goes as a patch.
struct Observation {
    count: i32,
    first: Option<Time>,
    name: String,
}

/// What to write for a recorded event.
#[derive(Debug, PartialEq)]
pub enum Correlated {
    /// A new Event object.
    Create(Event),
    /// An event seen before: a strategic merge patch of the Event named in `event`, which is
    /// the whole event as patched (to create again should the first one be gone).
    Patch { event: Event, patch: Value },
    /// Dropped by the spam filter.
    Skip,
}

#[derive(Default)]
pub struct EventCorrelator {
    aggregates: Recent<String, AggregateRecord>,
    observed: Recent<String, Observation>,
    spam: SpamFilter,
}

impl EventCorrelator {
    /// Correlates `event` (named and timestamped by the recorder, count 1) recorded at `now`
    /// (`instant` on the monotonic clock, for the spam filter).
    pub fn correlate(&mut self, event: Event, now: Timestamp, instant: Instant) -> Correlated {
        let (event, key) = self.aggregate(event, now);
        let (event, patch) = self.observe(event, key, now);
        if !self.spam.allow(&event, instant) {
            return Correlated::Skip;
        }
        match patch {
            Some(patch) => Correlated::Patch { event, patch },
            None => Correlated::Create(event),
        }
    }

    /// client-go's `EventAggregate`: the event itself and its full key while fewer than
    /// [`AGGREGATE_MAX_EVENTS`] distinct messages came in the interval, else an aggregated
    /// event under the aggregate key.
    fn aggregate(&mut self, event: Event, now: Timestamp) -> (Event, String) {
        let aggregate = aggregate_key(&event);
        let record = self
            .aggregates
            .entry(aggregate.clone(), || AggregateRecord { messages: BTreeSet::new(), last: now });
        if now.duration_since(record.last) > AGGREGATE_INTERVAL {
            record.messages.clear();
        }
        record.messages.insert(event.message.clone().unwrap_or_default());
        record.last = now;
        if record.messages.len() < AGGREGATE_MAX_EVENTS {
            let key = event_key(&aggregate, &event);
            return (event, key);
        }
        // The set stays at its bound.
        if let Some(any) = record.messages.iter().next().cloned() {
            record.messages.remove(&any);
        }
        let object = event.involved_object.name.as_deref().unwrap_or("object");
        let at = Time(now);
        let combined = Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                namespace: event.metadata.namespace.clone(),
                ..Default::default()
            },
            count: Some(1),
            first_timestamp: Some(at.clone()),
            last_timestamp: Some(at),
            message: Some(format!("{COMBINED}{}", event.message.as_deref().unwrap_or_default())),
            ..event
        };
        (combined, aggregate)
    }

    /// client-go's `eventObserve`: a repeat of what was written under `key` is a patch of it
    /// (the event as patched, and the patch); anything else is written as it is.
    fn observe(&mut self, mut event: Event, key: String, now: Timestamp) -> (Event, Option<Value>) {
        let name = event.metadata.name.clone().unwrap_or_default();
        let first = event.first_timestamp.clone();
        let seen = self.observed.entry(key, || Observation { count: 0, first, name });
        if seen.count == 0 {
            seen.count = event.count.unwrap_or(1);
            return (event, None);
        }
        seen.count += 1;
        event.metadata.name = Some(seen.name.clone());
        event.first_timestamp = seen.first.clone();
        event.count = Some(seen.count);
        event.last_timestamp = Some(Time(now));
        let patch = json!({
            "count": seen.count,
            "lastTimestamp": event.last_timestamp,
            "message": event.message,
        });
        (event, Some(patch))
    }

    /// Keys remembered, for tests of the bound.
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.aggregates.len().max(self.observed.len()).max(self.spam.buckets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::EventSource;
    use std::time::Duration;

    fn event(object: &str, reason: &str, message: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{object}.{message}")),
                namespace: Some("default".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("DaemonSet".into()),
                name: Some(object.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some("Normal".into()),
            count: Some(1),
            source: Some(EventSource { component: Some("daemonset-controller".into()), host: None }),
            ..Default::default()
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn a_repeated_event_is_a_patch_of_the_first_with_its_count() {
        let mut c = EventCorrelator::default();
        let i0 = Instant::now();
        let Correlated::Create(first) = c.correlate(event("agent", "FailedCreate", "quota"), t(0), i0) else {
            panic!()
        };
        for n in 2..=4 {
            match c.correlate(event("agent", "FailedCreate", "quota"), t(n), i0) {
                Correlated::Patch { event, patch } => {
                    assert_eq!(event.metadata.name, first.metadata.name, "the first event, patched");
                    assert_eq!(event.count, Some(n as i32));
                    assert_eq!(event.first_timestamp, first.first_timestamp);
                    assert_eq!(patch["count"], n);
                    assert_eq!(patch["lastTimestamp"], json!(Time(t(n))));
                    assert_eq!(patch["message"], "quota");
                }
                other => panic!("{other:?}"),
            }
        }
        // Another message, reason or object is another event.
        assert!(matches!(
            c.correlate(event("agent", "FailedCreate", "other"), t(5), i0),
            Correlated::Create(_)
        ));
        assert!(matches!(
            c.correlate(event("agent", "FailedDelete", "quota"), t(5), i0),
            Correlated::Create(_)
        ));
        assert!(matches!(
            c.correlate(event("web", "FailedCreate", "quota"), t(5), i0),
            Correlated::Create(_)
        ));
    }

    #[test]
    fn the_tenth_distinct_message_within_ten_minutes_starts_an_aggregate() {
        let mut c = EventCorrelator::default();
        let i0 = Instant::now();
        let mut created = Vec::new();
        let mut patched = Vec::new();
        for n in 0..20 {
            match c.correlate(
                event("agent", "SuccessfulCreate", &format!("Created pod: agent-{n}")),
                t(n),
                i0,
            ) {
                Correlated::Create(e) => created.push(e),
                Correlated::Patch { event, .. } => patched.push(event),
                Correlated::Skip => panic!("within the burst"),
            }
        }
        assert_eq!(created.len(), 10, "nine on their own, then the aggregate");
        let combined = &created[9];
        assert_eq!(combined.message.as_deref(), Some("(combined from similar events): Created pod: agent-9"));
        assert_eq!(combined.reason.as_deref(), Some("SuccessfulCreate"));
        assert_eq!(patched.len(), 10);
        let last = patched.last().unwrap();
        assert_eq!(last.metadata.name, combined.metadata.name);
        assert_eq!(last.count, Some(11));
        assert_eq!(last.message.as_deref(), Some("(combined from similar events): Created pod: agent-19"));
        // Ten minutes later, the count of distinct messages starts again.
        assert!(matches!(
            c.correlate(event("agent", "SuccessfulCreate", "Created pod: late"), t(19 + 601), i0),
            Correlated::Create(e) if e.message.as_deref() == Some("Created pod: late")
        ));
    }

    #[test]
    fn the_spam_filter_allows_a_burst_of_25_per_object_then_one_per_five_minutes() {
        let mut c = EventCorrelator::default();
        let i0 = Instant::now();
        let allowed =
            (0..100).filter(|_| c.correlate(event("a", "R", "m"), t(0), i0) != Correlated::Skip).count();
        assert_eq!(allowed, 25);
        assert_ne!(c.correlate(event("b", "R", "m"), t(0), i0), Correlated::Skip, "another object");
        assert_eq!(c.correlate(event("a", "R", "m"), t(0), i0 + Duration::from_secs(299)), Correlated::Skip);
        assert_ne!(c.correlate(event("a", "R", "m"), t(0), i0 + Duration::from_secs(301)), Correlated::Skip);
        assert_eq!(c.correlate(event("a", "R", "m"), t(0), i0 + Duration::from_secs(302)), Correlated::Skip);
    }

    #[test]
    fn what_it_remembers_is_bounded_to_the_recent() {
        let mut c = EventCorrelator::default();
        let i0 = Instant::now();
        let at = |i: u64| i0 + Duration::from_millis(i);
        while c.correlate(event("busy", "R", "m"), t(0), i0) != Correlated::Skip {}
        while c.correlate(event("quiet", "R", "m"), t(0), i0) != Correlated::Skip {}
        for i in 0..20_000u64 {
            let e = event(&format!("pod-{i}"), "Scheduled", "assigned");
            assert!(
                matches!(c.correlate(e, t(1), at(i + 1)), Correlated::Create(_)),
                "each new object may speak"
            );
            if i % 1000 == 0 {
                assert_eq!(
                    c.correlate(event("busy", "R", "m"), t(1), at(i + 1)),
                    Correlated::Skip,
                    "still limited"
                );
            }
        }
        assert!(c.remembered() < 2 * CACHED, "bounded: {}", c.remembered());
        assert_eq!(c.correlate(event("busy", "R", "m"), t(1), at(20_001)), Correlated::Skip);
        assert_ne!(
            c.correlate(event("quiet", "R", "m"), t(1), at(20_001)),
            Correlated::Skip,
            "one long forgotten starts afresh"
        );
    }
}
