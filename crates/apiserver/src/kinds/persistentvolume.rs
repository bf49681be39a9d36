//! `v1 PersistentVolume`: defaults (reclaim policy `Retain`, volume mode `Filesystem`, phase
//! `Pending`), validation of capacity, access modes, the one volume source and its
//! immutability, and `kubectl get pv` columns.

use apimachinery::quantity::Quantity;
use apimachinery::validation::{FieldError, FieldErrors, Path, is_dns1123_subdomain};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PersistentVolume as Type;
use serde_json::{Value, json};

use super::{Kind, defaulted, strings, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct PersistentVolume;

pub const ACCESS_MODES: [&str; 4] = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
pub const VOLUME_MODES: [&str; 2] = ["Block", "Filesystem"];
const RECLAIM_POLICIES: [&str; 3] = ["Delete", "Recycle", "Retain"];
/// The annotation that named a volume's class before `storageClassName`.
pub const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The volume sources a PersistentVolume may carry one of.
const SOURCES: [&str; 21] = [
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
];
const VSPHERE: &str = "vsphereVolume";

pub fn set_defaults_persistent_volume(pv: &mut Type) {
    let spec = pv.spec.get_or_insert_with(Default::default);
    spec.persistent_volume_reclaim_policy.get_or_insert_with(|| "Retain".to_string());
    spec.volume_mode.get_or_insert_with(|| "Filesystem".to_string());
    let status = pv.status.get_or_insert_with(Default::default);
    status.phase.get_or_insert_with(|| "Pending".to_string());
}

/// Access modes as an error list: each must be known, and ReadWriteOncePod stands alone.
pub fn validate_access_modes(modes: &[String], path: &Path, errs: &mut FieldErrors) {
    for mode in modes {
        if !ACCESS_MODES.contains(&mode.as_str()) {
            errs.push(FieldError::not_supported(path, mode.as_str(), &ACCESS_MODES));
        }
    }
    if modes.len() > 1 && modes.iter().any(|m| m == "ReadWriteOncePod") {
        errs.push(FieldError::forbidden(path, "may not use ReadWriteOncePod with other access modes"));
    }
}

/// Upstream's class-name rule (a DNS subdomain) for `storageClassName`.
pub fn validate_class_name(name: Option<&str>, path: &Path, errs: &mut FieldErrors) {
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        for m in is_dns1123_subdomain(name) {
            errs.push(FieldError::invalid(path, name, m));
        }
    }
}

