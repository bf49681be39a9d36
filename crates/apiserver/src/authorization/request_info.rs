//! What a request asks, as the authorizer sees it (upstream `RequestInfo`): the verb, and
//! either the resource, subresource, namespace and name, or a non-resource path. Read from the
//! path alone, as upstream does, so an unknown resource is authorized (then 404) like any other.

use super::{Attributes, ResourceAttributes};
use crate::authentication::UserInfo;
use crate::request::Query;

/// Subresources of a namespace that stay on the `namespaces` resource.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// The attributes of a request by `user`: `method` on `path` (percent-decoded) with `query`.
pub fn attributes(user: UserInfo, method: &str, path: &str, query: &Query) -> Attributes {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let non_resource =
        |user| Attributes { user, verb: method.to_ascii_lowercase(), resource: None, path: path.to_string() };
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return non_resource(user),
    };
    if rest.is_empty() {
        return non_resource(user);
    }
    let mut parts = rest;
    let mut verb = match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    };
    if parts.first() == Some(&"watch") {
        verb = "watch";
        parts = &parts[1..];
    }
    let mut namespace = String::new();
    if parts.first() == Some(&"namespaces")
        && let Some(ns) = parts.get(1)
    {
        namespace = ns.to_string();
        if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
            parts = &parts[2..];
        }
    }
    let mut name = parts.get(1).map(|s| s.to_string()).unwrap_or_default();
    let subresource = parts.get(2).map(|s| s.to_string()).unwrap_or_default();
    if name.is_empty() && verb == "get" {
        verb = if query
            .get("watch")
            .is_some_and(|w| !matches!(w.to_ascii_lowercase().as_str(), "false" | "0"))
        {
            "watch"
        } else {
            "list"
        };
    }
    if name.is_empty() && verb == "delete" {
        verb = "deletecollection";
    }
    // A list or watch of one object by name (`fieldSelector=metadata.name=x`) is authorized for
    // that name, so rules with resourceNames can allow it.
    if matches!(verb, "list" | "watch")
        && let Some(selected) = query.get("fieldSelector").and_then(selected_name)
    {
        name = selected;
    }
    Attributes {
        user,
        verb: verb.to_string(),
        resource: Some(ResourceAttributes {
            namespace,
            group: group.to_string(),
            resource: parts.first().map(|s| s.to_string()).unwrap_or_default(),
            subresource,
            name,
        }),
        path: path.to_string(),
    }
}

/// The one name a field selector requires (`metadata.name=x`, with any other terms ANDed to
/// it), read by the same parser that filters the list, so what is authorized is what is served.
fn selected_name(selector: &str) -> Option<String> {
    let parsed = apimachinery::fields::FieldSelector::parse(selector).ok()?;
    let mut names = parsed
        .requirements()
        .iter()
        .filter(|r| r.field == "metadata.name" && r.operator == apimachinery::fields::FieldOperator::Equals)
        .map(|r| r.value.as_str());
    let name = names.next()?;
    let valid = !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('%');
    valid.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, path: &str, query: &str) -> (String, Option<ResourceAttributes>) {
        let a = attributes(UserInfo::anonymous(), method, path, &Query::parse(Some(query)));
        (a.verb, a.resource)
    }

    fn res(ns: &str, group: &str, resource: &str, sub: &str, name: &str) -> Option<ResourceAttributes> {
        Some(ResourceAttributes {
            namespace: ns.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
        })
    }

    #[test]
    fn requests_read_as_upstream_reads_them() {
        assert_eq!(info("GET", "/api", ""), ("get".into(), None));
        assert_eq!(info("GET", "/apis/apps/v1", ""), ("get".into(), None));
        assert_eq!(info("GET", "/healthz", ""), ("get".into(), None));
        assert_eq!(
            info("GET", "/api/v1/namespaces/default/pods", ""),
            ("list".into(), res("default", "", "pods", "", ""))
        );
        assert_eq!(
            info("GET", "/api/v1/namespaces/default/pods", "watch=true"),
            ("watch".into(), res("default", "", "pods", "", ""))
        );
        assert_eq!(info("GET", "/api/v1/pods", "watch=0"), ("list".into(), res("", "", "pods", "", "")));
        assert_eq!(info("GET", "/api/v1/watch/pods", ""), ("watch".into(), res("", "", "pods", "", "")));
        assert_eq!(
            info("PUT", "/apis/apps/v1/namespaces/ns/daemonsets/ds/status", ""),
            ("update".into(), res("ns", "apps", "daemonsets", "status", "ds"))
        );
        assert_eq!(
            info("DELETE", "/api/v1/namespaces/ns/pods", ""),
            ("deletecollection".into(), res("ns", "", "pods", "", ""))
        );
        assert_eq!(
            info("GET", "/api/v1/namespaces/foo", ""),
            ("get".into(), res("foo", "", "namespaces", "", "foo"))
        );
        assert_eq!(
            info("PUT", "/api/v1/namespaces/foo/finalize", ""),
            ("update".into(), res("foo", "", "namespaces", "finalize", "foo"))
        );
        assert_eq!(
            info("POST", "/api/v1/namespaces", ""),
            ("create".into(), res("", "", "namespaces", "", ""))
        );
        assert_eq!(
            info("GET", "/api/v1/namespaces/ns/configmaps", "fieldSelector=metadata.name%3Dcm"),
            ("list".into(), res("ns", "", "configmaps", "", "cm"))
        );
        assert_eq!(
            info("GET", "/api/v1/namespaces/ns/configmaps", "fieldSelector=metadata.name%3D%3Dcm"),
            ("list".into(), res("ns", "", "configmaps", "", "cm"))
        );
        // An escaped comma is part of a value, not a second term: no name is required here.
        assert_eq!(
            info(
                "GET",
                "/api/v1/namespaces/ns/configmaps",
                "fieldSelector=metadata.namespace!%3Dx%5C,metadata.name%3Dcm"
            ),
            ("list".into(), res("ns", "", "configmaps", "", ""))
        );
        assert_eq!(
            info("POST", "/api/v1/namespaces/ns/serviceaccounts/sa/token", ""),
            ("create".into(), res("ns", "", "serviceaccounts", "token", "sa"))
        );
    }
}
