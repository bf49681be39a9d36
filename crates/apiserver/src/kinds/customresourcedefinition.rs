//! `apiextensions.k8s.io/v1 CustomResourceDefinition`: upstream's defaults (singular and list
//! kind from the kind, no conversion), the validations users meet (the name is
//! `<plural>.<group>`, one storage version, structural schemas, printer columns, an immutable
//! scope), the status the server gives an accepted definition (its names accepted,
//! `NamesAccepted` and `Established`, the stored versions), and deletion that first removes
//! its custom resources (the `customresourcecleanup.apiextensions.k8s.io` finalizer, finished
//! by the registry's sweep). What it serves is [`super::custom_resource`].

use apimachinery::jsonpath::JsonPath;
use apimachinery::structural;
use apimachinery::validation::{FieldError, FieldErrors, Path, is_dns1035_label, is_dns1123_subdomain};
use jiff::Timestamp;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Deletion, Kind, canonical, default_table, first_generation, next_generation, register};
use crate::error::ApiResult;
use crate::printers::ColumnDefinition;

/// The finalizer that holds a deleted definition until its custom resources are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

const COLUMN_TYPES: &[&str] = &["integer", "number", "string", "boolean", "date"];

#[derive(Debug)]
pub struct CustomResourceDefinition;

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// The version objects are stored in (the one marked `storage`).
fn storage_version(obj: &Value) -> Option<&str> {
    obj["spec"]["versions"].as_array()?.iter().find(|v| v["storage"] == true)?["name"].as_str()
}

fn validate_names(names: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    for field in ["plural", "singular"] {
        let value = str_of(names, field);
        if value.is_empty() {
            if field == "plural" {
                errs.push(FieldError::required(&path.child(field), ""));
            }
            continue;
        }
        for msg in is_dns1035_label(value) {
            errs.push(FieldError::invalid(&path.child(field), value, msg));
        }
    }
    for field in ["kind", "listKind"] {
        let value = str_of(names, field);
        if value.is_empty() {
            errs.push(FieldError::required(&path.child(field), ""));
        } else if !is_dns1035_label(&value.to_lowercase()).is_empty() {
            errs.push(FieldError::invalid(
                &path.child(field),
                value,
                "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
            ));
        }
    }
    if !str_of(names, "kind").is_empty() && str_of(names, "kind") == str_of(names, "listKind") {
        errs.push(FieldError::invalid(
            &path.child("listKind"),
            str_of(names, "listKind"),
            "kind and listKind may not be the same",
        ));
    }
    for (i, short) in names["shortNames"].as_array().into_iter().flatten().enumerate() {
        let short = short.as_str().unwrap_or_default();
        for msg in is_dns1035_label(short) {
            errs.push(FieldError::invalid(&path.child("shortNames").index(i), short, msg));
        }
    }
    errs
}

fn validate_version(version: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let name = str_of(version, "name");
    if name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else {
        for msg in is_dns1035_label(name) {
            errs.push(FieldError::invalid(&path.child("name"), name, msg));
        }
    }
    let schema_path = path.child("schema").child("openAPIV3Schema");
    match version["schema"].get("openAPIV3Schema") {
        None | Some(Value::Null) => errs.push(FieldError::required(&schema_path, "schemas are required")),
        Some(schema) => errs.extend(structural::schema_errors(schema, &schema_path)),
    }
    for (i, column) in version["additionalPrinterColumns"].as_array().into_iter().flatten().enumerate() {
        let path = path.child("additionalPrinterColumns").index(i);
        if str_of(column, "name").is_empty() {
            errs.push(FieldError::required(&path.child("name"), ""));
        }
        let type_ = str_of(column, "type");
        if !COLUMN_TYPES.contains(&type_) {
            errs.push(FieldError::not_supported(&path.child("type"), type_, COLUMN_TYPES));
        }
        let json_path = str_of(column, "jsonPath");
        if json_path.is_empty() {
            errs.push(FieldError::required(&path.child("jsonPath"), ""));
        } else if let Err(e) = JsonPath::parse(json_path) {
            errs.push(FieldError::invalid(&path.child("jsonPath"), json_path, e.to_string()));
        }
    }
    if let Some(scale) = version["subresources"].get("scale").filter(|s| !s.is_null()) {
        let path = path.child("subresources").child("scale");
        for field in ["specReplicasPath", "statusReplicasPath"] {
            let p = str_of(scale, field);
            if p.is_empty() {
                errs.push(FieldError::required(&path.child(field), ""));
            } else if JsonPath::parse(p).is_err() {
                errs.push(FieldError::invalid(
                    &path.child(field),
                    p,
                    "should be a json path under either .spec or .status",
                ));
            }
        }
    }
    errs
}

