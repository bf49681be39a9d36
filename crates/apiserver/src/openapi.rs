//! OpenAPI v3 documents, one per served group version, derived from k8s-openapi's schemas
//! (never hand-copied). They carry what kubectl needs:
//!
//! - `components.schemas` under upstream's dotted names (`io.k8s.api.apps.v1.DaemonSet`), each
//!   kind tagged with `x-kubernetes-group-version-kind`, for `kubectl explain`;
//! - a `patch` operation per resource with the `fieldValidation` query parameter, which tells
//!   kubectl the server validates fields itself (so `apply`/`edit` need no OpenAPI v2).
//!
//! The PATCH operations deliberately carry no `requestBody`: kubectl then computes strategic
//! merge patches from the types compiled into it rather than from this schema.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::resources::{Catalog, ResourceType};

/// The documents of what a catalog serves, built when first asked for and again whenever
/// what is served changes.
#[derive(Default)]
pub struct OpenApi {
    built: Mutex<Option<Built>>,
}

/// The catalog's list the documents were built from, and the documents.
type Built = (Arc<Vec<&'static ResourceType>>, Arc<Documents>);

impl OpenApi {
    /// The documents of what `catalog` serves now.
    pub fn current(&self, catalog: &Catalog) -> Arc<Documents> {
        let served = catalog.all();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        match &*built {
            Some((from, documents)) if Arc::ptr_eq(from, &served) => documents.clone(),
            _ => {
                let documents = Arc::new(Documents::new(&served));
                *built = Some((served, documents.clone()));
                documents
            }
        }
    }
}

/// The OpenAPI v3 documents of a set of resources, serialized once.
pub struct Documents {
    index: Vec<u8>,
    documents: BTreeMap<String, Vec<u8>>,
    /// The OpenAPI v2 document derived from them (protobuf, JSON), made when first asked for.
    v2: OnceLock<(Vec<u8>, Vec<u8>)>,
}

impl Documents {
    pub fn new(served: &[&'static ResourceType]) -> Self {
        let mut documents = BTreeMap::new();
        let mut paths = Map::new();
        let mut group_versions: Vec<(&str, &str)> = Vec::new();
        for r in served {
            if !group_versions.contains(&(r.group, r.version)) {
                group_versions.push((r.group, r.version));
            }
        }
        for (group, version) in group_versions {
            let gv_path =
                if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") };
            let resources = served.iter().filter(|r| r.group == group && r.version == version);
            let bytes = serde_json::to_vec(&document(group, resources)).expect("OpenAPI document serializes");
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut hasher);
            paths.insert(
                gv_path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{gv_path}?hash={:016X}", hasher.finish())}),
            );
            documents.insert(gv_path, bytes);
        }
        let index = serde_json::to_vec(&json!({ "paths": paths })).expect("index serializes");
        Documents { index, documents, v2: OnceLock::new() }
    }

    /// `GET /openapi/v2` as gnostic's protobuf `Document` (what kubectl 1.27 and 1.28 read).
    pub fn v2_protobuf(&self) -> &[u8] {
        &self.v2().0
    }

    /// `GET /openapi/v2` as Swagger 2.0 JSON.
    pub fn v2_json(&self) -> &[u8] {
        &self.v2().1
    }

    fn v2(&self) -> &(Vec<u8>, Vec<u8>) {
        self.v2.get_or_init(|| {
            let v3: Vec<Value> =
                self.documents.values().filter_map(|d| serde_json::from_slice(d).ok()).collect();
            let version = format!("v1.{}.0", crate::handlers::KUBERNETES_MINOR);
            let json = crate::openapi_v2::json_document(&v3, &version);
            (
                crate::openapi_v2::protobuf_document(&v3, &version),
                serde_json::to_vec(&json).expect("OpenAPI v2 document serializes"),
            )
        })
    }

    /// `GET /openapi/v3`.
    pub fn index(&self) -> &[u8] {
        &self.index
    }

    /// `GET /openapi/v3/<gv_path>`, e.g. `apis/apps/v1`.
    pub fn document(&self, gv_path: &str) -> Option<&[u8]> {
        self.documents.get(gv_path.trim_matches('/')).map(Vec::as_slice)
    }
}

fn item_path(r: &ResourceType) -> String {
    let prefix = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("{prefix}/{}/{{name}}", r.plural)
    }
}

