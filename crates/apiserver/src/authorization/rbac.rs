//! Upstream's RBAC authorizer: a request is allowed when a rule of a role bound to its user
//! allows it. ClusterRoleBindings apply everywhere; a namespaced request also sees the
//! RoleBindings of its namespace, which may grant a Role there or a ClusterRole's rules in that
//! namespace only. RBAC never denies: without a rule the answer is "no opinion", which the
//! server turns into 403. The policy is read from the stored objects.

use std::collections::HashMap;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::{Attributes, ResourceAttributes};
use crate::authentication::UserInfo;

/// Every Role, ClusterRole and binding, decoded.
#[derive(Debug, Default)]
pub struct Policy {
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    role_bindings: HashMap<String, Vec<RoleBinding>>,
}

/// A binding that applies to a user, and where.
struct Grant<'a> {
    /// `ClusterRoleBinding "name"` or `RoleBinding "name/namespace"`, as reasons name it.
    binding: String,
    role_ref: &'a RoleRef,
    /// The binding's namespace ("" for a ClusterRoleBinding).
    namespace: &'a str,
    subject: &'a Subject,
}

impl Policy {
    pub fn new(
        cluster_roles: impl IntoIterator<Item = ClusterRole>,
        roles: impl IntoIterator<Item = Role>,
        cluster_role_bindings: impl IntoIterator<Item = ClusterRoleBinding>,
        role_bindings: impl IntoIterator<Item = RoleBinding>,
    ) -> Policy {
        let mut policy = Policy {
            cluster_roles: cluster_roles
                .into_iter()
                .map(|r| (r.metadata.name.unwrap_or_default(), r.rules.unwrap_or_default()))
                .collect(),
            roles: roles
                .into_iter()
                .map(|r| {
                    (
                        (r.metadata.namespace.unwrap_or_default(), r.metadata.name.unwrap_or_default()),
                        r.rules.unwrap_or_default(),
                    )
                })
                .collect(),
            cluster_role_bindings: cluster_role_bindings.into_iter().collect(),
            role_bindings: HashMap::new(),
        };
        for b in role_bindings {
            policy.role_bindings.entry(b.metadata.namespace.clone().unwrap_or_default()).or_default().push(b);
        }
        policy.cluster_role_bindings.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        for bindings in policy.role_bindings.values_mut() {
            bindings.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        policy
    }

    /// The bindings whose subjects include `user`, cluster-wide first, then those of
    /// `namespace` (if any).
    fn grants<'a>(&'a self, user: &UserInfo, namespace: &'a str) -> Vec<Grant<'a>> {
        let mut out = Vec::new();
        for b in &self.cluster_role_bindings {
            if let Some(subject) = b.subjects.iter().flatten().find(|s| subject_matches(s, user, "")) {
                out.push(Grant {
                    binding: format!(
                        "ClusterRoleBinding {:?}",
                        b.metadata.name.as_deref().unwrap_or_default()
                    ),
                    role_ref: &b.role_ref,
                    namespace: "",
                    subject,
                });
            }
        }
        if !namespace.is_empty() {
            for b in self.role_bindings.get(namespace).into_iter().flatten() {
                if let Some(subject) =
                    b.subjects.iter().flatten().find(|s| subject_matches(s, user, namespace))
                {
                    out.push(Grant {
                        binding: format!(
                            "RoleBinding {:?}",
                            format!("{}/{namespace}", b.metadata.name.as_deref().unwrap_or_default())
                        ),
                        role_ref: &b.role_ref,
                        namespace,
                        subject,
                    });
                }
            }
        }
        out
    }

    /// The rules of the role a binding in `namespace` refers to.
    pub fn role_rules(&self, role_ref: &RoleRef, namespace: &str) -> Result<&[PolicyRule], String> {
        self.rules_of(role_ref, namespace)
    }

    /// The rules a role reference stands for, or upstream's error when it names no role.
    fn rules_of(&self, role_ref: &RoleRef, namespace: &str) -> Result<&[PolicyRule], String> {
        match role_ref.kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&role_ref.name).map(Vec::as_slice).ok_or_else(|| {
                format!("clusterrole.rbac.authorization.k8s.io {:?} not found", role_ref.name)
            }),
            "Role" => self
                .roles
                .get(&(namespace.to_string(), role_ref.name.clone()))
                .map(Vec::as_slice)
                .ok_or_else(|| format!("role.rbac.authorization.k8s.io {:?} not found", role_ref.name)),
            other => Err(format!("unsupported role reference kind: {other:?}")),
        }
    }

    /// Whether RBAC allows the request, and why (the binding that allows it, or the errors met
    /// on the way, as upstream's reason reads).
    pub fn authorize(&self, attrs: &Attributes) -> (bool, String) {
        let namespace = attrs.resource.as_ref().map(|r| r.namespace.as_str()).unwrap_or_default();
        let mut errors = Vec::new();
        for grant in self.grants(&attrs.user, namespace) {
            match self.rules_of(grant.role_ref, grant.namespace) {
                Ok(rules) if rules.iter().any(|r| rule_allows(r, attrs)) => {
                    let reason = format!(
                        "RBAC: allowed by {} of {} {:?} to {}",
                        grant.binding,
                        grant.role_ref.kind,
                        grant.role_ref.name,
                        describe_subject(grant.subject, grant.namespace)
                    );
                    return (true, reason);
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        (false, errors_reason(&errors))
    }

    /// Every rule that applies to `user` in `namespace` ("" for cluster-wide ones only), and the
    /// errors met resolving them (SelfSubjectRulesReview).
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for grant in self.grants(user, namespace) {
            match self.rules_of(grant.role_ref, grant.namespace) {
                Ok(r) => rules.extend(r.iter().cloned()),
                Err(e) => errors.push(e),
            }
        }
        (rules, errors)
    }
}

/// Upstream's reason for "no opinion": `RBAC: ` and the errors, one as itself, several as a list.
fn errors_reason(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

fn describe_subject(s: &Subject, binding_namespace: &str) -> String {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(binding_namespace);
            format!("ServiceAccount {:?}", format!("{}/{ns}", s.name))
        }
        kind => format!("{kind} {:?}", s.name),
    }
}

