//! RBAC's escalation check (upstream `pkg/registry/rbac`): a user may write a Role or
//! ClusterRole only with rules they already hold (or the `escalate` verb on it), and bind a role
//! only if they hold its rules (or the `bind` verb on it); an `aggregationRule` needs full
//! authority. So no one grants more than they have. Members of `system:masters` are not
//! checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};
use serde_json::Value;

use super::rbac::Policy;
use super::{Attributes, ResourceAttributes};
use crate::authentication::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceType;

const GROUP: &str = "rbac.authorization.k8s.io";

/// A check of the object a write would store.
pub type Guard = Arc<dyn Fn(&Value) -> ApiResult<()> + Send + Sync>;

/// The check for `user` writing `rt` in `namespace`, against the policy as it stands; `None`
/// when there is nothing to check.
pub fn guard(
    policy: impl FnOnce() -> Arc<Policy>,
    user: &UserInfo,
    rt: &'static ResourceType,
    namespace: &str,
    request_name: Option<&str>,
) -> Option<Guard> {
    if user.is_privileged() || rt.group != GROUP {
        return None;
    }
    let policy = policy();
    let namespace = if rt.namespaced { namespace.to_string() } else { String::new() };
    let user = user.clone();
    // The `escalate` verb is asked of the request's object, by name, and of no name on create,
    // as upstream authorizes it from the request's attributes.
    let request_name = request_name.unwrap_or_default().to_string();
    match rt.plural {
        "roles" | "clusterroles" => {
            Some(Arc::new(move |obj: &Value| check_role(&policy, &user, rt, &namespace, &request_name, obj)))
        }
        "rolebindings" | "clusterrolebindings" => {
            Some(Arc::new(move |obj: &Value| check_binding(&policy, &user, rt, &namespace, obj)))
        }
        _ => None,
    }
}

fn allowed(
    policy: &Policy,
    user: &UserInfo,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> bool {
    let attrs = Attributes {
        user: user.clone(),
        verb: verb.into(),
        resource: Some(ResourceAttributes {
            namespace: namespace.into(),
            group: GROUP.into(),
            resource: resource.into(),
            subresource: String::new(),
            name: name.into(),
        }),
        path: String::new(),
    };
    policy.authorize(&attrs).0
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

fn check_role(
    policy: &Policy,
    user: &UserInfo,
    rt: &ResourceType,
    namespace: &str,
    request_name: &str,
    obj: &Value,
) -> ApiResult<()> {
    let name = name_of(obj);
    let aggregates = obj["aggregationRule"]["clusterRoleSelectors"].as_array().is_some_and(|s| !s.is_empty());
    let (held, _) = policy.rules_for(user, namespace);
    if aggregates && !full_authority(&held) {
        return Err(ApiError::forbidden(
            rt,
            name,
            "must have cluster-admin privileges to use the aggregationRule",
        ));
    }
    if allowed(policy, user, "escalate", rt.plural, namespace, request_name) {
        return Ok(());
    }
    let rules: Vec<PolicyRule> = match obj.get("rules").filter(|r| !r.is_null()) {
        None => Vec::new(),
        Some(rules) => serde_json::from_value(rules.clone())
            .map_err(|e| ApiError::forbidden(rt, name, &format!("rules cannot be read: {e}")))?,
    };
    not_held(user, rt, name, &held, &rules)
}

fn check_binding(
    policy: &Policy,
    user: &UserInfo,
    rt: &ResourceType,
    namespace: &str,
    obj: &Value,
) -> ApiResult<()> {
    let name = name_of(obj);
    let role_ref = serde_json::from_value::<RoleRef>(obj["roleRef"].clone())
        .map_err(|e| ApiError::forbidden(rt, name, &format!("roleRef cannot be read: {e}")))?;
    let role_resource = if role_ref.kind == "ClusterRole" { "clusterroles" } else { "roles" };
    if allowed(policy, user, "bind", role_resource, namespace, &role_ref.name) {
        return Ok(());
    }
    let rules = policy.role_rules(&role_ref, namespace).map_err(|e| ApiError::forbidden(rt, name, &e))?;
    let (held, _) = policy.rules_for(user, namespace);
    not_held(user, rt, name, &held, rules)
}

/// A 403 naming every permission `rules` grant that `held` does not cover.
fn not_held(
    user: &UserInfo,
    rt: &ResourceType,
    name: &str,
    held: &[PolicyRule],
    rules: &[PolicyRule],
) -> ApiResult<()> {
    let missing: Vec<Atom> =
        rules.iter().flat_map(atoms).filter(|a| !held.iter().any(|h| covers(h, a))).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let groups = user.groups.iter().map(|g| format!("{g:?}")).collect::<Vec<_>>().join(" ");
    let why = format!(
        "user {:?} (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n{}",
        user.username,
        compact(&missing).join("\n")
    );
    Err(ApiError::forbidden(rt, name, &why))
}

/// One permission: a verb on one resource (and name) of one group, or on one URL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    Resource { group: String, resource: String, name: Option<String>, verb: String },
    Url { url: String, verb: String },
}

/// Upstream `BreakdownRule`.
fn atoms(rule: &PolicyRule) -> Vec<Atom> {
    let mut out = Vec::new();
    let names: Vec<Option<String>> = match rule.resource_names.as_deref() {
        None | Some([]) => vec![None],
        Some(names) => names.iter().cloned().map(Some).collect(),
    };
    for verb in &rule.verbs {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for name in &names {
                    out.push(Atom::Resource {
                        group: group.clone(),
                        resource: resource.clone(),
                        name: name.clone(),
                        verb: verb.clone(),
                    });
                }
            }
        }
        for url in rule.non_resource_urls.iter().flatten() {
            out.push(Atom::Url { url: url.clone(), verb: verb.clone() });
        }
    }
    out
}

