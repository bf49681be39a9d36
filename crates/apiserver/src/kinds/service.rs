//! `v1 Service`: upstream's defaults (`SetDefaults_Service` and the registry's IP-family
//! fields), validation of creates and updates (ports, types, ExternalName, cluster IPs that may
//! not change), the update fix-ups that keep allocated values a client left out, and
//! `kubectl get svc` columns; its cluster IPs and node ports are given on admission, from the
//! cluster's [`service_network`](crate::service_network).

use std::collections::BTreeSet;
use std::net::IpAddr;

use apimachinery::labels::format_labels;
use apimachinery::validation::{
    FieldError, FieldErrors, INVALID_IP, Path, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain,
    is_qualified_name, is_valid_port_name, is_valid_port_num, parse_cidr, validate_labels,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ClientIPConfig, Service as Type, ServicePort, ServiceSpec, SessionAffinityConfig,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::{Kind, defaulted, load_balancer_ingress, strings, typed, typed_as};
use crate::error::{ApiError, ApiResult};
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};
use crate::resources::ResourceType;
use crate::service_network::{self, AllocationError};
use crate::storage::Snapshot;

#[derive(Debug)]
pub struct Service;

const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
/// The family of the cluster's service network: everynode's clusters are single-stack IPv4.
const PRIMARY_FAMILY: &str = "IPv4";
const MAX_CLIENT_IP_AFFINITY_SECONDS: i32 = 86400;

fn spec_path() -> Path {
    Path::new("spec")
}

fn type_of(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or_default()
}

/// Upstream `ExternallyAccessible`: load balancers, node ports, and cluster IPs with external
/// IPs.
fn externally_accessible(spec: &ServiceSpec) -> bool {
    match type_of(spec) {
        "LoadBalancer" | "NodePort" => true,
        "ClusterIP" => spec.external_ips.as_ref().is_some_and(|ips| !ips.is_empty()),
        _ => false,
    }
}

fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ips.as_deref().is_some_and(|ips| ips.len() == 1 && ips[0] == "None")
}

fn family_of(ip: &str) -> Option<&'static str> {
    ip.parse::<IpAddr>().ok().map(|ip| if ip.is_ipv4() { "IPv4" } else { "IPv6" })
}

/// Upstream's `SetDefaults_Service`, then what its registry fills in before allocating: the
/// plural cluster IPs from the singular, and the IP families and their policy.
pub fn set_defaults_service(svc: &mut Type) {
    let spec = svc.spec.get_or_insert_with(Default::default);
    let affinity = spec.session_affinity.get_or_insert_with(|| "None".to_string()).clone();
    if affinity == "None" {
        spec.session_affinity_config = None;
    } else if affinity == "ClientIP"
        && spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .is_none()
    {
        spec.session_affinity_config =
            Some(SessionAffinityConfig { client_ip: Some(ClientIPConfig { timeout_seconds: Some(10800) }) });
    }
    let type_ = spec.type_.get_or_insert_with(|| "ClusterIP".to_string()).clone();
    for port in spec.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_string());
        let unset = match &port.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    if externally_accessible(spec) && spec.external_traffic_policy.as_deref().unwrap_or_default().is_empty() {
        spec.external_traffic_policy = Some("Cluster".to_string());
    }
    if spec.internal_traffic_policy.is_none()
        && ["ClusterIP", "NodePort", "LoadBalancer"].contains(&type_.as_str())
    {
        spec.internal_traffic_policy = Some("Cluster".to_string());
    }
    if type_ == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
        let ingress =
            svc.status.as_mut().and_then(|s| s.load_balancer.as_mut()).and_then(|lb| lb.ingress.as_mut());
        for point in ingress.into_iter().flatten() {
            if point.ip.as_deref().is_some_and(|ip| !ip.is_empty()) && point.ip_mode.is_none() {
                point.ip_mode = Some("VIP".to_string());
            }
        }
    }
    // The registry's part: the plural cluster IPs follow the singular an older client sets.
    let cluster_ip = spec.cluster_ip.clone().unwrap_or_default();
    if !cluster_ip.is_empty() && spec.cluster_ips.as_ref().is_none_or(Vec::is_empty) {
        spec.cluster_ips = Some(vec![cluster_ip]);
    }
    if type_ != "ExternalName" {
        init_ip_families(spec);
    }
}

