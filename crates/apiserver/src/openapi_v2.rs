//! OpenAPI v2 (Swagger 2.0) for `GET /openapi/v2`, derived from the v3 group-version documents
//! of [`crate::openapi`] (never written by hand).
//!
//! kubectl 1.27 and 1.28 download `/openapi/v2` eagerly in `apply`, `create -f`, `replace`,
//! `edit`, `diff` and `explain`, always as gnostic's protobuf `openapi.v2.Document`, and abort
//! when it is missing or does not parse. Of the document they read:
//!
//! - `definitions`, every one of which is parsed: a `$ref` that does not resolve, a `$ref` beside
//!   a `type` or `properties`, an array without exactly one `items`, or a `type` other than
//!   string, integer, number, boolean, object and array fails the whole parse. Definitions
//!   tagged with `x-kubernetes-group-version-kind` (a list of `{group, version, kind}`) drive
//!   client-side validation;
//! - `paths[*].patch`: the operation tagged with a kind's `x-kubernetes-group-version-kind` (a
//!   single map) says, through an inline `fieldValidation` query parameter, that the server
//!   validates fields itself, and through `consumes` which patch types it takes. Strategic merge
//!   is deliberately not listed: kubectl then computes strategic merge patches for built-in kinds
//!   from its compiled-in types and falls back to merge patches for the others.
//!
//! So the conversion keeps only what Swagger 2.0 and that parser accept: v3-only keywords
//! (`anyOf`, `oneOf`, `nullable`, `const`, …) are dropped, leaving a schema with neither type nor
//! properties where nothing else is known ("arbitrary", which accepts anything).
//!
//! The protobuf is written by a small encoder following gnostic's `OpenAPIv2.proto` field
//! numbers. Vendor extension values travel as JSON text in `Any.yaml` (YAML being a superset
//! of JSON), which every reader in kubectl accepts.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Where v3 documents keep their schemas, as `$ref`s name them.
const V3_SCHEMAS: &str = "#/components/schemas/";
/// Where v2 documents keep theirs.
const DEFINITIONS: &str = "#/definitions/";
/// The only types kubectl's parser accepts.
const TYPES: [&str; 6] = ["string", "integer", "number", "boolean", "object", "array"];
/// The operations carried over from v3.
const VERBS: [&str; 3] = ["get", "put", "patch"];
/// What PATCH accepts; strategic merge is left out on purpose (see the module documentation).
const PATCH_TYPES: [&str; 3] =
    ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];

/// The OpenAPI v2 (Swagger 2.0) document of every served kind, derived from the v3 group-version
/// documents, encoded as gnostic's `openapi.v2.Document` protobuf
/// (`application/com.github.proto-openapi.spec.v2.v1.0+protobuf`).
pub fn protobuf_document<'a>(
    v3_documents: impl IntoIterator<Item = &'a Value>,
    title_version: &str,
) -> Vec<u8> {
    encode::document(&json_document(v3_documents, title_version))
}

/// The same document as Swagger 2.0 JSON (for `Accept: application/json`).
pub fn json_document<'a>(v3_documents: impl IntoIterator<Item = &'a Value>, title_version: &str) -> Value {
    let mut schemas = BTreeMap::new();
    let mut paths = BTreeMap::new();
    for document in v3_documents {
        for (name, schema) in entries(document.pointer("/components/schemas")) {
            schemas.entry(name.as_str()).or_insert(schema);
        }
        for (path, item) in entries(document.get("paths")) {
            paths.entry(path.as_str()).or_insert(item);
        }
    }
    let converter = Converter { schemas: &schemas };
    let definitions: Map<String, Value> =
        schemas.iter().map(|(name, schema)| (name.to_string(), converter.schema(schema))).collect();
    let paths: Map<String, Value> =
        paths.iter().map(|(path, item)| (path.to_string(), converter.path_item(item))).collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": title_version},
        "paths": paths,
        "definitions": definitions,
    })
}

/// The entries of an optional JSON object (none if it is absent or not an object).
fn entries(value: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    value.and_then(Value::as_object).into_iter().flatten()
}

/// Converts v3 schemas and operations to v2, knowing which schemas exist.
struct Converter<'a> {
    schemas: &'a BTreeMap<&'a str, &'a Value>,
}

