//! Per-kind rules the API server applies to writes, as upstream's registry strategies do:
//! decoding into the typed object (strict field validation), defaulting, what create and update
//! reset or keep, when `generation` moves, validation, and the values field selectors read.

use apimachinery::validation::{FieldError, FieldErrors, Path};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceType;

/// How unknown fields in a request body are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> ApiResult<Self> {
        match s {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Expected Strict, Warn, or Ignore"
            ))),
        }
    }
}

/// Decodes a request body into the canonical form of its kind, refusing (under Strict) or
/// dropping fields the kind does not have, and refusing (under Strict) the body's
/// `duplicates` (keys given twice, see `apimachinery::duplicate_fields`). Returns the object
/// and the warnings for what it dropped or kept the last of.
pub fn decode(
    rt: &ResourceType,
    body: &Value,
    validation: FieldValidation,
    duplicates: Vec<String>,
) -> ApiResult<(Value, Vec<String>)> {
    let cannot_handle = |detail: String| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {detail}",
            rt.kind, rt.version, rt.kind
        ))
    };
    if !body.is_object() {
        return Err(cannot_handle("the object must be a JSON object".to_string()));
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the provided object ({kind}) does not match the kind of the request ({})",
            rt.kind
        )));
    }
    let canonical = rt.rules.canonical(body).map_err(|e| cannot_handle(e.to_string()))?;
    let mut unknown = Vec::new();
    if validation != FieldValidation::Ignore {
        find_unknown_fields(body, &canonical, &mut String::new(), &mut unknown);
    }
    let problems: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .chain(duplicates.iter().map(|f| format!("duplicate field \"{f}\"")))
        .collect();
    if validation == FieldValidation::Strict && !problems.is_empty() {
        return Err(cannot_handle(format!("strict decoding error: {}", problems.join(", "))));
    }
    let mut canonical = canonical;
    crate::wire::pack(&mut canonical);
    canonical["apiVersion"] = json!(rt.api_version());
    canonical["kind"] = json!(rt.kind);
    Ok((canonical, problems))
}

