//! `v1 ComponentStatus` (deprecated upstream since 1.19, still served): read-only, one object
//! per control-plane component, kept by the server itself (`kubectl get componentstatuses`).
//! Every component runs in the server's process, so each is as healthy as the server answering.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ComponentStatus as Type;
use serde_json::{Value, json};

use super::{Kind, no_validation, typed_as};
use crate::printers::{ColumnDefinition, NAME, col, s};

#[derive(Debug)]
pub struct ComponentStatus;

/// The components upstream reports, and their healthy message.
pub const COMPONENTS: [(&str, &str); 3] =
    [("scheduler", "ok"), ("controller-manager", "ok"), ("etcd-0", "{\"health\":\"true\",\"reason\":\"\"}")];

/// A component's object, healthy.
pub fn healthy(name: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ComponentStatus", "metadata": {"name": name},
           "conditions": [{"type": "Healthy", "status": "True", "message": message}]})
}

impl Kind for ComponentStatus {
    typed_as!(Type);

    no_validation!();

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Status", "string", 0, "Whether the component is healthy."),
            col("Message", "string", 0, "Message about the condition for a component."),
            col("Error", "string", 0, "Condition error code for a component."),
        ]
    }

    fn cells(&self, obj: &Value, _now: Timestamp) -> Vec<Value> {
        let healthy = obj["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Healthy"));
        let status = match healthy {
            Some(c) if c["status"] == "True" => "Healthy",
            Some(_) => "Unhealthy",
            None => "Unknown",
        };
        let field = |f: &str| healthy.and_then(|c| c[f].as_str()).unwrap_or_default().to_string();
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(status),
            json!(field("message")),
            json!(field("error")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};

    #[test]
    fn rows_as_kubectl_prints_them() {
        assert_eq!(headers(&ComponentStatus, false), "NAME STATUS MESSAGE ERROR");
        let cells = ComponentStatus.cells(&healthy("scheduler", "ok"), now());
        assert_eq!(cells, [json!("scheduler"), json!("Healthy"), json!("ok"), json!("")]);
    }
}
