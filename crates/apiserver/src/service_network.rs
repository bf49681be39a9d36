//! The cluster's service network: the range Services take their cluster IPs from and the range
//! their node ports come from, and the allocation upstream's service REST storage does with its
//! IP and port allocators — what a client asks for is checked against the range and the other
//! Services, what it leaves out is chosen.
//!
//! No allocation state is kept: what is taken is read from the Services themselves (under the
//! store's writer lock), so a deleted Service frees its IP and ports at once and a restart
//! cannot lose or leak one.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use apimachinery::validation::{FieldError, FieldErrors, Path};
use rand::Rng;
use serde_json::{Value, json};

/// The cluster-IP range (kubeadm's default `--service-cluster-ip-range`).
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
/// The node-port range (upstream's default `--service-node-port-range`).
pub const NODE_PORTS: RangeInclusive<i64> = 30000..=32767;
/// The `kubernetes` Service's cluster IP: the first of the range.
pub const API_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// Why a Service's IPs or ports cannot be given.
#[derive(Debug, PartialEq)]
pub enum AllocationError {
    /// What the client asked for is wrong: upstream answers 422 naming the fields.
    Invalid(FieldErrors),
    /// A range has nothing left: upstream answers 500 with this message.
    Full(String),
}

/// The addresses of the service CIDR a Service may take: all but the network and broadcast
/// addresses.
fn ip_range() -> RangeInclusive<u32> {
    let (base, bits) = SERVICE_CIDR;
    let base = u32::from(base);
    base + 1..=base + (1u32 << (32 - bits)) - 2
}

fn cidr_text() -> String {
    format!("{}/{}", SERVICE_CIDR.0, SERVICE_CIDR.1)
}

/// Upstream's static band: the low part of a range kept for values clients choose, which
/// dynamic allocation uses only once the rest is taken (`min(max(min, size/step), max)`).
fn static_band(size: u64, min: u64, step: u64, max: u64) -> u64 {
    (size / step).clamp(min, max)
}

/// A free value of `range`, preferring those above its static band, from a random start so
/// concurrent clusters do not collide in the same order.
fn pick(range: RangeInclusive<u64>, band: u64, taken: impl Fn(u64) -> bool) -> Option<u64> {
    let (lo, hi) = (*range.start(), *range.end());
    let split = (lo + band).min(hi + 1);
    let mut rng = rand::rng();
    for (start, end) in [(split, hi), (lo, split.saturating_sub(1))] {
        if start > end {
            continue;
        }
        let size = end - start + 1;
        let offset = rng.random_range(0..size);
        if let Some(v) = (0..size).map(|i| start + (offset + i) % size).find(|v| !taken(*v)) {
            return Some(v);
        }
    }
    None
}

/// What the other Services hold.
#[derive(Default)]
struct Taken {
    ips: BTreeSet<u32>,
    node_ports: BTreeSet<i64>,
}

impl Taken {
    fn of<'a>(services: impl IntoIterator<Item = &'a Value>) -> Taken {
        let mut taken = Taken::default();
        for svc in services {
            for ip in svc["spec"]["clusterIPs"].as_array().into_iter().flatten() {
                if let Some(ip) = ip.as_str().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) {
                    taken.ips.insert(ip.into());
                }
            }
            for port in svc["spec"]["ports"].as_array().into_iter().flatten() {
                if let Some(p) = port["nodePort"].as_i64().filter(|p| *p != 0) {
                    taken.node_ports.insert(p);
                }
            }
            if let Some(p) = svc["spec"]["healthCheckNodePort"].as_i64().filter(|p| *p != 0) {
                taken.node_ports.insert(p);
            }
        }
        taken
    }
}

fn spec_path() -> Path {
    Path::new("spec")
}

fn needs_node_ports(spec: &Value) -> bool {
    match spec["type"].as_str() {
        Some("NodePort") => true,
        Some("LoadBalancer") => spec["allocateLoadBalancerNodePorts"].as_bool() != Some(false),
        _ => false,
    }
}

fn needs_health_check_port(spec: &Value) -> bool {
    spec["type"] == "LoadBalancer" && spec["externalTrafficPolicy"] == "Local"
}