/// Paths present (and not null) in `original` that decoding dropped.
fn find_unknown_fields(original: &Value, canonical: &Value, path: &mut String, out: &mut Vec<String>) {
    match (original, canonical) {
        (Value::Object(o), Value::Object(c)) => {
            for (k, v) in o {
                if k == "apiVersion" || k == "kind" {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match c.get(k) {
                    Some(cv) => find_unknown_fields(v, cv, path, out),
                    None if v.is_null() => {}
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(o), Value::Array(c)) => {
            for (i, (ov, cv)) in o.iter().zip(c).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                find_unknown_fields(ov, cv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Applies the kind's defaults (upstream `SetDefaults_*`), keeping apiVersion and kind.
pub fn set_defaults(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let (api_version, kind) = (obj["apiVersion"].clone(), obj["kind"].clone());
    rt.rules.set_defaults(obj)?;
    obj["apiVersion"] = api_version;
    obj["kind"] = kind;
    Ok(())
}

/// Whether the kind has a `/status` subresource (so its main endpoint ignores status).
pub fn has_status_subresource(rt: &ResourceType) -> bool {
    rt.subresources.iter().any(|s| s.name == "status")
}

/// What an update of the main resource keeps from the old object (upstream
/// `PrepareForUpdate`): status where the kind has a status subresource, identity and
/// server-managed metadata always; then the kind's own part (the generation bookkeeping).
pub fn prepare_for_update(rt: &ResourceType, new: &mut Value, old: &Value) {
    if has_status_subresource(rt) {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    keep_server_metadata(new, old);
    rt.rules.prepare_for_update(new, old);
}

/// What a `/status` update keeps from the old object: everything but status.
pub fn prepare_for_status_update(new: &mut Value, old: &Value) {
    let status = new.get("status").cloned();
    *new = old.clone();
    match status {
        Some(s) => new["status"] = s,
        None => {
            if let Some(m) = new.as_object_mut() {
                m.remove("status");
            }
        }
    }
}

fn keep_server_metadata(new: &mut Value, old: &Value) {
    for field in
        ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"]
    {
        match old["metadata"].get(field) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
}

fn meta_errors(rt: &ResourceType, obj: &Value) -> FieldErrors {
    let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta::deserialize(&obj["metadata"])
        .unwrap_or_default();
    let name_rule = |name: &str| rt.rules.name_errors(name);
    apimachinery::core::validate_object_meta_with(&meta, rt.namespaced, &name_rule, &Path::new("metadata"))
}

/// Validation of a new object.
pub fn validate_create(rt: &ResourceType, obj: &Value) -> ApiResult<FieldErrors> {
    let mut errs = meta_errors(rt, obj);
    errs.extend(rt.rules.validate(obj)?);
    Ok(errs)
}

/// Validation of an update (`status_only` for the `/status` subresource).
pub fn validate_update(
    rt: &ResourceType,
    new: &Value,
    old: &Value,
    status_only: bool,
) -> ApiResult<FieldErrors> {
    let mut errs = meta_errors(rt, new);
    if new["metadata"]["name"] != old["metadata"]["name"] {
        errs.push(FieldError::invalid(
            &Path::new("metadata").child("name"),
            new["metadata"]["name"].clone(),
            "field is immutable",
        ));
    }
    errs.extend(if status_only {
        rt.rules.validate_status_update(new, old)?
    } else {
        rt.rules.validate_update(new, old)?
    });
    Ok(errs)
}

/// The value of a field-selector label on an object (labels are checked against the resource
/// table before this is called).
pub fn field_value(rt: &ResourceType, obj: &Value, label: &str) -> Option<String> {
    rt.rules.field_value(obj, label)
}

/// An object's labels, as label selectors match them.
pub fn labels_of(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    fn ds() -> &'static ResourceType {
        resources::builtin("apps", "v1", "daemonsets")
    }

    #[test]
    fn strict_decoding_names_unknown_fields() {
        let body = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "x"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "a", "imagee": "b"}]}}, "bogus": 1}});
        let err = decode(ds(), &body, FieldValidation::Strict, Vec::new()).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "DaemonSet in version \"v1\" cannot be handled as a DaemonSet: strict decoding error: \
             unknown field \"spec.bogus\", unknown field \"spec.template.spec.containers[0].imagee\""
        );
        let (obj, warnings) = decode(ds(), &body, FieldValidation::Ignore, Vec::new()).unwrap();
        assert!(warnings.is_empty());
        assert!(obj["spec"].get("bogus").is_none());
    }

    #[test]
    fn kind_mismatch_is_bad_request() {
        let err = decode(
            ds(),
            &json!({"kind": "Pod", "metadata": {"name": "x"}}),
            FieldValidation::Strict,
            Vec::new(),
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn main_resource_keeps_status_and_generation() {
        let cm = resources::builtin("", "v1", "configmaps");
        let old = json!({"metadata": {"name": "x", "uid": "u", "generation": 2}, "status": {"b": 1}});
        let mut new = json!({"metadata": {"name": "x", "generation": 7}, "status": {"b": 2}});
        prepare_for_update(ds(), &mut new, &old);
        assert_eq!(new["status"]["b"], 1, "the main resource ignores status");
        assert_eq!(new["metadata"]["uid"], "u");
        let mut new = json!({"metadata": {"name": "x", "generation": 7}});
        prepare_for_update(cm, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn status_update_ignores_spec() {
        let old = json!({"metadata": {"name": "x"}, "spec": {"a": 1}, "status": {"b": 1}});
        let mut new = json!({"metadata": {"name": "x"}, "spec": {"a": 2}, "status": {"b": 2}});
        prepare_for_status_update(&mut new, &old);
        assert_eq!(new, json!({"metadata": {"name": "x"}, "spec": {"a": 1}, "status": {"b": 2}}));
    }
}
