//! `storage.k8s.io/v1 CSIDriver`: upstream's defaults (attach required, no pod info on mount,
//! no storage capacity, `ReadWriteOnceWithFSType`, persistent volumes, no republish, no
//! SELinux mount), validation, the fields that may not change, and `kubectl get csidrivers`
//! columns.

use std::collections::BTreeSet;

use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::storage::v1::CSIDriver as Type;
use serde_json::{Value, json};

use super::{Kind, defaulted, immutable, strings, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct CSIDriver;

const FS_GROUP_POLICIES: [&str; 3] = ["File", "None", "ReadWriteOnceWithFSType"];

pub fn set_defaults_csi_driver(driver: &mut Type) {
    let spec = &mut driver.spec;
    spec.attach_required.get_or_insert(true);
    spec.pod_info_on_mount.get_or_insert(false);
    spec.storage_capacity.get_or_insert(false);
    spec.fs_group_policy.get_or_insert_with(|| "ReadWriteOnceWithFSType".to_string());
    if spec.volume_lifecycle_modes.as_ref().is_none_or(Vec::is_empty) {
        spec.volume_lifecycle_modes = Some(vec!["Persistent".to_string()]);
    }
    spec.requires_republish.get_or_insert(false);
    spec.se_linux_mount.get_or_insert(false);
}

/// Upstream `validateCSIDriverSpec`.
fn validate_csi_driver(driver: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    let spec = &driver.spec;
    for (field, set) in [
        ("attachedRequired", spec.attach_required.is_some()),
        ("podInfoOnMount", spec.pod_info_on_mount.is_some()),
        ("storageCapacity", spec.storage_capacity.is_some()),
    ] {
        if !set {
            errs.push(FieldError::required(&path.child(field), ""));
        }
    }
    if let Some(policy) = spec.fs_group_policy.as_deref()
        && !FS_GROUP_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(&path.child("fsGroupPolicy"), policy, &FS_GROUP_POLICIES));
    }
    let mut audiences = BTreeSet::new();
    for (i, request) in spec.token_requests.iter().flatten().enumerate() {
        let p = path.child("tokenRequests").index(i);
        if !audiences.insert(request.audience.as_str()) {
            errs.push(FieldError::duplicate(&p.child("audience"), request.audience.as_str()));
            continue;
        }
        match request.expiration_seconds {
            Some(e) if e < 600 => errs.push(FieldError::invalid(
                &p.child("expirationSeconds"),
                e,
                "may not specify a duration less than 10 minutes",
            )),
            Some(e) if e > 1 << 32 => errs.push(FieldError::invalid(
                &p.child("expirationSeconds"),
                e,
                "may not specify a duration larger than 2^32 seconds",
            )),
            _ => {}
        }
    }
    for mode in spec.volume_lifecycle_modes.iter().flatten() {
        if !["Persistent", "Ephemeral"].contains(&mode.as_str()) {
            errs.push(FieldError::not_supported(
                &path.child("volumeLifecycleModes"),
                mode.as_str(),
                &["Persistent", "Ephemeral"],
            ));
        }
    }
    if spec.se_linux_mount.is_none() {
        errs.push(FieldError::required(&path.child("seLinuxMount"), ""));
    }
    if let Some(period) = spec.node_allocatable_update_period_seconds
        && period < 10
    {
        errs.push(FieldError::invalid(
            &path.child("nodeAllocatableUpdatePeriodSeconds"),
            period,
            "must be greater than or equal to 10 seconds",
        ));
    }
    errs
}

impl Kind for CSIDriver {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_csi_driver(&typed(obj)?))
    }

    /// Whether attaching is required, and the lifecycle modes, may not change.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old): (Type, Type) = (typed(new)?, typed(old)?);
        let mut errs = validate_csi_driver(&new);
        let spec = Path::new("spec");
        errs.extend(immutable(
            &new.spec.attach_required,
            &old.spec.attach_required,
            &spec.child("attachedRequired"),
        ));
        errs.extend(immutable(
            &new.spec.volume_lifecycle_modes,
            &old.spec.volume_lifecycle_modes,
            &spec.child("volumeLifecycleModes"),
        ));
        Ok(errs)
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_csi_driver)
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("AttachRequired", "boolean", 0, "Whether volumes of the driver need attaching."),
            col("PodInfoOnMount", "boolean", 0, "Whether the driver is told about the pod when mounting."),
            col(
                "StorageCapacity",
                "boolean",
                0,
                "Whether the scheduler considers the driver's storage capacity.",
            ),
            col(
                "TokenRequests",
                "string",
                0,
                "The audiences of the service account tokens the driver receives.",
            ),
            col("RequiresRepublish", "boolean", 0, "Whether volumes are republished periodically."),
            col("Modes", "string", 0, "The volume lifecycle modes the driver supports."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let spec = &obj["spec"];
        let flag = |field: &str, default: bool| json!(spec[field].as_bool().unwrap_or(default));
        let tokens = match spec["tokenRequests"].as_array() {
            Some(requests) => requests.iter().map(|r| s(r, &["audience"])).collect::<Vec<_>>().join(","),
            None => "<unset>".to_string(),
        };
        let modes = strings(&spec["volumeLifecycleModes"]).join(",");
        vec![
            json!(s(obj, &["metadata", "name"])),
            flag("attachRequired", true),
            flag("podInfoOnMount", false),
            flag("storageCapacity", false),
            json!(tokens),
            flag("requiresRepublish", false),
            json!(if modes.is_empty() { "<none>".to_string() } else { modes }),
            json!(created(obj, now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    #[test]
    fn defaults_row_and_validation() {
        let mut driver =
            CSIDriver.canonical(&json!({"metadata": {"name": "csi.example.com"}, "spec": {}})).unwrap();
        CSIDriver.set_defaults(&mut driver).unwrap();
        assert_eq!(
            driver["spec"],
            json!({"attachRequired": true, "fsGroupPolicy": "ReadWriteOnceWithFSType", "podInfoOnMount": false,
                "requiresRepublish": false, "seLinuxMount": false, "storageCapacity": false, "volumeLifecycleModes": ["Persistent"]})
        );
        assert!(CSIDriver.validate(&driver).unwrap().is_empty());
        assert_eq!(
            headers(&CSIDriver, false),
            "NAME ATTACHREQUIRED PODINFOONMOUNT STORAGECAPACITY TOKENREQUESTS REQUIRESREPUBLISH MODES AGE"
        );
        assert_eq!(
            CSIDriver.cells(&driver, now())[1..7],
            [json!(true), json!(false), json!(false), json!("<unset>"), json!(false), json!("Persistent")]
        );
        let mut changed = driver.clone();
        changed["spec"]["attachRequired"] = json!(false);
        assert_eq!(
            aggregate_message(&CSIDriver.validate_update(&changed, &driver).unwrap()),
            "spec.attachedRequired: Invalid value: false: field is immutable"
        );
    }
}
