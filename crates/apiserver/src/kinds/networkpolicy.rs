//! `networking.k8s.io/v1 NetworkPolicy`: defaults (policy types from the rules, port protocol
//! TCP), validation of selectors, ports, peers and IP blocks, generation bookkeeping, and
//! `kubectl get netpol` columns.

use std::net::IpAddr;

use apimachinery::labels::format_label_selector;
use apimachinery::validation::validate_label_selector;
use apimachinery::validation::{
    FieldError, FieldErrors, INVALID_CIDR, Path, is_valid_port_name, is_valid_port_num, parse_cidr,
};
use jiff::Timestamp;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy as Type, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::{Kind, defaulted, first_generation, next_generation, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct NetworkPolicy;

pub fn set_defaults_network_policy(np: &mut Type) {
    let spec = np.spec.get_or_insert_with(Default::default);
    let ports = spec
        .ingress
        .iter_mut()
        .flatten()
        .flat_map(|r| r.ports.iter_mut().flatten())
        .chain(spec.egress.iter_mut().flatten().flat_map(|r| r.ports.iter_mut().flatten()));
    for port in ports {
        port.protocol.get_or_insert_with(|| "TCP".to_string());
    }
    if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
        let mut types = vec!["Ingress".to_string()];
        if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
            types.push("Egress".to_string());
        }
        spec.policy_types = Some(types);
    }
}

fn validate_port(port: &NetworkPolicyPort, path: &Path, errs: &mut FieldErrors) {
    if let Some(p) = port.protocol.as_deref()
        && !["TCP", "UDP", "SCTP"].contains(&p)
    {
        errs.push(FieldError::not_supported(&path.child("protocol"), p, &["TCP", "UDP", "SCTP"]));
    }
    match (&port.port, port.end_port) {
        (Some(IntOrString::Int(n)), end) => {
            for m in is_valid_port_num((*n).into()) {
                errs.push(FieldError::invalid(&path.child("port"), *n, m));
            }
            if let Some(end) = end {
                if end < *n {
                    errs.push(FieldError::invalid(
                        &path.child("endPort"),
                        *n,
                        "must be greater than or equal to `port`",
                    ));
                }
                for m in is_valid_port_num(end.into()) {
                    errs.push(FieldError::invalid(&path.child("endPort"), end, m));
                }
            }
        }
        (Some(IntOrString::String(name)), end) => {
            if let Some(end) = end {
                errs.push(FieldError::invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            for m in is_valid_port_name(name) {
                errs.push(FieldError::invalid(&path.child("port"), name.as_str(), m));
            }
        }
        (None, Some(end)) => {
            errs.push(FieldError::invalid(
                &path.child("endPort"),
                end,
                "may not be specified when `port` is not specified",
            ));
        }
        (None, None) => {}
    }
}

/// Whether the network `net` holds `ip`.
fn contains(net: (IpAddr, u8), ip: IpAddr) -> bool {
    let prefix = u32::from(net.1);
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn validate_ip_block(block: &IPBlock, path: &Path, errs: &mut FieldErrors) {
    if block.cidr.is_empty() {
        errs.push(FieldError::required(&path.child("cidr"), ""));
        return;
    }
    let Some(cidr) = parse_cidr(&block.cidr) else {
        errs.push(FieldError::invalid(&path.child("cidr"), block.cidr.as_str(), INVALID_CIDR));
        return;
    };
    for (i, except) in block.except.iter().flatten().enumerate() {
        let p = path.child("except").index(i);
        match parse_cidr(except) {
            None => errs.push(FieldError::invalid(&p, except.as_str(), INVALID_CIDR)),
            Some(e) => {
                if !contains(cidr, e.0) || cidr.1 >= e.1 {
                    errs.push(FieldError::invalid(&p, except.as_str(), "must be a strict subset of `cidr`"));
                }
            }
        }
    }
}

fn validate_peer(peer: &NetworkPolicyPeer, path: &Path, errs: &mut FieldErrors) {
    let mut peers = 0;
    if let Some(sel) = &peer.pod_selector {
        peers += 1;
        errs.extend(validate_label_selector(sel, &path.child("podSelector")));
    }
    if let Some(sel) = &peer.namespace_selector {
        peers += 1;
        errs.extend(validate_label_selector(sel, &path.child("namespaceSelector")));
    }
    if let Some(block) = &peer.ip_block {
        peers += 1;
        validate_ip_block(block, &path.child("ipBlock"), errs);
    }
    if peers == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    } else if peers > 1 && peer.ip_block.is_some() {
        errs.push(FieldError::forbidden(path, "may not specify both ipBlock and another peer"));
    }
}

/// Upstream `ValidateNetworkPolicySpec`.
fn validate_network_policy(np: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(spec) = &np.spec else { return errs };
    let path = Path::new("spec");
    if let Some(sel) = &spec.pod_selector {
        errs.extend(validate_label_selector(sel, &path.child("podSelector")));
    }
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let p = path.child("ingress").index(i);
        for (j, port) in rule.ports.iter().flatten().enumerate() {
            validate_port(port, &p.child("ports").index(j), &mut errs);
        }
        for (j, peer) in rule.from.iter().flatten().enumerate() {
            validate_peer(peer, &p.child("from").index(j), &mut errs);
        }
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let p = path.child("egress").index(i);
        for (j, port) in rule.ports.iter().flatten().enumerate() {
            validate_port(port, &p.child("ports").index(j), &mut errs);
        }
        for (j, peer) in rule.to.iter().flatten().enumerate() {
            validate_peer(peer, &p.child("to").index(j), &mut errs);
        }
    }
    let types = spec.policy_types.as_deref().unwrap_or_default();
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            &path.child("policyTypes"),
            json!(types),
            "may not specify more than two policyTypes",
        ));
        return errs;
    }
    for (i, t) in types.iter().enumerate() {
        if !["Ingress", "Egress"].contains(&t.as_str()) {
            errs.push(FieldError::not_supported(
                &path.child("policyTypes").index(i),
                t.as_str(),
                &["Ingress", "Egress"],
            ));
        }
    }
    errs
}

