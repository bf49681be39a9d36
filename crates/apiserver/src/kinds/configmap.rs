//! `v1 ConfigMap`: validation of its keys and size, and `kubectl get cm` columns.

use apimachinery::validation::FieldErrors;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct ConfigMap;

impl Kind for ConfigMap {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_configmap(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_configmap_update(&typed(new)?, &typed(old)?))
    }

    /// ConfigMaps have no status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![NAME, col("Data", "string", 0, "Number of keys in the config map."), AGE]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let count = |f: &str| obj.get(f).and_then(Value::as_object).map_or(0, |m| m.len());
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(count("data") + count("binaryData")),
            json!(created(obj, now)),
        ]
    }
}
