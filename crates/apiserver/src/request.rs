//! Turning an HTTP request into what it asks of the API: the resource, namespace, name,
//! subresource and verb (upstream `RequestInfo`), its query options and its body.

use apimachinery::fields::FieldSelector;
use apimachinery::labels::Selector;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::resources::{Catalog, ResourceType};

/// Where a resource request points.
#[derive(Debug)]
pub struct ResourcePath {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/<group>/<version>/...` resource paths. `None` when the path
/// is not a resource path at all.
pub fn parse_resource_path(catalog: &Catalog, path: &str) -> Option<ApiResult<ResourcePath>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return None,
    };
    let find = |plural: &str| catalog.find(group, version, plural).ok_or_else(ApiError::not_found_path);
    let result = (|| {
        // `namespaces/NS/PLURAL/...` when PLURAL is served; otherwise `namespaces` itself.
        let in_namespace = match rest {
            ["namespaces", ns, plural, rest @ ..] => {
                catalog.find(group, version, plural).map(|rt| (rt, *ns, rest))
            }
            _ => None,
        };
        let (resource, namespace, rest) = match (in_namespace, rest) {
            (Some((rt, ns, rest)), _) => {
                if !rt.namespaced {
                    return Err(ApiError::not_found_path());
                }
                (rt, Some(ns.to_string()), rest)
            }
            (None, [plural, rest @ ..]) => (find(plural)?, None, rest),
            (None, []) => return Err(ApiError::not_found_path()),
        };
        let (name, subresource) = match rest {
            [] => (None, None),
            [name] => (Some((*name).to_string()), None),
            [name, sub] => {
                if resource.subresources.iter().all(|s| s.name != *sub) {
                    return Err(ApiError::not_found_path());
                }
                (Some((*name).to_string()), Some((*sub).to_string()))
            }
            _ => return Err(ApiError::not_found_path()),
        };
        Ok(ResourcePath { resource, namespace, name, subresource })
    })();
    Some(result)
}

/// The query parameters the API understands.
#[derive(Debug, Default)]
pub struct Query {
    /// Every parameter in order, repeats included (`dryRun=All&dryRun=All`).
    params: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let params = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
            })
            .unwrap_or_default();
        Query { params }
    }

    /// Every value given for `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.params.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// The value of `key`; the last one where it is repeated.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub fn label_selector(&self) -> ApiResult<Selector> {
        Selector::parse(self.get("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
    }

    pub fn field_selector(&self, rt: &ResourceType) -> ApiResult<FieldSelector> {
        let selector = FieldSelector::parse(self.get("fieldSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for r in selector.requirements() {
            if !rt.supports_field_label(&r.field) {
                return Err(ApiError::bad_request(format!("field label not supported: {}", r.field)));
            }
        }
        // Selection happens on the stored form, in its field names.
        if rt.rules.converts() {
            return Ok(selector.map_fields(|label| rt.rules.storage_field_label(label)));
        }
        Ok(selector)
    }

    pub fn i64(&self, key: &str) -> ApiResult<Option<i64>> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().map_err(|_| ApiError::bad_request(format!("invalid {key}: {v}"))))
            .transpose()
    }
}

