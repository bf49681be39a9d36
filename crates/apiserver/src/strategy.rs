//! Per-kind rules the API server applies to writes, as upstream's registry strategies do:
//! decoding into the typed object (strict field validation), defaulting, what create and update
//! reset or keep, when `generation` moves, validation, and the values field selectors read.

use apimachinery::validation::{FieldError, FieldErrors, Path};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceType;

/// Runs `$body` with `$t` bound to the k8s-openapi type of `$rt`.
macro_rules! with_kind {
    ($rt:expr, $t:ident => $body:expr) => {
        match $rt.kind {
            "Namespace" => {
                type $t = Namespace;
                $body
            }
            "Node" => {
                type $t = Node;
                $body
            }
            "Pod" => {
                type $t = Pod;
                $body
            }
            "Event" => {
                type $t = Event;
                $body
            }
            "ConfigMap" => {
                type $t = ConfigMap;
                $body
            }
            "DaemonSet" => {
                type $t = DaemonSet;
                $body
            }
            "ControllerRevision" => {
                type $t = ControllerRevision;
                $body
            }
            "PriorityClass" => {
                type $t = PriorityClass;
                $body
            }
            "Lease" => {
                type $t = Lease;
                $body
            }
            other => unreachable!("no type for served kind {other}"),
        }
    };
}

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

/// The value as its kind's type sees it: what the type lacks dropped, the rest in its form.
fn roundtrip<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, serde_json::Error> {
    // Deserializing from a borrowed Value spares a copy of the whole tree.
    let typed = T::deserialize(value)?;
    serde_json::to_value(typed)
}

/// Decodes a request body into the canonical form of its kind, refusing (under Strict) or
/// dropping fields the kind does not have. Returns the object and the unknown-field warnings.
pub fn decode(
    rt: &ResourceType,
    body: Value,
    validation: FieldValidation,
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
    let canonical = with_kind!(rt, T => roundtrip::<T>(&body)).map_err(|e| cannot_handle(e.to_string()))?;
    let mut unknown = Vec::new();
    if validation != FieldValidation::Ignore {
        find_unknown_fields(&body, &canonical, &mut String::new(), &mut unknown);
    }
    if validation == FieldValidation::Strict && !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
        return Err(cannot_handle(format!("strict decoding error: {}", list.join(", "))));
    }
    let mut canonical = canonical;
    canonical["apiVersion"] = json!(rt.api_version());
    canonical["kind"] = json!(rt.kind);
    Ok((canonical, unknown.into_iter().map(|f| format!("unknown field \"{f}\"")).collect()))
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

fn typed<T: DeserializeOwned>(v: &Value) -> ApiResult<T> {
    T::deserialize(v).map_err(ApiError::internal)
}

fn untyped<T: Serialize>(t: &T) -> ApiResult<Value> {
    serde_json::to_value(t).map_err(ApiError::internal)
}

/// Applies the kind's defaults (upstream `SetDefaults_*`), keeping apiVersion and kind.
pub fn set_defaults(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let defaulted = match rt.kind {
        "DaemonSet" => {
            let mut ds: DaemonSet = typed(obj)?;
            daemonset::defaults::set_defaults_daemonset(&mut ds);
            untyped(&ds)?
        }
        "Pod" => {
            let mut pod: Pod = typed(obj)?;
            apimachinery::core::set_defaults_pod(&mut pod);
            untyped(&pod)?
        }
        "Node" => {
            let mut node: Node = typed(obj)?;
            apimachinery::core::set_defaults_node(&mut node);
            untyped(&node)?
        }
        "Namespace" => {
            let mut ns: Namespace = typed(obj)?;
            apimachinery::core::set_defaults_namespace(&mut ns);
            untyped(&ns)?
        }
        "PriorityClass" => {
            let mut pc: PriorityClass = typed(obj)?;
            apimachinery::core::set_defaults_priority_class(&mut pc);
            untyped(&pc)?
        }
        _ => return Ok(()),
    };
    let (api_version, kind) = (obj["apiVersion"].clone(), obj["kind"].clone());
    *obj = defaulted;
    obj["apiVersion"] = api_version;
    obj["kind"] = kind;
    Ok(())
}

