//! `storage.k8s.io/v1 CSINode`: validation of the drivers registered on a node (names, node
//! IDs, counts; a registered driver's entry may not change) and `kubectl get csinodes` columns.

use std::collections::BTreeSet;

use apimachinery::validation::{FieldError, FieldErrors, Path, is_dns1123_subdomain, is_qualified_name};
use jiff::Timestamp;
use k8s_openapi::api::storage::v1::CSINode as Type;
use serde_json::{Value, json};

use super::{Kind, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct CSINode;

const MAX_NODE_ID_LENGTH: usize = 192;
const MAX_DRIVER_NAME_LENGTH: usize = 63;

/// Upstream `ValidateCSIDriverName`, for a driver named in another object.
pub fn validate_csi_driver_name(name: &str, path: &Path, errs: &mut FieldErrors) {
    if name.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    if name.len() > MAX_DRIVER_NAME_LENGTH {
        errs.push(FieldError::too_long(path, MAX_DRIVER_NAME_LENGTH));
    }
    for m in is_dns1123_subdomain(&name.to_lowercase()) {
        errs.push(FieldError::invalid(path, name, m));
    }
}

fn validate_csi_node(node: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, driver) in node.spec.drivers.iter().enumerate() {
        let path = Path::new("spec").child("drivers").index(i);
        validate_csi_driver_name(&driver.name, &path.child("name"), &mut errs);
        if driver.node_id.is_empty() {
            errs.push(FieldError::required(&path.child("nodeID"), ""));
        }
        if driver.node_id.len() > MAX_NODE_ID_LENGTH {
            errs.push(FieldError::invalid(
                &path.child("nodeID"),
                driver.node_id.as_str(),
                format!("must be {MAX_NODE_ID_LENGTH} characters or less"),
            ));
        }
        if let Some(count) = driver.allocatable.as_ref().and_then(|a| a.count)
            && count < 0
        {
            errs.push(FieldError::invalid(
                &path.child("allocatable").child("count"),
                count,
                "must be greater than or equal to 0",
            ));
        }
        if !names.insert(driver.name.as_str()) {
            errs.push(FieldError::duplicate(&path.child("name"), driver.name.as_str()));
        }
        let mut keys = BTreeSet::new();
        for key in driver.topology_keys.iter().flatten() {
            if key.is_empty() {
                errs.push(FieldError::required(&path, ""));
            }
            if !keys.insert(key.as_str()) {
                errs.push(FieldError::duplicate(&path, key.as_str()));
            }
            for m in is_qualified_name(key) {
                errs.push(FieldError::invalid(&path, key.as_str(), m));
            }
        }
    }
    errs
}

impl Kind for CSINode {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_csi_node(&typed(obj)?))
    }

    /// A driver's entry stays as registered, but for its allocatable count.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old): (Type, Type) = (typed(new)?, typed(old)?);
        let mut errs = validate_csi_node(&new);
        for old_driver in &old.spec.drivers {
            for new_driver in new.spec.drivers.iter().filter(|d| d.name == old_driver.name) {
                let (mut a, mut b) = (new_driver.clone(), old_driver.clone());
                a.allocatable = None;
                b.allocatable = None;
                errs.extend(super::immutable(&a, &b, &Path::new("spec").child("drivers")));
            }
        }
        Ok(errs)
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col(
                "Drivers",
                "integer",
                0,
                "Drivers indicates the number of CSI drivers registered on the node",
            ),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let drivers = obj["spec"]["drivers"].as_array().map_or(0, Vec::len);
        vec![json!(s(obj, &["metadata", "name"])), json!(drivers), json!(created(obj, now))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    #[test]
    fn row_and_validation() {
        assert_eq!(headers(&CSINode, false), "NAME DRIVERS AGE");
        let node = json!({"metadata": {"name": "n1"}, "spec": {"drivers": [
            {"name": "csi.example.com", "nodeID": "n1"}, {"name": "csi.example.com", "nodeID": ""}]}});
        assert_eq!(CSINode.cells(&node, now())[1], json!(2));
        assert_eq!(
            aggregate_message(&CSINode.validate(&node).unwrap()),
            "[spec.drivers[1].nodeID: Required value, spec.drivers[1].name: Duplicate value: \"csi.example.com\"]"
        );
    }
}
