//! The nodes a new cluster gets: a kubeadm-style control-plane node and N workers, or the
//! Node manifests of `--nodes-file`.

use serde::Deserialize;
use serde_json::{Value, json};

pub const CONTROL_PLANE: &str = "k8s-control-plane";

/// The Node object of a default node. `index` 0 is the control plane; workers count from 1.
pub fn default_node(index: usize) -> Value {
    let name = if index == 0 { CONTROL_PLANE.to_string() } else { format!("k8s-worker-{index}") };
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    });
    let mut spec = json!({
        "podCIDR": pod_cidr(index),
        "podCIDRs": [pod_cidr(index)],
    });
    if index == 0 {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
        spec["taints"] = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    let resources = json!({"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": internal_ip(index)},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "everynode simulated node",
                "kernelVersion": "6.1.0-everynode",
                "containerRuntimeVersion": "everynode://0.1.0",
                "kubeletVersion": apiserver::git_version(),
                "kubeProxyVersion": "",
                "machineID": "", "systemUUID": "", "bootID": "",
            },
        },
    })
}

/// `10.244.<index>.0/24` for the first nodes, as kubeadm's default pod network gives them;
/// further nodes continue through the rest of 10.0.0.0/8 (unique for 65,536 nodes).
fn pod_cidr(index: usize) -> String {
    let block = (244 * 256 + index) % 65_536;
    format!("10.{}.{}.0/24", block / 256, block % 256)
}

/// `172.18.<hi>.<lo>`, unique per node.
fn internal_ip(index: usize) -> String {
    let n = index + 2;
    format!("172.18.{}.{}", n / 256, n % 256)
}

/// The default nodes for `workers` workers.
pub fn default_nodes(workers: usize) -> Vec<Value> {
    (0..=workers).map(default_node).collect()
}

/// The Node manifests of a YAML stream (documents that are empty are skipped).
pub fn parse_nodes_file(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut nodes = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc)?;
        if value.is_null() {
            continue;
        }
        anyhow::ensure!(
            value["kind"] == "Node",
            "--nodes-file holds a {} where only Node manifests belong",
            value["kind"].as_str().unwrap_or("document without a kind")
        );
        nodes.push(value);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_plane_is_tainted_and_labelled() {
        let cp = default_node(0);
        assert_eq!(cp["metadata"]["name"], CONTROL_PLANE);
        assert_eq!(cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"], "");
        assert_eq!(cp["spec"]["taints"][0]["effect"], "NoSchedule");
        let w = default_node(2);
        assert_eq!(w["metadata"]["name"], "k8s-worker-2");
        assert_eq!(w["metadata"]["labels"]["kubernetes.io/hostname"], "k8s-worker-2");
        assert!(w["spec"].get("taints").is_none());
        assert_eq!(w["status"]["capacity"]["pods"], "110");
    }

    #[test]
    fn cidrs_and_ips_are_unique() {
        let nodes = default_nodes(20_000);
        let mut cidrs: Vec<_> = nodes.iter().map(|n| n["spec"]["podCIDR"].to_string()).collect();
        let mut ips: Vec<_> =
            nodes.iter().map(|n| n["status"]["addresses"][0]["address"].to_string()).collect();
        cidrs.sort();
        cidrs.dedup();
        ips.sort();
        ips.dedup();
        assert_eq!(cidrs.len(), 20_001);
        assert_eq!(ips.len(), 20_001);
        for cidr in &cidrs {
            let net = cidr.trim_matches('"').trim_end_matches("/24");
            assert!(net.parse::<std::net::Ipv4Addr>().is_ok(), "{cidr} is a valid network");
        }
        assert_eq!(default_node(1)["spec"]["podCIDR"], "10.244.1.0/24");
    }

    #[test]
    fn nodes_file_is_a_yaml_stream_of_nodes() {
        let text = "apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: b\n";
        let nodes = parse_nodes_file(text).unwrap();
        assert_eq!(nodes.len(), 2);
        assert!(parse_nodes_file("kind: Pod\n").is_err());
    }
}
