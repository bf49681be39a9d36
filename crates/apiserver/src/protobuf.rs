//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into JSON.
//!
//! kubectl's typed-client generators (`kubectl create namespace|configmap|priorityclass`) send
//! protobuf. The body is the magic `k8s\0` followed by a `runtime.Unknown` {1 typeMeta
//! {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType}; `raw` is the object's own
//! message. This is a small wire-format reader for exactly the kinds those generators send; the
//! server never replies in protobuf.

use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")]
    NoMagic,
    #[error("unable to decode protobuf body: {0}")]
    Malformed(&'static str),
    #[error("the protobuf body of kind {0:?} is not supported; send application/json")]
    UnsupportedKind(String),
}

type Result<T> = std::result::Result<T, ProtobufError>;

/// Decodes an enveloped protobuf body into the equivalent JSON object.
pub fn decode(body: &[u8]) -> Result<Value> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for field in Fields::new(rest) {
        match field? {
            (1, Wire::Bytes(type_meta)) => {
                for f in Fields::new(type_meta) {
                    match f? {
                        (1, Wire::Bytes(b)) => api_version = string(b)?,
                        (2, Wire::Bytes(b)) => kind = string(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            (3, Wire::Bytes(b)) if !b.is_empty() => return Err(ProtobufError::Malformed("content encoding")),
            _ => {}
        }
    }
    let mut obj = match kind.as_str() {
        "Namespace" => namespace(raw)?,
        "ConfigMap" => config_map(raw)?,
        "PriorityClass" => priority_class(raw)?,
        _ => return Err(ProtobufError::UnsupportedKind(kind)),
    };
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn namespace(raw: &[u8]) -> Result<Map<String, Value>> {
    let mut obj = Map::new();
    for field in Fields::new(raw) {
        match field? {
            (1, Wire::Bytes(b)) => {
                obj.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Bytes(b)) => {
                let mut finalizers = Vec::new();
                for f in Fields::new(b) {
                    if let (1, Wire::Bytes(s)) = f? {
                        finalizers.push(json!(string(s)?));
                    }
                }
                let spec =
                    if finalizers.is_empty() { json!({}) } else { json!({ "finalizers": finalizers }) };
                obj.insert("spec".into(), spec);
            }
            _ => {}
        }
    }
    Ok(obj)
}

fn config_map(raw: &[u8]) -> Result<Map<String, Value>> {
    use base64::Engine;
    let mut obj = Map::new();
    let (mut data, mut binary) = (Map::new(), Map::new());
    for field in Fields::new(raw) {
        match field? {
            (1, Wire::Bytes(b)) => {
                obj.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                data.insert(string(k)?, json!(string(v)?));
            }
            (3, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                binary.insert(string(k)?, json!(base64::engine::general_purpose::STANDARD.encode(v)));
            }
            (4, Wire::Varint(v)) => {
                obj.insert("immutable".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    Ok(obj)
}

fn priority_class(raw: &[u8]) -> Result<Map<String, Value>> {
    let mut obj = Map::new();
    obj.insert("value".into(), json!(0));
    for field in Fields::new(raw) {
        match field? {
            (1, Wire::Bytes(b)) => {
                obj.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Varint(v)) => {
                obj.insert("value".into(), json!(v as i64 as i32));
            }
            (3, Wire::Varint(v)) => {
                obj.insert("globalDefault".into(), json!(v != 0));
            }
            (4, Wire::Bytes(b)) => {
                obj.insert("description".into(), json!(string(b)?));
            }
            (5, Wire::Bytes(b)) => {
                obj.insert("preemptionPolicy".into(), json!(string(b)?));
            }
            _ => {}
        }
    }
    Ok(obj)
}

fn object_meta(raw: &[u8]) -> Result<Value> {
    let mut meta = Map::new();
    let (mut labels, mut annotations, mut finalizers, mut owners) = (Map::new(), Map::new(), vec![], vec![]);
    for field in Fields::new(raw) {
        match field? {
            (n @ (1 | 2 | 3 | 5 | 6), Wire::Bytes(b)) => {
                let key = ["name", "generateName", "namespace", "", "uid", "resourceVersion"][n as usize - 1];
                let s = string(b)?;
                if !s.is_empty() {
                    meta.insert(key.into(), json!(s));
                }
            }
            (7, Wire::Varint(v)) => {
                meta.insert("generation".into(), json!(v as i64));
            }
            (11, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                labels.insert(string(k)?, json!(string(v)?));
            }
            (12, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                annotations.insert(string(k)?, json!(string(v)?));
            }
            (13, Wire::Bytes(b)) => owners.push(owner_reference(b)?),
            (14, Wire::Bytes(b)) => finalizers.push(json!(string(b)?)),
            _ => {}
        }
    }
    for (key, value) in [
        ("labels", Value::Object(labels)),
        ("annotations", Value::Object(annotations)),
        ("finalizers", Value::Array(finalizers)),
        ("ownerReferences", Value::Array(owners)),
    ] {
        let empty =
            value.as_object().is_some_and(Map::is_empty) || value.as_array().is_some_and(Vec::is_empty);
        if !empty {
            meta.insert(key.into(), value);
        }
    }
    Ok(Value::Object(meta))
}

fn owner_reference(raw: &[u8]) -> Result<Value> {
    let mut owner = Map::new();
    for field in Fields::new(raw) {
        match field? {
            (1, Wire::Bytes(b)) => owner.insert("kind".into(), json!(string(b)?)),
            (3, Wire::Bytes(b)) => owner.insert("name".into(), json!(string(b)?)),
            (4, Wire::Bytes(b)) => owner.insert("uid".into(), json!(string(b)?)),
            (5, Wire::Bytes(b)) => owner.insert("apiVersion".into(), json!(string(b)?)),
            (6, Wire::Varint(v)) => owner.insert("controller".into(), json!(v != 0)),
            (7, Wire::Varint(v)) => owner.insert("blockOwnerDeletion".into(), json!(v != 0)),
            _ => None,
        };
    }
    Ok(Value::Object(owner))
}

/// A `map<string, X>` entry: field 1 key, field 2 value.
fn map_entry(raw: &[u8]) -> Result<(&[u8], &[u8])> {
    let (mut key, mut value) = (&[][..], &[][..]);
    for field in Fields::new(raw) {
        match field? {
            (1, Wire::Bytes(b)) => key = b,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

fn string(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError::Malformed("string is not UTF-8"))
}

/// A field's payload by wire type.
#[derive(Debug)]
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Iterates over the `(field number, payload)` pairs of a message.
struct Fields<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, failed: false }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.buf.split_first().ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(ProtobufError::Malformed("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u64, Wire<'a>)> {
        let key = self.varint()?;
        let payload = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtobufError::Malformed("length"))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        Ok((key >> 3, payload))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() || self.failed {
            return None;
        }
        let item = self.field();
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes(field: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut type_meta = Vec::new();
        bytes(1, api_version.as_bytes(), &mut type_meta);
        bytes(2, kind.as_bytes(), &mut type_meta);
        let mut body = MAGIC.to_vec();
        bytes(1, &type_meta, &mut body);
        bytes(2, raw, &mut body);
        bytes(4, b"", &mut body);
        body
    }

    fn meta_with_label(name: &str) -> Vec<u8> {
        let mut meta = Vec::new();
        bytes(1, name.as_bytes(), &mut meta);
        let mut entry = Vec::new();
        bytes(1, b"team", &mut entry);
        bytes(2, b"obs", &mut entry);
        bytes(11, &entry, &mut meta);
        meta
    }

    #[test]
    fn decodes_a_namespace_as_kubectl_create_ns_sends_it() {
        let mut raw = Vec::new();
        bytes(1, &meta_with_label("logging"), &mut raw);
        bytes(2, b"", &mut raw);
        bytes(3, b"", &mut raw);
        let v = decode(&envelope("v1", "Namespace", &raw)).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "logging", "labels": {"team": "obs"}}, "spec": {}})
        );
    }

    #[test]
    fn decodes_a_priority_class() {
        let mut raw = Vec::new();
        bytes(1, &meta_with_label("high"), &mut raw);
        varint(2 << 3, &mut raw);
        varint(1_000_000, &mut raw);
        varint(3 << 3, &mut raw);
        varint(1, &mut raw);
        bytes(4, b"important", &mut raw);
        let v = decode(&envelope("scheduling.k8s.io/v1", "PriorityClass", &raw)).unwrap();
        assert_eq!(v["value"], 1_000_000);
        assert_eq!(v["globalDefault"], true);
        assert_eq!(v["description"], "important");
        assert_eq!(v["metadata"]["name"], "high");
    }

    #[test]
    fn decodes_negative_int32_values() {
        let mut raw = Vec::new();
        varint(2 << 3, &mut raw);
        varint(-5i64 as u64, &mut raw);
        let v = decode(&envelope("scheduling.k8s.io/v1", "PriorityClass", &raw)).unwrap();
        assert_eq!(v["value"], -5);
    }

    #[test]
    fn decodes_a_config_map() {
        let mut raw = Vec::new();
        bytes(1, &meta_with_label("cfg"), &mut raw);
        let mut entry = Vec::new();
        bytes(1, b"k", &mut entry);
        bytes(2, b"v", &mut entry);
        bytes(2, &entry, &mut raw);
        let v = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(v["data"], json!({"k": "v"}));
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(decode(b"{}"), Err(ProtobufError::NoMagic)));
        assert!(matches!(decode(b"k8s\0\x0a\xff"), Err(ProtobufError::Malformed(_))));
        assert!(matches!(decode(&envelope("v1", "Pod", b"")), Err(ProtobufError::UnsupportedKind(_))));
    }
}
