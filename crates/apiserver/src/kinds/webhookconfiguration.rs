//! `admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration` and
//! `MutatingWebhookConfiguration`, which share a shape: each webhook's defaults (fail closed,
//! equivalent matching, empty selectors, ten-second timeout, rules of every scope, service
//! port 443; mutating webhooks are not reinvoked), validation of names, rules, client
//! configuration and review versions, generation bookkeeping, and the WEBHOOKS column.

use std::collections::BTreeSet;

use apimachinery::validation::{
    FieldError, FieldErrors, Path, is_dns1035_label, is_dns1123_subdomain, is_valid_port_num,
};
use jiff::Timestamp;
use k8s_openapi::api::admissionregistration::v1 as admission;
use serde_json::{Value, json};

use super::{Kind, first_generation, next_generation, strings, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct ValidatingWebhookConfiguration;

#[derive(Debug)]
pub struct MutatingWebhookConfiguration;

const REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
const SIDE_EFFECTS: [&str; 2] = ["None", "NoneOnDryRun"];
const OPERATIONS: [&str; 5] = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const SCOPES: [&str; 3] = ["*", "Cluster", "Namespaced"];
const URL_FORM: &str = "; desired format: https://host[/path]";

fn set_if_absent(obj: &mut Value, field: &str, value: Value) {
    if obj.get(field).is_none_or(Value::is_null) {
        obj[field] = value;
    }
}

/// Each webhook's defaults; `mutating` adds the reinvocation policy.
fn set_defaults(obj: &mut Value, mutating: bool) {
    for hook in obj["webhooks"].as_array_mut().into_iter().flatten() {
        set_if_absent(hook, "failurePolicy", json!("Fail"));
        set_if_absent(hook, "matchPolicy", json!("Equivalent"));
        set_if_absent(hook, "namespaceSelector", json!({}));
        set_if_absent(hook, "objectSelector", json!({}));
        set_if_absent(hook, "timeoutSeconds", json!(10));
        if mutating {
            set_if_absent(hook, "reinvocationPolicy", json!("Never"));
        }
        for rule in hook["rules"].as_array_mut().into_iter().flatten() {
            set_if_absent(rule, "scope", json!("*"));
        }
        if hook["clientConfig"]["service"].is_object() {
            set_if_absent(&mut hook["clientConfig"]["service"], "port", json!(443));
        }
    }
}

fn has_wildcard(items: &[&str]) -> bool {
    items.contains(&"*")
}

/// Upstream `validateRuleWithOperations`.
fn validate_rule(rule: &Value, path: &Path, errs: &mut FieldErrors) {
    let operations = strings(&rule["operations"]);
    if operations.is_empty() {
        errs.push(FieldError::required(&path.child("operations"), ""));
    }
    if operations.len() > 1 && has_wildcard(&operations) {
        errs.push(FieldError::invalid(
            &path.child("operations"),
            json!(operations),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, op) in operations.iter().enumerate() {
        if !OPERATIONS.contains(op) {
            errs.push(FieldError::not_supported(&path.child("operations").index(i), *op, &OPERATIONS));
        }
    }
    let groups = strings(&rule["apiGroups"]);
    if groups.is_empty() {
        errs.push(FieldError::required(&path.child("apiGroups"), ""));
    }
    if groups.len() > 1 && has_wildcard(&groups) {
        errs.push(FieldError::invalid(
            &path.child("apiGroups"),
            json!(groups),
            "if '*' is present, must not specify other API groups",
        ));
    }
    let versions = strings(&rule["apiVersions"]);
    if versions.is_empty() {
        errs.push(FieldError::required(&path.child("apiVersions"), ""));
    }
    if versions.len() > 1 && has_wildcard(&versions) {
        errs.push(FieldError::invalid(
            &path.child("apiVersions"),
            json!(versions),
            "if '*' is present, must not specify other API versions",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.is_empty() {
            errs.push(FieldError::required(&path.child("apiVersions").index(i), ""));
        }
    }
    let resources = strings(&rule["resources"]);
    let resources_path = path.child("resources");
    if resources.is_empty() {
        errs.push(FieldError::required(&resources_path, ""));
    }
    let (mut wildcard_subresources, mut wildcard_resources) = (BTreeSet::new(), BTreeSet::new());
    let (mut double, mut single, mut plain) = (false, false, false);
    for (i, res) in resources.iter().enumerate() {
        if res.is_empty() {
            errs.push(FieldError::required(&resources_path.index(i), ""));
            continue;
        }
        double |= *res == "*/*";
        single |= *res == "*";
        let Some((resource, sub)) = res.split_once('/') else {
            plain = *res != "*";
            continue;
        };
        if wildcard_subresources.contains(resource) {
            errs.push(FieldError::invalid(
                &resources_path.index(i),
                *res,
                format!("if '{resource}/*' is present, must not specify {res}"),
            ));
        }
        if wildcard_resources.contains(sub) {
            errs.push(FieldError::invalid(
                &resources_path.index(i),
                *res,
                format!("if '*/{sub}' is present, must not specify {res}"),
            ));
        }
        if sub == "*" {
            wildcard_subresources.insert(resource);
        }
        if resource == "*" {
            wildcard_resources.insert(sub);
        }
    }
    if resources.len() > 1 && double {
        errs.push(FieldError::invalid(
            &resources_path,
            json!(resources),
            "if '*/*' is present, must not specify other resources",
        ));
    }
    if single && plain {
        errs.push(FieldError::invalid(
            &resources_path,
            json!(resources),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
    if let Some(scope) = rule["scope"].as_str()
        && !SCOPES.contains(&scope)
    {
        errs.push(FieldError::not_supported(&path.child("scope"), scope, &SCOPES));
    }
}

/// Upstream `ValidateWebhookURL` (HTTPS only).
fn validate_url(url: &str, path: &Path, errs: &mut FieldErrors) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    if scheme != "https" {
        errs.push(FieldError::invalid(
            path,
            scheme,
            format!("'https' is the only allowed URL scheme{URL_FORM}"),
        ));
    }
    let (before_fragment, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (before_query, query) = before_fragment.split_once('?').unwrap_or((before_fragment, ""));
    let authority = if scheme.is_empty() { "" } else { before_query.split('/').next().unwrap_or_default() };
    let (user, host) = authority.rsplit_once('@').map_or(("", authority), |(u, h)| (u, h));
    if host.is_empty() {
        errs.push(FieldError::invalid(path, host, format!("host must be specified{URL_FORM}")));
    }
    if authority.contains('@') {
        errs.push(FieldError::invalid(path, user, "user information is not permitted in the URL"));
    }
    if !fragment.is_empty() {
        errs.push(FieldError::invalid(path, fragment, "fragments are not permitted in the URL"));
    }
    if !query.is_empty() {
        errs.push(FieldError::invalid(path, query, "query parameters are not permitted in the URL"));
    }
}

/// Upstream `ValidateWebhookService`.
fn validate_service(service: &Value, path: &Path, errs: &mut FieldErrors) {
    if s(service, &["name"]).is_empty() {
        errs.push(FieldError::required(&path.child("name"), "service name is required"));
    }
    if s(service, &["namespace"]).is_empty() {
        errs.push(FieldError::required(&path.child("namespace"), "service namespace is required"));
    }
    let port = service["port"].as_i64().unwrap_or(443);
    let msgs = is_valid_port_num(port);
    if !msgs.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("port"),
            port,
            format!("port is not valid: {}", msgs.join(", ")),
        ));
    }
    let Some(url_path) = service["path"].as_str() else { return };
    if url_path.is_empty() || url_path == "/" {
        return;
    }
    if url_path == "//" {
        errs.push(FieldError::invalid(&path.child("path"), url_path, "segment[0] may not be empty"));
        return;
    }
    if !url_path.starts_with('/') {
        errs.push(FieldError::invalid(&path.child("path"), url_path, "must start with a '/'"));
    }
    let trimmed = url_path.get(1..).unwrap_or_default();
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    for (i, step) in trimmed.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("path"),
                url_path,
                format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for m in is_dns1123_subdomain(step) {
            errs.push(FieldError::invalid(&path.child("path"), url_path, format!("segment[{i}]: {m}")));
        }
    }
}

/// Upstream's validation of a webhook configuration; `mutating` checks the reinvocation policy.
fn validate(obj: &Value, mutating: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, hook) in obj["webhooks"].as_array().into_iter().flatten().enumerate() {
        let path = Path::new("webhooks").index(i);
        let name = s(hook, &["name"]);
        if name.is_empty() {
            errs.push(FieldError::required(&path.child("name"), ""));
        } else if let msgs @ [_, ..] = is_dns1123_subdomain(name).as_slice() {
            errs.push(FieldError::invalid(&path.child("name"), name, msgs.join(",")));
        } else if name.split('.').count() < 3 {
            errs.push(FieldError::invalid(
                &path.child("name"),
                name,
                "should be a domain with at least three segments separated by dots",
            ));
        }
        for (j, rule) in hook["rules"].as_array().into_iter().flatten().enumerate() {
            validate_rule(rule, &path.child("rules").index(j), &mut errs);
        }
        if let Some(policy) = hook["failurePolicy"].as_str()
            && !["Fail", "Ignore"].contains(&policy)
        {
            errs.push(FieldError::not_supported(&path.child("failurePolicy"), policy, &["Fail", "Ignore"]));
        }
        if let Some(policy) = hook["matchPolicy"].as_str()
            && !["Equivalent", "Exact"].contains(&policy)
        {
            errs.push(FieldError::not_supported(
                &path.child("matchPolicy"),
                policy,
                &["Equivalent", "Exact"],
            ));
        }
        match s(hook, &["sideEffects"]) {
            "" => errs.push(FieldError::required(
                &path.child("sideEffects"),
                "must specify one of None, NoneOnDryRun",
            )),
            se if !SIDE_EFFECTS.contains(&se) => {
                errs.push(FieldError::not_supported(&path.child("sideEffects"), se, &SIDE_EFFECTS))
            }
            _ => {}
        }
        if let Some(t) = hook["timeoutSeconds"].as_i64()
            && !(1..=30).contains(&t)
        {
            errs.push(FieldError::invalid(
                &path.child("timeoutSeconds"),
                t,
                "the timeout value must be between 1 and 30 seconds",
            ));
        }
        for field in ["namespaceSelector", "objectSelector"] {
            if let Ok(selector) = serde_json::from_value(hook[field].clone()) {
                errs.extend(apimachinery::validation::validate_label_selector(&selector, &path.child(field)));
            }
        }
        let config = &hook["clientConfig"];
        let client = path.child("clientConfig");
        match (config["url"].as_str(), config["service"].is_object()) {
            (Some(url), false) => validate_url(url, &client.child("url"), &mut errs),
            (None, true) => validate_service(&config["service"], &client.child("service"), &mut errs),
            _ => errs.push(FieldError::required(&client, "exactly one of url or service is required")),
        }
        if mutating
            && let Some(policy) = hook["reinvocationPolicy"].as_str()
            && !["IfNeeded", "Never"].contains(&policy)
        {
            errs.push(FieldError::not_supported(
                &path.child("reinvocationPolicy"),
                policy,
                &["IfNeeded", "Never"],
            ));
        }
        let versions = strings(&hook["admissionReviewVersions"]);
        let versions_path = path.child("admissionReviewVersions");
        if versions.is_empty() {
            errs.push(FieldError::required(&versions_path, "must specify one of v1, v1beta1"));
        } else {
            let mut seen = BTreeSet::new();
            for (j, v) in versions.iter().enumerate() {
                if !seen.insert(*v) {
                    errs.push(FieldError::invalid(&versions_path.index(j), *v, "duplicate version"));
                    continue;
                }
                for m in is_dns1035_label(v) {
                    errs.push(FieldError::invalid(&versions_path.index(j), *v, m));
                }
            }
            if !versions.iter().any(|v| REVIEW_VERSIONS.contains(v)) {
                errs.push(FieldError::invalid(
                    &versions_path,
                    json!(versions),
                    "must include at least one of v1, v1beta1",
                ));
            }
        }
        if !name.is_empty() && !names.insert(name) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        }
    }
    errs
}

fn columns() -> Vec<ColumnDefinition> {
    vec![
        NAME,
        col(
            "Webhooks",
            "integer",
            0,
            "Webhooks indicates the number of webhooks registered in this configuration",
        ),
        AGE,
    ]
}

fn cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let hooks = obj["webhooks"].as_array().map_or(0, Vec::len);
    vec![json!(s(obj, &["metadata", "name"])), json!(hooks), json!(created(obj, now))]
}

/// The rules both configurations follow, for one of them.
macro_rules! webhook_configuration {
    ($kind:ident, $mutating:expr) => {
        impl Kind for $kind {
            typed_as!(admission::$kind);

            fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
                Ok(validate(obj, $mutating))
            }

            fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
                Ok(validate(new, $mutating))
            }

            /// No status subresource.
            fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
                Ok(Vec::new())
            }

            fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
                set_defaults(obj, $mutating);
                Ok(())
            }

            fn prepare_for_create(&self, obj: &mut Value) {
                first_generation(obj);
            }

            /// The generation moves when the webhooks change.
            fn prepare_for_update(&self, new: &mut Value, old: &Value) {
                let changed = new["webhooks"] != old["webhooks"];
                next_generation(new, old, changed);
            }

            fn columns(&self) -> Vec<ColumnDefinition> {
                columns()
            }

            fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
                cells(obj, now)
            }
        }
    };
}