fn has(list: &[String], wanted: &str) -> bool {
    list.iter().any(|v| v == "*" || v == wanted)
}

/// Whether a held rule covers one permission (upstream `ruleCovers`).
fn covers(owner: &PolicyRule, atom: &Atom) -> bool {
    match atom {
        Atom::Resource { group, resource, name, verb } => {
            has(&owner.verbs, verb)
                && has(owner.api_groups.as_deref().unwrap_or_default(), group)
                && owner.resources.iter().flatten().any(|r| {
                    r == "*"
                        || r == resource
                        || r.strip_prefix('*')
                            .is_some_and(|sub| sub.starts_with('/') && resource.ends_with(sub))
                })
                && match owner.resource_names.as_deref() {
                    None | Some([]) => true,
                    Some(names) => name.as_ref().is_some_and(|n| names.contains(n)),
                }
        }
        Atom::Url { url, verb } => {
            has(&owner.verbs, verb)
                && owner.non_resource_urls.iter().flatten().any(|u| {
                    u == "*" || u == url || (u.ends_with('*') && url.starts_with(u.trim_end_matches('*')))
                })
        }
    }
}

/// Full authority: every verb on everything, and every URL.
fn full_authority(held: &[PolicyRule]) -> bool {
    let everything = Atom::Resource { group: "*".into(), resource: "*".into(), name: None, verb: "*".into() };
    let every_url = Atom::Url { url: "*".into(), verb: "*".into() };
    held.iter().any(|h| covers(h, &everything)) && held.iter().any(|h| covers(h, &every_url))
}

fn quoted(list: &[&str]) -> String {
    format!("[{}]", list.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" "))
}

/// `quoted` of the verbs, sorted, each once.
fn quoted_set(mut verbs: Vec<String>) -> String {
    verbs.sort();
    verbs.dedup();
    quoted(&verbs.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The missing permissions as upstream prints them: one line per group, resource and name,
/// with its verbs, sorted.
fn compact(missing: &[Atom]) -> Vec<String> {
    let mut resources: BTreeMap<(String, String, Option<String>), Vec<String>> = BTreeMap::new();
    let mut urls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for atom in missing {
        match atom {
            Atom::Resource { group, resource, name, verb } => resources
                .entry((group.clone(), resource.clone(), name.clone()))
                .or_default()
                .push(verb.clone()),
            Atom::Url { url, verb } => urls.entry(url.clone()).or_default().push(verb.clone()),
        }
    }
    let mut lines = Vec::new();
    for ((group, resource, name), verbs) in resources {
        let names = name.as_deref().map(|n| format!(", ResourceNames:{}", quoted(&[n]))).unwrap_or_default();
        lines.push(format!(
            "{{APIGroups:{}, Resources:{}{names}, Verbs:{}}}",
            quoted(&[&group]),
            quoted(&[&resource]),
            quoted_set(verbs)
        ));
    }
    for (url, verbs) in urls {
        lines.push(format!("{{NonResourceURLs:{}, Verbs:{}}}", quoted(&[&url]), quoted_set(verbs)));
    }
    lines.sort();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> PolicyRule {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn held_rules_cover_as_upstream_reads_them() {
        let held = [
            rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "*/scale"]})),
            rule(
                json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": ["a"]}),
            ),
            rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]})),
        ];
        let wanted = rule(
            json!({"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods", "deployments/scale"]}),
        );
        let missing: Vec<Atom> =
            atoms(&wanted).into_iter().filter(|a| !held.iter().any(|h| covers(h, a))).collect();
        assert_eq!(
            compact(&missing),
            [
                r#"{APIGroups:[""], Resources:["deployments/scale"], Verbs:["delete"]}"#,
                r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}"#
            ]
        );
        let named = rule(
            json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": ["a", "b"]}),
        );
        let missing: Vec<Atom> =
            atoms(&named).into_iter().filter(|a| !held.iter().any(|h| covers(h, a))).collect();
        assert_eq!(
            compact(&missing),
            [r#"{APIGroups:["apps"], Resources:["daemonsets"], ResourceNames:["b"], Verbs:["get"]}"#]
        );
        let unnamed = rule(json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["daemonsets"]}));
        assert!(!covers(&held[1], &atoms(&unnamed)[0]), "a rule for names does not cover every name");
        let url = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/etcd", "/metrics"]}));
        let missing: Vec<Atom> =
            atoms(&url).into_iter().filter(|a| !held.iter().any(|h| covers(h, a))).collect();
        assert_eq!(compact(&missing), [r#"{NonResourceURLs:["/metrics"], Verbs:["get"]}"#]);
        assert!(!full_authority(&held));
        let admin = [
            rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})),
            rule(json!({"verbs": ["*"], "nonResourceURLs": ["*"]})),
        ];
        assert!(full_authority(&admin));
    }
}
