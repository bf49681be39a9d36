//! Objects as clients see them, and as the server keeps them. Inside the server each
//! `metadata.managedFields[*].fieldsV1` is *packed*: its JSON text held as one string instead
//! of a tree of maps, so the field ownership every object carries costs one allocation per
//! manager in memory and in every typed round trip of a write (decoding, defaults,
//! validation). It is packed where objects come in ([`pack`]: request bodies, records loaded
//! from disk) and unpacked where they go out ([`to_vec`], [`Wire`]: responses, watch lines,
//! records written to disk), so no client ever sees the packed form.

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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

/// Appends the JSON of `v` as clients see it to `out`.
pub fn write(out: &mut Vec<u8>, v: &Value) {
    // Writing a Value into memory cannot fail: its keys are strings.
    let _ = serde_json::to_writer(out, &Wire(v));
}

/// Decodes JSON the server wrote (a stored object) into the server's form: each `fieldsV1`
/// is taken as the text it is, never built into a tree of maps first.
pub fn from_slice(json: &[u8]) -> Value {
    let mut de = serde_json::Deserializer::from_slice(json);
    Packing(At::Object).deserialize(&mut de).unwrap_or(Value::Null)
}

/// Decodes a value found at a place of an object, packing what sits at `fieldsV1`.
struct Packing(At);

impl<'de> DeserializeSeed<'de> for Packing {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            At::Anywhere => Value::deserialize(deserializer),
            At::FieldsV1 => {
                let raw = Box::<RawValue>::deserialize(deserializer)?;
                if raw.get().starts_with('{') {
                    Ok(Value::String(raw.get().to_string()))
                } else {
                    serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)
                }
            }
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Packing {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = serde_json::Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let at = match (self.0, key.as_str()) {
                (At::Entry, "fieldsV1") => At::FieldsV1,
                (At::Metadata, "managedFields") => At::ManagedFields,
                (At::Object, "metadata") => At::Metadata,
                _ => At::Anywhere,
            };
            let value = access.next_value_seed(Packing(at))?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let at = if self.0 == At::ManagedFields { At::Entry } else { At::Anywhere };
        let mut items = Vec::with_capacity(access.size_hint().unwrap_or(0));
        while let Some(item) = access.next_element_seed(Packing(at))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
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
    /// Decoding only: the top-level object.
    Object,
    /// Decoding only: a managed fields entry's `fieldsV1`.
    FieldsV1,
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

    #[test]
    fn decoding_what_the_server_wrote_packs_managed_fields_as_they_are_written() {
        let wire = json!({"metadata": {"name": "x", "managedFields": [
                {"manager": "m", "fieldsV1": {"f:data": {"f:a": {}, ".": {}}}},
                {"manager": "n", "fieldsV1": null}]},
            "spec": {"fieldsV1": {"f:x": {}}, "list": [1, -2, 2.5, true, null, "s"]}});
        let mut packed = wire.clone();
        pack(&mut packed);
        let json = to_vec(&packed);
        assert_eq!(from_slice(&json), packed);
        assert_eq!(from_slice(b"{"), Value::Null, "not JSON");
    }
}
