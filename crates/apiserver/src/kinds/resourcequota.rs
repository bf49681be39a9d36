//! `v1 ResourceQuota`: validation of the hard limits (standard resource names, quantities
//! that are not negative), status cleared on create, and `kubectl get quota` columns.

use apimachinery::quantity::Quantity;
use apimachinery::validation::{FieldError, FieldErrors, Path, is_qualified_name};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ResourceQuota as Type;
use serde_json::{Value, json};

use super::{Kind, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct ResourceQuota;

/// The resources a quota may name without a domain prefix.
const STANDARD: [&str; 19] = [
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "cpu",
    "memory",
    "ephemeral-storage",
];
const SCOPES: [&str; 6] = [
    "BestEffort",
    "CrossNamespacePodAffinity",
    "NotBestEffort",
    "NotTerminating",
    "PriorityClass",
    "Terminating",
];

fn is_standard(name: &str) -> bool {
    STANDARD.contains(&name) || name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// Resources counted in whole units.
fn is_integer_resource(name: &str) -> bool {
    !matches!(
        name,
        "cpu"
            | "memory"
            | "ephemeral-storage"
            | "requests.cpu"
            | "requests.memory"
            | "requests.storage"
            | "requests.ephemeral-storage"
            | "limits.cpu"
            | "limits.memory"
            | "limits.ephemeral-storage"
    ) && !name.contains("hugepages-")
}

/// Upstream's checks of one resource list (`hard` or `used`).
fn validate_resource_list(list: &Value, path: &Path, errs: &mut FieldErrors) {
    for (name, quantity) in list.as_object().into_iter().flatten() {
        let p = path.key(name);
        for m in is_qualified_name(name) {
            errs.push(FieldError::invalid(&p, name.as_str(), m));
        }
        if !name.contains('/') && !is_standard(name) {
            errs.push(FieldError::invalid(&p, name.as_str(), "must be a standard resource for quota"));
        }
        let text = quantity.as_str().unwrap_or_default();
        match Quantity::parse(text) {
            Err(m) => errs.push(FieldError::invalid(&p, text, m.to_string())),
            Ok(q) if q.is_negative() => {
                errs.push(FieldError::invalid(&p, text, "must be greater than or equal to 0"))
            }
            Ok(q) if is_integer_resource(name) && q.millis() % 1000 != 0 => {
                errs.push(FieldError::invalid(&p, text, "must be an integer"))
            }
            Ok(_) => {}
        }
    }
}

fn validate_quota(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    validate_resource_list(&obj["spec"]["hard"], &Path::new("spec").child("hard"), &mut errs);
    for (i, scope) in super::strings(&obj["spec"]["scopes"]).into_iter().enumerate() {
        if !SCOPES.contains(&scope) {
            errs.push(FieldError::not_supported(&Path::new("spec").child("scopes").index(i), scope, &SCOPES));
        }
    }
    errs
}

/// `resource: used/hard` for each resource of the status, sorted, in the Request or (for
/// `limits.*`) the Limit column.
fn usage(obj: &Value) -> (String, String) {
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    let mut hard: Vec<(&String, &Value)> = obj["status"]["hard"].as_object().into_iter().flatten().collect();
    hard.sort_by(|a, b| a.0.cmp(b.0));
    for (name, hard) in hard {
        let used = obj["status"]["used"][name].as_str().unwrap_or("0");
        let entry = format!("{name}: {used}/{}", hard.as_str().unwrap_or("0"));
        if name.split('.').count() > 1 && name.starts_with("limits.") {
            limit.push(entry);
        } else {
            request.push(entry);
        }
    }
    (request.join(", "), limit.join(", "))
}

impl Kind for ResourceQuota {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        typed::<Type>(obj)?;
        Ok(validate_quota(obj))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_quota(new))
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = Vec::new();
        let status = Path::new("status");
        validate_resource_list(&new["status"]["hard"], &status.child("hard"), &mut errs);
        validate_resource_list(&new["status"]["used"], &status.child("used"), &mut errs);
        Ok(errs)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({});
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col(
                "Request",
                "string",
                0,
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            col(
                "Limit",
                "string",
                0,
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let (request, limit) = usage(obj);
        vec![json!(s(obj, &["metadata", "name"])), json!(request), json!(limit), json!(created(obj, now))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    #[test]
    fn row() {
        assert_eq!(headers(&ResourceQuota, false), "NAME REQUEST LIMIT AGE");
        let quota = json!({"metadata": {"name": "q"}, "status": {
            "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "1Gi"},
            "used": {"pods": "2", "limits.memory": "512Mi"}}});
        assert_eq!(
            ResourceQuota.cells(&quota, now())[1..3],
            [json!("pods: 2/10, requests.cpu: 0/1"), json!("limits.memory: 512Mi/1Gi")]
        );
    }

    #[test]
    fn hard_limits_are_validated() {
        let quota = json!({"metadata": {"name": "q"}, "spec": {"hard": {"cpu": "-1", "widgets": "1", "pods": "1.5"}}});
        assert_eq!(
            aggregate_message(&ResourceQuota.validate(&quota).unwrap()),
            "[spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0, spec.hard[pods]: Invalid value: \"1.5\": must be an integer, spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource for quota]"
        );
    }
}
