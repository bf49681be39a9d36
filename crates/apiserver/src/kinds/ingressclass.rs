//! `networking.k8s.io/v1 IngressClass`: the parameters' scope defaulted to `Cluster`,
//! validation of the controller (a domain-prefixed path that may not change) and parameters,
//! generation bookkeeping, and `kubectl get ingressclass` columns.

use apimachinery::validation::{FieldError, FieldErrors, Path, is_dns1123_label, is_dns1123_subdomain};
use jiff::Timestamp;
use k8s_openapi::api::networking::v1::IngressClass as Type;
use serde_json::{Value, json};

use super::{Kind, defaulted, first_generation, immutable, next_generation, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct IngressClass;

const MAX_CONTROLLER_LENGTH: usize = 250;

pub fn set_defaults_ingress_class(ic: &mut Type) {
    if let Some(params) = ic.spec.as_mut().and_then(|s| s.parameters.as_mut()) {
        params.scope.get_or_insert_with(|| "Cluster".to_string());
    }
}

/// Upstream `IsDomainPrefixedPath`.
fn validate_controller(controller: &str, path: &Path, errs: &mut FieldErrors) {
    if controller.len() > MAX_CONTROLLER_LENGTH {
        errs.push(FieldError::too_long(path, MAX_CONTROLLER_LENGTH));
    }
    if controller.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let Some((host, rest)) = controller.split_once('/').filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        errs.push(FieldError::invalid(
            path,
            controller,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
        return;
    };
    for m in is_dns1123_subdomain(host) {
        errs.push(FieldError::invalid(path, host, m));
    }
    let valid_path = rest.chars().all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
    if !valid_path {
        errs.push(FieldError::invalid(
            path,
            rest,
            "must be a valid HTTP path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
}

fn validate_ingress_class(ic: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    let spec = ic.spec.clone().unwrap_or_default();
    validate_controller(spec.controller.as_deref().unwrap_or_default(), &path.child("controller"), &mut errs);
    if let Some(params) = &spec.parameters {
        let p = path.child("parameters");
        if params.kind.is_empty() {
            errs.push(FieldError::required(&p.child("kind"), ""));
        }
        if params.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        match params.scope.as_deref() {
            None => errs.push(FieldError::required(&p.child("scope"), "")),
            Some("Namespace") => match params.namespace.as_deref() {
                None => errs.push(FieldError::required(
                    &p.child("namespace"),
                    "`parameters.scope` is set to 'Namespace'",
                )),
                Some(ns) => {
                    for m in is_dns1123_label(ns) {
                        errs.push(FieldError::invalid(&p.child("namespace"), ns, m));
                    }
                }
            },
            Some("Cluster") => {
                if params.namespace.is_some() {
                    errs.push(FieldError::forbidden(
                        &p.child("namespace"),
                        "`parameters.scope` is set to 'Cluster'",
                    ));
                }
            }
            Some(other) => {
                errs.push(FieldError::not_supported(&p.child("scope"), other, &["Cluster", "Namespace"]))
            }
        }
    }
    errs
}

impl Kind for IngressClass {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_ingress_class(&typed(obj)?))
    }

    /// The controller may not change.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = validate_ingress_class(&typed(new)?);
        let controller = |v: &Value| s(v, &["spec", "controller"]).to_string();
        errs.extend(immutable(&controller(new), &controller(old), &Path::new("spec").child("controller")));
        Ok(errs)
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_ingress_class)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        first_generation(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = new["spec"] != old["spec"];
        next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Controller", "string", 0, "Controller that is responsible for handling this class"),
            col("Parameters", "string", 0, "A reference to a resource with additional parameters"),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let params = &obj["spec"]["parameters"];
        let parameters = if params.is_object() {
            let group = params["apiGroup"].as_str().map(|g| format!(".{g}")).unwrap_or_default();
            format!("{}{group}/{}", s(params, &["kind"]), s(params, &["name"]))
        } else {
            "<none>".to_string()
        };
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["spec", "controller"])),
            json!(parameters),
            json!(created(obj, now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    #[test]
    fn defaults_row_and_validation() {
        let mut ic = IngressClass
            .canonical(&json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external"}}}))
            .unwrap();
        IngressClass.set_defaults(&mut ic).unwrap();
        assert_eq!(ic["spec"]["parameters"]["scope"], "Cluster");
        assert!(IngressClass.validate(&ic).unwrap().is_empty());
        assert_eq!(headers(&IngressClass, false), "NAME CONTROLLER PARAMETERS AGE");
        assert_eq!(IngressClass.cells(&ic, now())[2], json!("IngressParameters.k8s.example.com/external"));
        let mut moved = ic.clone();
        moved["spec"]["controller"] = json!("nginx");
        assert_eq!(
            aggregate_message(&IngressClass.validate_update(&moved, &ic).unwrap()),
            "[spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\"), spec.controller: Invalid value: \"nginx\": field is immutable]"
        );
    }
}
