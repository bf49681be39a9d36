//! Strategic merge patch (`application/strategic-merge-patch+json`), as the API server applies
//! it: maps merge key by key, `null` deletes, and lists merge item by item on a per-field merge
//! key, or are replaced whole where the field is atomic. Every directive kubectl emits is
//! handled: `$patch` (`replace`, `delete`, `merge`) on maps and in lists, `$setElementOrder/`,
//! `$retainKeys` and `$deleteFromPrimitiveList/`.
//!
//! The merge keys are upstream's struct tags (`patchStrategy`, `patchMergeKey`) for the kinds
//! served here, written out as a small [`Schema`] per kind. Unknown fields fall back to
//! JSON-merge semantics: maps merge, lists are replaced.

use std::fmt;

use serde_json::{Map, Value};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// How a field is patched.
#[derive(Clone, Copy)]
pub enum Schema {
    /// Unknown or atomic: maps merge key by key (children opaque too), lists are replaced.
    Opaque,
    /// A struct whose fields have schemas of their own.
    Object(fn(&str) -> Schema),
    /// A list of objects merged on `key` (`patchStrategy: merge`).
    MergeList { key: &'static str, item: fn(&str) -> Schema },
    /// A list of scalars merged as a set (`patchStrategy: merge`, e.g. finalizers).
    PrimitiveSet,
}

impl Schema {
    fn field(self, name: &str) -> Schema {
        match self {
            Schema::Object(f) => f(name),
            _ => Schema::Opaque,
        }
    }
}

/// A patch that cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchError(pub String);

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatchError {}

fn opaque(_: &str) -> Schema {
    Schema::Opaque
}

fn object_meta(field: &str) -> Schema {
    match field {
        "ownerReferences" => Schema::MergeList { key: "uid", item: opaque },
        "finalizers" => Schema::PrimitiveSet,
        _ => Schema::Opaque,
    }
}

fn conditions(field: &str) -> Schema {
    match field {
        "conditions" => Schema::MergeList { key: "type", item: opaque },
        _ => Schema::Opaque,
    }
}

fn container(field: &str) -> Schema {
    match field {
        "env" => Schema::MergeList { key: "name", item: opaque },
        "ports" => Schema::MergeList { key: "containerPort", item: opaque },
        "volumeMounts" => Schema::MergeList { key: "mountPath", item: opaque },
        "volumeDevices" => Schema::MergeList { key: "devicePath", item: opaque },
        _ => Schema::Opaque,
    }
}

fn pod_spec(field: &str) -> Schema {
    match field {
        "containers" | "initContainers" | "ephemeralContainers" => {
            Schema::MergeList { key: "name", item: container }
        }
        "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims" => {
            Schema::MergeList { key: "name", item: opaque }
        }
        "hostAliases" => Schema::MergeList { key: "ip", item: opaque },
        "topologySpreadConstraints" => Schema::MergeList { key: "topologyKey", item: opaque },
        _ => Schema::Opaque,
    }
}

fn pod_template(field: &str) -> Schema {
    match field {
        "metadata" => Schema::Object(object_meta),
        "spec" => Schema::Object(pod_spec),
        _ => Schema::Opaque,
    }
}

/// The spec of a kind that runs pods from `spec.template` (DaemonSet, Deployment, ReplicaSet,
/// StatefulSet, ReplicationController, Job).
fn workload_spec(field: &str) -> Schema {
    match field {
        "template" => Schema::Object(pod_template),
        _ => Schema::Opaque,
    }
}

/// A CronJob's `spec.jobTemplate`: a Job's metadata and spec.
fn job_template(field: &str) -> Schema {
    match field {
        "metadata" => Schema::Object(object_meta),
        "spec" => Schema::Object(workload_spec),
        _ => Schema::Opaque,
    }
}

fn cronjob_spec(field: &str) -> Schema {
    match field {
        "jobTemplate" => Schema::Object(job_template),
        _ => Schema::Opaque,
    }
}

/// A v1 PodTemplate: its own metadata and the pod template at `template`.
fn pod_template_kind(field: &str) -> Schema {
    match field {
        "metadata" => Schema::Object(object_meta),
        "template" => Schema::Object(pod_template),
        _ => Schema::Opaque,
    }
}

fn pod_status(field: &str) -> Schema {
    match field {
        "conditions" => Schema::MergeList { key: "type", item: opaque },
        "podIPs" | "hostIPs" => Schema::MergeList { key: "ip", item: opaque },
        _ => Schema::Opaque,
    }
}

fn node_spec(field: &str) -> Schema {
    match field {
        "podCIDRs" => Schema::PrimitiveSet,
        _ => Schema::Opaque,
    }
}

fn node_status(field: &str) -> Schema {
    match field {
        "conditions" | "addresses" => Schema::MergeList { key: "type", item: opaque },
        _ => Schema::Opaque,
    }
}

macro_rules! kind_schema {
    ($name:ident, spec: $spec:expr, status: $status:expr) => {
        fn $name(field: &str) -> Schema {
            match field {
                "metadata" => Schema::Object(object_meta),
                "spec" => $spec,
                "status" => $status,
                _ => Schema::Opaque,
            }
        }
    };
}

kind_schema!(workload, spec: Schema::Object(workload_spec), status: Schema::Object(conditions));
kind_schema!(cronjob, spec: Schema::Object(cronjob_spec), status: Schema::Opaque);
kind_schema!(pod, spec: Schema::Object(pod_spec), status: Schema::Object(pod_status));
kind_schema!(node, spec: Schema::Object(node_spec), status: Schema::Object(node_status));
kind_schema!(namespace, spec: Schema::Opaque, status: Schema::Object(conditions));
kind_schema!(generic, spec: Schema::Opaque, status: Schema::Opaque);

/// The patch schema of a kind that runs pods from `spec.template` and reports conditions merged
/// by type: Deployment, ReplicaSet, StatefulSet, ReplicationController and Job.
pub const WORKLOAD: Schema = Schema::Object(workload);
/// The patch schema of a DaemonSet (a [`WORKLOAD`]).
pub const DAEMONSET: Schema = WORKLOAD;
/// The patch schema of a CronJob: the pod template of `spec.jobTemplate.spec.template`.
pub const CRONJOB: Schema = Schema::Object(cronjob);
/// The patch schema of a v1 PodTemplate: the pod template at `template`.
pub const POD_TEMPLATE: Schema = Schema::Object(pod_template_kind);
/// The patch schema of a Pod.
pub const POD: Schema = Schema::Object(pod);
/// The patch schema of a Node.
pub const NODE: Schema = Schema::Object(node);
/// The patch schema of a Namespace.
pub const NAMESPACE: Schema = Schema::Object(namespace);
/// The patch schema of a kind with no lists to merge but its metadata's.
pub const GENERIC: Schema = Schema::Object(generic);

/// Applies a strategic merge patch to `original`.
pub fn strategic_merge_patch(original: &Value, patch: &Value, schema: Schema) -> Result<Value, PatchError> {
    let (Value::Object(o), Value::Object(p)) = (original, patch) else {
        return Err(PatchError("a strategic merge patch must be a JSON object".to_string()));
    };
    Ok(merge_map(o.clone(), p, schema)?.map(Value::Object).unwrap_or_else(|| Value::Object(Map::new())))
}

/// Merges `patch` into `original`; `None` when the patch deletes the map (`$patch: delete`).
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Schema,
) -> Result<Option<Map<String, Value>>, PatchError> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(s)) if s == "merge" => {}
        Some(Value::String(s)) if s == "replace" => {
            let mut without = patch.clone();
            without.remove(PATCH);
            return merge_map(Map::new(), &without, schema);
        }
        Some(Value::String(s)) if s == "delete" => return Ok(None),
        Some(other) => return Err(PatchError(format!("Unknown patch type: {}", display(other)))),
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(keys) = retain else {
            return Err(PatchError(format!("invalid value for {RETAIN_KEYS}: must be a list of strings")));
        };
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        if keep.len() != keys.len() {
            return Err(PatchError(format!("invalid value for {RETAIN_KEYS}: must be a list of strings")));
        }
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(remove) = v else {
                return Err(PatchError(format!("{k}: the values to delete must be a list")));
            };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !remove.contains(item));
            }
        }
    }
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            original.remove(k);
            continue;
        }
        let field = schema.field(k);
        let merged = match original.remove(k) {
            Some(current) => merge_value(current, v, field)?,
            None => merge_value(empty_like(v), v, field)?,
        };
        if let Some(value) = merged {
            original.insert(k.clone(), value);
        }
    }
    for (k, order) in patch {
        if let Some(field) = k.strip_prefix(SET_ELEMENT_ORDER) {
            let Value::Array(order) = order else {
                return Err(PatchError(format!("{k}: the element order must be a list")));
            };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                apply_element_order(items, order, schema.field(field))?;
            }
        }
    }
    Ok(Some(original))
}

