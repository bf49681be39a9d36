//! `v1 PersistentVolumeClaim`: defaults (volume mode `Filesystem`, phase `Pending`),
//! validation of access modes and the storage request, a spec that stays as created (a bound
//! claim may grow), and `kubectl get pvc` columns.

use apimachinery::quantity::Quantity;
use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PersistentVolumeClaim as Type;
use serde_json::{Value, json};

use super::persistentvolume::{
    VOLUME_MODES, access_modes, or_unset, phase, storage_class, validate_access_modes, validate_class_name,
};
use super::{Kind, defaulted, strings, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct PersistentVolumeClaim;

const IMMUTABLE_SPEC: &str = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";

pub fn set_defaults_claim(pvc: &mut Type) {
    let spec = pvc.spec.get_or_insert_with(Default::default);
    spec.volume_mode.get_or_insert_with(|| "Filesystem".to_string());
    let status = pvc.status.get_or_insert_with(Default::default);
    status.phase.get_or_insert_with(|| "Pending".to_string());
}

/// Upstream `ValidatePersistentVolumeClaimSpec`.
fn validate_claim(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let modes: Vec<String> = strings(&spec["accessModes"]).into_iter().map(str::to_string).collect();
    if modes.is_empty() {
        errs.push(FieldError::required(&path.child("accessModes"), "at least 1 access mode is required"));
    }
    if let Ok(selector) = serde_json::from_value(spec["selector"].clone()) {
        errs.extend(apimachinery::validation::validate_label_selector(&selector, &path.child("selector")));
    }
    validate_access_modes(&modes, &path.child("accessModes"), &mut errs);
    let storage_path = path.child("resources").key("storage");
    match spec["resources"]["requests"]["storage"].as_str() {
        None => errs.push(FieldError::required(&storage_path, "")),
        Some(text) => match Quantity::parse(text) {
            Err(m) => errs.push(FieldError::invalid(&storage_path, text, m.to_string())),
            Ok(q) if q.millis() <= 0 => {
                errs.push(FieldError::invalid(&storage_path, text, "must be greater than zero"))
            }
            Ok(_) => {}
        },
    }
    validate_class_name(spec["storageClassName"].as_str(), &path.child("storageClassName"), &mut errs);
    if let Some(mode) = spec["volumeMode"].as_str()
        && !VOLUME_MODES.contains(&mode)
    {
        errs.push(FieldError::not_supported(&path.child("volumeMode"), mode, &VOLUME_MODES));
    }
    errs
}

fn storage_request(spec: &Value) -> Option<Quantity> {
    spec["resources"]["requests"]["storage"].as_str().and_then(|q| Quantity::parse(q).ok())
}

/// Upstream `ValidatePersistentVolumeClaimUpdate`: only a bound claim's storage request (never
/// shrinking), its volume attributes class, and a first volume name may change.
fn validate_claim_update(new: &Value, old: &Value) -> FieldErrors {
    let mut errs = validate_claim(new);
    let (mut new_spec, mut old_spec) = (new["spec"].clone(), old["spec"].clone());
    // A claim without a volume may be bound to one; a volume attributes class may change.
    let binding = s(old, &["spec", "volumeName"]).is_empty();
    for spec in [&mut new_spec, &mut old_spec] {
        if let Some(o) = spec.as_object_mut() {
            o.remove("volumeAttributesClassName");
            if binding {
                o.remove("volumeName");
            }
        }
    }
    if s(new, &["status", "phase"]) == "Bound" {
        for spec in [&mut new_spec, &mut old_spec] {
            if let Some(requests) = spec["resources"]["requests"].as_object_mut() {
                requests.remove("storage");
            }
        }
    }
    if new_spec != old_spec {
        errs.push(FieldError::forbidden(&Path::new("spec"), IMMUTABLE_SPEC));
    }
    if let (Some(new_size), Some(old_size)) = (storage_request(&new["spec"]), storage_request(&old["spec"]))
        && new_size < old_size
    {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("resources").child("requests").child("storage"),
            "field can not be less than previous value",
        ));
    }
    errs
}

impl Kind for PersistentVolumeClaim {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        typed::<Type>(obj)?;
        Ok(validate_claim(obj))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_claim_update(new, old))
    }

    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_claim)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Pending"});
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Status", "string", 0, "The phase of the claim."),
            col("Volume", "string", 0, "The volume bound to the claim."),
            col("Capacity", "string", 0, "The capacity of the bound volume."),
            col("Access Modes", "string", 0, "The ways the bound volume can be mounted."),
            col("StorageClass", "string", 0, "StorageClass of the pvc"),
            col("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pvc"),
            AGE,
            col("VolumeMode", "string", 1, "Whether the claim wants a filesystem or a raw block device."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let spec = &obj["spec"];
        let volume = s(spec, &["volumeName"]);
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            let capacity = obj["status"]["capacity"]["storage"].as_str().unwrap_or("0").to_string();
            (capacity, access_modes(&obj["status"]["accessModes"]))
        };
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(phase(obj)),
            json!(volume),
            json!(capacity),
            json!(modes),
            json!(storage_class(obj)),
            json!(or_unset(&spec["volumeAttributesClassName"])),
            json!(created(obj, now)),
            json!(or_unset(&spec["volumeMode"])),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn claim(v: Value) -> Value {
        let mut v = PersistentVolumeClaim.canonical(&v).unwrap();
        PersistentVolumeClaim.set_defaults(&mut v).unwrap();
        v
    }

    #[test]
    fn row() {
        assert_eq!(
            headers(&PersistentVolumeClaim, true),
            "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE VOLUMEMODE"
        );
        let bound = json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv1", "storageClassName": "fast", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"]}});
        assert_eq!(
            PersistentVolumeClaim.cells(&bound, now())[1..7],
            [json!("Bound"), json!("pv1"), json!("2Gi"), json!("RWO"), json!("fast"), json!("<unset>")]
        );
        let pending = json!({"metadata": {"name": "data"}, "status": {"phase": "Pending", "capacity": {"storage": "2Gi"}}});
        assert_eq!(PersistentVolumeClaim.cells(&pending, now())[3], json!(""));
    }

    #[test]
    fn defaults_and_validation() {
        let pvc = claim(json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
        assert_eq!(
            aggregate_message(&PersistentVolumeClaim.validate(&pvc).unwrap()),
            "spec.resources[storage]: Required value"
        );
        let old = claim(
            json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        );
        let mut grown = old.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert_eq!(
            aggregate_message(&PersistentVolumeClaim.validate_update(&grown, &old).unwrap()),
            format!("spec: Forbidden: {IMMUTABLE_SPEC}")
        );
        grown["status"]["phase"] = json!("Bound");
        assert!(PersistentVolumeClaim.validate_update(&grown, &old).unwrap().is_empty());
    }
}