impl Converter<'_> {
    fn schema(&self, v3: &Value) -> Value {
        // A boolean schema (`true`/`false`) has no v2 form; arbitrary is the lenient reading.
        let Some(v3) = v3.as_object() else { return json!({}) };
        if let Some(target) = v3.get("$ref") {
            return self.reference(target, v3.get("description"));
        }
        if let Some([single]) = v3.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            return self.single_all_of(single, v3);
        }
        let mut v2 = Map::new();
        for (key, value) in v3 {
            if let Some(converted) = self.keyword(key, value) {
                v2.insert(key.clone(), converted);
            }
        }
        if v2.get("type").and_then(Value::as_str) == Some("array") {
            let items =
                v3.get("items").filter(|i| !i.is_array()).map_or_else(|| json!({}), |i| self.schema(i));
            v2.insert("items".into(), items);
        }
        Value::Object(v2)
    }

    /// One keyword of a schema as v2 has it, or `None` when v2 (or kubectl) has no use for it.
    /// `items` is handled by the caller, which knows the type.
    fn keyword(&self, key: &str, value: &Value) -> Option<Value> {
        match key {
            "description" | "title" | "format" => value.as_str().map(Value::from),
            "type" => single_type(value).map(Value::from),
            "required" => string_list(value),
            "enum" => scalar_list(value),
            "properties" => Some(Value::Object(
                value.as_object()?.iter().map(|(name, schema)| (name.clone(), self.schema(schema))).collect(),
            )),
            "additionalProperties" => {
                Some(if value.is_boolean() { value.clone() } else { self.schema(value) })
            }
            vendor if vendor.starts_with("x-") => Some(value.clone()),
            _ => None,
        }
    }

    /// `{"allOf": [X], ...siblings}`, schemars' way to describe a `$ref`: the reference itself
    /// (with the description) when X is one, otherwise X and the siblings merged.
    fn single_all_of(&self, single: &Value, outer: &Map<String, Value>) -> Value {
        if let Some(target) = single.get("$ref") {
            let description = outer.get("description").or_else(|| single.get("description"));
            return self.reference(target, description);
        }
        let mut merged = single.as_object().cloned().unwrap_or_default();
        merged.extend(outer.iter().filter(|(key, _)| *key != "allOf").map(|(k, v)| (k.clone(), v.clone())));
        self.schema(&Value::Object(merged))
    }

    /// A `$ref` to a known schema as a v2 reference; one to an unknown schema is dropped, which
    /// leaves an arbitrary schema. Only a description may accompany it.
    fn reference(&self, target: &Value, description: Option<&Value>) -> Value {
        let mut v2 = Map::new();
        let name =
            target.as_str().and_then(|r| r.strip_prefix(V3_SCHEMAS).or_else(|| r.strip_prefix(DEFINITIONS)));
        if let Some(name) = name.filter(|name| self.schemas.contains_key(name)) {
            v2.insert("$ref".into(), Value::from(format!("{DEFINITIONS}{name}")));
        }
        if let Some(description) = description.filter(|d| d.is_string()) {
            v2.insert("description".into(), description.clone());
        }
        Value::Object(v2)
    }

    fn path_item(&self, v3: &Value) -> Value {
        let operations = VERBS
            .iter()
            .filter_map(|&verb| Some((verb.to_string(), self.operation(verb, v3.get(verb)?))))
            .collect();
        Value::Object(operations)
    }

    fn operation(&self, verb: &str, v3: &Value) -> Value {
        let mut v2 = Map::new();
        for key in ["summary", "description", "operationId"] {
            if let Some(text) = v3.get(key).filter(|t| t.is_string()) {
                v2.insert(key.into(), text.clone());
            }
        }
        let consumes: &[&str] = match verb {
            "patch" => &PATCH_TYPES,
            "put" => &["application/json"],
            _ => &[],
        };
        if !consumes.is_empty() {
            v2.insert("consumes".into(), json!(consumes));
        }
        v2.insert("produces".into(), json!(["application/json"]));
        let parameters: Vec<Value> = v3
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(parameter)
            .collect();
        if !parameters.is_empty() {
            v2.insert("parameters".into(), Value::Array(parameters));
        }
        let responses: Map<String, Value> = entries(v3.get("responses"))
            .map(|(code, response)| (code.clone(), self.response(response)))
            .collect();
        v2.insert("responses".into(), Value::Object(responses));
        for (key, value) in entries(Some(v3)).filter(|(key, _)| key.starts_with("x-")) {
            v2.insert(key.clone(), value.clone());
        }
        Value::Object(v2)
    }

    /// A v3 response: its description and the schema of its JSON content (or of its only
    /// content).
    fn response(&self, v3: &Value) -> Value {
        let description = v3.get("description").and_then(Value::as_str).unwrap_or_default();
        let content = v3.get("content").and_then(Value::as_object);
        let media = content.and_then(|c| c.get("application/json").or_else(|| c.values().next()));
        match media.and_then(|m| m.get("schema")) {
            Some(schema) => json!({"description": description, "schema": self.schema(schema)}),
            None => json!({"description": description}),
        }
    }
}

