//! Custom resources: the kinds CustomResourceDefinitions add. Each served version of a
//! definition is one [`ResourceType`] whose rules are a [`CustomResource`]: its structural
//! schema prunes unknown fields, fills in defaults and validates (upstream's messages), its
//! `additionalPrinterColumns` make its Table (`NAME AGE` when it declares none), its
//! `status` subresource splits status from the rest, and `generation` follows every change
//! outside metadata (and status, where that is a subresource). Strategic merge patches are
//! refused, as upstream refuses them for custom resources.
//!
//! Served types live as long as the process and are shared: a definition seen again (after a
//! restart of its server, or an update that leaves a version as it was) reuses the type built
//! for it, so memory grows only with the distinct definitions a process ever serves.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use apimachinery::jsonpath::JsonPath;
use apimachinery::structural;
use apimachinery::validation::{FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::generate::SchemaGenerator;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Kind, first_generation, name_and_age, next_generation, register};
use crate::error::ApiResult;
use crate::printers::{ColumnDefinition, NAME, col};
use crate::resources::{ResourceType, Subresource, VERBS};
use crate::scale::{ScalePaths, ScaleSelector};

/// One served version of a CustomResourceDefinition.
#[derive(Debug)]
pub struct CustomResource {
    /// `openAPIV3Schema`.
    schema: Value,
    /// The name its schema has in OpenAPI (`com.example.stable.v1.CronTab`).
    schema_name: String,
    /// `additionalPrinterColumns`; empty means upstream's default (`Age`).
    columns: Vec<(ColumnDefinition, JsonPath)>,
    status: bool,
    scale: Option<ScalePaths>,
    /// Whether other versions share its objects (their `apiVersion` is rewritten on the way out).
    multi_version: bool,
    /// What server-side apply merges its objects by, from the schema's list and map types.
    field_type: apimachinery::apply::types::T,
}

/// The fields a custom resource always has, beside what its schema says.
const ENVELOPE: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// `value` without its envelope (what the schema describes), and the envelope.
fn split_envelope(value: &Value) -> (Value, Vec<(&'static str, Value)>) {
    let mut body = value.clone();
    let mut envelope = Vec::new();
    if let Some(map) = body.as_object_mut() {
        for key in ENVELOPE {
            if let Some(v) = map.remove(key) {
                envelope.push((key, v));
            }
        }
    }
    (body, envelope)
}

fn join_envelope(mut body: Value, envelope: Vec<(&'static str, Value)>) -> Value {
    if let Some(map) = body.as_object_mut() {
        for (key, v) in envelope {
            map.insert(key.to_string(), v);
        }
    }
    body
}

/// Everything but metadata (and status, when `without_status`): what moves `generation`.
fn spec_part(obj: &Value, without_status: bool) -> Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("metadata");
        if without_status {
            map.remove("status");
        }
    }
    v
}

impl CustomResource {
    fn validate_object(&self, obj: &Value) -> FieldErrors {
        let (body, _) = split_envelope(obj);
        structural::validate(&body, &self.schema, &Path::root())
    }
}

