//! `rbac.authorization.k8s.io/v1 RoleBinding` and `ClusterRoleBinding`, which share a shape:
//! the API groups of the role reference and subjects defaulted, validation of both (path-
//! segment names, known kinds and groups), a role reference that may never change, and the
//! ROLE column with the subjects in wide output.

use apimachinery::validation::{
    FieldError, FieldErrors, Path, is_dns1123_subdomain, is_valid_path_segment_name,
};
use jiff::Timestamp;
use k8s_openapi::api::rbac::v1 as rbac;
use serde_json::{Value, json};

use super::{Kind, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

pub const GROUP: &str = "rbac.authorization.k8s.io";

#[derive(Debug)]
pub struct RoleBinding;

#[derive(Debug)]
pub struct ClusterRoleBinding;

/// The role reference's group, and each subject's by its kind, when left empty.
fn set_defaults(obj: &mut Value) {
    if s(obj, &["roleRef", "apiGroup"]).is_empty() {
        obj["roleRef"]["apiGroup"] = json!(GROUP);
    }
    for subject in obj["subjects"].as_array_mut().into_iter().flatten() {
        if s(subject, &["apiGroup"]).is_empty() {
            match s(subject, &["kind"]) {
                // Upstream's "" is omitted when serialized: nothing to write.
                "ServiceAccount" => {}
                "User" | "Group" => subject["apiGroup"] = json!(GROUP),
                _ => {}
            }
        }
    }
}

/// Upstream `ValidateRoleBinding` and `ValidateClusterRoleBinding`: `role_kinds` are the kinds
/// the reference may name; subjects of a cluster binding name their service accounts'
/// namespaces.
fn validate(obj: &Value, role_kinds: &[&str], namespaced: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let role_ref = Path::new("roleRef");
    let group = s(obj, &["roleRef", "apiGroup"]);
    if group != GROUP {
        errs.push(FieldError::not_supported(&role_ref.child("apiGroup"), group, &[GROUP]));
    }
    let kind = s(obj, &["roleRef", "kind"]);
    if !role_kinds.contains(&kind) {
        errs.push(FieldError::not_supported(&role_ref.child("kind"), kind, role_kinds));
    }
    let name = s(obj, &["roleRef", "name"]);
    if name.is_empty() {
        errs.push(FieldError::required(&role_ref.child("name"), ""));
    } else {
        for m in is_valid_path_segment_name(name) {
            errs.push(FieldError::invalid(&role_ref.child("name"), name, m));
        }
    }
    for (i, subject) in obj["subjects"].as_array().into_iter().flatten().enumerate() {
        let path = Path::new("subjects").index(i);
        let (name, group) = (s(subject, &["name"]), s(subject, &["apiGroup"]));
        if name.is_empty() {
            errs.push(FieldError::required(&path.child("name"), ""));
        }
        match s(subject, &["kind"]) {
            "ServiceAccount" => {
                if !name.is_empty() {
                    for m in is_dns1123_subdomain(name) {
                        errs.push(FieldError::invalid(&path.child("name"), name, m));
                    }
                }
                if !group.is_empty() {
                    errs.push(FieldError::not_supported(&path.child("apiGroup"), group, &[""]));
                }
                if !namespaced && s(subject, &["namespace"]).is_empty() {
                    errs.push(FieldError::required(&path.child("namespace"), ""));
                }
            }
            "User" | "Group" => {
                if group != GROUP {
                    errs.push(FieldError::not_supported(&path.child("apiGroup"), group, &[GROUP]));
                }
            }
            other => errs.push(FieldError::not_supported(
                &path.child("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    errs
}

/// The role a binding grants may not change: a new binding is needed for another.
fn validate_role_ref_kept(new: &Value, old: &Value) -> Option<FieldError> {
    (new["roleRef"] != old["roleRef"])
        .then(|| FieldError::invalid(&Path::new("roleRef"), new["roleRef"].clone(), "cannot change roleRef"))
}

fn columns(what: &'static str) -> Vec<ColumnDefinition> {
    let (users, groups, sas) = match what {
        "roleBinding" => {
            ("Users in the roleBinding", "Groups in the roleBinding", "ServiceAccounts in the roleBinding")
        }
        _ => (
            "Users in the clusterRoleBinding",
            "Groups in the clusterRoleBinding",
            "ServiceAccounts in the clusterRoleBinding",
        ),
    };
    vec![
        NAME,
        col("Role", "string", 0, "The role the binding grants, as kind/name."),
        AGE,
        col("Users", "string", 1, users),
        col("Groups", "string", 1, groups),
        col("ServiceAccounts", "string", 1, sas),
    ]
}

/// The role as `Kind/name`, then the users, groups and service accounts (`namespace/name`).
fn cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in obj["subjects"].as_array().into_iter().flatten() {
        let name = s(subject, &["name"]).to_string();
        match s(subject, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{name}", s(subject, &["namespace"]))),
            "User" => users.push(name),
            "Group" => groups.push(name),
            _ => {}
        }
    }
    vec![
        json!(s(obj, &["metadata", "name"])),
        json!(format!("{}/{}", s(obj, &["roleRef", "kind"]), s(obj, &["roleRef", "name"]))),
        json!(created(obj, now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

/// The rules both bindings follow, for one of them.
macro_rules! binding {
    ($kind:ident, $role_kinds:expr, $namespaced:expr, $what:literal) => {
        impl Kind for $kind {
            typed_as!(rbac::$kind);

            /// RBAC names are path segments (`system:controller:x` is fine).
            fn name_errors(&self, name: &str) -> Vec<String> {
                is_valid_path_segment_name(name)
            }

            fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
                Ok(validate(obj, $role_kinds, $namespaced))
            }

            fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
                let mut errs = validate(new, $role_kinds, $namespaced);
                errs.extend(validate_role_ref_kept(new, old));
                Ok(errs)
            }

            /// No status subresource.
            fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
                Ok(Vec::new())
            }

            fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
                set_defaults(obj);
                Ok(())
            }

            fn columns(&self) -> Vec<ColumnDefinition> {
                columns($what)
            }

            fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
                cells(obj, now)
            }
        }
    };
}

binding!(RoleBinding, &["Role", "ClusterRole"], true, "roleBinding");
binding!(ClusterRoleBinding, &["ClusterRole"], false, "clusterRoleBinding");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn binding(kind: &dyn Kind, v: Value) -> Value {
        let mut v = kind.canonical(&v).unwrap();
        kind.set_defaults(&mut v).unwrap();
        v
    }

    #[test]
    fn defaults_and_row() {
        let rb = binding(
            &RoleBinding,
            json!({"metadata": {"name": "r", "namespace": "default"},
            "roleRef": {"kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"}, {"kind": "Group", "name": "devs"}]}),
        );
        assert_eq!(rb["roleRef"]["apiGroup"], GROUP);
        assert_eq!(rb["subjects"][0]["apiGroup"], GROUP);
        assert!(rb["subjects"][1].get("apiGroup").is_none(), "upstream's \"\" is omitted");
        assert!(RoleBinding.validate(&rb).unwrap().is_empty());
        assert_eq!(headers(&RoleBinding, true), "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS");
        assert_eq!(
            RoleBinding.cells(&rb, now())[1..],
            [json!("ClusterRole/admin"), json!("<unknown>"), json!("alice"), json!("devs"), json!("ci/bot")]
        );
        assert!(RoleBinding.name_errors("system:controller:x").is_empty());
    }

    #[test]
    fn validation_and_role_ref_immutability() {
        let crb = binding(
            &ClusterRoleBinding,
            json!({"metadata": {"name": "c"},
            "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "bot"}, {"kind": "Robot", "name": "x"}]}),
        );
        assert_eq!(
            aggregate_message(&ClusterRoleBinding.validate(&crb).unwrap()),
            "[roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\", subjects[0].namespace: Required value, subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"]"
        );
        let old = binding(
            &RoleBinding,
            json!({"metadata": {"name": "r"}, "roleRef": {"kind": "Role", "name": "r1"}}),
        );
        let mut new = old.clone();
        new["roleRef"]["name"] = json!("r2");
        assert_eq!(
            aggregate_message(&RoleBinding.validate_update(&new, &old).unwrap()),
            "roleRef: Invalid value: {\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"r2\"}: cannot change roleRef"
        );
    }
}