/// A v3 parameter as a v2 non-body parameter: the schema's `type`, `format` and `uniqueItems`
/// move up beside the name. Cookie parameters (v3 only) and `$ref`s (this server's documents have
/// no `components.parameters`) are dropped.
fn parameter(v3: &Value) -> Option<Value> {
    let location = v3.get("in")?.as_str().filter(|l| matches!(*l, "path" | "query" | "header"))?;
    let name = v3.get("name")?.as_str()?;
    let schema = v3.get("schema");
    let field = |key: &str| schema.and_then(|s| s.get(key));
    let kind = field("type").and_then(single_type).filter(|t| !matches!(*t, "object" | "array"));
    let mut v2 = Map::new();
    v2.insert("name".into(), name.into());
    v2.insert("in".into(), location.into());
    if let Some(description) = v3.get("description").filter(|d| d.is_string()) {
        v2.insert("description".into(), description.clone());
    }
    let required = location == "path" || v3.get("required").and_then(Value::as_bool).unwrap_or(false);
    if required {
        v2.insert("required".into(), true.into());
    }
    v2.insert("type".into(), kind.unwrap_or("string").into());
    if let Some(format) = field("format").filter(|f| f.is_string()) {
        v2.insert("format".into(), format.clone());
    }
    if let Some(unique) = field("uniqueItems").filter(|u| u.is_boolean()) {
        v2.insert("uniqueItems".into(), unique.clone());
    }
    Some(Value::Object(v2))
}

/// A v3 `type` (a string, or in 3.1 a list possibly with "null") as the single type v2 allows.
fn single_type(value: &Value) -> Option<&str> {
    let accepted = |t: &&str| TYPES.contains(t);
    match value {
        Value::String(t) => Some(t.as_str()).filter(accepted),
        Value::Array(types) => {
            let mut types = types.iter().filter_map(Value::as_str).filter(|t| *t != "null");
            match (types.next(), types.next()) {
                (Some(t), None) => Some(t).filter(accepted),
                _ => None,
            }
        }
        _ => None,
    }
}

fn string_list(value: &Value) -> Option<Value> {
    let strings: Vec<Value> = value.as_array()?.iter().filter(|v| v.is_string()).cloned().collect();
    (!strings.is_empty()).then_some(Value::Array(strings))
}

/// An `enum`'s strings, numbers and booleans (a `null` entry is v3's nullability).
fn scalar_list(value: &Value) -> Option<Value> {
    let scalars: Vec<Value> = value
        .as_array()?
        .iter()
        .filter(|v| v.is_string() || v.is_number() || v.is_boolean())
        .cloned()
        .collect();
    (!scalars.is_empty()).then_some(Value::Array(scalars))
}

/// The protobuf form of the Swagger JSON, message by message, with gnostic's field numbers.
/// Every string comes from a Rust `str`, so it is valid UTF-8 as proto3 requires.
mod encode {
    use serde_json::{Map, Value};

    const VARINT: u64 = 0;
    const LEN: u64 = 2;

    /// A message being written, fields in call order (which protobuf does not care about, but
    /// repeated fields keep theirs).
    #[derive(Default)]
    pub(super) struct Message(pub(super) Vec<u8>);

    impl Message {
        fn varint(&mut self, mut value: u64) {
            while value >= 0x80 {
                self.0.push((value & 0x7f) as u8 | 0x80);
                value >>= 7;
            }
            self.0.push(value as u8);
        }

        fn key(&mut self, field: u32, wire_type: u64) {
            self.varint(u64::from(field) << 3 | wire_type);
        }

        fn bytes(&mut self, field: u32, bytes: &[u8]) {
            self.key(field, LEN);
            self.varint(bytes.len() as u64);
            self.0.extend_from_slice(bytes);
        }

        /// A bool that is always written (a oneof member, where false is still a choice).
        fn bool_always(&mut self, field: u32, value: bool) {
            self.key(field, VARINT);
            self.varint(u64::from(value));
        }

        /// A message, written even when empty: its presence can matter (empty `properties`
        /// make a struct, absent ones an arbitrary value).
        fn message(&mut self, field: u32, message: Message) {
            self.bytes(field, &message.0);
        }

        /// `json[key]` as a string field, omitted when absent or empty (proto3's default).
        fn string(&mut self, field: u32, json: &Value, key: &str) {
            if let Some(text) = json.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                self.bytes(field, text.as_bytes());
            }
        }