/// Upstream `ValidatePersistentVolumeSpec` for a stored volume.
fn validate_pv(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let modes: Vec<String> = strings(&spec["accessModes"]).into_iter().map(str::to_string).collect();
    if modes.is_empty() {
        errs.push(FieldError::required(&path.child("accessModes"), ""));
    }
    validate_access_modes(&modes, &path.child("accessModes"), &mut errs);
    let capacity = spec["capacity"].as_object();
    if capacity.is_none_or(|c| c.is_empty()) {
        errs.push(FieldError::required(&path.child("capacity"), ""));
    }
    if capacity.is_none_or(|c| !c.contains_key("storage") || c.len() > 1) {
        errs.push(FieldError::not_supported(&path.child("capacity"), spec["capacity"].clone(), &["storage"]));
    }
    for (name, q) in capacity.into_iter().flatten() {
        let p = path.child("capacity").key(name);
        let text = q.as_str().unwrap_or_default();
        match Quantity::parse(text) {
            Err(m) => errs.push(FieldError::invalid(&p, text, m.to_string())),
            Ok(q) if q.millis() <= 0 => errs.push(FieldError::invalid(&p, text, "must be greater than zero")),
            Ok(_) => {}
        }
    }
    validate_class_name(spec["storageClassName"].as_str(), &path.child("storageClassName"), &mut errs);
    if let Some(mode) = spec["volumeMode"].as_str()
        && !VOLUME_MODES.contains(&mode)
    {
        errs.push(FieldError::not_supported(&path.child("volumeMode"), mode, &VOLUME_MODES));
    }
    let policy = s(spec, &["persistentVolumeReclaimPolicy"]);
    if !policy.is_empty() && !RECLAIM_POLICIES.contains(&policy) {
        errs.push(FieldError::not_supported(
            &path.child("persistentVolumeReclaimPolicy"),
            policy,
            &RECLAIM_POLICIES,
        ));
    }
    let mut sources = 0;
    for source in SOURCES.iter().chain([&VSPHERE]) {
        if spec.get(*source).is_some_and(|v| !v.is_null()) {
            sources += 1;
            if sources > 1 {
                errs.push(FieldError::forbidden(
                    &path.child(source),
                    "may not specify more than 1 volume type",
                ));
            }
        }
    }
    if sources == 0 {
        errs.push(FieldError::required(&path, "must specify a volume type"));
    }
    let host_path = s(spec, &["hostPath", "path"]);
    if spec.get("hostPath").is_some()
        && host_path.trim_end_matches('/').is_empty()
        && !host_path.is_empty()
        && policy == "Recycle"
    {
        errs.push(FieldError::forbidden(
            &path.child("persistentVolumeReclaimPolicy"),
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    errs
}

/// The volume source of a spec: every source field there is.
fn source_of(spec: &Value) -> Vec<(&str, &Value)> {
    SOURCES.iter().chain([&VSPHERE]).filter_map(|f| spec.get(*f).map(|v| (*f, v))).collect()
}

/// Upstream `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order, each once.
pub fn access_modes(modes: &Value) -> String {
    let modes = strings(modes);
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The class of a volume or claim: the beta annotation first, then `storageClassName`.
pub fn storage_class(obj: &Value) -> String {
    obj["metadata"]["annotations"][BETA_STORAGE_CLASS]
        .as_str()
        .unwrap_or_else(|| s(obj, &["spec", "storageClassName"]))
        .to_string()
}

/// `Terminating` while being deleted, else the phase.
pub fn phase(obj: &Value) -> &str {
    if obj["metadata"].get("deletionTimestamp").is_some() {
        "Terminating"
    } else {
        s(obj, &["status", "phase"])
    }
}

/// A value or `<unset>`.
pub fn or_unset(v: &Value) -> &str {
    v.as_str().unwrap_or("<unset>")
}

impl Kind for PersistentVolume {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        typed::<Type>(obj)?;
        Ok(validate_pv(obj))
    }

    /// The volume source may not change.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = validate_pv(new);
        if source_of(&new["spec"]) != source_of(&old["spec"]) {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("persistentvolumesource"),
                "spec.persistentvolumesource is immutable after creation",
            ));
        }
        Ok(errs)
    }

    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_persistent_volume)
    }

    /// A new volume is `Pending` from its creation.
    fn prepare_for_create(&self, obj: &mut Value) {
        let now = obj["metadata"]["creationTimestamp"].clone();
        obj["status"] = json!({"phase": "Pending", "lastPhaseTransitionTime": now});
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Capacity", "string", 0, "The storage capacity of the volume."),
            col("Access Modes", "string", 0, "The ways the volume can be mounted."),
            col("Reclaim Policy", "string", 0, "What happens to the volume when its claim is released."),
            col("Status", "string", 0, "The phase of the volume."),
            col("Claim", "string", 0, "The claim bound to the volume."),
            col("StorageClass", "string", 0, "StorageClass of the pv"),
            col("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pv"),
            col("Reason", "string", 0, "Why the volume is in its phase."),
            AGE,
            col("VolumeMode", "string", 1, "Whether the volume is a filesystem or a raw block device."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let spec = &obj["spec"];
        let claim = match spec.get("claimRef") {
            Some(c) if c.is_object() => format!("{}/{}", s(c, &["namespace"]), s(c, &["name"])),
            _ => String::new(),
        };
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(spec["capacity"]["storage"].as_str().unwrap_or("0")),
            json!(access_modes(&spec["accessModes"])),
            json!(s(spec, &["persistentVolumeReclaimPolicy"])),
            json!(phase(obj)),
            json!(claim),
            json!(storage_class(obj)),
            json!(or_unset(&spec["volumeAttributesClassName"])),
            json!(s(obj, &["status", "reason"])),
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

    #[test]
    fn row() {
        assert_eq!(
            headers(&PersistentVolume, false),
            "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE"
        );
        let pv = json!({"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "fast"}, "status": {"phase": "Bound"}});
        let cells = PersistentVolume.cells(&pv, now());
        assert_eq!(
            cells[1..8],
            [
                json!("1Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data"),
                json!("fast"),
                json!("<unset>")
            ]
        );
    }

    #[test]
    fn defaults_and_validation() {
        let mut pv = PersistentVolume.canonical(&json!({"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}})).unwrap();
        PersistentVolume.set_defaults(&mut pv).unwrap();
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["status"]["phase"], "Pending");
        assert_eq!(
            aggregate_message(&PersistentVolume.validate(&pv).unwrap()),
            "spec: Required value: must specify a volume type"
        );
        pv["spec"]["hostPath"] = json!({"path": "/data"});
        assert!(PersistentVolume.validate(&pv).unwrap().is_empty());
        let mut moved = pv.clone();
        moved["spec"]["hostPath"]["path"] = json!("/other");
        assert_eq!(
            aggregate_message(&PersistentVolume.validate_update(&moved, &pv).unwrap()),
            "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"
        );
    }
}
