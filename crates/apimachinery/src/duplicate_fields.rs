//! Duplicate keys in a JSON object, which a decoder into a map keeps the last of silently.
//! Upstream's strict decoding reports each (`duplicate field "spec.replicas"`): an error under
//! `fieldValidation=Strict`, a warning under `Warn`. Found while the body is decoded, in the
//! same pass: a key is noticed as a duplicate when its object already holds it, and its path
//! is spelled out only then.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Decodes a JSON document as `serde_json::from_slice` does (the last of duplicate keys
/// kept), with the paths (`spec.template.spec.containers[0].name`) of the keys that appeared
/// more than once in their object, in document order.
pub fn from_slice(json: &[u8]) -> serde_json::Result<(Value, Vec<String>)> {
    let mut duplicates = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = Decode { at: &Segment::Root, duplicates: &mut duplicates }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, duplicates))
}

/// Where a value is: a chain up to the document's root, read only to name a duplicate.
enum Segment<'p> {
    Root,
    Key(&'p str, &'p Segment<'p>),
    Index(usize, &'p Segment<'p>),
}

impl Segment<'_> {
    fn path(&self) -> String {
        match self {
            Segment::Root => String::new(),
            Segment::Key(key, parent) => match parent.path() {
                p if p.is_empty() => (*key).to_string(),
                p => format!("{p}.{key}"),
            },
            Segment::Index(i, parent) => format!("{}[{i}]", parent.path()),
        }
    }
}

struct Decode<'p, 'd> {
    at: &'p Segment<'p>,
    duplicates: &'d mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Decode<'_, '_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Decode<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(Decode {
                at: &Segment::Key(&key, self.at),
                duplicates: &mut *self.duplicates,
            })?;
            // One lookup: the entry tells whether the key came before.
            match map.entry(key) {
                serde_json::map::Entry::Vacant(entry) => {
                    entry.insert(value);
                }
                serde_json::map::Entry::Occupied(mut entry) => {
                    self.duplicates.push(Segment::Key(entry.key(), self.at).path());
                    entry.insert(value);
                }
            }
        }
        Ok(Value::Object(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(access.size_hint().unwrap_or(0));
        loop {
            let segment = Segment::Index(items.len(), self.at);
            match access.next_element_seed(Decode { at: &segment, duplicates: &mut *self.duplicates })? {
                Some(value) => items.push(value),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn duplicates(json: &[u8]) -> Vec<String> {
        from_slice(json).unwrap().1
    }

    #[test]
    fn each_repeated_key_is_named_by_its_path_and_the_last_kept() {
        let body = br#"{"spec": {"replicas": 1, "replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "x", "name": "b"}]}}}, "kind": "Deployment", "kind": "Deployment"}"#;
        let (value, duplicates) = from_slice(body).unwrap();
        assert_eq!(duplicates, ["spec.replicas", "spec.template.spec.containers[0].name", "kind"]);
        assert_eq!(value["spec"]["replicas"], 2);
        assert_eq!(value["spec"]["template"]["spec"]["containers"][0]["name"], "b");
    }

    #[test]
    fn the_same_key_in_different_objects_is_no_duplicate() {
        assert!(duplicates(br#"{"a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 2}]}"#).is_empty());
        assert!(duplicates(br#"{"a": "\u0061", "\u0062": 1}"#).is_empty());
        assert_eq!(duplicates(br#"{"a": 1, "\u0061": 2}"#), ["a"], "escaped keys compare decoded");
    }

    #[test]
    fn it_decodes_as_serde_json_does() {
        let body = br#"{"a": [1, -2, 3.5, 1e300, true, null, "s\n", {}], "b": {"c": []}, "big": 18446744073709551615}"#;
        let (value, _) = from_slice(body).unwrap();
        assert_eq!(value, serde_json::from_slice::<Value>(body).unwrap());
        assert_eq!(value["a"][0], json!(1));
    }

    #[test]
    fn what_is_not_json_fails_as_serde_json_fails() {
        for bad in [&b"{not json"[..], b"", b"{} trailing", b"[1,]"] {
            let ours = from_slice(bad).unwrap_err().to_string();
            let theirs = serde_json::from_slice::<Value>(bad).unwrap_err().to_string();
            assert_eq!(ours, theirs);
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(from_slice(deep.as_bytes()).unwrap_err().to_string().contains("recursion limit"));
    }
}
