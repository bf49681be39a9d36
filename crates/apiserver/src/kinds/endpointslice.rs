//! `discovery.k8s.io/v1 EndpointSlice`: port defaults, validation of the address type,
//! addresses and ports, generation bookkeeping (anything but metadata, and labels, moves it),
//! and `kubectl get endpointslices` columns.

use std::collections::BTreeSet;
use std::net::IpAddr;

use apimachinery::validation::{
    FieldError, FieldErrors, Path, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
};
use jiff::Timestamp;
use k8s_openapi::api::discovery::v1::EndpointSlice as Type;
use serde_json::{Value, json};

use super::endpoints::PROTOCOLS;
use super::{Kind, defaulted, first_generation, immutable, next_generation, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct EndpointSlice;

const ADDRESS_TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;

pub fn set_defaults_endpointslice(slice: &mut Type) {
    for port in slice.ports.iter_mut().flatten() {
        port.name.get_or_insert_with(String::new);
        port.protocol.get_or_insert_with(|| "TCP".to_string());
    }
}

/// Upstream `ValidateEndpointSlice` (with the address type checked as on create).
pub fn validate_endpointslice(slice: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let address_type = slice.address_type.as_str();
    if !ADDRESS_TYPES.contains(&address_type) {
        errs.push(FieldError::not_supported(&Path::new("addressType"), address_type, &ADDRESS_TYPES));
    }
    let endpoints_path = Path::new("endpoints");
    if slice.endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::invalid(
            &endpoints_path,
            slice.endpoints.len(),
            format!("must have at most {MAX_ENDPOINTS} items"),
        ));
    }
    for (i, endpoint) in slice.endpoints.iter().enumerate() {
        let path = endpoints_path.index(i).child("addresses");
        if endpoint.addresses.is_empty() {
            errs.push(FieldError::required(&path, "must contain at least 1 address"));
        } else if endpoint.addresses.len() > MAX_ADDRESSES {
            errs.push(FieldError::invalid(
                &path,
                endpoint.addresses.len(),
                format!("must have at most {MAX_ADDRESSES} items"),
            ));
        }
        for (j, address) in endpoint.addresses.iter().enumerate() {
            let parsed = address.parse::<IpAddr>().ok();
            let m = match address_type {
                "IPv4" if !parsed.is_some_and(|ip| ip.is_ipv4()) => {
                    Some("must be a valid IPv4 address".to_string())
                }
                "IPv6" if !parsed.is_some_and(|ip| ip.is_ipv6()) => {
                    Some("must be a valid IPv6 address".to_string())
                }
                "FQDN" => is_dns1123_subdomain(address).into_iter().next(),
                _ => None,
            };
            if let Some(m) = m {
                errs.push(FieldError::invalid(&path.index(j), address.as_str(), m));
            }
        }
        if let Some(hostname) = endpoint.hostname.as_deref() {
            for m in is_dns1123_label(hostname) {
                errs.push(FieldError::invalid(&endpoints_path.index(i).child("hostname"), hostname, m));
            }
        }
    }
    let ports = slice.ports.as_deref().unwrap_or_default();
    let ports_path = Path::new("ports");
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::invalid(
            &ports_path,
            ports.len(),
            format!("must have at most {MAX_PORTS} items"),
        ));
        return errs;
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = ports_path.index(i);
        let name = port.name.as_deref().unwrap_or_default();
        if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(&path.child("name"), name, m));
            }
        }
        if !names.insert(name) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        }
        match port.protocol.as_deref() {
            None => errs.push(FieldError::required(&path.child("protocol"), "")),
            Some(p) if !PROTOCOLS.contains(&p) => {
                errs.push(FieldError::not_supported(&path.child("protocol"), p, &PROTOCOLS))
            }
            _ => {}
        }
        if let Some(app) = port.app_protocol.as_deref() {
            for m in is_qualified_name(app) {
                errs.push(FieldError::invalid(&path.child("appProtocol"), app, m));
            }
        }
    }
    errs
}

/// Upstream's `listWithMoreString`: up to three items, then `+ N more...`, `<unset>` when none.
fn list_with_more(items: Vec<String>) -> String {
    const MAX: usize = 3;
    let count = items.len();
    let shown = items.into_iter().take(MAX).collect::<Vec<_>>().join(",");
    if count > MAX {
        format!("{shown} + {} more...", count - MAX)
    } else if shown.is_empty() {
        "<unset>".to_string()
    } else {
        shown
    }
}

/// Everything of a slice but its metadata.
fn without_metadata(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for f in ["metadata", "apiVersion", "kind"] {
            m.remove(f);
        }
    }
    o
}

impl Kind for EndpointSlice {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_endpointslice(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old): (Type, Type) = (typed(new)?, typed(old)?);
        let mut errs = validate_endpointslice(&new);
        errs.extend(immutable(&new.address_type, &old.address_type, &Path::new("addressType")));
        Ok(errs)
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_endpointslice)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        first_generation(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = without_metadata(new) != without_metadata(old)
            || new["metadata"]["labels"] != old["metadata"]["labels"];
        next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("AddressType", "string", 0, "The type of address the slice carries: IPv4, IPv6 or FQDN."),
            col("Ports", "string", 0, "The ports of the endpoints."),
            col("Endpoints", "string", 0, "The addresses of the endpoints."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let ports = obj["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            })
            .collect();
        let addresses = obj["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| super::strings(&e["addresses"]))
            .map(str::to_string)
            .collect();
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["addressType"])),
            json!(list_with_more(ports)),
            json!(list_with_more(addresses)),
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
        assert_eq!(headers(&EndpointSlice, false), "NAME ADDRESSTYPE PORTS ENDPOINTS AGE");
        let slice = json!({"addressType": "IPv4", "ports": [{"port": 80}, {"name": "dns"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
        let cells = EndpointSlice.cells(&slice, now());
        assert_eq!(cells[2], json!("80,dns,*"));
        assert_eq!(cells[3], json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."));
        assert_eq!(EndpointSlice.cells(&json!({}), now())[2], json!("<unset>"));
    }

    #[test]
    fn defaults_generation_and_validation() {
        let mut slice = EndpointSlice
            .canonical(&json!({"metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["fd00::1"]}], "ports": [{"port": 80}]}))
            .unwrap();
        EndpointSlice.set_defaults(&mut slice).unwrap();
        assert_eq!(slice["ports"][0], json!({"name": "", "port": 80, "protocol": "TCP"}));
        assert_eq!(
            aggregate_message(&EndpointSlice.validate(&slice).unwrap()),
            "endpoints[0].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address"
        );
        EndpointSlice.prepare_for_create(&mut slice);
        let mut labelled = slice.clone();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        EndpointSlice.prepare_for_update(&mut labelled, &slice);
        assert_eq!(labelled["metadata"]["generation"], 2);
    }
}
