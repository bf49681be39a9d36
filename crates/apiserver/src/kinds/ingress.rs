//! `networking.k8s.io/v1 Ingress`: validation of rules, paths, backends and TLS hosts,
//! generation bookkeeping, status cleared on create, and `kubectl get ing` columns.

use std::net::IpAddr;

use apimachinery::validation::{
    FieldError, FieldErrors, Path, is_dns1035_label, is_dns1123_subdomain, is_valid_port_name,
    is_valid_port_num, is_wildcard_dns1123_subdomain,
};
use jiff::Timestamp;
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress as Type, IngressBackend};
use serde_json::{Value, json};

use super::{Kind, first_generation, load_balancer_ingress, next_generation, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct Ingress;

const PATH_TYPES: [&str; 3] = ["Exact", "ImplementationSpecific", "Prefix"];

/// Upstream `validateIngressBackend`.
fn validate_backend(backend: &IngressBackend, path: &Path, errs: &mut FieldErrors) {
    match (&backend.resource, &backend.service) {
        (Some(_), Some(_)) => {
            errs.push(FieldError::invalid(path, "", "cannot set both resource and service backends"))
        }
        (Some(resource), None) => {
            let p = path.child("resource");
            if resource.kind.is_empty() {
                errs.push(FieldError::required(&p.child("kind"), ""));
            }
            if resource.name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            }
        }
        (None, Some(service)) => {
            let p = path.child("service");
            if service.name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            } else {
                for m in is_dns1035_label(&service.name) {
                    errs.push(FieldError::invalid(&p.child("name"), service.name.as_str(), m));
                }
            }
            let port = service.port.clone().unwrap_or_default();
            let name = port.name.as_deref().unwrap_or_default();
            let number = port.number.unwrap_or(0);
            match (name.is_empty(), number == 0) {
                (false, false) => {
                    errs.push(FieldError::invalid(path, "", "cannot set both port name & port number"))
                }
                (false, true) => {
                    for m in is_valid_port_name(name) {
                        errs.push(FieldError::invalid(&p.child("port").child("name"), name, m));
                    }
                }
                (true, false) => {
                    for m in is_valid_port_num(number.into()) {
                        errs.push(FieldError::invalid(&p.child("port").child("number"), number, m));
                    }
                }
                (true, true) => errs.push(FieldError::required(path, "port name or number is required")),
            }
        }
        (None, None) => errs.push(FieldError::invalid(path, "", "resource or service backend is required")),
    }
}

/// Upstream `validateHTTPIngressPath`.
fn validate_path(p: &HTTPIngressPath, path: &Path, errs: &mut FieldErrors) {
    let value = p.path.as_deref().unwrap_or_default();
    match p.path_type.as_str() {
        "" => {
            errs.push(FieldError::required(&path.child("pathType"), "pathType must be specified"));
            return;
        }
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(&path.child("path"), value, "must be an absolute path"));
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            value,
                            format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in ["/..", "/."] {
                    if value.ends_with(suffix) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            value,
                            format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(&path.child("path"), value, "must be an absolute path"));
            }
        }
        other => errs.push(FieldError::not_supported(&path.child("pathType"), other, &PATH_TYPES)),
    }
    validate_backend(&p.backend, &path.child("backend"), errs);
}

fn validate_host(host: &str, path: &Path, errs: &mut FieldErrors) {
    if host.parse::<IpAddr>().is_ok() {
        errs.push(FieldError::invalid(path, host, "must be a DNS name, not an IP address"));
    }
    let msgs =
        if host.contains('*') { is_wildcard_dns1123_subdomain(host) } else { is_dns1123_subdomain(host) };
    errs.extend(msgs.into_iter().map(|m| FieldError::invalid(path, host, m)));
}