fn validate_definition(obj: &Value) -> FieldErrors {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let mut errs = Vec::new();
    let group = str_of(spec, "group");
    let plural = str_of(&spec["names"], "plural");
    let name = str_of(&obj["metadata"], "name");
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            &Path::new("metadata").child("name"),
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required(&path.child("group"), ""));
    } else {
        for msg in is_dns1123_subdomain(group) {
            errs.push(FieldError::invalid(&path.child("group"), group, msg));
        }
        if !group.contains('.') {
            errs.push(FieldError::invalid(
                &path.child("group"),
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match str_of(spec, "scope") {
        "" => errs.push(FieldError::required(&path.child("scope"), "")),
        "Cluster" | "Namespaced" => {}
        other => {
            errs.push(FieldError::not_supported(&path.child("scope"), other, &["Cluster", "Namespaced"]))
        }
    }
    errs.extend(validate_names(&spec["names"], &path.child("names")));
    let versions = spec["versions"].as_array().map(Vec::as_slice).unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::required(
            &path.child("versions"),
            "must have exactly one version marked as storage version",
        ));
    } else {
        let names: Vec<&str> = versions.iter().map(|v| str_of(v, "name")).collect();
        if versions.iter().filter(|v| v["storage"] == true).count() != 1 {
            errs.push(FieldError::invalid(
                &path.child("versions"),
                json!(names),
                "must have exactly one version marked as storage version",
            ));
        }
        if !versions.iter().any(|v| v["served"] == true) {
            errs.push(FieldError::invalid(
                &path.child("versions"),
                json!(names),
                "must have at least one version marked as served",
            ));
        }
        for (i, version) in versions.iter().enumerate() {
            let vpath = path.child("versions").index(i);
            if names[..i].contains(&names[i]) && !names[i].is_empty() {
                errs.push(FieldError::duplicate(&vpath.child("name"), names[i]));
            }
            errs.extend(validate_version(version, &vpath));
        }
    }
    let strategy = str_of(&spec["conversion"], "strategy");
    if !["", "None", "Webhook"].contains(&strategy) {
        errs.push(FieldError::not_supported(
            &path.child("conversion").child("strategy"),
            strategy,
            &["None", "Webhook"],
        ));
    }
    errs
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, at: &Value) -> Value {
    json!({"type": type_, "status": status, "lastTransitionTime": at, "reason": reason, "message": message})
}

/// Sets or replaces the condition of its type.
fn set_condition(obj: &mut Value, new: Value) {
    let mut conditions: Vec<Value> = obj["status"]["conditions"].as_array().cloned().unwrap_or_default();
    match conditions.iter_mut().find(|c| c["type"] == new["type"]) {
        Some(c) if c["status"] == new["status"] => {
            c["reason"] = new["reason"].clone();
            c["message"] = new["message"].clone();
        }
        Some(c) => *c = new,
        None => conditions.push(new),
    }
    obj["status"]["conditions"] = json!(conditions);
}

/// The accepted names and stored versions of an accepted definition.
fn accept(obj: &mut Value) {
    obj["status"]["acceptedNames"] = obj["spec"]["names"].clone();
    if let Some(storage) = storage_version(obj).map(str::to_string) {
        let mut stored: Vec<Value> = obj["status"]["storedVersions"].as_array().cloned().unwrap_or_default();
        if !stored.contains(&json!(storage)) {
            stored.push(json!(storage));
        }
        obj["status"]["storedVersions"] = json!(stored);
    }
}

impl Kind for CustomResourceDefinition {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_definition(obj))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = validate_definition(new);
        if new["spec"]["scope"] != old["spec"]["scope"] {
            errs.push(FieldError::invalid(
                &Path::new("spec").child("scope"),
                new["spec"]["scope"].clone(),
                "field is immutable",
            ));
        }
        Ok(errs)
    }

    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    /// Upstream `SetDefaults_CustomResourceDefinition(Spec)`.
    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        let spec = &mut obj["spec"];
        let kind = str_of(&spec["names"], "kind").to_string();
        if !kind.is_empty() {
            if str_of(&spec["names"], "singular").is_empty() {
                spec["names"]["singular"] = json!(kind.to_lowercase());
            }
            if str_of(&spec["names"], "listKind").is_empty() {
                spec["names"]["listKind"] = json!(format!("{kind}List"));
            }
        }
        if str_of(&spec["conversion"], "strategy").is_empty() {
            spec["conversion"] = json!({"strategy": "None"});
        }
        Ok(())
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        // The accepted names are the defaulted ones (preparation comes before defaults).
        let _ = self.set_defaults(obj);
        first_generation(obj);
        let at = obj["metadata"]["creationTimestamp"].clone();
        obj["status"] = json!({});
        accept(obj);
        set_condition(obj, condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", &at));
        set_condition(
            obj,
            condition(
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                &at,
            ),
        );
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let _ = self.set_defaults(new);
        next_generation(new, old, new["spec"] != old["spec"]);
        accept(new);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        default_table::columns()
    }

    fn cells(&self, obj: &Value, _now: Timestamp) -> Vec<Value> {
        default_table::cells(obj)
    }

    fn deletion(&self, _obj: &Value, _grace_period_seconds: Option<i64>) -> Deletion {
        Deletion::Terminating
    }

    fn mark_terminating(&self, obj: &mut Value) {
        let mut finalizers: Vec<Value> =
            obj["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        if !finalizers.contains(&json!(CLEANUP_FINALIZER)) {
            finalizers.push(json!(CLEANUP_FINALIZER));
            obj["metadata"]["finalizers"] = json!(finalizers);
            let at = obj["metadata"]["deletionTimestamp"].clone();
            set_condition(
                obj,
                condition(
                    "Terminating",
                    "True",
                    "InstanceDeletionPending",
                    "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
                    &at,
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "crontabs.stable.example.com", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "kind": "CronTab"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    }

    #[test]
    fn defaults_and_accepts_names() {
        let mut obj = crd();
        CustomResourceDefinition.set_defaults(&mut obj).unwrap();
        assert_eq!(obj["spec"]["names"]["singular"], "crontab");
        assert_eq!(obj["spec"]["names"]["listKind"], "CronTabList");
        assert_eq!(obj["spec"]["conversion"]["strategy"], "None");
        CustomResourceDefinition.prepare_for_create(&mut obj);
        assert_eq!(obj["status"]["acceptedNames"]["kind"], "CronTab");
        assert_eq!(obj["status"]["storedVersions"], json!(["v1"]));
        let types: Vec<&Value> =
            obj["status"]["conditions"].as_array().unwrap().iter().map(|c| &c["type"]).collect();
        assert_eq!(types, ["NamesAccepted", "Established"]);
        assert!(validate_definition(&obj).is_empty(), "{:?}", validate_definition(&obj));
    }

    #[test]
    fn names_the_fields_users_get_wrong() {
        let mut obj = crd();
        obj["metadata"]["name"] = json!("crontab.stable.example.com");
        obj["spec"]["group"] = json!("example");
        obj["spec"]["versions"][0]["storage"] = json!(false);
        obj["spec"]["versions"][0]["schema"] = json!(null);
        let fields: Vec<String> = validate_definition(&obj).iter().map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "spec.group",
                "spec.names.listKind",
                "spec.versions",
                "spec.versions[0].schema.openAPIV3Schema"
            ]
        );
    }
}
