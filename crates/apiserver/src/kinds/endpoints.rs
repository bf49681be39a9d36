//! `v1 Endpoints`: the port protocol defaulted to TCP, validation of subsets (addresses must
//! be IPs that can carry traffic, ports named when there are several), and `kubectl get ep`
//! columns.

use std::net::IpAddr;

use apimachinery::validation::{
    FieldError, FieldErrors, INVALID_IP, Path, is_dns1123_label, is_dns1123_subdomain, is_valid_port_num,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints as Type};
use serde_json::{Value, json};

use super::{Kind, defaulted, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct Endpoints;

pub const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

pub fn set_defaults_endpoints(ep: &mut Type) {
    for subset in ep.subsets.iter_mut().flatten() {
        for port in subset.ports.iter_mut().flatten() {
            port.protocol.get_or_insert_with(|| "TCP".to_string());
        }
    }
}

/// Upstream `ValidateNonSpecialIP`: addresses that cannot be an endpoint.
pub fn special_ip(ip: IpAddr) -> Option<&'static str> {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    let link_local_multicast = match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => (v6.segments()[0] & 0xff0f) == 0xff02,
    };
    if ip.is_unspecified() {
        Some("may not be unspecified (0.0.0.0)")
    } else if ip.is_loopback() {
        Some("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    } else if link_local {
        Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    } else if link_local_multicast {
        Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    } else {
        None
    }
}

fn validate_address(address: &EndpointAddress, path: &Path, errs: &mut FieldErrors) {
    let ip_path = path.child("ip");
    match address.ip.parse::<IpAddr>() {
        Err(_) => errs.push(FieldError::invalid(&ip_path, address.ip.as_str(), INVALID_IP)),
        Ok(ip) => {
            if let Some(m) = special_ip(ip) {
                errs.push(FieldError::invalid(&ip_path, address.ip.as_str(), m));
            }
        }
    }
    if let Some(hostname) = address.hostname.as_deref().filter(|h| !h.is_empty()) {
        for m in is_dns1123_label(hostname) {
            errs.push(FieldError::invalid(&path.child("hostname"), hostname, m));
        }
    }
    if let Some(node) = address.node_name.as_deref() {
        for m in is_dns1123_subdomain(node) {
            errs.push(FieldError::invalid(&path.child("nodeName"), node, m));
        }
    }
}

/// Upstream `ValidateEndpoints`.
pub fn validate_endpoints(ep: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, subset) in ep.subsets.iter().flatten().enumerate() {
        let path = Path::new("subsets").index(i);
        let addresses = subset.addresses.as_deref().unwrap_or_default();
        let not_ready = subset.not_ready_addresses.as_deref().unwrap_or_default();
        if addresses.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(&path, "must specify `addresses` or `notReadyAddresses`"));
        }
        for (j, a) in addresses.iter().enumerate() {
            validate_address(a, &path.child("addresses").index(j), &mut errs);
        }
        for (j, a) in not_ready.iter().enumerate() {
            validate_address(a, &path.child("notReadyAddresses").index(j), &mut errs);
        }
        let ports = subset.ports.as_deref().unwrap_or_default();
        for (j, port) in ports.iter().enumerate() {
            let p = path.child("ports").index(j);
            let name = port.name.as_deref().unwrap_or_default();
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            } else if !name.is_empty() {
                for m in is_dns1123_label(name) {
                    errs.push(FieldError::invalid(&p.child("name"), name, m));
                }
            }
            for m in is_valid_port_num(port.port.into()) {
                errs.push(FieldError::invalid(&p.child("port"), port.port, m));
            }
            match port.protocol.as_deref().unwrap_or_default() {
                "" => errs.push(FieldError::required(&p.child("protocol"), "")),
                proto if !PROTOCOLS.contains(&proto) => {
                    errs.push(FieldError::not_supported(&p.child("protocol"), proto, &PROTOCOLS))
                }
                _ => {}
            }
        }
    }
    errs
}

/// Upstream's `formatEndpoints`: up to three `ip:port` pairs of ready addresses.
fn endpoints_cell(obj: &Value) -> String {
    let Some(subsets) = obj["subsets"].as_array().filter(|s| !s.is_empty()) else {
        return "<none>".to_string();
    };
    const MAX: usize = 3;
    let (mut list, mut count, mut more) = (Vec::new(), 0, false);
    for subset in subsets {
        let addresses: Vec<&str> =
            subset["addresses"].as_array().into_iter().flatten().map(|a| s(a, &["ip"])).collect();
        let ports = subset["ports"].as_array().map(Vec::as_slice).unwrap_or_default();
        let ports: Vec<Option<i64>> = if ports.is_empty() {
            vec![None]
        } else {
            ports.iter().map(|p| Some(p["port"].as_i64().unwrap_or(0))).collect()
        };
        for port in ports {
            count += addresses.len();
            for ip in &addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(match port {
                    None => ip.to_string(),
                    Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
                    Some(p) => format!("{ip}:{p}"),
                });
            }
        }
    }
    let joined = list.join(",");
    if more { format!("{joined} + {} more...", count - MAX) } else { joined }
}

impl Kind for Endpoints {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_endpoints(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_endpoints(&typed(new)?))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_endpoints)
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![NAME, col("Endpoints", "string", 0, "The addresses and ports of the endpoints."), AGE]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        vec![json!(s(obj, &["metadata", "name"])), json!(endpoints_cell(obj)), json!(created(obj, now))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    #[test]
    fn row() {
        assert_eq!(headers(&Endpoints, false), "NAME ENDPOINTS AGE");
        let ep = json!({"metadata": {"name": "web"}, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            Endpoints.cells(&ep, now())[1],
            json!("10.0.0.1:80,[fd00::1]:80,10.0.0.1:443 + 1 more...")
        );
        assert_eq!(Endpoints.cells(&json!({}), now())[1], json!("<none>"));
        let not_ready = json!({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(Endpoints.cells(&not_ready, now())[1], json!(""));
    }

    #[test]
    fn defaults_and_validation() {
        let mut ep = Endpoints
            .canonical(&json!({"metadata": {"name": "web"}, "subsets": [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80}]}]}))
            .unwrap();
        Endpoints.set_defaults(&mut ep).unwrap();
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            aggregate_message(&Endpoints.validate(&ep).unwrap()),
            "subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)"
        );
    }
}
