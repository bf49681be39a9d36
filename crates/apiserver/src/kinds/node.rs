//! `v1 Node`: upstream's defaults and validation, `spec.unschedulable` as field selectors see
//! it, and `kubectl get nodes` columns.

use std::collections::BTreeSet;

use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::FieldErrors;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, defaulted, field_at, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct Node;

impl Kind for Node {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_node(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_node(&typed(new)?))
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_node(&typed(new)?))
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, apimachinery::core::set_defaults_node)
    }

    fn field_value(&self, obj: &Value, label: &str) -> Option<String> {
        field_at(obj, label).or_else(|| (label == "spec.unschedulable").then(|| "false".to_string()))
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Status", "string", 0, "The status of the node."),
            col("Roles", "string", 0, "The roles of the node."),
            AGE,
            col("Version", "string", 0, "Kubelet version reported by the node."),
            col("Internal-IP", "string", 1, "The node's internal IP address."),
            col("External-IP", "string", 1, "The node's external IP address."),
            col("OS-Image", "string", 1, "OS image reported by the node."),
            col("Kernel-Version", "string", 1, "Kernel version reported by the node."),
            col("Container-Runtime", "string", 1, "Container runtime reported by the node."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        node_cells(obj, now)
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::NODE
    }
}

fn node_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = obj["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = conditions.iter().find(|c| c["type"] == "Ready") {
        status.push(if ready["status"] == "True" { "Ready" } else { "NotReady" });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if obj["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in obj["metadata"]["labels"].as_object().into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v.to_string());
        }
    }
    let roles =
        if roles.is_empty() { "<none>".to_string() } else { roles.into_iter().collect::<Vec<_>>().join(",") };
    let address = |t: &str| {
        obj["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["type"] == t))
            .map(|x| s(x, &["address"]).to_string())
            .unwrap_or_else(|| "<none>".to_string())
    };
    let info = |f: &str| {
        let v = s(obj, &["status", "nodeInfo", f]);
        if v.is_empty() { "<unknown>".to_string() } else { v.to_string() }
    };
    vec![
        json!(s(obj, &["metadata", "name"])),
        json!(status.join(",")),
        json!(roles),
        json!(created(obj, now)),
        json!(s(obj, &["status", "nodeInfo", "kubeletVersion"])),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};

    #[test]
    fn node_row() {
        let node = json!({"metadata": {"name": "k8s-control-plane", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}], "nodeInfo": {"kubeletVersion": "v1.33.0"},
                       "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}});
        let cells = Node.cells(&node, now());
        assert_eq!(cells[1], json!("NotReady,SchedulingDisabled"));
        assert_eq!(cells[2], json!("control-plane"));
        assert_eq!(cells[4], json!("v1.33.0"));
        assert_eq!(cells[5], json!("172.18.0.2"));
        assert_eq!(cells[6], json!("<none>"));
        assert_eq!(cells[7], json!("<unknown>"));
    }

    #[test]
    fn headers_are_upstreams() {
        assert_eq!(headers(&Node, false), "NAME STATUS ROLES AGE VERSION");
    }

    #[test]
    fn unschedulable_defaults_to_false() {
        assert_eq!(Node.field_value(&json!({"spec": {}}), "spec.unschedulable").as_deref(), Some("false"));
        let cordoned = json!({"spec": {"unschedulable": true}});
        assert_eq!(Node.field_value(&cordoned, "spec.unschedulable").as_deref(), Some("true"));
    }
}
