//! Objects decoded without their `metadata.managedFields`, as kube-controller-manager's
//! informers keep them (its `TransformStripManagedFields`), except that the entries are skipped
//! while decoding instead of being built and dropped: on a large cluster they are a good part
//! of every pod's and node's bytes, and the caches never read them.
//!
//! [`Stripped<K>`] decodes as `K` does, through a deserializer that passes everything through
//! but, in the object's `metadata`, skips the value of `managedFields`. It is a kube
//! [`Resource`] of `K`'s kind, so `Api<Stripped<K>>` lists and watches `K`'s resource, and
//! writers that read only what the server answers use it too.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::DynamicResourceScope;
use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, forward_to_deserialize_any};

/// A `K` decoded without its managed fields (and encoded as `K`, to be written).
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Stripped<K>(pub K);

impl<'de, K: Deserialize<'de>> Deserialize<'de> for Stripped<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        K::deserialize(Skipping { inner: d, level: Level::Object }).map(Stripped)
    }
}

/// The scope is dynamic so that an `Api` of any namespace, or of all, can be built for it.
impl<K: Resource> Resource for Stripped<K> {
    type DynamicType = K::DynamicType;
    type Scope = DynamicResourceScope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn api_version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::api_version(dt)
    }
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

/// Where in the object a map is: its top (whose `metadata` is looked into) or its metadata
/// (whose `managedFields` is skipped).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Object,
    Metadata,
}

/// The deserializer of a map at `level`: maps and structs get their keys watched; anything
/// else is the inner deserializer's.
struct Skipping<D> {
    inner: D,
    level: Level,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Skipping<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(Watching { inner: visitor, level: self.level })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(Watching { inner: visitor, level: self.level })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(name, fields, Watching { inner: visitor, level: self.level })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_option(Watching { inner: visitor, level: self.level })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct enum identifier ignored_any
    }
}

/// A visitor whose maps have their keys watched.
struct Watching<V> {
    inner: V,
    level: Level,
}

macro_rules! pass {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method<E: serde::de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Watching<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Keys { inner: map, level: self.level, metadata_next: false })
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Skipping { inner: d, level: self.level })
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    pass! {
        visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_f64(f64), visit_str(&str),
        visit_borrowed_str(&'de str), visit_string(String),
    }
}

/// A map whose keys are read first: `managedFields` in metadata is skipped with its value, and
/// the value of an object's `metadata` is read at the metadata level.
struct Keys<A> {
    inner: A,
    level: Level,
    metadata_next: bool,
}

/// A key as read: borrowed from the input where it can be.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Keys<A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        loop {
            let Some(key) = self.inner.next_key::<Key<'de>>()? else { return Ok(None) };
            match self.level {
                Level::Metadata if key.as_str() == "managedFields" => {
                    self.inner.next_value::<IgnoredAny>()?;
                    continue;
                }
                Level::Object => self.metadata_next = key.as_str() == "metadata",
                Level::Metadata => {}
            }
            return match key {
                Key::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::<A::Error>::new(s)),
                Key::Owned(s) => seed.deserialize(StringDeserializer::<A::Error>::new(s)),
            }
            .map(Some);
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        if std::mem::take(&mut self.metadata_next) {
            self.inner.next_value_seed(AtMetadata(seed))
        } else {
            self.inner.next_value_seed(seed)
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// The value of an object's `metadata`, read at the metadata level.
struct AtMetadata<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for AtMetadata<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Skipping { inner: d, level: Level::Metadata })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod() -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p",
                "namespace": "default",
                "labels": {"app": "web", "managedFields": "a label, kept"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                                   "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}}}],
                "annotations": {"note": "after the managed fields"},
            },
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "app:1"}]},
            "status": {"phase": "Running", "managedFields": "not metadata's"},
        })
    }

    #[test]
    fn decodes_as_its_kind_without_managed_fields() {
        let text = serde_json::to_string(&pod()).unwrap();
        let Stripped(stripped) = serde_json::from_str::<Stripped<Pod>>(&text).unwrap();
        let mut full: Pod = serde_json::from_str(&text).unwrap();
        assert!(full.metadata.managed_fields.is_some());
        full.metadata.managed_fields = None;
        assert_eq!(stripped, full, "everything else decodes as the kind decodes it");
        // The same through an owned value (keys that are not borrowed), and in a list.
        let Stripped(from_value) = serde_json::from_value::<Stripped<Pod>>(pod()).unwrap();
        assert_eq!(from_value, full);
        let list: Vec<Stripped<Pod>> = serde_json::from_str(&format!("[{text},{text}]")).unwrap();
        assert!(list.iter().all(|p| p.0 == full));
    }

    #[test]
    fn errors_are_the_kinds() {
        let bad = r#"{"metadata": {"name": 3}}"#;
        let stripped = serde_json::from_str::<Stripped<Pod>>(bad).unwrap_err().to_string();
        let full = serde_json::from_str::<Pod>(bad).unwrap_err().to_string();
        assert_eq!(stripped, full);
    }
}