fn operation(r: &ResourceType, verb: &str, schema: &str) -> Value {
    let mut params =
        vec![json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}})];
    if r.namespaced {
        params
            .push(json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string"}}));
    }
    if verb == "patch" || verb == "put" {
        params.push(json!({
            "name": "fieldValidation",
            "in": "query",
            "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn and Strict.",
            "schema": {"type": "string", "uniqueItems": true},
        }));
        params.push(
            json!({"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
        );
    }
    let ok = json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    json!({
        "operationId": format!("{verb}{}", r.kind),
        "parameters": params,
        "responses": {"200": ok},
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    })
}

fn document<'a>(group: &str, resources: impl Iterator<Item = &'a &'static ResourceType>) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut kinds = Vec::new();
    let mut paths = Map::new();
    for &r in resources {
        let schema = r.rules.register_schema(&mut generator);
        kinds.push((schema.clone(), r));
        if r.supports("get") {
            paths.insert(
                item_path(r),
                json!({"get": operation(r, "get", &schema), "put": operation(r, "put", &schema), "patch": operation(r, "patch", &schema)}),
            );
        } else {
            // Created only (reviews): the collection's POST.
            let item = item_path(r);
            let collection = item.trim_end_matches("/{name}").to_string();
            let mut post = operation(r, "post", &schema);
            if let Some(params) = post["parameters"].as_array_mut() {
                params.retain(|p| p["name"] != "name");
            }
            paths.insert(collection, json!({"post": post}));
        }
    }
    let mut schemas = generator.take_definitions(true);
    for (schema, r) in kinds {
        if let Some(Value::Object(def)) = schemas.get_mut(&schema) {
            def.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": r.group, "version": r.version, "kind": r.kind}]),
            );
            // Upstream never marks metadata as required.
            if let Some(Value::Array(required)) = def.get_mut("required") {
                required.retain(|f| f != "metadata");
                if required.is_empty() {
                    def.remove("required");
                }
            }
        }
    }
    let title = if group.is_empty() { "Kubernetes".to_string() } else { format!("Kubernetes {group}") };
    json!({
        "openapi": "3.0.0",
        "info": {"title": title, "version": format!("v1.{}.0", crate::handlers::KUBERNETES_MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents() -> Arc<Documents> {
        OpenApi::default().current(&Catalog::new())
    }

    fn doc(path: &str) -> Value {
        serde_json::from_slice(documents().document(path).unwrap()).unwrap()
    }

    #[test]
    fn index_lists_every_group_version() {
        let api = documents();
        let index: Value = serde_json::from_slice(api.index()).unwrap();
        for gv in ["api/v1", "apis/apps/v1", "apis/scheduling.k8s.io/v1", "apis/coordination.k8s.io/v1"] {
            let url = index["paths"][gv]["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
            assert!(api.document(gv).is_some());
        }
    }

    #[test]
    fn daemonset_document_supports_explain_and_server_side_validation() {
        let d = doc("apis/apps/v1");
        let ds = &d["components"]["schemas"]["io.k8s.api.apps.v1.DaemonSet"];
        assert_eq!(ds["x-kubernetes-group-version-kind"][0]["kind"], "DaemonSet");
        assert!(ds.get("required").is_none());
        let strategy =
            &d["components"]["schemas"]["io.k8s.api.apps.v1.DaemonSetSpec"]["properties"]["updateStrategy"];
        assert_eq!(
            strategy["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DaemonSetUpdateStrategy"
        );
        assert!(strategy["description"].is_string());
        let patch = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "DaemonSet");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(patch.get("requestBody").is_none());
    }
}