/// Upstream `appliesToUser`: a user by name, a group by membership, a ServiceAccount by its
/// user name (its namespace defaulting to the binding's).
fn subject_matches(s: &Subject, user: &UserInfo, binding_namespace: &str) -> bool {
    match s.kind.as_str() {
        "User" => user.username == s.name,
        "Group" => user.in_group(&s.name),
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(binding_namespace);
            !ns.is_empty() && user.username == crate::service_account_token::username(ns, &s.name)
        }
        _ => false,
    }
}

fn has(list: &Option<Vec<String>>, wanted: &str) -> bool {
    list.iter().flatten().any(|v| v == "*" || v == wanted)
}

/// Upstream `RuleAllows`.
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if !rule.verbs.iter().any(|v| v == "*" || *v == attrs.verb) {
        return false;
    }
    match &attrs.resource {
        Some(r) => resource_matches(rule, r),
        None => rule.non_resource_urls.iter().flatten().any(|u| url_matches(u, &attrs.path)),
    }
}

fn resource_matches(rule: &PolicyRule, r: &ResourceAttributes) -> bool {
    if !has(&rule.api_groups, &r.group) {
        return false;
    }
    let combined = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    let resource_ok = rule.resources.iter().flatten().any(|res| {
        res == "*"
            || *res == combined
            || (!r.subresource.is_empty() && res.strip_prefix("*/") == Some(r.subresource.as_str()))
    });
    if !resource_ok {
        return false;
    }
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => names.contains(&r.name),
    }
}

