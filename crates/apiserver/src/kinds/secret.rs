//! `v1 Secret`: `stringData` merged into `data`, the `Opaque` type by default, validation of
//! keys, size and what each type requires, the type and immutable secrets kept on update, and
//! `kubectl get secrets` columns.

use apimachinery::validation::{FieldError, FieldErrors, Path, is_config_map_key};
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret as Type;
use serde_json::{Value, json};

use super::{Kind, defaulted, immutable, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct Secret;

const MAX_SECRET_SIZE: usize = 1024 * 1024;
const IMMUTABLE: &str = "field is immutable when `immutable` is set";

/// `stringData` goes into `data` (its values win), as upstream's conversion does; then the
/// type defaults to `Opaque`.
pub fn set_defaults_secret(secret: &mut Type) {
    if let Some(string_data) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(Default::default);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    if secret.type_.as_deref().unwrap_or_default().is_empty() {
        secret.type_ = Some("Opaque".to_string());
    }
}

/// Go's `json.Unmarshal` into a map: the error upstream reports for content that is not a
/// JSON object.
fn json_object_error(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_) | Value::Null) => None,
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            };
            Some(format!("json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"))
        }
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".to_string()),
        Err(e) => {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
            match first {
                Some(c) if !b"{[\"-0123456789tfn".contains(&c) => {
                    Some(format!("invalid character '{}' looking for beginning of value", c as char))
                }
                _ => Some(e.to_string()),
            }
        }
    }
}

/// Upstream `ValidateSecret`.
pub fn validate_secret(secret: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let data = Path::new("data");
    let mut total = 0;
    for (key, value) in secret.data.iter().flatten() {
        for m in is_config_map_key(key) {
            errs.push(FieldError::invalid(&data.key(key), key.as_str(), m));
        }
        total += value.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data, MAX_SECRET_SIZE));
    }
    let has = |k: &str| secret.data.as_ref().is_some_and(|d| d.contains_key(k));
    let value = |k: &str| secret.data.as_ref().and_then(|d| d.get(k)).map(|v| v.0.as_slice());
    match secret.type_.as_deref().unwrap_or_default() {
        "kubernetes.io/service-account-token" => {
            let name = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .map(String::as_str)
                .unwrap_or_default();
            if name.is_empty() {
                errs.push(FieldError::required(
                    &Path::new("metadata").child("annotations").key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        t @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if t == "kubernetes.io/dockercfg" { ".dockercfg" } else { ".dockerconfigjson" };
            match value(key) {
                None => errs.push(FieldError::required(&data.key(key), "")),
                Some(bytes) => {
                    if let Some(e) = json_object_error(bytes) {
                        errs.push(FieldError::invalid(&data.key(key), "<secret contents redacted>", e));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required(&data.key("username"), ""));
            errs.push(FieldError::required(&data.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if value("ssh-privatekey").is_none_or(<[u8]>::is_empty) => {
            errs.push(FieldError::required(&data.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(FieldError::required(&data.key(key), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// Upstream `ValidateSecretUpdate`: the type stays; an immutable secret keeps its data and
/// stays immutable.
pub fn validate_secret_update(new: &Type, old: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    errs.extend(immutable(&new.type_, &old.type_, &Path::new("type")));
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(&Path::new("immutable"), IMMUTABLE));
        }
        if new.data != old.data {
            errs.push(FieldError::forbidden(&Path::new("data"), IMMUTABLE));
        }
    }
    errs.extend(validate_secret(new));
    errs
}

impl Kind for Secret {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_secret(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_secret_update(&typed(new)?, &typed(old)?))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_secret)
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Type", "string", 0, "Used to facilitate programmatic handling of secret data."),
            col("Data", "string", 0, "The number of keys in the secret's data."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let data = obj["data"].as_object().map_or(0, |d| d.len());
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["type"])),
            json!(data),
            json!(created(obj, now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn defaulted_secret(v: Value) -> Value {
        let mut v = Secret.canonical(&v).unwrap();
        Secret.set_defaults(&mut v).unwrap();
        v
    }

    #[test]
    fn string_data_merges_and_type_defaults() {
        let s = defaulted_secret(
            json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"a": "y", "b": "z"}}),
        );
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"a": "eQ==", "b": "eg=="}));
        assert!(s.get("stringData").is_none());
        assert_eq!(Secret.cells(&s, now())[1..3], [json!("Opaque"), json!(2)]);
        assert_eq!(headers(&Secret, false), "NAME TYPE DATA AGE");
    }

    #[test]
    fn keys_and_types_are_validated() {
        let bad = defaulted_secret(json!({"metadata": {"name": "s"}, "stringData": {"bad key": "v"}}));
        assert_eq!(
            aggregate_message(&Secret.validate(&bad).unwrap()),
            "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        );
        let tls = defaulted_secret(
            json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}}),
        );
        assert_eq!(aggregate_message(&Secret.validate(&tls).unwrap()), "data[tls.key]: Required value");
        let docker = defaulted_secret(
            json!({"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "x"}}),
        );
        assert_eq!(
            aggregate_message(&Secret.validate(&docker).unwrap()),
            "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'x' looking for beginning of value"
        );
    }

    #[test]
    fn type_and_immutable_data_stay() {
        let old =
            defaulted_secret(json!({"metadata": {"name": "s"}, "immutable": true, "stringData": {"a": "1"}}));
        let mut new = old.clone();
        new["type"] = json!("kubernetes.io/tls");
        new["data"]["a"] = json!("Mg==");
        new["data"]["tls.crt"] = json!("");
        new["data"]["tls.key"] = json!("");
        assert_eq!(
            aggregate_message(&Secret.validate_update(&new, &old).unwrap()),
            "[type: Invalid value: \"kubernetes.io/tls\": field is immutable, data: Forbidden: field is immutable when `immutable` is set]"
        );
    }
}
