//! core/v1 defaults, as upstream's `SetDefaults_*` functions apply them when an object is
//! decoded by the API server.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, Namespace, NamespaceSpec, Node, Pod, PodSecurityContext, PodSpec, Probe, ResourceRequirements,
    Volume,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;

/// The label upstream puts on every namespace, holding its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Upstream's default pull policy for an image: `Always` for `:latest` or no tag, else
/// `IfNotPresent` (a digest counts as pinned).
pub fn default_image_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        Some((_, tag)) if !tag.is_empty() && tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn set_defaults_probe(probe: &mut Probe) {
    probe.timeout_seconds.get_or_insert(1);
    probe.period_seconds.get_or_insert(10);
    probe.success_threshold.get_or_insert(1);
    probe.failure_threshold.get_or_insert(3);
    if let Some(http) = probe.http_get.as_mut() {
        http.scheme.get_or_insert_with(|| "HTTP".to_string());
        http.path.get_or_insert_with(|| "/".to_string());
    }
}

fn set_defaults_container(c: &mut Container, host_network: bool) {
    if c.image_pull_policy.is_none() {
        c.image_pull_policy =
            Some(default_image_pull_policy(c.image.as_deref().unwrap_or_default()).to_string());
    }
    c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".to_string());
    c.termination_message_policy.get_or_insert_with(|| "File".to_string());
    c.resources.get_or_insert_with(ResourceRequirements::default);
    for port in c.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_string());
        if host_network && port.host_port.is_none() {
            port.host_port = Some(port.container_port);
        }
    }
    for env in c.env.iter_mut().flatten() {
        if let Some(field_ref) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            field_ref.api_version.get_or_insert_with(|| "v1".to_string());
        }
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        set_defaults_probe(probe);
    }
}

fn set_defaults_volume(v: &mut Volume) {
    if let Some(host_path) = v.host_path.as_mut() {
        host_path.type_.get_or_insert_with(String::new);
    }
    if let Some(cm) = v.config_map.as_mut() {
        cm.default_mode.get_or_insert(0o644);
    }
    if let Some(secret) = v.secret.as_mut() {
        secret.default_mode.get_or_insert(0o644);
    }
    let nothing_set = v.host_path.is_none()
        && v.config_map.is_none()
        && v.secret.is_none()
        && v.persistent_volume_claim.is_none()
        && v.projected.is_none()
        && v.downward_api.is_none()
        && v.empty_dir.is_none()
        && v.csi.is_none()
        && v.ephemeral.is_none()
        && v.nfs.is_none()
        && v.image.is_none();
    if nothing_set {
        v.empty_dir = Some(Default::default());
    }
}

/// `SetDefaults_PodSpec` and the container, volume and probe defaults beneath it; what a
/// DaemonSet's pod template gets.
pub fn set_defaults_pod_spec(spec: &mut PodSpec) {
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".to_string());
    spec.restart_policy.get_or_insert_with(|| "Always".to_string());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.security_context.get_or_insert_with(PodSecurityContext::default);
    spec.scheduler_name.get_or_insert_with(|| "default-scheduler".to_string());
    let host_network = spec.host_network.unwrap_or(false);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        set_defaults_container(c, host_network);
    }
    for v in spec.volumes.iter_mut().flatten() {
        set_defaults_volume(v);
    }
}

/// `SetDefaults_Pod`: the pod spec defaults, service links, and requests copied from limits
/// where a container sets only limits.
pub fn set_defaults_pod(pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else { return };
    set_defaults_pod_spec(spec);
    spec.enable_service_links.get_or_insert(true);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        let Some(resources) = c.resources.as_mut() else { continue };
        let Some(limits) = resources.limits.clone() else { continue };
        let requests = resources.requests.get_or_insert_with(BTreeMap::new);
        for (name, quantity) in limits {
            requests.entry(name).or_insert(quantity);
        }
    }
}

/// `SetDefaults_NodeStatus`: allocatable defaults to capacity.
pub fn set_defaults_node(node: &mut Node) {
    if let Some(status) = node.status.as_mut()
        && status.allocatable.is_none()
    {
        status.allocatable = status.capacity.clone();
    }
}

/// A namespace carries its own name as a label, and the `kubernetes` finalizer.
pub fn set_defaults_namespace(ns: &mut Namespace) {
    if let Some(name) = ns.metadata.name.clone() {
        ns.metadata.labels.get_or_insert_with(BTreeMap::new).insert(NAMESPACE_NAME_LABEL.to_string(), name);
    }
    let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
    spec.finalizers.get_or_insert_with(|| vec!["kubernetes".to_string()]);
}

/// A priority class preempts lower priorities unless it says otherwise.
pub fn set_defaults_priority_class(pc: &mut PriorityClass) {
    pc.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        assert_eq!(default_image_pull_policy("nginx"), "Always");
        assert_eq!(default_image_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_image_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(default_image_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(default_image_pull_policy("quay.io/fluentd_elasticsearch/fluentd:v2.5.2"), "IfNotPresent");
        assert_eq!(default_image_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn pod_defaults() {
        let mut pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "i:1", "ports": [{"containerPort": 80}],
                "resources": {"limits": {"cpu": "1"}}}],
            "volumes": [{"name": "v", "hostPath": {"path": "/var/log"}}, {"name": "e"}]}}))
        .unwrap();
        set_defaults_pod(&mut pod);
        let v = serde_json::to_value(&pod).unwrap();
        let spec = &v["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
        assert_eq!(spec["volumes"][0]["hostPath"]["type"], "");
        assert_eq!(spec["volumes"][1]["emptyDir"], json!({}));
    }

    #[test]
    fn namespace_and_node_defaults() {
        let mut ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "logging"}})).unwrap();
        set_defaults_namespace(&mut ns);
        assert_eq!(ns.metadata.labels.unwrap()[NAMESPACE_NAME_LABEL], "logging");
        assert_eq!(ns.spec.unwrap().finalizers.unwrap(), vec!["kubernetes"]);
        let mut node: Node =
            serde_json::from_value(json!({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}}))
                .unwrap();
        set_defaults_node(&mut node);
        assert_eq!(node.status.unwrap().allocatable.unwrap()["cpu"].0, "4");
    }
}
