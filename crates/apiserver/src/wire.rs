//! Objects as clients see them, and as the server keeps them. Inside the server each
//! `metadata.managedFields[*].fieldsV1` is *packed*: its JSON text held as one string instead
//! of a tree of maps, so the field ownership every object carries costs one allocation per
//! manager in memory and in every typed round trip of a write (decoding, defaults,
//! validation). It is packed where objects come in ([`pack`]: request bodies, records loaded
//! from disk) and unpacked where they go out ([`to_vec`], [`Wire`]: responses, watch lines,
//! records written to disk), so no client ever sees the packed form.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// Packs the managed fields of `obj` (a top-level object) in place.
pub fn pack(obj: &mut Value) {
    let Some(entries) =
        obj.get_mut("metadata").and_then(|m| m.get_mut("managedFields")).and_then(Value::as_array_mut)
    else {
        return;
    };
    for entry in entries {
        if let Some(fields) = entry.get_mut("fieldsV1")
            && fields.is_object()
        {
            *fields = Value::String(fields.to_string());
        }
    }
}

/// JSON of `v` as clients see it.
pub fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(&Wire(v)).unwrap_or_default()
}

/// `v` serialized as clients see it: packed `fieldsV1` texts written as the JSON they hold.
pub struct Wire<'a>(pub &'a Value);

/// Where in an object a value sits, as far as packing goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    Anywhere,
    Metadata,
    ManagedFields,
    Entry,
}

struct Within<'a>(&'a Value, At);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Within(self.0, At::Anywhere).serialize(serializer)
    }
}

impl Serialize for Within<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    let at = match (self.1, k.as_str()) {
                        (At::Entry, "fieldsV1") => {
                            if let Value::String(text) = v
                                && let Ok(raw) = RawValue::from_string(text.clone())
                            {
                                map.serialize_entry(k, &raw)?;
                                continue;
                            }
                            At::Anywhere
                        }
                        (At::Metadata, "managedFields") => At::ManagedFields,
                        (_, "metadata") => At::Metadata,
                        _ => At::Anywhere,
                    };
                    map.serialize_entry(k, &Within(v, at))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let at = if self.1 == At::ManagedFields { At::Entry } else { At::Anywhere };
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Within(item, at))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn packed_fields_go_out_as_json_and_nothing_else_changes() {
        let wire = json!({"metadata": {"name": "x", "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {"f:a": {}}}}]},
                          "spec": {"fieldsV1": "not packed, a user's string", "metadata": {"managedFields": "text"}}});
        let mut packed = wire.clone();
        pack(&mut packed);
        assert!(packed["metadata"]["managedFields"][0]["fieldsV1"].is_string());
        let back: Value = serde_json::from_slice(&to_vec(&packed)).unwrap();
        assert_eq!(back, wire);
        // Nested objects (a list's items, a watch event's object) are unpacked too.
        let list = json!({"items": [packed.clone()], "object": packed});
        let back: Value = serde_json::from_slice(&to_vec(&list)).unwrap();
        assert_eq!(back["items"][0], wire);
        assert_eq!(back["object"], wire);
    }
}
