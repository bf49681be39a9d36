//! The watch cache's events: each change as the JSON line watchers are sent (encoded once,
//! from the bytes written to disk) plus what label and field selectors read of the object
//! before and after, so the history holds old versions at a fraction of their decoded size.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

use super::Resource;

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

/// What label and field selectors look at in one version of an object: its labels, and its
/// name, namespace and the resource's other selectable fields.
#[derive(Debug)]
pub struct Selectable {
    pub labels: BTreeMap<String, String>,
    fields: Vec<(&'static str, Option<String>)>,
}

impl Selectable {
    /// `fields` pairs each selectable field (`metadata.name` and `metadata.namespace` among
    /// them) with its value.
    pub fn new(labels: BTreeMap<String, String>, fields: Vec<(&'static str, Option<String>)>) -> Selectable {
        Selectable { labels, fields }
    }

    /// The value of a selectable field (`None` for one the resource does not select on).
    pub fn field(&self, label: &str) -> Option<String> {
        self.fields.iter().find(|(l, _)| *l == label).and_then(|(_, v)| v.clone())
    }

    pub fn namespace(&self) -> Option<&str> {
        self.fields.iter().find(|(l, _)| *l == "metadata.namespace").and_then(|(_, v)| v.as_deref())
    }
}

/// One change, as watchers see it.
#[derive(Debug)]
pub struct WatchEvent {
    pub resource_version: u64,
    /// The resource's storage key ([`Resource::storage_key`]).
    pub resource: &'static str,
    pub event_type: EventType,
    /// The object after the change (for a delete: its last state), for selectors.
    pub selectable: Selectable,
    /// The object before the change, so selector watches can tell an object that stopped
    /// matching.
    pub previous: Option<Selectable>,
    /// `{"type":"ADDED","object":{…}}\n`, shared by every watcher.
    line: Bytes,
}

const LINE_SUFFIX: &[u8] = b"}\n";

/// What precedes the object in a watch line of `event_type`.
fn line_prefix(event_type: EventType) -> &'static [u8] {
    match event_type {
        EventType::Added => br#"{"type":"ADDED","object":"#,
        EventType::Modified => br#"{"type":"MODIFIED","object":"#,
        EventType::Deleted => br#"{"type":"DELETED","object":"#,
    }
}

/// `{"type":…,"object":<object_json>}\n`.
fn watch_line(event_type: EventType, object_json: &[u8]) -> Bytes {
    let prefix = line_prefix(event_type);
    let mut line = Vec::with_capacity(prefix.len() + object_json.len() + LINE_SUFFIX.len());
    line.extend_from_slice(prefix);
    line.extend_from_slice(object_json);
    line.extend_from_slice(LINE_SUFFIX);
    Bytes::from(line)
}

impl WatchEvent {
    pub(super) fn new(
        resource_version: u64,
        resource: &'static str,
        event_type: EventType,
        object_json: &[u8],
        selectable: Selectable,
        previous: Option<Selectable>,
    ) -> Self {
        let line = watch_line(event_type, object_json);
        WatchEvent { resource_version, resource, event_type, selectable, previous, line }
    }

    /// An event for an object as it is now, encoding it.
    pub(super) fn of_object(
        resource_version: u64,
        resource: &'static dyn Resource,
        event_type: EventType,
        obj: &Value,
    ) -> Self {
        let json = crate::wire::to_vec(obj);
        WatchEvent::new(
            resource_version,
            resource.storage_key(),
            event_type,
            &json,
            resource.selectable(obj),
            None,
        )
    }

    /// The event as a watch line: `{"type":"ADDED","object":{…}}\n`.
    pub fn json_line(&self) -> Bytes {
        self.line.clone()
    }

    fn object_json(&self) -> &[u8] {
        let start = line_prefix(self.event_type).len();
        &self.line[start..self.line.len() - LINE_SUFFIX.len()]
    }

    /// The same object as a line of another event type (a selector watch sees an update that
    /// starts or stops matching as ADDED or DELETED).
    pub fn json_line_as(&self, event_type: EventType) -> Bytes {
        if event_type == self.event_type {
            return self.json_line();
        }
        watch_line(event_type, self.object_json())
    }

    /// The object, decoded again (for the rare watcher that needs more than its JSON).
    pub fn object(&self) -> Value {
        serde_json::from_slice(self.object_json()).unwrap_or(Value::Null)
    }
}
