//! Duplicate keys in a JSON object, which a decoder into a map keeps the last of silently.
//! Upstream's strict decoding reports each (`duplicate field "spec.replicas"`): an error under
//! `fieldValidation=Strict`, a warning under `Warn`.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The paths (`spec.template.spec.containers[0].name`) of the keys that appear more than once
/// in their object, in document order. Not JSON: none (the decoder says what is wrong).
pub fn duplicate_fields(json: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    let _ = Walk { path: String::new(), out: &mut out }.deserialize(&mut de);
    out
}

struct Walk<'a> {
    path: String,
    out: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashSet<std::borrow::Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let path = if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) };
            if !seen.insert(key) {
                self.out.push(path.clone());
            }
            map.next_value_seed(Walk { path, out: &mut *self.out })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(Walk { path: format!("{}[{i}]", self.path), out: &mut *self.out })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repeated_key_is_named_by_its_path() {
        let body = br#"{"spec": {"replicas": 1, "replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "x", "name": "b"}]}}}, "kind": "Deployment", "kind": "Deployment"}"#;
        assert_eq!(
            duplicate_fields(body),
            ["spec.replicas", "spec.template.spec.containers[0].name", "kind"]
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_no_duplicate() {
        assert!(duplicate_fields(br#"{"a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 2}]}"#).is_empty());
        assert!(duplicate_fields(br#"{"a": "\u0061", "\u0062": 1}"#).is_empty());
        assert_eq!(duplicate_fields(br#"{"a": 1, "\u0061": 2}"#), ["a"], "escaped keys compare decoded");
    }

    #[test]
    fn not_json_has_none() {
        assert!(duplicate_fields(b"{not json").is_empty());
        assert!(duplicate_fields(b"").is_empty());
    }
}
