//! One stored version of an object, kept as bytes: its JSON as clients see it, inside the watch
//! line of the event that stored it, so the current version of an object and the event in the
//! watch history that announced it share one buffer. Reads answer with these bytes as they
//! are (a list of thousands of pods is a concatenation, not an encoding); a write decodes the
//! one object it changes. Besides the bytes an object carries only what storage itself reads
//! without decoding: its key, resourceVersion and deletion timestamp, and (once asked for)
//! what selectors read of it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;

use super::watch_cache::{EventType, Selectable};
use super::{ObjectKey, Resource, object_key};

/// One stored version of an object. Cloning shares it.
#[derive(Clone, Debug)]
pub struct Object(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// `{"type":"ADDED","object":<json>}\n`, of `line_type`.
    line: Bytes,
    line_type: EventType,
    key: ObjectKey,
    uid: Box<str>,
    resource_version: u64,
    deletion_timestamp: Option<Box<str>>,
    selectable: OnceLock<Arc<Selectable>>,
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

/// `{"type":…,"object":<what write writes>}\n`, `capacity` bytes reserved for the object.
fn watch_line_with(event_type: EventType, capacity: usize, write: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let prefix = line_prefix(event_type);
    let mut line = Vec::with_capacity(prefix.len() + capacity + LINE_SUFFIX.len());
    line.extend_from_slice(prefix);
    write(&mut line);
    line.extend_from_slice(LINE_SUFFIX);
    Bytes::from(line)
}

/// `{"type":…,"object":<object_json>}\n`.
fn watch_line(event_type: EventType, object_json: &[u8]) -> Bytes {
    watch_line_with(event_type, object_json.len(), |line| line.extend_from_slice(object_json))
}

/// `{"type":…,"object":<value as clients see it>}\n`, encoded in place.
fn watch_line_of(event_type: EventType, value: &Value) -> Bytes {
    watch_line_with(event_type, 1024, |line| crate::wire::write(line, value))
}

impl Object {
    /// Encodes `value` (the server's form: managed fields packed, resourceVersion set) as the
    /// object of a `line_type` event. `rt` gives what selectors read of it.
    pub(super) fn encode(rt: &dyn Resource, value: &Value, line_type: EventType) -> Object {
        let object = Object::new(value, line_type, watch_line_of(line_type, value));
        let _ = object.0.selectable.set(Arc::new(rt.selectable(value)));
        object
    }

    /// An object that is not stored (what a reply shows of an object a write removed).
    pub fn unstored(rt: &dyn Resource, value: &Value) -> Object {
        Object::encode(rt, value, EventType::Added)
    }

    /// The same object at another resourceVersion, as the object of a `line_type` event (a
    /// delete's last state): its bytes rewritten, nothing else decoded.
    pub(super) fn at_resource_version(&self, rt: &dyn Resource, rv: u64, line_type: EventType) -> Object {
        let json = match with_resource_version(self.json(), rv) {
            Some(json) => json,
            // Never for what storage wrote; decoded and encoded again if it ever were.
            None => {
                let mut value = self.value();
                value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
                crate::wire::to_vec(&value)
            }
        };
        let inner = &self.0;
        let object = Object(Arc::new(Inner {
            line: watch_line(line_type, &json),
            line_type,
            key: inner.key.clone(),
            uid: inner.uid.clone(),
            resource_version: rv,
            deletion_timestamp: inner.deletion_timestamp.clone(),
            selectable: OnceLock::new(),
        }));
        let _ = object.0.selectable.set(self.selectable(rt).clone());
        object
    }

    /// An object read back from its JSON (as stored on disk): checked to be an object, and
    /// decoded once for its key and metadata.
    pub(super) fn load(json: &[u8]) -> Result<Object, serde_json::Error> {
        let value: Value = serde_json::from_slice(json)?;
        if !value.is_object() {
            return Err(serde::de::Error::custom("not a JSON object"));
        }
        Ok(Object::new(&value, EventType::Added, watch_line(EventType::Added, json)))
    }

    fn new(value: &Value, line_type: EventType, line: Bytes) -> Object {
        let meta = &value["metadata"];
        Object(Arc::new(Inner {
            line,
            line_type,
            key: object_key(value),
            uid: meta["uid"].as_str().unwrap_or_default().into(),
            resource_version: meta["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
            deletion_timestamp: meta["deletionTimestamp"].as_str().map(Into::into),
            selectable: OnceLock::new(),
        }))
    }

    /// Where the object's JSON stands in its watch line.
    fn json_range(&self) -> std::ops::Range<usize> {
        line_prefix(self.0.line_type).len()..self.0.line.len() - LINE_SUFFIX.len()
    }

    /// The object's JSON, as clients see it.
    pub fn json(&self) -> &[u8] {
        &self.0.line[self.json_range()]
    }

    /// The object's JSON, sharing its buffer.
    pub fn json_bytes(&self) -> Bytes {
        self.0.line.slice(self.json_range())
    }

    /// The object decoded into the server's form (managed fields packed).
    pub fn value(&self) -> Value {
        crate::wire::from_slice(self.json())
    }

    /// `(namespace, name)`.
    pub fn key(&self) -> &ObjectKey {
        &self.0.key
    }

    /// `metadata.uid`.
    pub fn uid(&self) -> &str {
        &self.0.uid
    }

    pub fn resource_version(&self) -> u64 {
        self.0.resource_version
    }

    /// `metadata.deletionTimestamp`, as stored.
    pub fn deletion_timestamp(&self) -> Option<&str> {
        self.0.deletion_timestamp.as_deref()
    }

    /// What label and field selectors read of it (`rt` is its resource; decoded once, the
    /// first time it is asked for, for objects loaded from disk).
    pub fn selectable(&self, rt: &dyn Resource) -> &Arc<Selectable> {
        self.0.selectable.get_or_init(|| Arc::new(rt.selectable(&self.value())))
    }

    /// The object as a watch line of `event_type`: shared when it is the type it was stored
    /// with, copied otherwise.
    pub fn json_line(&self, event_type: EventType) -> Bytes {
        if event_type == self.0.line_type {
            return self.0.line.clone();
        }
        watch_line(event_type, self.json())
    }
}

/// `json` (an object as storage wrote it: compact, keys in order) with its
/// `metadata.resourceVersion` set to `rv`, everything else kept as it is written.
fn with_resource_version(json: &[u8], rv: u64) -> Option<Vec<u8>> {
    let mut object: BTreeMap<String, &RawValue> = serde_json::from_slice(json).ok()?;
    let mut metadata: BTreeMap<String, &RawValue> = match object.get("metadata") {
        Some(m) => serde_json::from_str(m.get()).ok()?,
        None => BTreeMap::new(),
    };
    let rv = RawValue::from_string(format!("\"{rv}\"")).ok()?;
    metadata.insert("resourceVersion".to_string(), &rv);
    let metadata = RawValue::from_string(serde_json::to_string(&metadata).ok()?).ok()?;
    object.insert("metadata".to_string(), &metadata);
    serde_json::to_vec(&object).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_is_its_json_inside_its_watch_line() {
        let value = json!({"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7",
            "deletionTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "m", "fieldsV1": "{\"f:data\":{}}"}]}});
        let object = Object::new(&value, EventType::Modified, watch_line_of(EventType::Modified, &value));
        let wire: Value = serde_json::from_slice(object.json()).unwrap();
        assert_eq!(wire["metadata"]["managedFields"][0]["fieldsV1"], json!({"f:data": {}}), "unpacked");
        assert_eq!(object.value(), value, "decoded back into the packed form");
        assert_eq!(object.key(), &("ns".to_string(), "a".to_string()));
        assert_eq!(object.resource_version(), 7);
        assert_eq!(object.deletion_timestamp(), Some("2026-01-01T00:00:00Z"));
        let line: Value = serde_json::from_slice(&object.json_line(EventType::Modified)).unwrap();
        assert_eq!(line, json!({"type": "MODIFIED", "object": wire}));
        let line: Value = serde_json::from_slice(&object.json_line(EventType::Deleted)).unwrap();
        assert_eq!(line["type"], "DELETED");
        assert_eq!(line["object"], wire);
        assert!(Object::load(b"[1]").is_err(), "not an object");
        assert!(Object::load(b"{").is_err());
        assert_eq!(Object::load(object.json()).unwrap().value(), value);
    }

    #[derive(Debug)]
    struct Named;

    impl Resource for Named {
        fn storage_key(&self) -> &'static str {
            "/events"
        }

        fn selectable(&self, obj: &Value) -> Selectable {
            Selectable::new(
                BTreeMap::new(),
                vec![("metadata.name", obj["metadata"]["name"].as_str().map(Into::into))],
            )
        }
    }

    #[test]
    fn a_delete_rewrites_only_the_resource_version_of_the_metadata() {
        // An Event names another object's resourceVersion before its own metadata.
        let value = json!({"involvedObject": {"resourceVersion": "3"}, "kind": "Event",
            "metadata": {"name": "e\"1", "resourceVersion": "7", "uid": "u",
                "managedFields": [{"manager": "m", "fieldsV1": "{\"f:data\":{}}"}]},
            "note": "a \u{e9} \n"});
        let object = Object::encode(&Named, &value, EventType::Added);
        let deleted = object.at_resource_version(&Named, 9, EventType::Deleted);
        let mut expected = value.clone();
        expected["metadata"]["resourceVersion"] = json!("9");
        assert_eq!(deleted.value(), expected);
        assert_eq!(deleted.json(), crate::wire::to_vec(&expected).as_slice(), "written as storage writes it");
        assert_eq!(deleted.resource_version(), 9);
        assert_eq!(deleted.uid(), "u");
        assert_eq!(deleted.key(), object.key());
        assert_eq!(deleted.selectable(&Named).field("metadata.name").as_deref(), Some("e\"1"));
        let line: Value = serde_json::from_slice(&deleted.json_line(EventType::Deleted)).unwrap();
        assert_eq!(line["type"], "DELETED");
    }
}