/// Upstream's `initIPFamilyFields` on a single-stack cluster: headless services without a
/// selector get both families; the rest get the families of their cluster IPs, else the
/// cluster's, and the policy those imply.
fn init_ip_families(spec: &mut ServiceSpec) {
    let selectorless = spec.selector.as_ref().is_none_or(|s| s.is_empty());
    if is_headless(spec) && selectorless {
        let policy = spec.ip_family_policy.get_or_insert_with(|| "RequireDualStack".to_string()).clone();
        let families = spec.ip_families.get_or_insert_with(Vec::new);
        if families.is_empty() {
            families.push(PRIMARY_FAMILY.to_string());
        }
        if policy != "SingleStack" && families.len() == 1 {
            let other = if families[0] == "IPv6" { "IPv4" } else { "IPv6" };
            families.push(other.to_string());
        }
        return;
    }
    let families = spec.ip_families.get_or_insert_with(Vec::new);
    for (i, ip) in spec.cluster_ips.iter().flatten().enumerate() {
        if ip == "None" {
            break;
        }
        if i >= families.len()
            && let Some(family) = family_of(ip)
        {
            families.push(family.to_string());
        }
    }
    if spec.ip_family_policy.is_none() {
        let dual = families.len() == 2;
        spec.ip_family_policy = Some(if dual { "RequireDualStack" } else { "SingleStack" }.to_string());
    }
    if families.is_empty() {
        families.push(PRIMARY_FAMILY.to_string());
    }
}

/// Upstream `validateServicePort`.
fn validate_port(
    port: &ServicePort,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &Path,
    errs: &mut FieldErrors,
) {
    let name = port.name.as_deref().unwrap_or_default();
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(&path.child("name"), name, m));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        }
    }
    for m in is_valid_port_num(port.port.into()) {
        errs.push(FieldError::invalid(&path.child("port"), port.port, m));
    }
    match port.protocol.as_deref().unwrap_or_default() {
        "" => errs.push(FieldError::required(&path.child("protocol"), "")),
        p if !PROTOCOLS.contains(&p) => {
            errs.push(FieldError::not_supported(&path.child("protocol"), p, &PROTOCOLS))
        }
        _ => {}
    }
    errs.extend(validate_port_num_or_name(port.target_port.as_ref(), &path.child("targetPort")));
    if let Some(app) = port.app_protocol.as_deref() {
        for m in is_qualified_name(app) {
            errs.push(FieldError::invalid(&path.child("appProtocol"), app, m));
        }
    }
}

/// Upstream `ValidatePortNumOrName`.
pub fn validate_port_num_or_name(port: Option<&IntOrString>, path: &Path) -> FieldErrors {
    match port {
        Some(IntOrString::Int(n)) => {
            is_valid_port_num((*n).into()).into_iter().map(|m| FieldError::invalid(path, *n, m)).collect()
        }
        Some(IntOrString::String(s)) => {
            is_valid_port_name(s).into_iter().map(|m| FieldError::invalid(path, s.as_str(), m)).collect()
        }
        None => is_valid_port_num(0).into_iter().map(|m| FieldError::invalid(path, 0, m)).collect(),
    }
}