fn is_headless(spec: &Value) -> bool {
    spec["clusterIPs"].as_array().is_some_and(|ips| ips.len() == 1 && ips[0] == "None")
}

/// Gives `svc` (defaulted and validated) its cluster IPs and node ports, checking those it
/// asks for against the ranges and against `others` (every other Service of the cluster).
/// `old` is the Service being updated: what it already holds stays its own.
pub fn allocate<'a>(
    svc: &mut Value,
    old: Option<&Value>,
    others: impl IntoIterator<Item = &'a Value>,
) -> Result<(), AllocationError> {
    let taken = Taken::of(others);
    let spec = &mut svc["spec"];
    if spec["type"] == "ExternalName" {
        return Ok(());
    }
    let mut errors = families_errors(spec);
    if !errors.is_empty() {
        return Err(AllocationError::Invalid(errors));
    }
    let held_ips = old.map(|o| &o["spec"]["clusterIPs"]).filter(|ips| ips.is_array());
    if !is_headless(spec) && held_ips != Some(&spec["clusterIPs"]) {
        allocate_cluster_ip(spec, &taken)?;
    }

    let ports_path = spec_path().child("ports");
    let mut mine: BTreeSet<i64> = BTreeSet::new();
    let wanted = needs_node_ports(spec);
    let ports = spec["ports"].as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut given: Vec<Value> = Vec::with_capacity(ports.len());
    for (i, mut port) in ports.into_iter().enumerate() {
        let asked = port["nodePort"].as_i64().unwrap_or(0);
        if asked != 0 {
            if let Err(why) = check_port(asked, &taken, &mine, &given) {
                errors.push(FieldError::invalid(&ports_path.index(i).child("nodePort"), asked, why));
            }
            mine.insert(asked);
        } else if wanted {
            // The same port number under another protocol shares its node port (upstream).
            let sibling = given
                .iter()
                .filter(|p| p["port"] == port["port"])
                .find_map(|p| p["nodePort"].as_i64().filter(|n| *n != 0));
            let chosen = match sibling {
                Some(n) => n,
                None => free_port(&taken, &mine)?,
            };
            mine.insert(chosen);
            port["nodePort"] = json!(chosen);
        }
        given.push(port);
    }
    if !given.is_empty() || spec.get("ports").is_some() {
        spec["ports"] = Value::Array(given);
    }
    if needs_health_check_port(spec) {
        match spec["healthCheckNodePort"].as_i64().unwrap_or(0) {
            0 => spec["healthCheckNodePort"] = json!(free_port(&taken, &mine)?),
            asked => {
                if let Err(why) = check_port(asked, &taken, &mine, &[]) {
                    errors.push(FieldError::invalid(&spec_path().child("healthCheckNodePort"), asked, why));
                }
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(AllocationError::Invalid(errors)) }
}

/// Upstream refuses families the cluster does not serve: everynode's service network is
/// single-stack IPv4 (headless services without a selector may still name both families).
fn families_errors(spec: &Value) -> FieldErrors {
    let selectorless = spec["selector"].as_object().is_none_or(|s| s.is_empty());
    if is_headless(spec) && selectorless {
        return Vec::new();
    }
    let mut errors = Vec::new();
    if spec["ipFamilyPolicy"] == "RequireDualStack" {
        errors.push(FieldError {
            error_type: apimachinery::validation::ErrorType::Internal,
            field: spec_path().child("ipFamilyPolicy").to_string(),
            bad_value: None,
            detail: "this cluster is not configured for dual-stack services".into(),
        });
    }
    for (i, family) in spec["ipFamilies"].as_array().into_iter().flatten().enumerate() {
        if family != "IPv4" {
            errors.push(FieldError::invalid(
                &spec_path().child("ipFamilies").index(i),
                family.clone(),
                "not configured on this cluster",
            ));
        }
    }
    errors
}

fn allocate_cluster_ip(spec: &mut Value, taken: &Taken) -> Result<(), AllocationError> {
    let asked: Vec<String> = spec["clusterIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.as_str().map(str::to_string))
        .filter(|ip| !ip.is_empty())
        .collect();
    let range = ip_range();
    let Some(ip) = asked.first() else {
        let size = u64::from(range.end() - range.start() + 1);
        let band = static_band(size, 16, 16, 256);
        let range64 = u64::from(*range.start())..=u64::from(*range.end());
        let chosen = pick(range64, band, |v| taken.ips.contains(&(v as u32)))
            .ok_or_else(|| AllocationError::Full("failed to allocate a serviceIP: range is full".into()))?;
        let ip = Ipv4Addr::from(chosen as u32).to_string();
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        spec["ipFamilies"] = json!(["IPv4"]);
        return Ok(());
    };
    let why = match ip.parse::<Ipv4Addr>().map(u32::from) {
        Ok(v) if !range.contains(&v) => format!(
            "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
            cidr_text()
        ),
        Ok(v) if taken.ips.contains(&v) => "provided IP is already allocated".to_string(),
        Ok(_) => return Ok(()),
        // Not an IPv4 address: validation and the family check have answered for it.
        Err(_) => return Ok(()),
    };
    Err(AllocationError::Invalid(vec![FieldError::invalid(
        &spec_path().child("clusterIPs"),
        json!(asked),
        format!("failed to allocate IP {ip}: {why}"),
    )]))
}

fn check_port(port: i64, taken: &Taken, mine: &BTreeSet<i64>, siblings: &[Value]) -> Result<(), String> {
    if !NODE_PORTS.contains(&port) {
        return Err(format!(
            "provided port is not in the valid range. The range of valid ports is {}-{}",
            NODE_PORTS.start(),
            NODE_PORTS.end()
        ));
    }
    // A port this Service already uses for another protocol of the same number is shared.
    let shared = siblings.iter().any(|p| p["nodePort"].as_i64() == Some(port));
    if taken.node_ports.contains(&port) || (mine.contains(&port) && !shared) {
        return Err("provided port is already allocated".into());
    }
    Ok(())
}

fn free_port(taken: &Taken, mine: &BTreeSet<i64>) -> Result<i64, AllocationError> {
    let (lo, hi) = (*NODE_PORTS.start() as u64, *NODE_PORTS.end() as u64);
    let band = static_band(hi - lo + 1, 16, 32, 128);
    pick(lo..=hi, band, |v| taken.node_ports.contains(&(v as i64)) || mine.contains(&(v as i64)))
        .map(|v| v as i64)
        .ok_or_else(|| AllocationError::Full("failed to allocate a nodePort: range is full".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::validation::aggregate_message;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "s", "namespace": "default"}, "spec": spec})
    }

    fn cluster_ip(spec: Value) -> Value {
        let mut spec = spec;
        spec["type"] = json!("ClusterIP");
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
        svc(spec)
    }

    fn invalid(result: Result<(), AllocationError>) -> String {
        match result {
            Err(AllocationError::Invalid(errors)) => aggregate_message(&errors),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_cluster_ip_is_chosen_above_the_static_band() {
        for _ in 0..50 {
            let mut s = cluster_ip(json!({"ports": [{"port": 80}]}));
            allocate(&mut s, None, []).unwrap();
            let ip: Ipv4Addr = s["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
            assert_eq!(s["spec"]["clusterIPs"], json!([ip.to_string()]));
            let v = u32::from(ip);
            assert!(
                v > u32::from(API_SERVICE_IP) + 255 && v < u32::from(Ipv4Addr::new(10, 111, 255, 255)),
                "{ip}"
            );
        }
    }

    #[test]
    fn an_asked_for_ip_must_be_in_range_and_free() {
        let other = cluster_ip(json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}));
        let mut s = cluster_ip(json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}));
        assert_eq!(
            invalid(allocate(&mut s, None, [&other])),
            "spec.clusterIPs: Invalid value: [\"10.96.0.10\"]: failed to allocate IP 10.96.0.10: provided IP is already allocated"
        );
        let mut s = cluster_ip(json!({"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"]}));
        assert_eq!(
            invalid(allocate(&mut s, None, [])),
            "spec.clusterIPs: Invalid value: [\"10.0.0.5\"]: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        );
        let mut s = cluster_ip(json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}));
        allocate(&mut s, None, []).unwrap();
        assert_eq!(s["spec"]["clusterIP"], "10.96.0.10");
        // An update keeps what the Service holds.
        let held = s.clone();
        allocate(&mut s, Some(&held), []).unwrap();
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    }

    #[test]
    fn headless_and_external_name_services_take_no_ip() {
        let mut s = cluster_ip(json!({"clusterIP": "None", "clusterIPs": ["None"], "selector": {"a": "b"}}));
        allocate(&mut s, None, []).unwrap();
        assert_eq!(s["spec"]["clusterIPs"], json!(["None"]));
        let mut s = svc(json!({"type": "ExternalName", "externalName": "example.com"}));
        allocate(&mut s, None, []).unwrap();
        assert!(s["spec"].get("clusterIP").is_none());
    }

    #[test]
    fn families_the_cluster_lacks_are_refused() {
        let mut s = cluster_ip(json!({"ports": [{"port": 80}]}));
        s["spec"]["ipFamilies"] = json!(["IPv6"]);
        assert_eq!(
            invalid(allocate(&mut s, None, [])),
            "spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster"
        );
        s["spec"]["ipFamilies"] = json!(["IPv4"]);
        s["spec"]["ipFamilyPolicy"] = json!("RequireDualStack");
        assert_eq!(
            invalid(allocate(&mut s, None, [])),
            "spec.ipFamilyPolicy: Internal error: this cluster is not configured for dual-stack services"
        );
        // Headless without a selector may name both.
        let mut h = svc(
            json!({"type": "ClusterIP", "clusterIPs": ["None"], "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "RequireDualStack"}),
        );
        allocate(&mut h, None, []).unwrap();
    }

    #[test]
    fn node_ports_are_chosen_checked_and_shared_across_protocols() {
        let mut s = cluster_ip(json!({"ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "web", "port": 80, "protocol": "TCP"}]}));
        s["spec"]["type"] = json!("NodePort");
        allocate(&mut s, None, []).unwrap();
        let ports: Vec<i64> =
            s["spec"]["ports"].as_array().unwrap().iter().map(|p| p["nodePort"].as_i64().unwrap()).collect();
        assert_eq!(ports[0], ports[1]);
        assert_ne!(ports[0], ports[2]);
        assert!(ports.iter().all(|p| (30086..=32767).contains(p)), "{ports:?}");

        let mut other = cluster_ip(json!({"ports": [{"port": 81, "nodePort": 30080}]}));
        other["spec"]["type"] = json!("NodePort");
        let mut s =
            cluster_ip(json!({"ports": [{"port": 80, "nodePort": 30080}, {"port": 90, "nodePort": 40000}]}));
        s["spec"]["type"] = json!("NodePort");
        assert_eq!(
            invalid(allocate(&mut s, None, [&other])),
            "[spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated, spec.ports[1].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767]"
        );
    }

    #[test]
    fn a_local_load_balancer_gets_a_health_check_port_and_may_skip_node_ports() {
        let mut s = cluster_ip(
            json!({"ports": [{"port": 80}], "externalTrafficPolicy": "Local", "allocateLoadBalancerNodePorts": false}),
        );
        s["spec"]["type"] = json!("LoadBalancer");
        allocate(&mut s, None, []).unwrap();
        assert!(s["spec"]["ports"][0].get("nodePort").is_none());
        assert!(NODE_PORTS.contains(&s["spec"]["healthCheckNodePort"].as_i64().unwrap()));
    }

    #[test]
    fn a_full_range_is_an_internal_error() {
        let taken = Taken { ips: BTreeSet::new(), node_ports: NODE_PORTS.collect() };
        assert_eq!(
            free_port(&taken, &BTreeSet::new()),
            Err(AllocationError::Full("failed to allocate a nodePort: range is full".into()))
        );
        assert_eq!(pick(1..=3, 1, |v| v != 1), Some(1));
        assert_eq!(pick(1..=3, 1, |_| true), None);
    }
}
