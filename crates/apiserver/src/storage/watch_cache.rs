//! The watch cache's events: each change as the stored object it made (whose bytes hold the
//! JSON line watchers are sent, encoded once) plus what label and field selectors read of the
//! object before, so the history holds old versions at a fraction of their decoded size.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{Object, Resource};

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
    pub resource: &'static dyn Resource,
    pub event_type: EventType,
    /// The object after the change (for a delete: its last state, carrying the delete's
    /// resourceVersion).
    pub object: Object,
    /// What selectors read of the object before the change, so selector watches can tell an
    /// object that stopped matching.
    pub previous: Option<Arc<Selectable>>,
}

impl WatchEvent {
    /// The change's resourceVersion: the one its object carries (for a delete, the delete's).
    pub fn resource_version(&self) -> u64 {
        self.object.resource_version()
    }

    /// What selectors read of the object after the change.
    pub fn selectable(&self) -> &Selectable {
        self.object.selectable(self.resource)
    }

    /// The event's object as a watch line of `event_type` (`{"type":"ADDED","object":{…}}\n`):
    /// a selector watch sees an update that starts or stops matching as ADDED or DELETED.
    pub fn json_line_as(&self, event_type: EventType) -> Bytes {
        self.object.json_line(event_type)
    }

    /// The object, decoded again (for the rare watcher that needs more than its JSON).
    pub fn object(&self) -> Value {
        self.object.value()
    }
}