/// A non-resource URL rule: `*`, the path itself, or a prefix ending in `*`.
fn url_matches(rule: &str, path: &str) -> bool {
    if rule == "*" || rule == path {
        return true;
    }
    rule.ends_with('*') && path.starts_with(rule.trim_end_matches('*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(
        user: UserInfo,
        verb: &str,
        ns: &str,
        group: &str,
        resource: &str,
        sub: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            user,
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                namespace: ns.into(),
                group: group.into(),
                resource: resource.into(),
                subresource: sub.into(),
                name: name.into(),
            }),
            path: String::new(),
        }
    }

    fn rule(v: serde_json::Value) -> PolicyRule {
        serde_json::from_value(v).unwrap()
    }

    fn bob() -> UserInfo {
        UserInfo {
            username: "bob".into(),
            groups: vec!["devs".into(), "system:authenticated".into()],
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_and_names_as_upstream() {
        let r = rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}));
        assert!(rule_allows(&r, &attrs(bob(), "get", "ns", "", "pods", "", "p")));
        assert!(!rule_allows(&r, &attrs(bob(), "delete", "ns", "", "pods", "", "p")));
        assert!(!rule_allows(&r, &attrs(bob(), "get", "ns", "apps", "pods", "", "p")));
        assert!(
            !rule_allows(&r, &attrs(bob(), "get", "ns", "", "pods", "log", "p")),
            "pods does not cover pods/log"
        );
        let sub = rule(json!({"verbs": ["update"], "apiGroups": ["*"], "resources": ["*/scale"]}));
        assert!(rule_allows(&sub, &attrs(bob(), "update", "ns", "apps", "deployments", "scale", "d")));
        assert!(!rule_allows(&sub, &attrs(bob(), "update", "ns", "apps", "deployments", "", "d")));
        let literal = rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/*"]}));
        assert!(
            !rule_allows(&literal, &attrs(bob(), "get", "ns", "", "pods", "log", "p")),
            "pods/* is no wildcard"
        );
        let named = rule(
            json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"]}),
        );
        assert!(rule_allows(&named, &attrs(bob(), "get", "ns", "", "configmaps", "", "a")));
        assert!(!rule_allows(&named, &attrs(bob(), "get", "ns", "", "configmaps", "", "b")));
        assert!(!rule_allows(&named, &attrs(bob(), "list", "ns", "", "configmaps", "", "")));
        let urls = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/api/*", "/healthz"]}));
        let path = |p: &str| Attributes { user: bob(), verb: "get".into(), resource: None, path: p.into() };
        assert!(rule_allows(&urls, &path("/api/v1")));
        assert!(rule_allows(&urls, &path("/healthz")));
        assert!(!rule_allows(&urls, &path("/api")));
        assert!(!rule_allows(&urls, &path("/healthz/etcd")));
    }

    #[test]
    fn bindings_grant_roles_where_they_apply() {
        let reader: ClusterRole = serde_json::from_value(json!({"metadata": {"name": "reader"},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}))
        .unwrap();
        let writer: Role =
            serde_json::from_value(json!({"metadata": {"name": "writer", "namespace": "team"},
            "rules": [{"verbs": ["create"], "apiGroups": [""], "resources": ["configmaps"]}]}))
            .unwrap();
        let crb: ClusterRoleBinding = serde_json::from_value(json!({"metadata": {"name": "devs-read"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
            "subjects": [{"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]}))
        .unwrap();
        let rbs: Vec<RoleBinding> = serde_json::from_value(json!([
            {"metadata": {"name": "sa-write", "namespace": "team"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "writer"},
             "subjects": [{"kind": "ServiceAccount", "name": "builder"}]},
            {"metadata": {"name": "broken", "namespace": "team"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "missing"},
             "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]}]))
        .unwrap();
        let policy = Policy::new([reader], [writer], [crb], rbs);
        let (allowed, reason) = policy.authorize(&attrs(bob(), "get", "any", "", "pods", "", "p"));
        assert!(allowed);
        assert_eq!(
            reason,
            r#"RBAC: allowed by ClusterRoleBinding "devs-read" of ClusterRole "reader" to Group "devs""#
        );
        let (allowed, reason) = policy.authorize(&attrs(bob(), "create", "team", "", "configmaps", "", ""));
        assert!(!allowed);
        assert_eq!(reason, r#"RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#);
        let builder = UserInfo {
            username: "system:serviceaccount:team:builder".into(),
            groups: vec!["system:serviceaccounts".into()],
            ..Default::default()
        };
        let (allowed, reason) =
            policy.authorize(&attrs(builder.clone(), "create", "team", "", "configmaps", "", ""));
        assert!(allowed);
        assert_eq!(
            reason,
            r#"RBAC: allowed by RoleBinding "sa-write/team" of Role "writer" to ServiceAccount "builder/team""#
        );
        assert!(!policy.authorize(&attrs(builder.clone(), "create", "other", "", "configmaps", "", "")).0);
        assert!(!policy.authorize(&attrs(builder.clone(), "create", "", "", "configmaps", "", "")).0);
        let (rules, errors) = policy.rules_for(&builder, "team");
        assert_eq!(rules.len(), 1);
        assert!(errors.is_empty());
    }
}
