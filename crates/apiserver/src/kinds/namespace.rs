//! `v1 Namespace`: defaults, validation, the `Active` phase on create, `Terminating` on
//! delete (its contents go first), and the namespaces every cluster relies on, which may not
//! be deleted.

use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::FieldErrors;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Deletion, Kind, canonical, defaulted, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct Namespace;

impl Kind for Namespace {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_namespace(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_namespace(&typed(new)?))
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_namespace(&typed(new)?))
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, apimachinery::core::set_defaults_namespace)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Active"});
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![NAME, col("Status", "string", 0, "The phase of the namespace."), AGE]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["status", "phase"])),
            json!(created(obj, now)),
        ]
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::NAMESPACE
    }

    fn protected(&self, name: &str) -> Option<&'static str> {
        ["default", "kube-system", "kube-public"]
            .contains(&name)
            .then_some("this namespace may not be deleted")
    }

    fn deletion(&self, _obj: &Value, _grace_period_seconds: Option<i64>) -> Deletion {
        Deletion::Terminating
    }

    fn mark_terminating(&self, obj: &mut Value) {
        obj["status"]["phase"] = json!("Terminating");
    }
}
