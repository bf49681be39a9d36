//! `coordination.k8s.io/v1 Lease`: validation and `kubectl get leases` columns.

use apimachinery::validation::FieldErrors;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct Lease;

impl Kind for Lease {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_lease(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_lease(&typed(new)?))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![NAME, col("Holder", "string", 0, "The holder of the lease."), AGE]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["spec", "holderIdentity"])),
            json!(created(obj, now)),
        ]
    }
}