impl Kind for NetworkPolicy {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_network_policy(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_network_policy(&typed(new)?))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_network_policy)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        first_generation(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = new["spec"] != old["spec"];
        next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![NAME, col("Pod-Selector", "string", 0, "The pods the policy applies to."), AGE]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let selector = serde_json::from_value(obj["spec"]["podSelector"].clone()).unwrap_or_default();
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(format_label_selector(Some(&selector))),
            json!(created(obj, now)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn policy(v: Value) -> Value {
        let mut v = NetworkPolicy.canonical(&v).unwrap();
        NetworkPolicy.set_defaults(&mut v).unwrap();
        v
    }

    #[test]
    fn defaults_and_row() {
        let np = policy(json!({"metadata": {"name": "n"}, "spec": {"podSelector": {},
            "egress": [{"ports": [{"port": 53}]}]}}));
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(headers(&NetworkPolicy, false), "NAME POD-SELECTOR AGE");
        assert_eq!(NetworkPolicy.cells(&np, now())[1], json!("<none>"));
        let web = policy(
            json!({"metadata": {"name": "n"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}}}),
        );
        assert_eq!(web["spec"]["policyTypes"], json!(["Ingress"]));
        assert_eq!(NetworkPolicy.cells(&web, now())[1], json!("app=web"));
    }

    #[test]
    fn peers_and_ip_blocks_are_validated() {
        let np = policy(json!({"metadata": {"name": "n"}, "spec": {"podSelector": {}, "ingress": [{"from": [
            {}, {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24", "10.0.1.0/24"]}, "podSelector": {}}]}],
            "policyTypes": ["Sideways"]}}));
        assert_eq!(
            aggregate_message(&NetworkPolicy.validate(&np).unwrap()),
            "[spec.ingress[0].from[0]: Required value: must specify a peer, spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: \"10.1.0.0/24\": must be a strict subset of `cidr`, spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer, spec.policyTypes[0]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\"]"
        );
    }
}
