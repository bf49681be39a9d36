//! `v1 ServiceAccount`: `kubectl get sa` columns (upstream validates nothing beyond the
//! metadata).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ServiceAccount as Type;
use serde_json::{Value, json};

use super::{Kind, no_validation, typed_as};
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct ServiceAccount;

impl Kind for ServiceAccount {
    typed_as!(Type);

    no_validation!();

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Secrets", "string", 0, "The secrets pods running as this service account may use."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let secrets = obj["secrets"].as_array().map_or(0, Vec::len);
        vec![json!(s(obj, &["metadata", "name"])), json!(secrets), json!(created(obj, now))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};

    #[test]
    fn row() {
        assert_eq!(headers(&ServiceAccount, false), "NAME SECRETS AGE");
        let sa = json!({"metadata": {"name": "default", "creationTimestamp": "2026-01-01T00:00:00Z"}, "secrets": [{"name": "t"}]});
        assert_eq!(ServiceAccount.cells(&sa, now()), vec![json!("default"), json!(1), json!("60m")]);
    }
}