impl Kind for CustomResource {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        let (mut body, mut envelope) = split_envelope(obj);
        for (key, v) in envelope.iter_mut() {
            if *key == "metadata" {
                *v = serde_json::to_value(ObjectMeta::deserialize(&*v)?)?;
            }
        }
        structural::prune(&mut body, &self.schema);
        Ok(join_envelope(body, envelope))
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        let meta = register::<ObjectMeta>(generator);
        let mut schema = self.schema.clone();
        if let Some(map) = schema.as_object_mut() {
            let props = map.entry("properties").or_insert_with(|| json!({}));
            props["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
            props["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
            props["metadata"] = json!({"$ref": format!("#/components/schemas/{meta}"), "description": "Standard object's metadata."});
        }
        generator.definitions_mut().insert(self.schema_name.clone(), schema);
        self.schema_name.clone()
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(self.validate_object(obj))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(self.validate_object(new))
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(self.validate_object(new))
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        let (mut body, envelope) = split_envelope(obj);
        structural::apply_defaults(&mut body, &self.schema);
        *obj = join_envelope(body, envelope);
        Ok(())
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if self.status
            && let Some(map) = obj.as_object_mut()
        {
            map.remove("status");
        }
        first_generation(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = spec_part(new, self.status) != spec_part(old, self.status);
        next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        let mut columns = vec![NAME];
        if self.columns.is_empty() {
            columns.push(col("Age", "date", 0, ""));
        } else {
            columns.extend(self.columns.iter().map(|(c, _)| c.clone()));
        }
        columns
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        if self.columns.is_empty() {
            return name_and_age(obj, now);
        }
        let mut cells = vec![obj["metadata"]["name"].clone()];
        for (column, path) in &self.columns {
            cells.push(path.find(obj).map_or(Value::Null, |v| cell(column.type_, v, now)));
        }
        cells
    }

    fn strategic_merge(&self) -> bool {
        false
    }

    fn scale(&self) -> Option<ScalePaths> {
        self.scale.clone()
    }

    fn converts(&self) -> bool {
        self.multi_version
    }

    fn field_type(&self, _rt: &ResourceType) -> apimachinery::apply::types::T {
        self.field_type
    }
}

/// A printer column's cell (upstream's `cellForJSONValue`): the value when it has the
/// column's type, dates as ages, and anything in a string column printed.
fn cell(type_: &str, v: &Value, now: Timestamp) -> Value {
    match (type_, v) {
        ("integer", Value::Number(n)) => {
            n.as_i64().map(Value::from).or_else(|| n.as_f64().map(|f| json!(f as i64))).unwrap_or(Value::Null)
        }
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match s.parse::<Timestamp>() {
            Ok(t) => json!(apimachinery::duration::age(Some(t), now)),
            Err(_) => json!("<invalid>"),
        },
        ("string", Value::String(s)) => json!(s),
        ("string", Value::Null) => Value::Null,
        ("string", other) => json!(other.to_string()),
        _ => Value::Null,
    }
}

/// `stable.example.com` → `com.example.stable`: how upstream names a group's OpenAPI schemas.
fn reversed_group(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_strings(v: &Value) -> &'static [&'static str] {
    let strings: Vec<&'static str> =
        v.as_array().into_iter().flatten().filter_map(Value::as_str).map(leak).collect();
    Box::leak(strings.into_boxed_slice())
}

/// The types built so far, by what they were built from.
fn built() -> &'static Mutex<HashMap<String, &'static ResourceType>> {
    static BUILT: OnceLock<Mutex<HashMap<String, &'static ResourceType>>> = OnceLock::new();
    BUILT.get_or_init(Default::default)
}

/// The resource types a CustomResourceDefinition serves: one per served version.
pub fn served(crd: &Value) -> Vec<&'static ResourceType> {
    let spec = &crd["spec"];
    let versions = spec["versions"].as_array().map(Vec::as_slice).unwrap_or_default();
    let multi_version = versions.iter().filter(|v| v["served"].as_bool() == Some(true)).count() > 1;
    versions
        .iter()
        .filter(|v| v["served"].as_bool() == Some(true))
        .map(|version| {
            let key =
                json!([spec["group"], spec["names"], spec["scope"], version, multi_version]).to_string();
            let mut built = built().lock().unwrap_or_else(|e| e.into_inner());
            *built.entry(key).or_insert_with(|| build(spec, version, multi_version))
        })
        .collect()
}

fn build(spec: &Value, version: &Value, multi_version: bool) -> &'static ResourceType {
    let str_at = |v: &Value| leak(v.as_str().unwrap_or_default());
    let group = str_at(&spec["group"]);
    let names = &spec["names"];
    let plural = str_at(&names["plural"]);
    let kind = str_at(&names["kind"]);
    let version_name = str_at(&version["name"]);
    let singular = match names["singular"].as_str() {
        Some(s) if !s.is_empty() => leak(s),
        _ => leak(&kind.to_lowercase()),
    };
    let subresources_spec = &version["subresources"];
    let status = subresources_spec.get("status").is_some_and(|s| !s.is_null());
    let scale = subresources_spec.get("scale").filter(|s| s.is_object()).and_then(|s| {
        Some(ScalePaths {
            spec_replicas: JsonPath::parse(s["specReplicasPath"].as_str()?).ok()?,
            status_replicas: JsonPath::parse(s["statusReplicasPath"].as_str()?).ok()?,
            selector: match s["labelSelectorPath"].as_str().and_then(|p| JsonPath::parse(p).ok()) {
                Some(p) => ScaleSelector::Text(p),
                None => ScaleSelector::None,
            },
        })
    });
    let mut subresources = Vec::new();
    if status {
        subresources.push(Subresource {
            name: "status",
            group,
            version: version_name,
            kind,
            verbs: &["get", "patch", "update"],
        });
    }
    if scale.is_some() {
        subresources.push(Subresource {
            name: "scale",
            group: "autoscaling",
            version: "v1",
            kind: "Scale",
            verbs: &["get", "patch", "update"],
        });
    }
    let columns = version["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let path = JsonPath::parse(c["jsonPath"].as_str()?).ok()?;
            let column = ColumnDefinition {
                name: str_at(&c["name"]),
                type_: str_at(&c["type"]),
                format: str_at(&c["format"]),
                description: str_at(&c["description"]),
                priority: c["priority"].as_i64().unwrap_or(0) as i32,
            };
            Some((column, path))
        })
        .collect();
    let field_labels: Vec<&'static str> = version["selectableFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| JsonPath::parse(f["jsonPath"].as_str()?).ok())
        .map(|p| leak(&p.dotted()))
        .collect();
    let rules: &'static CustomResource = Box::leak(Box::new(CustomResource {
        schema: version["schema"]["openAPIV3Schema"].clone(),
        schema_name: format!("{}.{version_name}.{kind}", reversed_group(group)),
        columns,
        status,
        scale,
        multi_version,
        field_type: apimachinery::apply::types::from_structural_schema(&version["schema"]["openAPIV3Schema"]),
    }));
    Box::leak(Box::new(ResourceType {
        group,
        version: version_name,
        plural,
        singular,
        kind,
        namespaced: spec["scope"] != "Cluster",
        short_names: leak_strings(&names["shortNames"]),
        categories: leak_strings(&names["categories"]),
        subresources: Box::leak(subresources.into_boxed_slice()),
        field_labels: Box::leak(field_labels.into_boxed_slice()),
        verbs: VERBS,
        rules,
        key: leak(&format!("{group}/{plural}")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"spec": {"group": "stable.example.com", "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "cronSpec": {"type": "string"},
                        "replicas": {"type": "integer", "default": 1}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})
    }

    #[test]
    fn serves_each_version_once_and_shares_what_it_built() {
        let a = served(&crd());
        let b = served(&crd());
        assert_eq!(a.len(), 1);
        assert!(std::ptr::eq(a[0], b[0]), "the same definition reuses its type");
        assert_eq!((a[0].plural, a[0].singular, a[0].kind), ("crontabs", "crontab", "CronTab"));
        assert_eq!(a[0].key, "stable.example.com/crontabs");
        assert_eq!(a[0].short_names, ["ct"]);
        assert!(a[0].namespaced);
        assert_eq!(a[0].subresources.len(), 1);
    }

    #[test]
    fn prunes_defaults_and_prints_columns() {
        let rt = served(&crd())[0];
        let obj = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"cronSpec": "* * * * */5", "bogus": true}});
        let mut c = rt.rules.canonical(&obj).unwrap();
        assert!(c["spec"].get("bogus").is_none());
        rt.rules.set_defaults(&mut c).unwrap();
        assert_eq!(c["spec"]["replicas"], 1);
        let names: Vec<&str> = rt.rules.columns().iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Spec", "Replicas", "Age"]);
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        assert_eq!(rt.rules.cells(&c, now), vec![json!("a"), json!("* * * * */5"), json!(1), json!("5m")]);
        let bad = json!({"metadata": {"name": "a"}, "spec": {"replicas": "x"}});
        let errs = rt.rules.validate(&bad).unwrap();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "spec.replicas");
    }

    #[test]
    fn generation_follows_changes_outside_metadata_and_status() {
        let rt = served(&crd())[0];
        let old =
            json!({"metadata": {"name": "a", "generation": 1}, "spec": {"replicas": 1}, "status": {"x": 1}});
        let mut new = json!({"metadata": {"name": "a", "labels": {"a": "b"}}, "spec": {"replicas": 1}, "status": {"x": 2}});
        rt.rules.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 1);
        let mut new = json!({"metadata": {"name": "a"}, "spec": {"replicas": 2}});
        rt.rules.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }
}