/// The largest request body accepted (upstream's 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Whether a body of this Content-Type is read as JSON.
pub fn is_json(content_type: &str) -> bool {
    matches!(media_type(content_type), "" | "application/json" | "*/*")
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Decodes a create or update body by its Content-Type: JSON, YAML or Kubernetes protobuf.
pub fn decode_body(content_type: &str, body: &[u8]) -> ApiResult<Value> {
    if is_json(content_type) {
        return serde_json::from_slice(body).map_err(json_error);
    }
    match media_type(content_type) {
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            if yaml_nesting_exceeds(body, MAX_NESTING) {
                return Err(ApiError::bad_request(format!(
                    "error decoding YAML request body: the document is nested more than {MAX_NESTING} levels deep"
                )));
            }
            serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML request body: {e}")))
        }
        "application/vnd.kubernetes.protobuf" => {
            crate::protobuf::decode(body).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// A JSON body decoded in one pass with the keys it gives twice (see
/// `apimachinery::duplicate_fields`).
pub fn decode_json_with_duplicates(body: &[u8]) -> ApiResult<(Value, Vec<String>)> {
    apimachinery::duplicate_fields::from_slice(body).map_err(json_error)
}

fn json_error(e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("error decoding request body: {e}"))
}

/// How deep a request body may nest: serde_json's own recursion limit, which JSON bodies hit
/// first; no Kubernetes object comes near it.
const MAX_NESTING: usize = 128;

/// Whether a YAML document nests deeper than `limit`, by flow brackets (`[[[…]]]`, `{a: {…}}`)
/// or by block indentation, found in one linear pass before the parser (whose time grows with
/// the square of the depth) sees it. Quoted scalars and comments are skipped.
fn yaml_nesting_exceeds(body: &[u8], limit: usize) -> bool {
    let mut flow = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    for line in body.split(|b| *b == b'\n') {
        let indent = line.iter().take_while(|b| **b == b' ').count();
        let rest = &line[indent..];
        if flow == 0 && !rest.is_empty() && rest[0] != b'#' {
            while indents.last().is_some_and(|i| *i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            // A `- - - x` sequence nests once per dash on a single line.
            let dashes = rest.chunks(2).take_while(|c| c == b"- " || c == b"-").count();
            if indents.len() + dashes > limit {
                return true;
            }
        }
        let mut quote: Option<u8> = None;
        for &b in rest {
            match (quote, b) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(b),
                (None, b'#') => break,
                (None, b'[' | b'{') => {
                    flow += 1;
                    if flow + indents.len() > limit {
                        return true;
                    }
                }
                (None, b']' | b'}') => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
    }
    false
}

/// Whether the client asked for a `meta.k8s.io/v1 Table`.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let p = part.replace(' ', "");
        p.contains("as=Table") && p.contains("g=meta.k8s.io") && p.contains("v=v1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &str) -> ResourcePath {
        parse_resource_path(&Catalog::new(), p).unwrap().unwrap()
    }

    #[test]
    fn resource_paths() {
        let r = parse("/apis/apps/v1/namespaces/logging/daemonsets/fluentd/status");
        assert_eq!(r.resource.plural, "daemonsets");
        assert_eq!(r.namespace.as_deref(), Some("logging"));
        assert_eq!(r.name.as_deref(), Some("fluentd"));
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let all = parse("/api/v1/pods");
        assert!(all.namespace.is_none() && all.name.is_none());
        let ns = parse("/api/v1/namespaces/logging");
        assert_eq!(ns.resource.plural, "namespaces");
        assert_eq!(ns.name.as_deref(), Some("logging"));
        let ns_status = parse("/api/v1/namespaces/logging/status");
        assert_eq!(ns_status.subresource.as_deref(), Some("status"));
        let node = parse("/api/v1/nodes/k8s-worker-1");
        assert_eq!(node.name.as_deref(), Some("k8s-worker-1"));
        let catalog = Catalog::new();
        assert!(parse_resource_path(&catalog, "/api/v1/widgets").unwrap().is_err());
        assert!(parse_resource_path(&catalog, "/api/v1/nodes/a/bogus").unwrap().is_err());
        assert!(parse_resource_path(&catalog, "/version").is_none());
    }

    #[test]
    fn deep_yaml_is_found_in_linear_time() {
        let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(yaml_nesting_exceeds(flow.as_bytes(), MAX_NESTING));
        let err = decode_body("application/yaml", flow.as_bytes()).unwrap_err();
        assert_eq!(err.code, 400);
        let mut block = String::new();
        for depth in 0..200 {
            block.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
        }
        assert!(yaml_nesting_exceeds(block.as_bytes(), MAX_NESTING));
        let dashes = format!("a:\n{}x\n", "- ".repeat(200));
        assert!(yaml_nesting_exceeds(dashes.as_bytes(), MAX_NESTING));
        let manifest = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x # [not [a [bracket\n  labels: {a: \"[[[\"}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args: [\"--x={y}\", '[z']\n";
        assert!(!yaml_nesting_exceeds(manifest.as_bytes(), MAX_NESTING));
        assert_eq!(decode_body("application/yaml", manifest.as_bytes()).unwrap()["metadata"]["name"], "x");
    }

    #[test]
    fn repeated_parameters_are_all_kept() {
        let q = Query::parse(Some("dryRun=All&dryRun=Bogus&limit=5"));
        assert_eq!(q.all("dryRun"), ["All", "Bogus"]);
        assert_eq!(q.get("limit"), Some("5"));
        assert_eq!(q.get("dryRun"), Some("Bogus"), "the last of repeated values, as before");
    }

    #[test]
    fn table_accept() {
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
        assert!(!wants_table("application/json"));
    }
}
