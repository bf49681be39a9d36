//! `storage.k8s.io/v1 StorageClass`: defaults (reclaim policy `Delete`, binding mode
//! `Immediate`), validation (a provisioner, known policies and modes), what may never change,
//! and `kubectl get sc` columns with the default class marked.

use apimachinery::validation::{FieldError, FieldErrors, Path, is_qualified_name};
use jiff::Timestamp;
use k8s_openapi::api::storage::v1::StorageClass as Type;
use serde_json::{Value, json};

use super::{Kind, defaulted, immutable, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct StorageClass;

const RECLAIM_POLICIES: [&str; 2] = ["Delete", "Retain"];
const BINDING_MODES: [&str; 2] = ["Immediate", "WaitForFirstConsumer"];
const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;
/// The annotations that mark the cluster's default class.
pub const DEFAULT_CLASS: [&str; 2] =
    ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"];

pub fn set_defaults_storage_class(sc: &mut Type) {
    sc.reclaim_policy.get_or_insert_with(|| "Delete".to_string());
    sc.volume_binding_mode.get_or_insert_with(|| "Immediate".to_string());
}

/// Upstream `ValidateStorageClass`.
fn validate_storage_class(sc: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let provisioner = Path::new("provisioner");
    if sc.provisioner.is_empty() {
        errs.push(FieldError::required(&provisioner, ""));
    } else {
        let lower = sc.provisioner.to_lowercase();
        for m in is_qualified_name(&lower) {
            errs.push(FieldError::invalid(&provisioner, lower.as_str(), m));
        }
    }
    let params = sc.parameters.clone().unwrap_or_default();
    let parameters = Path::new("parameters");
    if params.len() > MAX_PARAMETERS {
        errs.push(FieldError::too_long(&parameters, MAX_PARAMETERS));
    } else {
        for k in params.keys().filter(|k| k.is_empty()) {
            errs.push(FieldError::invalid(&parameters, k.as_str(), "field can not be empty."));
        }
        if params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > MAX_PARAMETERS_SIZE {
            errs.push(FieldError::too_long(&parameters, MAX_PARAMETERS_SIZE));
        }
    }
    if let Some(policy) = sc.reclaim_policy.as_deref().filter(|p| !p.is_empty())
        && !RECLAIM_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(&Path::new("reclaimPolicy"), policy, &RECLAIM_POLICIES));
    }
    match sc.volume_binding_mode.as_deref() {
        None => errs.push(FieldError::required(&Path::new("volumeBindingMode"), "")),
        Some(mode) if !BINDING_MODES.contains(&mode) => {
            errs.push(FieldError::not_supported(&Path::new("volumeBindingMode"), mode, &BINDING_MODES))
        }
        Some(_) => {}
    }
    errs
}

/// Upstream `ValidateStorageClassUpdate`: provisioner, parameters, reclaim policy and binding
/// mode are fixed.
fn validate_storage_class_update(new: &Type, old: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    if new.parameters != old.parameters {
        errs.push(FieldError::forbidden(&Path::new("parameters"), "updates to parameters are forbidden."));
    }
    if new.provisioner != old.provisioner {
        errs.push(FieldError::forbidden(&Path::new("provisioner"), "updates to provisioner are forbidden."));
    }
    if new.reclaim_policy != old.reclaim_policy {
        errs.push(FieldError::forbidden(
            &Path::new("reclaimPolicy"),
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    errs.extend(immutable(
        &new.volume_binding_mode,
        &old.volume_binding_mode,
        &Path::new("volumeBindingMode"),
    ));
    errs
}

/// Whether the class is the cluster's default.
pub fn is_default(obj: &Value) -> bool {
    DEFAULT_CLASS.iter().any(|a| obj["metadata"]["annotations"][a] == "true")
}

impl Kind for StorageClass {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_storage_class(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_storage_class_update(&typed(new)?, &typed(old)?))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_storage_class)
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Provisioner", "string", 0, "The volume plugin that provisions volumes of the class."),
            col("ReclaimPolicy", "string", 0, "What happens to provisioned volumes when released."),
            col("VolumeBindingMode", "string", 0, "When volumes are provisioned and bound."),
            col("AllowVolumeExpansion", "string", 0, "Whether claims of the class may grow."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let name = s(obj, &["metadata", "name"]);
        let name = if is_default(obj) { format!("{name} (default)") } else { name.to_string() };
        vec![
            json!(name),
            json!(s(obj, &["provisioner"])),
            json!(obj["reclaimPolicy"].as_str().unwrap_or("Delete")),
            json!(obj["volumeBindingMode"].as_str().unwrap_or("Immediate")),
            json!(obj["allowVolumeExpansion"].as_bool().unwrap_or(false)),
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
        let mut sc = StorageClass.canonical(&json!({"metadata": {"name": "standard",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path"})).unwrap();
        StorageClass.set_defaults(&mut sc).unwrap();
        assert_eq!(
            (sc["reclaimPolicy"].as_str(), sc["volumeBindingMode"].as_str()),
            (Some("Delete"), Some("Immediate"))
        );
        assert!(StorageClass.validate(&sc).unwrap().is_empty());
        assert_eq!(
            headers(&StorageClass, false),
            "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE"
        );
        assert_eq!(
            StorageClass.cells(&sc, now())[..5],
            [
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("Immediate"),
                json!(false)
            ]
        );
        let mut changed = sc.clone();
        changed["reclaimPolicy"] = json!("Retain");
        assert_eq!(
            aggregate_message(&StorageClass.validate_update(&changed, &sc).unwrap()),
            "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden."
        );
        let bad = json!({"metadata": {"name": "x"}, "provisioner": "", "volumeBindingMode": "Later"});
        assert_eq!(
            aggregate_message(&StorageClass.validate(&bad).unwrap()),
            "[provisioner: Required value, volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"]"
        );
    }
}