/// Upstream `ValidateService`.
pub fn validate_service(svc: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let default_spec = ServiceSpec::default();
    let spec = svc.spec.as_ref().unwrap_or(&default_spec);
    let path = spec_path();
    let type_ = type_of(spec);
    let headless = is_headless(spec);
    let ports = spec.ports.as_deref().unwrap_or_default();
    let cluster_ips = spec.cluster_ips.as_deref().unwrap_or_default();

    if ports.is_empty() && !headless && type_ != "ExternalName" {
        errs.push(FieldError::required(&path.child("ports"), ""));
    }
    match type_ {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            &path.child("clusterIPs").index(0),
            "None",
            format!("may not be set to 'None' for {type_} services"),
        )),
        "ExternalName" => {
            for field in ["clusterIPs", "ipFamilies"] {
                let set = if field == "clusterIPs" {
                    !cluster_ips.is_empty()
                } else {
                    spec.ip_families.as_ref().is_some_and(|f| !f.is_empty())
                };
                if set {
                    errs.push(FieldError::forbidden(
                        &path.child(field),
                        "may not be set for ExternalName services",
                    ));
                }
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    &path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let cname = spec.external_name.as_deref().unwrap_or_default();
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(FieldError::required(&path.child("externalName"), ""));
            } else {
                for m in is_dns1123_subdomain(cname) {
                    errs.push(FieldError::invalid(&path.child("externalName"), cname, m));
                }
            }
        }
        _ => {}
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        validate_port(port, ports.len() > 1, &mut names, &path.child("ports").index(i), &mut errs);
    }
    if let Some(selector) = &spec.selector {
        errs.extend(validate_labels(selector, &path.child("selector")));
    }
    match spec.session_affinity.as_deref().unwrap_or_default() {
        "" => errs.push(FieldError::required(&path.child("sessionAffinity"), "")),
        "ClientIP" => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            let p = path.child("sessionAffinityConfig").child("clientIP").child("timeoutSeconds");
            match timeout {
                None => errs.push(FieldError::required(&p, "")),
                Some(t) if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS => errs.push(FieldError::invalid(
                    &p,
                    t,
                    format!("must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"),
                )),
                Some(_) => {}
            }
        }
        "None" => {
            if spec.session_affinity_config.is_some() {
                errs.push(FieldError::invalid(
                    &path.child("sessionAffinityConfig"),
                    serde_json::to_value(&spec.session_affinity_config).unwrap_or_default(),
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => {
            errs.push(FieldError::not_supported(&path.child("sessionAffinity"), other, &["ClientIP", "None"]))
        }
    }
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        if ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(&path.child("externalIPs").index(i), ip.as_str(), INVALID_IP));
        }
    }
    if type_.is_empty() {
        errs.push(FieldError::required(&path.child("type"), ""));
    } else if !TYPES.contains(&type_) {
        errs.push(FieldError::not_supported(&path.child("type"), type_, &TYPES));
    }
    if type_ == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if port.node_port.unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    &path.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let protocol = port.protocol.as_deref().unwrap_or_default();
        let node_port = port.node_port.unwrap_or(0);
        if node_port != 0 && !node_ports.insert((protocol, node_port)) {
            errs.push(FieldError::duplicate(&path.child("ports").index(i).child("nodePort"), node_port));
        }
        if !port_keys.insert((protocol, port.port)) {
            errs.push(FieldError::duplicate(
                &path.child("ports").index(i),
                json!({"port": port.port, "protocol": protocol}),
            ));
        }
    }
    if type_ != "LoadBalancer" {
        if spec.load_balancer_source_ranges.as_ref().is_some_and(|r| !r.is_empty()) {
            errs.push(FieldError::forbidden(
                &path.child("loadBalancerSourceRanges"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        if spec.allocate_load_balancer_node_ports.is_some() {
            errs.push(FieldError::forbidden(
                &path.child("allocateLoadBalancerNodePorts"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        if spec.load_balancer_class.is_some() {
            errs.push(FieldError::forbidden(
                &path.child("loadBalancerClass"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    } else {
        if spec.allocate_load_balancer_node_ports.is_none() {
            errs.push(FieldError::required(&path.child("allocateLoadBalancerNodePorts"), ""));
        }
        for (i, range) in spec.load_balancer_source_ranges.iter().flatten().enumerate() {
            if parse_cidr(range.trim()).is_none() {
                errs.push(FieldError::invalid(
                    &path.child("loadBalancerSourceRanges").index(i),
                    range.as_str(),
                    "must be a CIDR",
                ));
            }
        }
        if let Some(class) = spec.load_balancer_class.as_deref() {
            for m in is_qualified_name(class) {
                errs.push(FieldError::invalid(&path.child("loadBalancerClass"), class, m));
            }
        }
    }
    validate_traffic_policies(spec, &path, &mut errs);
    if let Some(d) = spec.traffic_distribution.as_deref()
        && d != "PreferClose"
    {
        errs.push(FieldError::not_supported(&path.child("trafficDistribution"), d, &["PreferClose"]));
    }
    validate_cluster_ips(spec, &path, &mut errs);
    errs
}

/// Upstream's external and internal traffic policy checks.
fn validate_traffic_policies(spec: &ServiceSpec, path: &Path, errs: &mut FieldErrors) {
    let external = spec.external_traffic_policy.as_deref().unwrap_or_default();
    if !externally_accessible(spec) {
        if !external.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("externalTrafficPolicy"),
                external,
                "may only be set for externally-accessible services",
            ));
        }
    } else if external.is_empty() {
        errs.push(FieldError::required(&path.child("externalTrafficPolicy"), ""));
    } else if !["Cluster", "Local"].contains(&external) {
        errs.push(FieldError::not_supported(
            &path.child("externalTrafficPolicy"),
            external,
            &["Cluster", "Local"],
        ));
    }
    let needs_health_check = type_of(spec) == "LoadBalancer" && external == "Local";
    let hc = spec.health_check_node_port.unwrap_or(0);
    if !needs_health_check && hc != 0 {
        errs.push(FieldError::invalid(
            &path.child("healthCheckNodePort"),
            hc,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    match spec.internal_traffic_policy.as_deref() {
        None if ["ClusterIP", "NodePort", "LoadBalancer"].contains(&type_of(spec)) => {
            errs.push(FieldError::required(&path.child("internalTrafficPolicy"), ""));
        }
        Some(p) if !["Cluster", "Local"].contains(&p) => {
            errs.push(FieldError::not_supported(
                &path.child("internalTrafficPolicy"),
                p,
                &["Cluster", "Local"],
            ));
        }
        _ => {}
    }
}

/// Upstream `validateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips(spec: &ServiceSpec, path: &Path, errs: &mut FieldErrors) {
    if type_of(spec) == "ExternalName" {
        return;
    }
    let ips_path = path.child("clusterIPs");
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or_default();
    let ips = spec.cluster_ips.as_deref().unwrap_or_default();
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != cluster_ip {
            errs.push(FieldError::invalid(&ips_path, json!(ips), "first value must match `clusterIP`"));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            json!(ips),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families = spec.ip_families.as_deref().unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (i, family) in families.iter().enumerate() {
        if !["IPv4", "IPv6"].contains(&family.as_str()) {
            errs.push(FieldError::not_supported(
                &path.child("ipFamilies").index(i),
                family.as_str(),
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(family) {
            errs.push(FieldError::duplicate(&path.child("ipFamilies").index(i), family.as_str()));
        }
    }
    if let Some(policy) = spec.ip_family_policy.as_deref() {
        const POLICIES: [&str; 3] = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(&path.child("ipFamilyPolicy"), policy, &POLICIES));
        }
    }
    let mut invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    json!(ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if ip.parse::<IpAddr>().is_err() {
            invalid = true;
            errs.push(FieldError::invalid(&ips_path.index(i), ip.as_str(), INVALID_IP));
        }
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(&ips_path, json!(ips), "may only hold up to 2 values"));
    }
    if invalid {
        return;
    }
    if ips.len() > 1 && family_of(&ips[0]) == family_of(&ips[1]) {
        errs.push(FieldError::invalid(
            &ips_path,
            json!(ips),
            "may specify no more than one IP for each IP family",
        ));
    }
    if !is_headless(spec) {
        for (i, (ip, family)) in ips.iter().zip(families).enumerate() {
            let want = if family == "IPv6" { "IPv6" } else { "IPv4" };
            if family_of(ip) != Some(want) && ["IPv4", "IPv6"].contains(&family.as_str()) {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip.as_str(),
                    format!("expected an {want} value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

/// Upstream's checks that an update keeps the cluster IPs and IP families it was given
/// (unless the service becomes or stops being an ExternalName or headless service).
pub fn validate_service_update(new: &Type, old: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let default_spec = ServiceSpec::default();
    let (spec, old_spec) =
        (new.spec.as_ref().unwrap_or(&default_spec), old.spec.as_ref().unwrap_or(&default_spec));
    let external_name = type_of(spec) == "ExternalName" || type_of(old_spec) == "ExternalName";
    let ips_path = spec_path().child("clusterIPs");
    let (ips, old_ips) = (
        spec.cluster_ips.as_deref().unwrap_or_default(),
        old_spec.cluster_ips.as_deref().unwrap_or_default(),
    );
    let both_headless = is_headless(spec) && is_headless(old_spec);
    if !(external_name || both_headless) {
        let changed =
            |i: usize| FieldError::invalid(&ips_path.index(i), json!(ips), "may not change once set");
        if old_ips.len() == ips.len() {
            for (i, (a, b)) in old_ips.iter().zip(ips).enumerate() {
                if a != b {
                    errs.push(changed(i));
                }
            }
        } else if old_ips.len() > ips.len() {
            if ips.is_empty() {
                errs.push(FieldError::invalid(
                    &ips_path.index(0),
                    json!(ips),
                    "primary clusterIP can not be unset",
                ));
            } else if ips[0] != old_ips[0] {
                errs.push(changed(0));
            }
            if ips.len() == 1 && spec.ip_family_policy.as_deref() != Some("SingleStack") {
                errs.push(FieldError::invalid(
                    &ips_path.index(0),
                    json!(ips),
                    "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && ips[0] != old_ips[0] {
            errs.push(changed(0));
        }
    }
    if !external_name && is_headless(spec) == is_headless(old_spec) && !is_headless(spec) {
        let (families, old_families) = (
            spec.ip_families.as_deref().unwrap_or_default(),
            old_spec.ip_families.as_deref().unwrap_or_default(),
        );
        let fam_path = spec_path().child("ipFamilies").index(0);
        let primary_changed =
            !families.is_empty() && !old_families.is_empty() && families[0] != old_families[0];
        let changed =
            if families.len() == old_families.len() { families != old_families } else { primary_changed };
        if changed {
            errs.push(FieldError::invalid(&fam_path, json!(families), "may not change once set"));
        }
    }
    errs.extend(validate_service(new));
    errs
}

fn spec_mut(svc: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    svc["spec"].as_object_mut()
}

/// What an update of a service keeps or clears that the client could not know (upstream's
/// `dropTypeDependentFields`, `patchAllocatedValues` and `NormalizeClusterIPs`): values only a
/// type being left needs are dropped when unchanged; allocated IPs and ports left out are kept.
fn prepare_update(new: &mut Value, old: &Value) {
    let new_type = new["spec"]["type"].as_str().unwrap_or("ClusterIP").to_string();
    let old_type = old["spec"]["type"].as_str().unwrap_or("ClusterIP").to_string();
    let needs_cluster_ip = |t: &str| t != "ExternalName";
    let needs_node_port = |t: &str, spec: &Value| {
        t == "NodePort"
            || (t == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].as_bool() != Some(false))
    };
    let same = |field: &str, new: &Value| new["spec"].get(field) == old["spec"].get(field);

    // Leaving a type: drop what only it needed, when the client did not change it.
    if needs_cluster_ip(&old_type) && !needs_cluster_ip(&new_type) {
        for field in [["clusterIP", "clusterIPs"].as_slice(), &["ipFamilies"], &["ipFamilyPolicy"]] {
            if field.iter().all(|f| same(f, new))
                && let Some(spec) = spec_mut(new)
            {
                for f in field {
                    spec.remove(*f);
                }
            }
        }
    }
    let node_ports = |v: &Value| -> Vec<Value> {
        v["spec"]["ports"].as_array().into_iter().flatten().map(|p| p["nodePort"].clone()).collect()
    };
    if needs_node_port(&old_type, &old["spec"])
        && !needs_node_port(&new_type, &new["spec"])
        && node_ports(new) == node_ports(old)
    {
        for port in new["spec"]["ports"].as_array_mut().into_iter().flatten() {
            if let Some(p) = port.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    let needs_hc = |t: &str, v: &Value| t == "LoadBalancer" && v["spec"]["externalTrafficPolicy"] == "Local";
    if needs_hc(&old_type, old)
        && !needs_hc(&new_type, new)
        && same("healthCheckNodePort", new)
        && let Some(spec) = spec_mut(new)
    {
        spec.remove("healthCheckNodePort");
    }
    if old_type == "LoadBalancer" && new_type != "LoadBalancer" {
        for field in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(field, new)
                && let Some(spec) = spec_mut(new)
            {
                spec.remove(field);
            }
        }
    }
    let accessible = |t: &str, v: &Value| {
        matches!(t, "LoadBalancer" | "NodePort")
            || (t == "ClusterIP" && v["spec"]["externalIPs"].as_array().is_some_and(|a| !a.is_empty()))
    };
    if accessible(&old_type, old)
        && !accessible(&new_type, new)
        && same("externalTrafficPolicy", new)
        && let Some(spec) = spec_mut(new)
    {
        spec.remove("externalTrafficPolicy");
    }

    // Allocated values the client left out stay.
    if needs_cluster_ip(&old_type) && needs_cluster_ip(&new_type) {
        for field in ["clusterIP", "clusterIPs"] {
            let empty = match &new["spec"][field] {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                _ => false,
            };
            if empty && let Some(v) = old["spec"].get(field) {
                new["spec"][field] = v.clone();
            }
        }
    }
    if needs_node_port(&old_type, &old["spec"]) && needs_node_port(&new_type, &new["spec"]) {
        let used = |v: &Value| -> BTreeSet<i64> { node_ports(v).iter().filter_map(Value::as_i64).collect() };
        let taken: BTreeSet<i64> = used(old).intersection(&used(new)).copied().collect();
        let by_name: Vec<(String, i64)> = old["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (s(p, &["name"]).to_string(), p["nodePort"].as_i64().unwrap_or(0)))
            .collect();
        for port in new["spec"]["ports"].as_array_mut().into_iter().flatten() {
            if port["nodePort"].as_i64().unwrap_or(0) == 0 {
                let name = s(port, &["name"]).to_string();
                if let Some((_, old_port)) = by_name.iter().find(|(n, _)| *n == name)
                    && *old_port != 0
                    && !taken.contains(old_port)
                {
                    port["nodePort"] = json!(old_port);
                }
            }
        }
    }
    if needs_hc(&old_type, old)
        && needs_hc(&new_type, new)
        && new["spec"]["healthCheckNodePort"].as_i64().unwrap_or(0) == 0
        && let Some(v) = old["spec"].get("healthCheckNodePort")
    {
        new["spec"]["healthCheckNodePort"] = v.clone();
    }

    // A changed or cleared singular cluster IP carries the plural with it when that is unchanged.
    let old_ip = s(old, &["spec", "clusterIP"]).to_string();
    let new_ip = s(new, &["spec", "clusterIP"]).to_string();
    if !old_ip.is_empty() && new_ip != old_ip && same("clusterIPs", new) {
        if new_ip.is_empty() {
            if let Some(spec) = spec_mut(new) {
                spec.remove("clusterIPs");
            }
        } else {
            new["spec"]["clusterIPs"] = json!([new_ip]);
        }
    }
}

/// The External-IP cell: the external IPs, the load balancer's ingress points, or the
/// external name, by type.
fn external_ip(obj: &Value) -> String {
    let external: Vec<&str> = strings(&obj["spec"]["externalIPs"]);
    match s(obj, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(&obj["status"]["loadBalancer"]);
            let mut all: Vec<&str> = if lb.is_empty() { Vec::new() } else { lb.split(',').collect() };
            all.extend(external);
            if all.is_empty() { "<pending>".to_string() } else { all.join(",") }
        }
        "ExternalName" => s(obj, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn ports_cell(obj: &Value) -> String {
    let pieces: Vec<String> = obj["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let (port, protocol) = (p["port"].as_i64().unwrap_or(0), s(p, &["protocol"]));
            match p["nodePort"].as_i64().unwrap_or(0) {
                0 => format!("{port}/{protocol}"),
                node_port => format!("{port}:{node_port}/{protocol}"),
            }
        })
        .collect();
    if pieces.is_empty() { "<none>".to_string() } else { pieces.join(",") }
}

impl Kind for Service {
    typed_as!(Type);

    /// Service names are DNS-1035 labels.
    fn name_errors(&self, name: &str) -> Vec<String> {
        is_dns1035_label(name)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_service(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_service_update(&typed(new)?, &typed(old)?))
    }

    /// The load balancer's ingress points must be IPs where they give one.
    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        let svc: Type = typed(new)?;
        let mut errs = Vec::new();
        let ingress =
            svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.as_ref());
        let path = Path::new("status").child("loadBalancer").child("ingress");
        for (i, point) in ingress.into_iter().flatten().enumerate() {
            if let Some(ip) = point.ip.as_deref().filter(|ip| !ip.is_empty())
                && ip.parse::<IpAddr>().is_err()
            {
                errs.push(FieldError::invalid(&path.index(i).child("ip"), ip, INVALID_IP));
            }
        }
        Ok(errs)
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_service)
    }

    /// Cluster IPs and node ports, checked against every other Service and given where left
    /// out (upstream's service REST allocation).
    fn admit(
        &self,
        rt: &ResourceType,
        cluster: &Snapshot<'_>,
        svc: &mut Value,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        let (ns, name) =
            (s(svc, &["metadata", "namespace"]).to_string(), s(svc, &["metadata", "name"]).to_string());
        let services: Vec<Value> = cluster
            .list(rt, None)
            .iter()
            .filter(|o| o.key().0 != ns || o.key().1 != name)
            .map(|o| o.value())
            .collect();
        let others = services.iter();
        service_network::allocate(svc, old, others).map_err(|e| match e {
            AllocationError::Invalid(errors) => ApiError::invalid(rt, &name, &errors),
            AllocationError::Full(message) => ApiError::internal(message),
        })
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        super::next_generation(new, old, false);
        prepare_update(new, old);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col(
                "Type",
                "string",
                0,
                "The type of the service: ClusterIP, NodePort, LoadBalancer or ExternalName.",
            ),
            col("Cluster-IP", "string", 0, "The IP address of the service inside the cluster."),
            col(
                "External-IP",
                "string",
                0,
                "The addresses the service is reachable at from outside the cluster.",
            ),
            col("Port(s)", "string", 0, "The ports the service exposes."),
            AGE,
            col("Selector", "string", 1, "The labels of the pods the service routes to."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let cluster_ip = strings(&obj["spec"]["clusterIPs"]).first().copied().unwrap_or("<none>").to_string();
        let selector = serde_json::from_value(obj["spec"]["selector"].clone()).ok();
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["spec", "type"])),
            json!(cluster_ip),
            json!(external_ip(obj)),
            json!(ports_cell(obj)),
            json!(created(obj, now)),
            json!(format_labels(selector.as_ref())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn defaulted_svc(v: Value) -> Value {
        let mut v = Service.canonical(&v).unwrap();
        Service.set_defaults(&mut v).unwrap();
        v
    }

    fn messages(v: &Value) -> String {
        aggregate_message(&Service.validate(v).unwrap())
    }

    #[test]
    fn defaults_are_upstreams() {
        let svc = defaulted_svc(
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        );
        let spec = &svc["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["targetPort"], 80);
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert!(spec.get("externalTrafficPolicy").is_none());
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        let lb = defaulted_svc(
            json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "targetPort": "https"}]}}),
        );
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(lb["spec"]["ports"][0]["targetPort"], "https");
        let headless = defaulted_svc(json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}));
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let external = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}),
        );
        assert!(external["spec"].get("ipFamilies").is_none());
        assert!(external["spec"].get("internalTrafficPolicy").is_none());
        assert!(Service.validate(&external).unwrap().is_empty());
    }

    #[test]
    fn validation_messages_are_upstreams() {
        let no_ports = defaulted_svc(json!({"metadata": {"name": "x"}, "spec": {"selector": {"a": "b"}}}));
        assert_eq!(messages(&no_ports), "spec.ports: Required value");
        let bad_type = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"type": "Foo", "ports": [{"port": 80}]}}),
        );
        assert_eq!(
            messages(&bad_type),
            "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        );
        let node_port = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
        );
        assert_eq!(
            messages(&node_port),
            "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        );
        let unnamed = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 0, "name": "http"}]}}),
        );
        assert_eq!(
            messages(&unnamed),
            "[spec.ports[1].name: Duplicate value: \"http\", spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive]"
        );
        let two = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}, {"port": 81, "name": "b"}]}}),
        );
        assert_eq!(messages(&two), "spec.ports[0].name: Required value");
        let external = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "clusterIP": "10.0.0.1"}}),
        );
        assert_eq!(
            messages(&external),
            "[spec.clusterIPs: Forbidden: may not be set for ExternalName services, spec.externalName: Required value]"
        );
        let headless_lb = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"type": "LoadBalancer", "clusterIP": "None", "ports": [{"port": 80}]}}),
        );
        assert!(messages(&headless_lb).contains(
            "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"
        ));
        assert_eq!(Service.name_errors("1web").len(), 1);
    }

    #[test]
    fn cluster_ip_may_not_change() {
        let old = defaulted_svc(
            json!({"metadata": {"name": "x"}, "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]}}),
        );
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.96.0.10");
        Service.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert_eq!(
            aggregate_message(&Service.validate_update(&new, &old).unwrap()),
            "spec.clusterIPs[0]: Invalid value: [\"10.96.0.10\"]: may not change once set"
        );
        // A client that leaves the allocated IP out keeps it.
        let mut replaced = json!({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}});
        Service.prepare_for_update(&mut replaced, &old);
        let replaced = defaulted_svc(replaced);
        assert_eq!(replaced["spec"]["clusterIPs"], json!(["10.96.0.9"]));
        assert!(Service.validate_update(&replaced, &old).unwrap().is_empty());
    }

    #[test]
    fn row() {
        assert_eq!(headers(&Service, false), "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE");
        let svc = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:58:00Z"},
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.5"], "externalIPs": ["1.1.1.1"], "selector": {"b": "2", "a": "1"},
                     "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]},
            "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "9.9.9.9"}]}}});
        assert_eq!(
            Service.cells(&svc, now()),
            vec![
                json!("web"),
                json!("LoadBalancer"),
                json!("10.96.0.5"),
                json!("9.9.9.9,lb.example.com,1.1.1.1"),
                json!("80:30080/TCP,53/UDP"),
                json!("2m"),
                json!("a=1,b=2")
            ]
        );
        let pending = json!({"spec": {"type": "LoadBalancer"}});
        assert_eq!(
            Service.cells(&pending, now())[2..5],
            [json!("<none>"), json!("<pending>"), json!("<none>")]
        );
    }
}