/// Upstream `ValidateIngressSpec`.
fn validate_ingress(ing: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    let spec = ing.spec.clone().unwrap_or_default();
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.is_empty() && spec.default_backend.is_none() {
        errs.push(FieldError::invalid(
            &path,
            serde_json::to_value(&spec.rules).unwrap_or_default(),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(backend) = &spec.default_backend {
        validate_backend(backend, &path.child("defaultBackend"), &mut errs);
    }
    for (i, rule) in rules.iter().enumerate() {
        let p = path.child("rules").index(i);
        if let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            validate_host(host, &p.child("host"), &mut errs);
        }
        if let Some(http) = &rule.http {
            let paths_path = p.child("http").child("paths");
            if http.paths.is_empty() {
                errs.push(FieldError::required(&paths_path, ""));
            }
            for (j, ip) in http.paths.iter().enumerate() {
                validate_path(ip, &paths_path.index(j), &mut errs);
            }
        }
    }
    for (i, tls) in spec.tls.iter().flatten().enumerate() {
        for (j, host) in tls.hosts.iter().flatten().enumerate() {
            let p = path.child("tls").index(i).child("hosts").index(j);
            let msgs = if host.contains('*') {
                is_wildcard_dns1123_subdomain(host)
            } else {
                is_dns1123_subdomain(host)
            };
            errs.extend(msgs.into_iter().map(|m| FieldError::invalid(&p, host.as_str(), m)));
        }
    }
    if let Some(class) = spec.ingress_class_name.as_deref().filter(|c| !c.is_empty()) {
        for m in is_dns1123_subdomain(class) {
            errs.push(FieldError::invalid(&path.child("ingressClassName"), class, m));
        }
    }
    errs
}

/// Upstream's `formatHosts`: up to three hosts, then `+ N more...`; `*` for none.
fn hosts(obj: &Value) -> String {
    let rules = obj["spec"]["rules"].as_array().map(Vec::as_slice).unwrap_or_default();
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = s(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let joined = list.join(",");
    if more { format!("{joined} + {} more...", rules.len() - MAX) } else { joined }
}

impl Kind for Ingress {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_ingress(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_ingress(&typed(new)?))
    }

    /// Load-balancer ingress points must be IPs where they give one.
    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = Vec::new();
        let path = Path::new("status").child("loadBalancer").child("ingress");
        for (i, point) in
            new["status"]["loadBalancer"]["ingress"].as_array().into_iter().flatten().enumerate()
        {
            let ip = s(point, &["ip"]);
            if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
                errs.push(FieldError::invalid(
                    &path.index(i).child("ip"),
                    ip,
                    apimachinery::validation::INVALID_IP,
                ));
            }
        }
        Ok(errs)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
        first_generation(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = new["spec"] != old["spec"];
        next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col(
                "Class",
                "string",
                0,
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            col(
                "Hosts",
                "string",
                0,
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col("Address", "string", 0, "Address is a list containing ingress points for the load-balancer"),
            col("Ports", "string", 0, "Ports of TLS configurations that open"),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let tls = obj["spec"]["tls"].as_array().is_some_and(|t| !t.is_empty());
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(obj["spec"]["ingressClassName"].as_str().unwrap_or("<none>")),
            json!(hosts(obj)),
            json!(load_balancer_ingress(&obj["status"]["loadBalancer"])),
            json!(if tls { "80, 443" } else { "80" }),
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
    fn row() {
        assert_eq!(headers(&Ingress, false), "NAME CLASS HOSTS ADDRESS PORTS AGE");
        let ing = json!({"spec": {"ingressClassName": "nginx", "tls": [{}],
            "rules": [{"host": "a.com"}, {}, {"host": "c.com"}, {"host": "d.com"}, {"host": "e.com"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.1"}]}}});
        assert_eq!(
            Ingress.cells(&ing, now())[1..5],
            [
                json!("nginx"),
                json!("a.com,c.com,d.com + 2 more..."),
                json!("10.0.0.1,10.0.0.2"),
                json!("80, 443")
            ]
        );
        assert_eq!(
            Ingress.cells(&json!({}), now())[1..5],
            [json!("<none>"), json!("*"), json!(""), json!("80")]
        );
    }

    #[test]
    fn paths_and_backends_are_validated() {
        let ing = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"host": "10.0.0.1", "http": {"paths": [
            {"path": "/a", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "b", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {}}}}]}}]}});
        assert_eq!(
            aggregate_message(&Ingress.validate(&ing).unwrap()),
            "[spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address, spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified, spec.rules[0].http.paths[1].path: Invalid value: \"b\": must be an absolute path, spec.rules[0].http.paths[1].backend: Required value: port name or number is required]"
        );
        let empty = json!({"metadata": {"name": "i"}, "spec": {}});
        assert_eq!(
            aggregate_message(&Ingress.validate(&empty).unwrap()),
            "spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"
        );
    }
}
