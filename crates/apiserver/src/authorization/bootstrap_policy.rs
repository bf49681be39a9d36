//! The default roles and bindings (`bootstrap_policy.yaml`), as the objects a new cluster is
//! seeded with: each ClusterRoleBinding binds the ClusterRole of its name, and every object
//! carries upstream's bootstrapping label and autoupdate annotation.

use serde_json::{Value, json};

const POLICY: &str = include_str!("bootstrap_policy.yaml");

/// `(plural, object)` for every default ClusterRole and ClusterRoleBinding.
pub fn objects() -> Vec<(&'static str, Value)> {
    let policy: Value = serde_yaml::from_str(POLICY).expect("bootstrap_policy.yaml is valid YAML");
    let mut out = Vec::new();
    for role in policy["clusterRoles"].as_array().into_iter().flatten() {
        let mut role = role.clone();
        role["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        role["kind"] = json!("ClusterRole");
        mark(&mut role);
        out.push(("clusterroles", role));
    }
    for binding in policy["clusterRoleBindings"].as_array().into_iter().flatten() {
        let name = binding["name"].clone();
        let subjects: Vec<Value> = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let mut s = s.clone();
                if s["kind"] != "ServiceAccount" {
                    s["apiGroup"] = json!("rbac.authorization.k8s.io");
                }
                s
            })
            .collect();
        let mut binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subjects,
        });
        mark(&mut binding);
        out.push(("clusterrolebindings", binding));
    }
    out
}

fn mark(obj: &mut Value) {
    obj["metadata"]["labels"]["kubernetes.io/bootstrapping"] = json!("rbac-defaults");
    obj["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = json!("true");
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};

    #[test]
    fn every_default_decodes_and_every_binding_names_a_default_role() {
        let objects = objects();
        let roles: Vec<ClusterRole> = objects
            .iter()
            .filter(|(p, _)| *p == "clusterroles")
            .map(|(_, o)| serde_json::from_value(o.clone()).unwrap())
            .collect();
        let bindings: Vec<ClusterRoleBinding> = objects
            .iter()
            .filter(|(p, _)| *p == "clusterrolebindings")
            .map(|(_, o)| serde_json::from_value(o.clone()).unwrap())
            .collect();
        assert!(roles.len() >= 15);
        for b in &bindings {
            assert!(
                roles.iter().any(|r| r.metadata.name.as_deref() == Some(b.role_ref.name.as_str())),
                "{b:?}"
            );
        }
        let admin = roles.iter().find(|r| r.metadata.name.as_deref() == Some("cluster-admin")).unwrap();
        assert_eq!(admin.metadata.labels.as_ref().unwrap()["kubernetes.io/bootstrapping"], "rbac-defaults");
    }
}
