//! `storage.k8s.io/v1 VolumeAttachment`: validation (an attacher, exactly one source, a node),
//! a spec that may not change, status cleared on create, and `kubectl get volumeattachments`
//! columns.

use apimachinery::validation::{FieldError, FieldErrors, Path, is_dns1123_subdomain};
use jiff::Timestamp;
use k8s_openapi::api::storage::v1::VolumeAttachment as Type;
use serde_json::{Value, json};

use super::csinode::validate_csi_driver_name;
use super::{Kind, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct VolumeAttachment;

const EXACTLY_ONE: &str = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";

fn validate_attachment(va: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    let spec = &va.spec;
    if spec.attacher.is_empty() {
        errs.push(FieldError::required(&path.child("attacher"), ""));
    }
    let source = path.child("source");
    match (&spec.source.inline_volume_spec, &spec.source.persistent_volume_name) {
        (None, None) => errs.push(FieldError::required(&source, EXACTLY_ONE)),
        (Some(_), Some(_)) => errs.push(FieldError::forbidden(&source, EXACTLY_ONE)),
        (None, Some(pv)) if pv.is_empty() => errs.push(FieldError::required(
            &source.child("persistentVolumeName"),
            "must specify non empty persistentVolumeName",
        )),
        _ => {}
    }
    for m in is_dns1123_subdomain(&spec.node_name) {
        errs.push(FieldError::invalid(&path.child("nodeName"), spec.node_name.as_str(), m));
    }
    if !spec.attacher.is_empty() {
        validate_csi_driver_name(&spec.attacher, &path.child("attacher"), &mut errs);
    }
    if let Some(pv) = spec.source.persistent_volume_name.as_deref().filter(|pv| !pv.is_empty()) {
        for m in is_dns1123_subdomain(pv) {
            errs.push(FieldError::invalid(&source.child("persistentVolumeName"), pv, m));
        }
    }
    errs
}

impl Kind for VolumeAttachment {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_attachment(&typed(obj)?))
    }

    /// The spec is read-only.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = validate_attachment(&typed(new)?);
        if new["spec"] != old["spec"] {
            errs.push(FieldError::invalid(&Path::new("spec"), new["spec"].clone(), "field is immutable"));
        }
        Ok(errs)
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = Vec::new();
        for field in ["attachError", "detachError"] {
            let code = &new["status"][field]["errorCode"];
            if let Some(c) = code.as_i64().filter(|c| *c < 0) {
                errs.push(FieldError::invalid(
                    &Path::new("status").child(field).child("errorCode"),
                    c,
                    "must be between 0 and 2147483647, inclusive",
                ));
            }
        }
        Ok(errs)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"attached": false});
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        let mut attacher = col("Attacher", "string", 0, "The CSI driver that attaches the volume.");
        attacher.format = "name";
        vec![
            NAME,
            attacher,
            col("PV", "string", 0, "The persistent volume being attached."),
            col("Node", "string", 0, "The node the volume is attached to."),
            col("Attached", "boolean", 0, "Whether the volume is attached."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["spec", "attacher"])),
            json!(s(obj, &["spec", "source", "persistentVolumeName"])),
            json!(s(obj, &["spec", "nodeName"])),
            json!(obj["status"]["attached"].as_bool().unwrap_or(false)),
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
    fn row_and_validation() {
        assert_eq!(headers(&VolumeAttachment, false), "NAME ATTACHER PV NODE ATTACHED AGE");
        assert_eq!(VolumeAttachment.columns()[1].format, "name");
        let va = json!({"metadata": {"name": "va"}, "spec": {"attacher": "csi.example.com", "nodeName": "n1",
            "source": {"persistentVolumeName": "pv1"}}, "status": {"attached": true}});
        assert_eq!(
            VolumeAttachment.cells(&va, now())[1..5],
            [json!("csi.example.com"), json!("pv1"), json!("n1"), json!(true)]
        );
        assert!(VolumeAttachment.validate(&va).unwrap().is_empty());
        let mut moved = va.clone();
        moved["spec"]["nodeName"] = json!("n2");
        assert!(
            aggregate_message(&VolumeAttachment.validate_update(&moved, &va).unwrap())
                .ends_with(": field is immutable")
        );
        let sourceless =
            json!({"metadata": {"name": "va"}, "spec": {"attacher": "csi.example.com", "nodeName": "n1"}});
        assert_eq!(
            aggregate_message(&VolumeAttachment.validate(&sourceless).unwrap()),
            format!("spec.source: Required value: {EXACTLY_ONE}")
        );
    }
}