/// Whether the kind has a `/status` subresource (so its main endpoint ignores status).
pub fn has_status_subresource(rt: &ResourceType) -> bool {
    rt.subresources.iter().any(|s| s.name == "status")
}

const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// What create resets (upstream `PrepareForCreate`).
pub fn prepare_for_create(rt: &ResourceType, obj: &mut Value) {
    match rt.kind {
        "DaemonSet" => {
            obj["status"] = json!({
                "currentNumberScheduled": 0, "numberMisscheduled": 0,
                "desiredNumberScheduled": 0, "numberReady": 0,
            });
            obj["metadata"]["generation"] = json!(1);
            obj["metadata"]["annotations"][TEMPLATE_GENERATION] = json!("1");
        }
        "Pod" => {
            let qos = pod_qos_class(obj);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "Namespace" => {
            obj["status"] = json!({"phase": "Active"});
        }
        _ => {}
    }
}

/// Upstream's QoS class of a pod: Guaranteed, Burstable or BestEffort.
fn pod_qos_class(pod: &Value) -> &'static str {
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let requests = c["resources"]["requests"].as_object();
        let limits = c["resources"]["limits"].as_object();
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(res));
            let request = requests.and_then(|r| r.get(res)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn spec_of(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

/// What an update of the main resource keeps from the old object (upstream
/// `PrepareForUpdate`): status where the kind has a status subresource, identity and
/// server-managed metadata always; and the generation bookkeeping.
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
    if rt.kind == "DaemonSet" {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let template_generation = old["metadata"]["annotations"][TEMPLATE_GENERATION]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(generation);
        if new["spec"]["template"] != old["spec"]["template"] {
            new["metadata"]["annotations"][TEMPLATE_GENERATION] =
                json!((template_generation + 1).to_string());
        } else {
            new["metadata"]["annotations"][TEMPLATE_GENERATION] = json!(template_generation.to_string());
        }
        let changed = spec_of(new) != spec_of(old);
        new["metadata"]["generation"] = json!(if changed { generation + 1 } else { generation });
    } else if let Some(g) = old["metadata"].get("generation") {
        new["metadata"]["generation"] = g.clone();
    }
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
    apimachinery::core::validate_object_meta(&meta, rt.namespaced, &Path::new("metadata"))
}

/// Validation of a new object.
pub fn validate_create(rt: &ResourceType, obj: &Value) -> ApiResult<FieldErrors> {
    let mut errs = meta_errors(rt, obj);
    errs.extend(match rt.kind {
        "DaemonSet" => daemonset::validation::validate_daemonset(&typed(obj)?),
        "ControllerRevision" => daemonset::validation::validate_controller_revision(&typed(obj)?),
        "Pod" => apimachinery::core::validate_pod(&typed(obj)?),
        "Node" => apimachinery::core::validate_node(&typed(obj)?),
        "Namespace" => apimachinery::core::validate_namespace(&typed(obj)?),
        "ConfigMap" => apimachinery::core::validate_configmap(&typed(obj)?),
        "PriorityClass" => apimachinery::core::validate_priority_class(&typed(obj)?),
        "Lease" => apimachinery::core::validate_lease(&typed(obj)?),
        "Event" => apimachinery::core::validate_event(&typed(obj)?),
        _ => Vec::new(),
    });
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
    errs.extend(match (rt.kind, status_only) {
        ("DaemonSet", false) => {
            let (n, o) = (typed(new)?, typed(old)?);
            let mut e = daemonset::validation::validate_daemonset(&n);
            e.extend(daemonset::validation::validate_daemonset_update(&n, &o));
            e
        }
        ("DaemonSet", true) => {
            daemonset::validation::validate_daemonset_status_update(&typed(new)?, &typed(old)?)
        }
        ("ControllerRevision", _) => {
            daemonset::validation::validate_controller_revision_update(&typed(new)?, &typed(old)?)
        }
        ("Pod", false) => apimachinery::core::validate_pod_update(&typed(new)?, &typed(old)?),
        ("Node", false) => apimachinery::core::validate_node(&typed(new)?),
        ("PriorityClass", _) => {
            let (n, o): (PriorityClass, PriorityClass) = (typed(new)?, typed(old)?);
            let mut e = apimachinery::core::validate_priority_class(&n);
            if n.value != o.value {
                e.push(FieldError::forbidden(&Path::new("value"), "may not be changed in an update."));
            }
            e
        }
        _ => Vec::new(),
    });
    Ok(errs)
}

/// The value of a field-selector label on an object (labels are checked against the resource
/// table before this is called).
pub fn field_value(rt: &ResourceType, obj: &Value, label: &str) -> Option<String> {
    let path = match (rt.kind, label) {
        ("Event", "source") => "source.component",
        _ => label,
    };
    let mut v = obj;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .or_else(|| match label {
        "spec.unschedulable" | "spec.hostNetwork" => Some("false".to_string()),
        _ => None,
    })
}

/// An object's labels, as label selectors match them.
pub fn labels_of(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// [`field_value`] as the closure field selectors take.
pub fn field_getter<'a>(rt: &'a ResourceType, obj: &'a Value) -> impl Fn(&str) -> Option<String> + 'a {
    move |label| field_value(rt, obj, label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    fn ds() -> &'static ResourceType {
        resources::find("apps", "v1", "daemonsets").unwrap()
    }

    #[test]
    fn strict_decoding_names_unknown_fields() {
        let body = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "x"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "a", "imagee": "b"}]}}, "bogus": 1}});
        let err = decode(ds(), body.clone(), FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "DaemonSet in version \"v1\" cannot be handled as a DaemonSet: strict decoding error: \
             unknown field \"spec.bogus\", unknown field \"spec.template.spec.containers[0].imagee\""
        );
        let (obj, warnings) = decode(ds(), body, FieldValidation::Ignore).unwrap();
        assert!(warnings.is_empty());
        assert!(obj["spec"].get("bogus").is_none());
    }

    #[test]
    fn kind_mismatch_is_bad_request() {
        let err = decode(ds(), json!({"kind": "Pod", "metadata": {"name": "x"}}), FieldValidation::Strict)
            .unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn qos_classes() {
        let best = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(pod_qos_class(&best), "BestEffort");
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(pod_qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(pod_qos_class(&b), "Burstable");
    }

    #[test]
    fn generation_moves_on_spec_changes_only() {
        let old = json!({"metadata": {"name": "x", "generation": 3, "annotations": {TEMPLATE_GENERATION: "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}, "minReadySeconds": 0},
            "status": {"numberReady": 1}});
        let mut same = old.clone();
        same["metadata"]["labels"] = json!({"a": "b"});
        same["status"] = json!({"numberReady": 5});
        prepare_for_update(ds(), &mut same, &old);
        assert_eq!(same["metadata"]["generation"], 3);
        assert_eq!(same["status"]["numberReady"], 1, "the main resource ignores status");
        let mut template = old.clone();
        template["spec"]["template"]["spec"]["containers"][0]["image"] = json!("2");
        prepare_for_update(ds(), &mut template, &old);
        assert_eq!(template["metadata"]["generation"], 4);
        assert_eq!(template["metadata"]["annotations"][TEMPLATE_GENERATION], "3");
        let mut other = old.clone();
        other["spec"]["minReadySeconds"] = json!(5);
        prepare_for_update(ds(), &mut other, &old);
        assert_eq!(other["metadata"]["generation"], 4);
        assert_eq!(other["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
    }

    #[test]
    fn status_update_ignores_spec() {
        let old = json!({"metadata": {"name": "x"}, "spec": {"a": 1}, "status": {"b": 1}});
        let mut new = json!({"metadata": {"name": "x"}, "spec": {"a": 2}, "status": {"b": 2}});
        prepare_for_status_update(&mut new, &old);
        assert_eq!(new, json!({"metadata": {"name": "x"}, "spec": {"a": 1}, "status": {"b": 2}}));
    }
}
