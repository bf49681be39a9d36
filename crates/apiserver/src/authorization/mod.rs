//! Whether a user may do what a request asks (upstream's authorizer chain in kube-apiserver's
//! `--authorization-mode=Node,RBAC`, as kubeadm runs it): members of `system:masters` may do
//! anything; everyone else what RBAC allows. A request no one allows is refused with a 403 in
//! upstream's words (`Authorizer::forbidden`).
//!
//! `request_info` reads a request's attributes, `rbac` decides from the stored roles and
//! bindings, and `bootstrap_policy` is the default roles and bindings every cluster starts
//! with.

pub mod bootstrap_policy;
pub mod escalation;
pub mod impersonation;
pub mod rbac;
pub mod request_info;

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use crate::authentication::UserInfo;
use crate::error::ApiError;
use crate::resources;
use crate::storage::Store;
use rbac::Policy;

/// What a request asks, of whom (upstream `authorizer.Attributes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    /// `None` for a non-resource request (`path`).
    pub resource: Option<ResourceAttributes>,
    pub path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    pub namespace: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// An answer: allowed or not, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

const RBAC_KINDS: [&str; 4] = ["clusterroles", "roles", "clusterrolebindings", "rolebindings"];

/// The RBAC policy as of the last change to a role or binding, rebuilt when one changes.
#[derive(Default)]
pub struct Authorizer {
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    /// The store's resourceVersion when last checked.
    checked_at: u64,
    /// Per RBAC kind: how many objects, and the newest resourceVersion among them.
    fingerprint: [(usize, u64); 4],
    policy: Arc<Policy>,
}

impl Authorizer {
    pub fn authorize(&self, store: &Store, attrs: &Attributes) -> Decision {
        if attrs.user.is_privileged() {
            return Decision { allowed: true, reason: String::new() };
        }
        let (allowed, reason) = self.policy(store).authorize(attrs);
        Decision { allowed, reason }
    }

    /// The current policy; decoded again only after a role or binding changed.
    pub fn policy(&self, store: &Store) -> Arc<Policy> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let now = store.resource_version();
        if let Some(c) = cached.as_ref()
            && c.checked_at == now
        {
            return c.policy.clone();
        }
        let fingerprint = fingerprint(store);
        if let Some(c) = cached.as_mut()
            && c.fingerprint == fingerprint
        {
            c.checked_at = now;
            return c.policy.clone();
        }
        let policy = Arc::new(Policy::new(
            decoded(store, "clusterroles"),
            decoded(store, "roles"),
            decoded(store, "clusterrolebindings"),
            decoded(store, "rolebindings"),
        ));
        *cached = Some(Cached { checked_at: now, fingerprint, policy: policy.clone() });
        policy
    }
}

fn rbac_resource(plural: &str) -> &'static resources::ResourceType {
    resources::builtin("rbac.authorization.k8s.io", "v1", plural)
}

fn fingerprint(store: &Store) -> [(usize, u64); 4] {
    RBAC_KINDS.map(|plural| {
        let (objects, _) = store.list(rbac_resource(plural), None);
        (objects.len(), objects.iter().map(|o| o.resource_version()).max().unwrap_or(0))
    })
}

fn decoded<T: DeserializeOwned>(store: &Store, plural: &str) -> Vec<T> {
    let (objects, _) = store.list(rbac_resource(plural), None);
    objects.iter().filter_map(|o| serde_json::from_slice(o.json()).ok()).collect()
}

/// Upstream's 403 for a request no authorizer allowed: who cannot do what, where, and (from
/// RBAC) any error met on the way.
pub fn forbidden(attrs: &Attributes, reason: &str) -> ApiError {
    let user = &attrs.user.username;
    let mut why = match &attrs.resource {
        None => format!("User {user:?} cannot {} path {:?}", attrs.verb, attrs.path),
        Some(r) => {
            let resource = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let scope = if r.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", r.namespace)
            };
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                attrs.verb, r.group
            )
        }
    };
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    let why = why.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    match &attrs.resource {
        None => {
            ApiError::new(403, "Forbidden", format!("forbidden: {why}")).with_details(serde_json::json!({}))
        }
        Some(r) => {
            let qualified =
                if r.group.is_empty() { r.resource.clone() } else { format!("{}.{}", r.resource, r.group) };
            let message = if r.name.is_empty() {
                format!("{qualified} is forbidden: {why}")
            } else {
                format!("{qualified} {:?} is forbidden: {why}", r.name)
            };
            let mut details = serde_json::Map::new();
            if !r.name.is_empty() {
                details.insert("name".into(), r.name.clone().into());
            }
            if !r.group.is_empty() {
                details.insert("group".into(), r.group.clone().into());
            }
            details.insert("kind".into(), r.resource.clone().into());
            ApiError::new(403, "Forbidden", message).with_details(serde_json::Value::Object(details))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_reads_as_upstream() {
        let bob = UserInfo { username: "bob".into(), ..Default::default() };
        let attrs = |verb: &str, r: Option<ResourceAttributes>| Attributes {
            user: bob.clone(),
            verb: verb.into(),
            resource: r,
            path: "/api".into(),
        };
        let res = |ns: &str, group: &str, resource: &str, sub: &str, name: &str| {
            Some(ResourceAttributes {
                namespace: ns.into(),
                group: group.into(),
                resource: resource.into(),
                subresource: sub.into(),
                name: name.into(),
            })
        };
        let e = forbidden(&attrs("list", res("default", "", "pods", "", "")), "");
        assert_eq!((e.code, e.reason), (403, "Forbidden"));
        assert_eq!(
            e.message,
            r#"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default""#
        );
        assert_eq!(e.details, Some(serde_json::json!({"kind": "pods"})));
        let e = forbidden(&attrs("update", res("kube-system", "apps", "daemonsets", "status", "ds1")), "");
        assert_eq!(
            e.message,
            r#"daemonsets.apps "ds1" is forbidden: User "bob" cannot update resource "daemonsets/status" in API group "apps" in the namespace "kube-system""#
        );
        assert_eq!(
            e.details,
            Some(serde_json::json!({"name": "ds1", "group": "apps", "kind": "daemonsets"}))
        );
        let e = forbidden(
            &attrs("list", res("", "", "nodes", "", "")),
            "RBAC: clusterrole.rbac.authorization.k8s.io \"x\" not found",
        );
        assert_eq!(
            e.message,
            r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "x" not found"#
        );
        let e = forbidden(&attrs("get", None), "");
        assert_eq!(e.message, r#"forbidden: User "bob" cannot get path "/api""#);
        assert_eq!(e.details, Some(serde_json::json!({})));
    }
}
