//! Structural schemas of CustomResourceDefinitions (`openAPIV3Schema`), as the API server applies
//! them to custom resources: pruning of unknown fields, defaulting, and validation with
//! upstream's messages.
//!
//! A schema is the CRD's JSON (`JSONSchemaProps`) as it is stored; nothing is converted ahead.
//! `x-kubernetes-preserve-unknown-fields: true` keeps what a schema does not describe, and
//! `x-kubernetes-embedded-resource` objects keep `apiVersion`, `kind` and `metadata`.

use serde_json::{Map, Value};

use crate::validation::{FieldError, FieldErrors, Path};

/// The deepest nesting followed; what lies below is kept as is (bodies are bounded already).
const MAX_DEPTH: usize = 64;

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// The schema of a map's values (`additionalProperties`), if it has one.
fn additional(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|a| a.is_object())
}

/// Removes the fields `schema` does not describe from `value` (upstream's pruning), returning
/// their paths (for warnings and strict field validation).
pub fn prune(value: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_at(value, schema, &mut String::new(), &mut pruned, 0);
    pruned
}

fn prune_at(value: &mut Value, schema: &Value, path: &mut String, pruned: &mut Vec<String>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = properties(schema);
            let extra = additional(schema);
            let keep_unknown = preserves_unknown(schema)
                || schema.get("additionalProperties").and_then(Value::as_bool) == Some(true);
            let embedded =
                schema.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child = props.and_then(|p| p.get(&key)).or(extra);
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                match child {
                    Some(child) => {
                        if let Some(v) = map.get_mut(&key) {
                            prune_at(v, child, path, pruned, depth + 1);
                        }
                    }
                    None if keep_unknown => {}
                    None if embedded && ["apiVersion", "kind", "metadata"].contains(&key.as_str()) => {}
                    None => {
                        map.remove(&key);
                        pruned.push(path.clone());
                    }
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    prune_at(item, item_schema, path, pruned, depth + 1);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// Fills in the `default`s of `schema` where `value` lacks a field (upstream applies them on
/// decoding, before validation).
pub fn apply_defaults(value: &mut Value, schema: &Value) {
    defaults_at(value, schema, 0);
}

fn defaults_at(value: &mut Value, schema: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(props) = properties(schema) {
                for (key, child) in props {
                    if !map.contains_key(key)
                        && let Some(default) = child.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                }
                for (key, child) in props {
                    if let Some(v) = map.get_mut(key) {
                        defaults_at(v, child, depth + 1);
                    }
                }
            } else if let Some(extra) = additional(schema) {
                for v in map.values_mut() {
                    defaults_at(v, extra, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    defaults_at(item, item_schema, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Validates `value` against `schema`, naming fields from `path` as upstream does
/// (`spec.replicas: Invalid value: "x": spec.replicas in body must be of type integer: "string"`).
pub fn validate(value: &Value, schema: &Value, path: &Path) -> FieldErrors {
    let mut errors = Vec::new();
    validate_at(value, schema, path, &mut errors, 0);
    errors
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match (expected, value) {
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (t, v) => t == type_name(v),
    }
}

/// An enum value as its text (strings without their JSON quotes).
fn unquoted(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn validate_at(value: &Value, schema: &Value, path: &Path, errors: &mut FieldErrors, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let field = path.to_string();
    if value.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true) && schema.get("type").is_some() {
            let expected = schema["type"].as_str().unwrap_or_default();
            errors.push(FieldError::invalid(
                path,
                Value::String("null".into()),
                format!("{field} in body must be of type {expected}: \"null\""),
            ));
        }
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !type_matches(expected, value)
        && !(int_or_string && (value.is_string() || value.is_i64() || value.is_u64()))
    {
        errors.push(FieldError::invalid(
            path,
            value.clone(),
            format!("{field} in body must be of type {expected}: \"{}\"", type_name(value)),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed.iter().map(unquoted).collect();
        let supported: Vec<&str> = supported.iter().map(String::as_str).collect();
        errors.push(FieldError::not_supported(path, value.clone(), &supported));
    }
    match value {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
                if x > max || (exclusive && x == max) {
                    let how = if exclusive { "less than" } else { "less than or equal to" };
                    errors.push(FieldError::invalid(
                        path,
                        value.clone(),
                        format!("{field} in body should be {how} {max}"),
                    ));
                }
            }
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
                if x < min || (exclusive && x == min) {
                    let how = if exclusive { "greater than" } else { "greater than or equal to" };
                    errors.push(FieldError::invalid(
                        path,
                        value.clone(),
                        format!("{field} in body should be {how} {min}"),
                    ));
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                errors.push(FieldError::too_long(path, max as usize));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                errors.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{field} in body should be at least {min} chars long"),
                ));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && let Ok(re) = regex::Regex::new(pattern)
                && !re.is_match(s)
            {
                errors.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{field} in body should match '{pattern}'"),
                ));
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errors.push(FieldError::too_many(path, items.len(), max as usize));
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{field} in body should have at least {min} items"),
                ));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_at(item, item_schema, &path.index(i), errors, depth + 1);
                }
            }
        }
        Value::Object(map) => {
            for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = required.as_str()
                    && !map.contains_key(name)
                {
                    errors.push(FieldError::required(&path.child(name), ""));
                }
            }
            let props = properties(schema);
            let extra = additional(schema);
            for (key, v) in map {
                let child = props.and_then(|p| p.get(key)).or(extra);
                if let Some(child) = child {
                    let child_path = if props.is_some_and(|p| p.contains_key(key)) {
                        path.child(key)
                    } else {
                        path.key(key)
                    };
                    validate_at(v, child, &child_path, errors, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Why a CRD's schema is not structural enough to serve (the checks users meet most).
pub fn schema_errors(schema: &Value, path: &Path) -> FieldErrors {
    let mut errors = Vec::new();
    schema_errors_at(schema, path, &mut errors, 0, true);
    errors
}

fn schema_errors_at(schema: &Value, path: &Path, errors: &mut FieldErrors, depth: usize, root: bool) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(obj) = schema.as_object() else {
        errors.push(FieldError::invalid(path, schema.clone(), "must be an object"));
        return;
    };
    let has_type = obj.get("type").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    let opaque = preserves_unknown(schema)
        || obj.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if !has_type && !opaque && (root || obj.contains_key("properties") || obj.contains_key("items")) {
        errors
            .push(FieldError::required(&path.child("type"), "must not be empty for specified object fields"));
    }
    if root && has_type && obj["type"] != "object" {
        errors.push(FieldError::invalid(
            &path.child("type"),
            obj["type"].clone(),
            "must be object at the root",
        ));
    }
    if obj.get("type").and_then(Value::as_str) == Some("array") && !obj.contains_key("items") {
        errors.push(FieldError::required(&path.child("items"), "must be specified"));
    }
    if let Some(props) = properties(schema) {
        for (key, child) in props {
            schema_errors_at(child, &path.child("properties").key(key), errors, depth + 1, false);
        }
    }
    if let Some(items) = obj.get("items") {
        schema_errors_at(items, &path.child("items"), errors, depth + 1, false);
    }
    if let Some(extra) = additional(schema) {
        schema_errors_at(extra, &path.child("additionalProperties"), errors, depth + 1, false);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "port": {"x-kubernetes-int-or-string": true},
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        }})
    }

    #[test]
    fn pruning_drops_what_the_schema_does_not_describe_and_keeps_preserved_fields() {
        let mut v = json!({"spec": {"size": 2, "extra": 1, "free": {"anything": [1]},
            "labels": {"a": "b"}, "tags": ["x"]}, "other": true});
        let pruned = prune(&mut v, &schema());
        assert_eq!(pruned, ["other", "spec.extra"]);
        assert_eq!(
            v,
            json!({"spec": {"size": 2, "free": {"anything": [1]}, "labels": {"a": "b"}, "tags": ["x"]}})
        );
    }

    #[test]
    fn defaults_fill_missing_fields_under_present_parents() {
        let mut v = json!({"spec": {"size": 5}});
        apply_defaults(&mut v, &schema());
        assert_eq!(v["spec"], json!({"size": 5, "color": "red"}));
        let mut empty = json!({});
        apply_defaults(&mut empty, &schema());
        assert_eq!(empty, json!({}), "no parent, no default");
    }

    #[test]
    fn validation_speaks_upstream() {
        let errs = validate(
            &json!({"spec": {"size": "big", "color": "green", "name": "ABCDEFG", "port": "http"}}),
            &schema(),
            &Path::root(),
        );
        let bodies: Vec<String> = errs.iter().map(|e| format!("{}: {}", e.field, e.body())).collect();
        assert!(
            bodies.contains(
                &r#"spec.size: Invalid value: "big": spec.size in body must be of type integer: "string""#
                    .to_string()
            ),
            "{bodies:?}"
        );
        assert!(
            bodies.contains(
                &r#"spec.color: Unsupported value: "green": supported values: "red", "blue""#.to_string()
            ),
            "{bodies:?}"
        );
        assert!(bodies.iter().any(|b| b.starts_with("spec.name: Too long")), "{bodies:?}");
        assert!(bodies.iter().any(|b| b.contains("spec.name in body should match '^[a-z]+$'")), "{bodies:?}");
        let errs = validate(&json!({"spec": {"size": 11}}), &schema(), &Path::root());
        assert_eq!(errs[0].body(), "Invalid value: 11: spec.size in body should be less than or equal to 10");
        let errs = validate(&json!({"spec": {}}), &schema(), &Path::root());
        assert_eq!((errs[0].field.as_str(), errs[0].body()), ("spec.size", "Required value".to_string()));
    }

    #[test]
    fn schemas_need_types() {
        assert!(schema_errors(&schema(), &Path::new("schema")).is_empty());
        let errs = schema_errors(&json!({"properties": {"a": {"type": "array"}}}), &Path::new("schema"));
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["schema.type", "schema.properties[a].items"]);
    }
}