webhook_configuration!(ValidatingWebhookConfiguration, false);
webhook_configuration!(MutatingWebhookConfiguration, true);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn config(kind: &dyn Kind, v: Value) -> Value {
        let mut v = kind.canonical(&v).unwrap();
        kind.set_defaults(&mut v).unwrap();
        v
    }

    #[test]
    fn defaults_and_row() {
        let hook = json!({"name": "check.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "clientConfig": {"service": {"name": "hook", "namespace": "system"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]});
        let m = config(
            &MutatingWebhookConfiguration,
            json!({"metadata": {"name": "m"}, "webhooks": [hook.clone()]}),
        );
        let w = &m["webhooks"][0];
        assert_eq!(
            (
                &w["failurePolicy"],
                &w["matchPolicy"],
                &w["namespaceSelector"],
                &w["objectSelector"],
                &w["timeoutSeconds"],
                &w["reinvocationPolicy"]
            ),
            (&json!("Fail"), &json!("Equivalent"), &json!({}), &json!({}), &json!(10), &json!("Never"))
        );
        assert_eq!(w["rules"][0]["scope"], "*");
        assert_eq!(w["clientConfig"]["service"]["port"], 443);
        assert!(MutatingWebhookConfiguration.validate(&m).unwrap().is_empty());
        let v =
            config(&ValidatingWebhookConfiguration, json!({"metadata": {"name": "v"}, "webhooks": [hook]}));
        assert!(v["webhooks"][0].get("reinvocationPolicy").is_none());
        assert_eq!(headers(&ValidatingWebhookConfiguration, false), "NAME WEBHOOKS AGE");
        assert_eq!(ValidatingWebhookConfiguration.cells(&v, now())[1], json!(1));
    }

    #[test]
    fn webhooks_are_validated() {
        let v = config(
            &ValidatingWebhookConfiguration,
            json!({"metadata": {"name": "v"}, "webhooks": [
            {"name": "check", "clientConfig": {"url": "http://x.example.com/a?b"}, "timeoutSeconds": 31}]}),
        );
        assert_eq!(
            aggregate_message(&ValidatingWebhookConfiguration.validate(&v).unwrap()),
            "[webhooks[0].name: Invalid value: \"check\": should be a domain with at least three segments separated by dots, webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun, webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds, webhooks[0].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path], webhooks[0].clientConfig.url: Invalid value: \"b\": query parameters are not permitted in the URL, webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1]"
        );
    }
}