fn empty_like(v: &Value) -> Value {
    match v {
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        _ => Value::Null,
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Merges one field's patch value into its current value; `None` deletes the field.
fn merge_value(current: Value, patch: &Value, schema: Schema) -> Result<Option<Value>, PatchError> {
    match (current, patch) {
        (Value::Object(c), Value::Object(p)) => Ok(merge_map(c, p, schema)?.map(Value::Object)),
        (Value::Array(c), Value::Array(p)) => merge_list(c, p, schema).map(|l| Some(Value::Array(l))),
        (_, Value::Object(p)) => Ok(merge_map(Map::new(), p, schema)?.map(Value::Object)),
        (_, Value::Array(p)) => merge_list(Vec::new(), p, schema).map(|l| Some(Value::Array(l))),
        (_, p) => Ok(Some(p.clone())),
    }
}

fn merge_list(mut current: Vec<Value>, patch: &[Value], schema: Schema) -> Result<Vec<Value>, PatchError> {
    match schema {
        Schema::PrimitiveSet => {
            for item in patch {
                if !current.contains(item) {
                    current.push(item.clone());
                }
            }
            Ok(current)
        }
        Schema::MergeList { key, item } => {
            let replace = patch.iter().any(|i| i.get(PATCH).and_then(Value::as_str) == Some("replace"));
            if replace {
                current.clear();
            }
            for p in patch {
                let Value::Object(p) = p else {
                    return Err(PatchError(format!(
                        "cannot merge a {} into a list merged on {key:?}",
                        type_name(p)
                    )));
                };
                match p.get(PATCH).and_then(Value::as_str) {
                    Some("replace") if p.len() == 1 => continue,
                    Some("delete") => {
                        let Some(k) = p.get(key) else {
                            return Err(PatchError(format!(
                                "delete patch {} does not contain declared merge key: {key}",
                                Value::Object(p.clone())
                            )));
                        };
                        current.retain(|c| c.get(key) != Some(k));
                        continue;
                    }
                    _ => {}
                }
                let Some(k) = p.get(key) else {
                    return Err(PatchError(format!(
                        "map: {} does not contain declared merge key: {key}",
                        Value::Object(p.clone())
                    )));
                };
                let element = Schema::Object(item);
                match current.iter().position(|c| c.get(key) == Some(k)) {
                    Some(i) => {
                        let Value::Object(c) = std::mem::take(&mut current[i]) else {
                            return Err(PatchError(format!("list element with {key} {k} is not an object")));
                        };
                        match merge_map(c, p, element)? {
                            Some(m) => current[i] = Value::Object(m),
                            None => {
                                current.remove(i);
                            }
                        }
                    }
                    None => {
                        if let Some(m) = merge_map(Map::new(), p, element)? {
                            current.push(Value::Object(m));
                        }
                    }
                }
            }
            Ok(current)
        }
        _ => Ok(patch.to_vec()),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Orders `items` as `$setElementOrder` says: listed items first, in the given order; items the
/// order does not name keep their relative order after them.
fn apply_element_order(items: &mut Vec<Value>, order: &[Value], schema: Schema) -> Result<(), PatchError> {
    let identity = |v: &Value| -> Value {
        match schema {
            Schema::MergeList { key, .. } => v.get(key).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(identity).collect();
    let mut rest = std::mem::take(items);
    for w in &wanted {
        if let Some(i) = rest.iter().position(|item| &identity(item) == w) {
            items.push(rest.remove(i));
        }
    }
    items.extend(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds_patch(original: Value, patch: Value) -> Value {
        strategic_merge_patch(&original, &patch, DAEMONSET).unwrap()
    }

    fn ds_with(containers: Value) -> Value {
        json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn containers_merge_on_name() {
        let original =
            ds_with(json!([{"name": "a", "image": "1", "args": ["x"]}, {"name": "b", "image": "1"}]));
        let out = ds_patch(
            original,
            json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "2"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "1", "args": ["x"]}, {"name": "b", "image": "2"}])
        );
    }

    #[test]
    fn null_deletes_a_field() {
        let out = ds_patch(
            ds_with(json!([{"name": "a", "ports": [{"containerPort": 80}]}])),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "ports": null}]}}}}),
        );
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "a"}]));
    }

    #[test]
    fn patch_delete_in_a_list_removes_the_element() {
        let original = ds_with(
            json!([{"name": "a", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}, {"name": "two"}]),
        );
        let out = ds_patch(
            original,
            json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [
                {"$setElementOrder/env": [{"name": "B"}], "env": [{"name": "B", "value": "3"}, {"$patch": "delete", "name": "A"}], "name": "a"},
                {"$patch": "delete", "name": "two"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "env": [{"name": "B", "value": "3"}]}])
        );
    }

    #[test]
    fn patch_replace_on_a_map_replaces_it() {
        let original = json!({"spec": {"template": {"metadata": {"labels": {"a": "1", "old": "x"}},
            "spec": {"containers": [{"name": "a", "image": "2"}], "nodeSelector": {"n": "1"}}}}});
        let data = json!({"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"a": "1"}},
            "spec": {"containers": [{"name": "a", "image": "1"}]}}}});
        let out = ds_patch(original, data);
        assert_eq!(
            out["spec"]["template"],
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "a", "image": "1"}]}})
        );
    }

    #[test]
    fn patch_replace_in_a_list_replaces_the_list() {
        let out = ds_patch(
            ds_with(json!([{"name": "a"}, {"name": "b"}])),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}}}}),
        );
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "c"}]));
    }

    #[test]
    fn patch_delete_on_a_map_deletes_it() {
        let original =
            json!({"spec": {"template": {"spec": {"containers": [], "affinity": {"nodeAffinity": {}}}}}});
        let out =
            ds_patch(original, json!({"spec": {"template": {"spec": {"affinity": {"$patch": "delete"}}}}}));
        assert!(out["spec"]["template"]["spec"].get("affinity").is_none());
    }

    #[test]
    fn retain_keys_drops_the_old_volume_source() {
        let original = json!({"spec": {"template": {"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/var/log", "type": ""}}]}}}});
        let out = ds_patch(
            original,
            json!({"spec": {"template": {"spec": {
            "$setElementOrder/volumes": [{"name": "v"}],
            "volumes": [{"$retainKeys": ["emptyDir", "name"], "emptyDir": {}, "hostPath": null, "name": "v"}]}}}}),
        );
        assert_eq!(out["spec"]["template"]["spec"]["volumes"], json!([{"name": "v", "emptyDir": {}}]));
    }

    #[test]
    fn delete_from_primitive_list_and_finalizer_union() {
        let original = json!({"metadata": {"finalizers": ["a", "b"]}});
        let out =
            ds_patch(original.clone(), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let out = ds_patch(original, json!({"metadata": {"finalizers": ["c", "a"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    }

    #[test]
    fn set_element_order_reorders() {
        let out = ds_patch(
            ds_with(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c"}, {"name": "a"}, {"name": "b"}])
        );
    }

    #[test]
    fn atomic_lists_are_replaced() {
        let original =
            json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}}}});
        let out = ds_patch(
            original,
            json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
        let node = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
        let out = strategic_merge_patch(
            &node,
            &json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}),
            NODE,
        )
        .unwrap();
        assert_eq!(out["spec"]["taints"], json!([{"key": "b", "effect": "NoExecute"}]));
    }

    #[test]
    fn a_new_field_with_directives_is_cleaned() {
        let out = ds_patch(
            json!({"spec": {}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"$patch": "delete", "name": "b"}]}}}}),
        );
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "a"}]));
    }

    /// A container with ports and env, and a second container; the patch changes one image.
    fn two_containers() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "1", "ports": [{"containerPort": 80, "protocol": "TCP"}],
             "env": [{"name": "A", "value": "x"}]},
            {"name": "b", "image": "1"}],
            "volumes": [{"name": "v", "emptyDir": {}}]}}}})
    }

    fn image_patch() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}})
    }

    #[test]
    fn workload_kinds_merge_their_pod_template() {
        let out = strategic_merge_patch(&two_containers(), &image_patch(), WORKLOAD).unwrap();
        let mut expected = two_containers();
        expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("2");
        assert_eq!(out, expected);
        let status = json!({"status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}});
        let out = strategic_merge_patch(
            &status,
            &json!({"status": {"conditions": [{"type": "Available", "status": "False"}]}}),
            WORKLOAD,
        )
        .unwrap();
        assert_eq!(out["status"]["conditions"][1]["type"], "Progressing");
        assert_eq!(out["status"]["conditions"][0]["status"], "False");
    }

    #[test]
    fn cronjob_merges_the_job_template_pod_template() {
        let wrap = |v: Value| json!({"spec": {"jobTemplate": v}});
        let out = strategic_merge_patch(&wrap(two_containers()), &wrap(image_patch()), CRONJOB).unwrap();
        let mut expected = two_containers();
        expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("2");
        assert_eq!(out, wrap(expected));
    }

    #[test]
    fn pod_template_merges_its_template() {
        let original = json!({"template": two_containers()["spec"]["template"].clone()});
        let patch = json!({"template": image_patch()["spec"]["template"].clone()});
        let out = strategic_merge_patch(&original, &patch, POD_TEMPLATE).unwrap();
        assert_eq!(out["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 80);
        assert_eq!(out["template"]["spec"]["containers"][0]["image"], "2");
        assert_eq!(out["template"]["spec"]["containers"][1]["name"], "b");
    }

    #[test]
    fn errors() {
        let e = strategic_merge_patch(
            &ds_with(json!([])),
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            DAEMONSET,
        )
        .unwrap_err();
        assert_eq!(e.0, "map: {\"image\":\"x\"} does not contain declared merge key: name");
        let e = strategic_merge_patch(&json!({}), &json!({"$patch": "explode"}), DAEMONSET).unwrap_err();
        assert_eq!(e.0, "Unknown patch type: explode");
    }
}