        /// `json[key]` as a repeated string field.
        fn strings(&mut self, field: u32, json: &Value, key: &str) {
            for text in
                json.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
            {
                self.bytes(field, text.as_bytes());
            }
        }

        /// `json[key]` as a bool field, omitted when absent or false (proto3's default).
        fn bool(&mut self, field: u32, json: &Value, key: &str) {
            if json.get(key).and_then(Value::as_bool) == Some(true) {
                self.bool_always(field, true);
            }
        }

        /// The `x-` keys of `json` as repeated `NamedAny`.
        fn extensions(&mut self, field: u32, json: &Value) {
            for (name, value) in object(json).filter(|(name, _)| name.starts_with("x-")) {
                self.message(field, named(name, any(value)));
            }
        }

        /// `json[key]`, an object, as a message of repeated `Named*` pairs (field 1 of
        /// `Definitions` and `Properties`, field 2 of `Paths`).
        fn named_map(
            &mut self,
            field: u32,
            json: &Value,
            key: &str,
            pairs: u32,
            value: fn(&Value) -> Message,
        ) {
            if let Some(map) = json.get(key).and_then(Value::as_object) {
                let mut message = Message::default();
                for (name, item) in map {
                    message.message(pairs, named(name, value(item)));
                }
                self.message(field, message);
            }
        }
    }

    fn object(json: &Value) -> impl Iterator<Item = (&String, &Value)> {
        json.as_object().into_iter().flat_map(Map::iter)
    }

    /// `Named*`: 1 name, 2 value.
    fn named(name: &str, value: Message) -> Message {
        let mut m = Message::default();
        m.bytes(1, name.as_bytes());
        m.message(2, value);
        m
    }

    /// `openapi.v2.Any`: 2 yaml, here JSON text; the `google.protobuf.Any` (1) stays unset.
    fn any(value: &Value) -> Message {
        let mut m = Message::default();
        m.bytes(2, value.to_string().as_bytes());
        m
    }

    pub(super) fn document(json: &Value) -> Vec<u8> {
        let mut m = Message::default();
        m.string(1, json, "swagger");
        if let Some(info) = json.get("info") {
            m.message(2, self::info(info));
        }
        m.strings(6, json, "consumes");
        m.strings(7, json, "produces");
        m.named_map(8, json, "paths", 2, path_item);
        m.named_map(9, json, "definitions", 1, schema);
        m.extensions(16, json);
        m.0
    }

    fn info(json: &Value) -> Message {
        let mut m = Message::default();
        m.string(1, json, "title");
        m.string(2, json, "version");
        m.string(3, json, "description");
        m.extensions(7, json);
        m
    }

    fn path_item(json: &Value) -> Message {
        let mut m = Message::default();
        let verbs =
            [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("options", 6), ("head", 7), ("patch", 8)];
        for (verb, field) in verbs {
            if let Some(op) = json.get(verb) {
                m.message(field, operation(op));
            }
        }
        m.extensions(10, json);
        m
    }

    fn operation(json: &Value) -> Message {
        let mut m = Message::default();
        m.strings(1, json, "tags");
        m.string(2, json, "summary");
        m.string(3, json, "description");
        m.string(5, json, "operationId");
        m.strings(6, json, "produces");
        m.strings(7, json, "consumes");
        for p in json.get("parameters").and_then(Value::as_array).into_iter().flatten() {
            if let Some(item) = parameters_item(p) {
                m.message(8, item);
            }
        }
        if let Some(responses) = json.get("responses") {
            m.message(9, self::responses(responses));
        }
        m.bool(11, json, "deprecated");
        m.extensions(13, json);
        m
    }

    /// `ParametersItem` {1 `Parameter` {2 `NonBodyParameter` {oneof by `in`}}}; the sub-schemas
    /// number `type`, `format`, `uniqueItems` and extensions differently.
    pub(super) fn parameters_item(json: &Value) -> Option<Message> {
        let (oneof, [kind, format, unique_items, extensions]) = match json.get("in")?.as_str()? {
            "header" => (1, [5, 6, 19, 22]),
            "formData" => (2, [6, 7, 20, 23]),
            "query" => (3, [6, 7, 20, 23]),
            "path" => (4, [5, 6, 19, 22]),
            _ => return None,
        };
        let mut sub = Message::default();
        sub.bool(1, json, "required");
        sub.string(2, json, "in");
        sub.string(3, json, "description");
        sub.string(4, json, "name");
        sub.string(kind, json, "type");
        sub.string(format, json, "format");
        sub.bool(unique_items, json, "uniqueItems");
        sub.extensions(extensions, json);
        Some(wrap(1, wrap(2, wrap(oneof, sub))))
    }

    /// A message holding only `inner` as field `field` (a oneof choice).
    fn wrap(field: u32, inner: Message) -> Message {
        let mut m = Message::default();
        m.message(field, inner);
        m
    }

    /// `Responses` {1 `NamedResponseValue` {1 code, 2 `ResponseValue` {1 `Response`}}}.
    fn responses(json: &Value) -> Message {
        let mut m = Message::default();
        for (code, response) in object(json).filter(|(code, _)| !code.starts_with("x-")) {
            m.message(1, named(code, wrap(1, self::response(response))));
        }
        m.extensions(2, json);
        m
    }

    /// `Response` {1 description, 2 `SchemaItem` {1 schema}}.
    fn response(json: &Value) -> Message {
        let mut m = Message::default();
        m.string(1, json, "description");
        if let Some(schema) = json.get("schema") {
            m.message(2, wrap(1, self::schema(schema)));
        }
        m.extensions(5, json);
        m
    }

    fn schema(json: &Value) -> Message {
        let mut m = Message::default();
        m.string(1, json, "$ref");
        m.string(2, json, "format");
        m.string(3, json, "title");
        m.string(4, json, "description");
        m.strings(19, json, "required");
        for value in json.get("enum").and_then(Value::as_array).into_iter().flatten() {
            m.message(20, any(value));
        }
        match json.get("additionalProperties") {
            Some(Value::Bool(allowed)) => {
                let mut item = Message::default();
                item.bool_always(2, *allowed);
                m.message(21, item);
            }
            Some(additional) => m.message(21, wrap(1, schema(additional))),
            None => {}
        }
        if json.get("type").is_some_and(Value::is_string) {
            let mut item = Message::default();
            item.string(1, json, "type");
            m.message(22, item);
        }
        if let Some(items) = json.get("items") {
            m.message(23, wrap(1, schema(items)));
        }
        m.named_map(25, json, "properties", 1, schema);
        m.extensions(31, json);
        m
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const GVK: &str = "x-kubernetes-group-version-kind";
    const WIDGET_PATH: &str = "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}";

    /// A v3 document in the shape of [`crate::openapi`]'s, with the constructs the conversion
    /// must rewrite.
    fn widget_v3() -> Value {
        let gvk = json!({"group": "example.com", "version": "v1", "kind": "Widget"});
        let path_params = json!([
            {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
            {"name": "namespace", "in": "path", "required": true, "schema": {"type": "string"}},
        ]);
        let mut write_params = path_params.as_array().unwrap().clone();
        write_params.extend([
            json!({"name": "fieldValidation", "in": "query", "description": "How to treat unknown fields.",
                   "schema": {"type": "string", "uniqueItems": true}}),
            json!({"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
            json!({"name": "session", "in": "cookie", "schema": {"type": "string"}}),
        ]);
        let ok = json!({"200": {"description": "OK", "content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/com.example.v1.Widget"}}}}});
        let op = |verb: &str, params: &Value| {
            json!({"operationId": format!("{verb}Widget"), "parameters": params, "responses": ok,
                   "x-kubernetes-action": verb, GVK: gvk})
        };
        json!({
            "openapi": "3.0.0",
            "paths": {WIDGET_PATH: {
                "get": op("get", &path_params),
                "patch": op("patch", &Value::Array(write_params)),
            }},
            "components": {"schemas": {
                "com.example.v1.Widget": {
                    "description": "A widget.",
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "metadata": {"allOf": [{"$ref": "#/components/schemas/com.example.v1.Meta"}],
                                     "description": "Standard metadata.", "nullable": true},
                        "parts": {"type": "array", "items": {"$ref": "#/components/schemas/com.example.v1.Part"},
                                  "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
                        "tags": {"type": "array"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "extra": {"type": "object", "additionalProperties": true},
                        "ghost": {"$ref": "#/components/schemas/com.example.v1.Missing", "description": "Gone."},
                        "size": {"anyOf": [{"type": "integer"}, {"type": "string"}],
                                 "x-kubernetes-int-or-string": true},
                        "mode": {"type": ["string", "null"], "enum": ["Fast", "Slow", null], "default": "Fast"},
                        "nothing": {"type": "null", "const": null},
                    },
                    "required": ["parts"],
                    GVK: [gvk],
                },
                "com.example.v1.Meta": {"type": "object", "properties": {"name": {"type": "string"}}},
                "com.example.v1.Part": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "count": {"type": "integer", "format": "int32"}},
                    "required": ["name"],
                },
            }},
        })
    }

    #[test]
    fn converts_a_v3_document_to_swagger() {
        let gvk = json!({"group": "example.com", "version": "v1", "kind": "Widget"});
        let path_params = json!([
            {"name": "name", "in": "path", "required": true, "type": "string"},
            {"name": "namespace", "in": "path", "required": true, "type": "string"},
        ]);
        let mut write_params = path_params.as_array().unwrap().clone();
        write_params.extend([
            json!({"name": "fieldValidation", "in": "query", "description": "How to treat unknown fields.",
                   "type": "string", "uniqueItems": true}),
            json!({"name": "fieldManager", "in": "query", "type": "string", "uniqueItems": true}),
        ]);
        let ok =
            json!({"200": {"description": "OK", "schema": {"$ref": "#/definitions/com.example.v1.Widget"}}});
        let expected = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {WIDGET_PATH: {
                "get": {"operationId": "getWidget", "produces": ["application/json"], "parameters": path_params,
                        "responses": ok, "x-kubernetes-action": "get", GVK: gvk},
                "patch": {"operationId": "patchWidget", "consumes": PATCH_TYPES,
                          "produces": ["application/json"], "parameters": write_params, "responses": ok,
                          "x-kubernetes-action": "patch", GVK: gvk},
            }},
            "definitions": {
                "com.example.v1.Meta": {"type": "object", "properties": {"name": {"type": "string"}}},
                "com.example.v1.Part": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "count": {"type": "integer", "format": "int32"}},
                    "required": ["name"],
                },
                "com.example.v1.Widget": {
                    "description": "A widget.",
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "metadata": {"$ref": "#/definitions/com.example.v1.Meta", "description": "Standard metadata."},
                        "parts": {"type": "array", "items": {"$ref": "#/definitions/com.example.v1.Part"},
                                  "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
                        "tags": {"type": "array", "items": {}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "extra": {"type": "object", "additionalProperties": true},
                        "ghost": {"description": "Gone."},
                        "size": {"x-kubernetes-int-or-string": true},
                        "mode": {"type": "string", "enum": ["Fast", "Slow"]},
                        "nothing": {},
                    },
                    "required": ["parts"],
                    GVK: [gvk],
                },
            },
        });
        assert_eq!(json_document([&widget_v3()], "v1.33.0"), expected);
    }

    #[test]
    fn encodes_the_field_validation_parameter_as_kube_apiserver_does() {
        let p = json!({"in": "query", "name": "fieldValidation", "type": "string", "uniqueItems": true});
        let mut expected = vec![0x0a, 0x27, 0x12, 0x25, 0x1a, 0x23, 0x12, 0x05];
        expected.extend(b"query");
        expected.extend([0x22, 0x0f]);
        expected.extend(b"fieldValidation");
        expected.extend([0x32, 0x06]);
        expected.extend(b"string");
        expected.extend([0xa0, 0x01, 0x01]);
        assert_eq!(encode::parameters_item(&p).unwrap().0, expected);
    }

    #[test]
    fn protobuf_document_parses_as_kubectl_reads_it() {
        let bytes = protobuf_document([&widget_v3()], "v1.33.0");
        let document = Msg::parse(&bytes);
        assert_eq!(document.string(1), Some("2.0"));
        let info = document.message(2).unwrap();
        assert_eq!((info.string(1), info.string(2)), (Some("Kubernetes"), Some("v1.33.0")));

        let definitions = check_definitions(&document);
        assert_eq!(definitions.len(), 3);
        let widget = &definitions["com.example.v1.Widget"];
        let gvks = extension(widget, 31, GVK).expect("Widget carries its GVK");
        assert_eq!(gvks, json!([{"group": "example.com", "version": "v1", "kind": "Widget"}]));
        let parts = &properties(widget)["parts"];
        assert_eq!(extension(parts, 31, "x-kubernetes-patch-strategy"), Some(json!("merge")));
        assert_eq!(properties(widget)["mode"].messages(20).len(), 2);

        let patch = path_operation(&document, WIDGET_PATH, 8).expect("the PATCH operation");
        assert_eq!(
            extension(&patch, 13, GVK),
            Some(json!({"group": "example.com", "version": "v1", "kind": "Widget"}))
        );
        assert_eq!(patch.strings(7), PATCH_TYPES);
        assert!(query_parameters(&patch).contains(&"fieldValidation"));
        let get = path_operation(&document, WIDGET_PATH, 2).expect("the GET operation");
        assert!(query_parameters(&get).is_empty());
    }

    #[test]
    fn converts_the_served_documents() {
        let api = crate::openapi::OpenApi::default().current(&crate::resources::Catalog::new());
        let index: Value = serde_json::from_slice(api.index()).unwrap();
        let documents: Vec<Value> = index["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(|gv| serde_json::from_slice(api.document(gv).unwrap()).unwrap())
            .collect();
        assert!(documents.len() > 1);

        let swagger = json_document(&documents, "v1.33.0");
        let definitions = swagger["definitions"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&swagger, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix(DEFINITIONS).unwrap_or_else(|| panic!("{r} is not a definition"));
            assert!(definitions.contains_key(name), "{r} does not resolve");
        }
        let daemonset = &definitions["io.k8s.api.apps.v1.DaemonSet"];
        assert_eq!(daemonset[GVK], json!([{"group": "apps", "version": "v1", "kind": "DaemonSet"}]));

        let bytes = protobuf_document(&documents, "v1.33.0");
        let document = Msg::parse(&bytes);
        let definitions = check_definitions(&document);
        assert_eq!(
            extension(&definitions["io.k8s.api.apps.v1.DaemonSet"], 31, GVK),
            Some(json!([{"group": "apps", "version": "v1", "kind": "DaemonSet"}]))
        );
        let patch =
            path_operation(&document, "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}", 8).unwrap();
        assert_eq!(
            extension(&patch, 13, GVK),
            Some(json!({"group": "apps", "version": "v1", "kind": "DaemonSet"}))
        );
        assert!(query_parameters(&patch).contains(&"fieldValidation"));
        let namespace = path_operation(&document, "/api/v1/namespaces/{name}", 8).unwrap();
        assert!(query_parameters(&namespace).contains(&"fieldValidation"));
    }

    fn collect_refs<'a>(json: &'a Value, refs: &mut Vec<&'a str>) {
        match json {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(r)) => refs.push(r),
                        _ => collect_refs(value, refs),
                    }
                }
            }
            Value::Array(values) => values.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }

    // A minimal protobuf reader, just enough to walk `openapi.v2.Document` by field number.

    enum Wire<'a> {
        Varint(u64),
        Bytes(&'a [u8]),
    }

    /// A decoded message: its fields in wire order.
    struct Msg<'a>(Vec<(u64, Wire<'a>)>);

    impl<'a> Msg<'a> {
        fn parse(mut buf: &'a [u8]) -> Self {
            fn varint(buf: &mut &[u8]) -> u64 {
                let mut value = 0;
                for shift in (0..64).step_by(7) {
                    let (&byte, rest) = buf.split_first().expect("truncated varint");
                    *buf = rest;
                    value |= u64::from(byte & 0x7f) << shift;
                    if byte & 0x80 == 0 {
                        return value;
                    }
                }
                panic!("varint too long")
            }
            let mut fields = Vec::new();
            while !buf.is_empty() {
                let key = varint(&mut buf);
                let wire = match key & 7 {
                    0 => Wire::Varint(varint(&mut buf)),
                    2 => {
                        let len = usize::try_from(varint(&mut buf)).unwrap();
                        let (bytes, rest) = buf.split_at(len);
                        buf = rest;
                        Wire::Bytes(bytes)
                    }
                    other => panic!("unexpected wire type {other}"),
                };
                fields.push((key >> 3, wire));
            }
            Msg(fields)
        }

        fn all_bytes(&self, field: u64) -> impl Iterator<Item = &'a [u8]> + '_ {
            self.0.iter().filter_map(move |(f, wire)| match wire {
                Wire::Bytes(b) if *f == field => Some(*b),
                _ => None,
            })
        }

        fn strings(&self, field: u64) -> Vec<&'a str> {
            self.all_bytes(field).map(|b| std::str::from_utf8(b).expect("UTF-8 string")).collect()
        }

        fn string(&self, field: u64) -> Option<&'a str> {
            self.strings(field).pop()
        }

        fn messages(&self, field: u64) -> Vec<Msg<'a>> {
            self.all_bytes(field).map(Msg::parse).collect()
        }

        fn message(&self, field: u64) -> Option<Msg<'a>> {
            self.messages(field).pop()
        }

        fn varint(&self, field: u64) -> Option<u64> {
            self.0.iter().rev().find_map(|(f, wire)| match wire {
                Wire::Varint(v) if *f == field => Some(*v),
                _ => None,
            })
        }
    }

    /// Repeated `Named*` {1 name, 2 value} pairs of `container` (field `field`).
    fn named<'a>(container: &Msg<'a>, field: u64) -> BTreeMap<&'a str, Msg<'a>> {
        container
            .messages(field)
            .into_iter()
            .map(|n| (n.string(1).unwrap_or(""), n.message(2).unwrap()))
            .collect()
    }

    /// The value of the vendor extension `name` (repeated `NamedAny` field `field`), its YAML
    /// read as JSON.
    fn extension(message: &Msg, field: u64, name: &str) -> Option<Value> {
        let any = named(message, field).remove(name)?;
        assert!(any.message(1).is_none(), "google.protobuf.Any is left unset");
        Some(serde_json::from_str(any.string(2)?).expect("extension YAML is JSON"))
    }

    fn properties<'a>(schema: &Msg<'a>) -> BTreeMap<&'a str, Msg<'a>> {
        schema.message(25).map(|p| named(&p, 1)).unwrap_or_default()
    }

    /// The operation (PathItem field `verb`) of `path`.
    fn path_operation<'a>(document: &Msg<'a>, path: &str, verb: u64) -> Option<Msg<'a>> {
        named(&document.message(8)?, 2).remove(path)?.message(verb)
    }

    /// The names of an operation's inline query parameters.
    fn query_parameters<'a>(operation: &Msg<'a>) -> Vec<&'a str> {
        let query = |item: &Msg<'a>| item.message(1)?.message(2)?.message(3);
        operation
            .messages(8)
            .iter()
            .filter_map(query)
            .filter(|q| q.string(2) == Some("query"))
            .filter_map(|q| q.string(4))
            .collect()
    }

    /// Checks every schema of the document as kube-openapi's `NewOpenAPIData` would, and
    /// returns the definitions by name.
    fn check_definitions<'a>(document: &Msg<'a>) -> BTreeMap<&'a str, Msg<'a>> {
        let definitions = named(&document.message(9).expect("definitions"), 1);
        let names: BTreeSet<&str> = definitions.keys().copied().collect();
        for (name, schema) in &definitions {
            check_schema(schema, &names, name);
        }
        for (path, item) in named(&document.message(8).expect("paths"), 2) {
            for operation in (2..=8).filter_map(|verb| item.message(verb)) {
                let responses = operation.message(9).expect("responses");
                for (code, value) in named(&responses, 1) {
                    let schema = value.message(1).and_then(|r| r.message(2)).and_then(|s| s.message(1));
                    if let Some(schema) = schema {
                        check_schema(&schema, &names, &format!("{path} {code}"));
                    }
                }
            }
        }
        definitions
    }

    fn check_schema(schema: &Msg, names: &BTreeSet<&str>, at: &str) {
        let types = schema.message(22).map(|t| t.strings(1)).unwrap_or_default();
        if let Some(r) = schema.string(1) {
            let target =
                r.strip_prefix(DEFINITIONS).unwrap_or_else(|| panic!("{at}: {r} is not a definition"));
            assert!(names.contains(target), "{at}: {r} does not resolve");
            assert!(types.is_empty(), "{at}: a reference with a type");
            assert!(schema.message(25).is_none(), "{at}: a reference with properties");
        }
        assert!(types.len() <= 1, "{at}: several types");
        assert!(types.iter().all(|t| TYPES.contains(t)), "{at}: type {types:?}");
        let items = schema.message(23).map(|i| i.messages(1)).unwrap_or_default();
        if types == ["array"] {
            assert_eq!(items.len(), 1, "{at}: an array needs exactly one items schema");
        }
        for (i, item) in items.iter().enumerate() {
            check_schema(item, names, &format!("{at}[{i}]"));
        }
        for (name, property) in properties(schema) {
            check_schema(&property, names, &format!("{at}.{name}"));
        }
        if let Some(additional) = schema.message(21) {
            match (additional.message(1), additional.varint(2)) {
                (Some(value), None) => check_schema(&value, names, &format!("{at}{{}}")),
                (None, Some(_)) => {}
                _ => panic!("{at}: additionalProperties is neither a schema nor a bool"),
            }
        }
        for entry in schema.messages(20) {
            let yaml = entry.string(2).expect("enum entry YAML");
            assert!(serde_json::from_str::<Value>(yaml).is_ok(), "{at}: enum entry {yaml}");
        }
        for extension in schema.messages(31) {
            let yaml = extension.message(2).and_then(|any| any.string(2)).expect("extension YAML");
            assert!(serde_json::from_str::<Value>(yaml).is_ok(), "{at}: extension {yaml}");
        }
    }
}
