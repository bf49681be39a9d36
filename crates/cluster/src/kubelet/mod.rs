//! Simulated kubelets, as KWOK runs them: one per Node object, running no containers. Each
//! fills in its node's status, renews its Lease in `kube-node-lease` every 10 s (spread over
//! the interval), runs the pods bound to it (Pending → Running, container statuses, pod IPs,
//! conditions, readiness after `initialDelaySeconds`), and finishes their graceful deletion.
//! One pod watch and one node watch serve every node.
//!
//! A node stops heartbeating while it carries the annotation
//! `everynode.io/heartbeat: stopped` (`kubectl annotate node NAME everynode.io/heartbeat=stopped`),
//! so its Lease goes stale as a dead kubelet's would; removing the annotation revives it.
//!
//! Fault injection: the ConfigMap `kube-system/everynode-simulation`, key `rules.yaml`, holds an
//! ordered list of rules `{image, node, behaviour, readySeconds}` (see [`SimulationRule`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::informer::{self, Change, Informers, Store};
use crate::pod_deletion;

mod simulation;

pub use simulation::{Behaviour, SimulationRule, decide, glob_matches};
use simulation::parse_rules;

pub const HEARTBEAT_ANNOTATION: &str = "everynode.io/heartbeat";
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const SIMULATION_CONFIGMAP: &str = "everynode-simulation";
/// How often a node renews its Lease, by default (a quarter of the 40 s grace period).
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The Lease duration a kubelet declares.
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// The `n`-th address of a node's pod CIDR (`10.244.1.0/24`, 0 → `10.244.1.2`).
pub fn pod_ip(cidr: &str, n: u32) -> Option<String> {
    let (base, bits) = cidr.split_once('/')?;
    let base: std::net::Ipv4Addr = base.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let size = 1u32.checked_shl(32 - bits).unwrap_or(0).max(4);
    let offset = 2 + n % (size - 3);
    Some(std::net::Ipv4Addr::from(u32::from(base) + offset).to_string())
}

fn now_rfc3339() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn heartbeat_stopped(node: &Node) -> bool {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HEARTBEAT_ANNOTATION))
        .is_some_and(|v| v == "stopped")
}

/// Whether the node reports `Ready=True`.
pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The status a healthy simulated kubelet reports, filling in what the manifest lacks.
pub fn node_status_patch(node: &Node, kubelet_version: &str) -> Value {
    let now = now_rfc3339();
    let status = node.status.clone().unwrap_or_default();
    let name = node.metadata.name.clone().unwrap_or_default();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let keep_transition = |mut c: Value| {
        if let Some(old) =
            status.conditions.iter().flatten().find(|o| o.type_ == c["type"] && o.status == c["status"])
            && let Some(t) = &old.last_transition_time
        {
            c["lastTransitionTime"] = json!(t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        c
    };
    let conditions: Vec<Value> = [
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    .into_iter()
    .map(keep_transition)
    .collect();
    let mut patch = json!({"status": {"conditions": conditions}});
    let defaults = json!({"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"});
    if status.capacity.is_none() {
        patch["status"]["capacity"] = defaults.clone();
    }
    if status.allocatable.is_none() {
        patch["status"]["allocatable"] = status.capacity.as_ref().map(|c| json!(c)).unwrap_or(defaults);
    }
    if status.node_info.as_ref().is_none_or(|i| i.kubelet_version.is_empty()) {
        patch["status"]["nodeInfo"] = json!({
            "architecture": "amd64", "operatingSystem": "linux", "osImage": "everynode simulated node",
            "kernelVersion": "6.1.0-everynode", "containerRuntimeVersion": "everynode://0.1.0",
            "kubeletVersion": kubelet_version, "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": "",
        });
    }
    if status.addresses.as_ref().is_none_or(Vec::is_empty) {
        patch["status"]["addresses"] = json!([{"type": "Hostname", "address": name}]);
    }
    patch
}

/// What the simulation keeps per pod it runs.
#[derive(Default)]
struct NodeState {
    next_ip: u32,
}

/// Every simulated kubelet of the cluster.
pub struct Kubelets {
    client: Client,
    kubelet_version: String,
    renew_interval: Duration,
    informers: Arc<Informers>,
    nodes: Arc<Store<Node>>,
    rules: Mutex<Vec<SimulationRule>>,
    state: Mutex<HashMap<String, NodeState>>,
    /// Pods with work scheduled (readiness, deletion), so it is scheduled once.
    pending: Mutex<HashSet<String>>,
    /// Pods bound to a node not seen yet, by node: they start when it appears.
    waiting: Mutex<HashMap<String, Vec<Arc<Pod>>>>,
    /// Bounds the API requests of node registration and heartbeats in flight at once.
    requests: Arc<tokio::sync::Semaphore>,
}

/// How many node registrations or Lease renewals are in flight at once.
const CONCURRENT_NODE_REQUESTS: usize = 64;

impl Kubelets {
    /// `renew_interval` is how often each node renews its Lease ([`LEASE_RENEW_INTERVAL`]
    /// normally; shorter when the node lifecycle's grace period is shortened).
    pub fn new(
        client: Client,
        informers: &Arc<Informers>,
        kubelet_version: &str,
        renew_interval: Duration,
    ) -> Arc<Self> {
        Arc::new(Kubelets {
            client,
            kubelet_version: kubelet_version.to_string(),
            renew_interval,
            informers: informers.clone(),
            nodes: informers.nodes.store(),
            rules: Mutex::default(),
            state: Mutex::default(),
            pending: Mutex::default(),
            waiting: Mutex::default(),
            requests: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_NODE_REQUESTS)),
        })
    }

    /// Runs every simulated kubelet until the process stops.
    pub async fn run(self: Arc<Self>) {
        let mut node_rx = self.informers.nodes.subscribe();
        let mut pod_rx = self.informers.pods.subscribe();
        let cm_config = watcher::Config::default().fields(&format!("metadata.name={SIMULATION_CONFIGMAP}"));
        let cm_api = Api::<ConfigMap>::namespaced(self.client.clone(), "kube-system");
        let mut cm_rx = informer::spawn(cm_api, cm_config, Arc::default());
        tokio::spawn(self.clone().heartbeats());
        loop {
            tokio::select! {
                Some(change) = node_rx.recv() => self.node_changed(change).await,
                Some(change) = pod_rx.recv() => self.pod_changed(change),
                Some(change) = cm_rx.recv() => match change {
                    Change::Applied { new, .. } => *self.rules.lock().unwrap_or_else(|e| e.into_inner()) = parse_rules(&new),
                    Change::Deleted(_) => self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear(),
                    Change::Synced => {}
                },
                else => return,
            }
        }
    }

    async fn node_changed(self: &Arc<Self>, change: Change<Node>) {
        match change {
            Change::Applied { old: None, new } => {
                // Pods bound before the node appeared can start now.
                let waiting = self
                    .waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&informer::name(new.as_ref()));
                for pod in waiting.into_iter().flatten() {
                    self.clone().handle_pod(pod);
                }
                if !heartbeat_stopped(&new) {
                    // Registration runs beside the others, so ten thousand nodes join in parallel.
                    let permit = self.requests.clone().acquire_owned().await;
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.post_node_status(&new).await;
                        this.renew_lease(&informer::name(new.as_ref())).await;
                        drop(permit);
                    });
                }
            }
            Change::Applied { old: Some(old), new } => {
                // Revived (annotation removed): report Ready again at once.
                if heartbeat_stopped(&old) && !heartbeat_stopped(&new) {
                    self.post_node_status(&new).await;
                    self.renew_lease(&informer::name(new.as_ref())).await;
                }
            }
            Change::Deleted(node) => {
                let name = informer::name(node.as_ref());
                self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
                self.state.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
            }
            Change::Synced => {}
        }
    }

    async fn post_node_status(&self, node: &Node) {
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = node_status_patch(node, &self.kubelet_version);
        if let Err(e) =
            api.patch_status(&informer::name(node), &PatchParams::default(), &Patch::Strategic(patch)).await
        {
            tracing::debug!(node = ?node.metadata.name, error = %e, "posting node status failed");
        }
    }

    async fn renew_lease(&self, node: &str) {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let now = MicroTime(Timestamp::now());
        let spec = LeaseSpec {
            holder_identity: Some(node.to_string()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(now),
            ..Default::default()
        };
        let patch = json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": spec.renew_time}});
        match api.patch(node, &PatchParams::default(), &Patch::Merge(patch)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(node.to_string()),
                        namespace: Some(LEASE_NAMESPACE.to_string()),
                        owner_references: None,
                        ..Default::default()
                    },
                    spec: Some(spec),
                };
                if let Err(e) = api.create(&PostParams::default(), &lease).await {
                    tracing::debug!(node, error = %e, "creating the node lease failed");
                }
            }
            Err(e) => tracing::debug!(node, error = %e, "renewing the node lease failed"),
        }
    }

    /// Renews each node's Lease every renew interval, spread over it by node name; a node
    /// that reports NotReady or Unknown while it heartbeats reports Ready again.
    async fn heartbeats(self: Arc<Self>) {
        let slots = 10u64;
        let mut tick = tokio::time::interval(self.renew_interval / slots as u32);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut slot = 0u64;
        loop {
            tick.tick().await;
            slot = (slot + 1) % slots;
            let due: Vec<Arc<Node>> = self
                .nodes
                .list()
                .into_iter()
                .filter(|n| !heartbeat_stopped(n) && spread(&informer::name(n.as_ref()), slots) == slot)
                .collect();
            futures::stream::iter(due)
                .for_each_concurrent(CONCURRENT_NODE_REQUESTS, |node| {
                    let this = self.clone();
                    async move {
                        this.renew_lease(&informer::name(node.as_ref())).await;
                        if !node_ready(&node) {
                            this.post_node_status(&node).await;
                        }
                    }
                })
                .await;
        }
    }

    fn pod_changed(self: &Arc<Self>, change: Change<Pod>) {
        if let Change::Applied { new, .. } = change {
            self.clone().handle_pod(new);
        }
    }

    /// Advances one pod bound to a simulated node.
    fn handle_pod(self: Arc<Self>, pod: Arc<Pod>) {
        let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { return };
        let Some(node) = self.nodes.get(&node_name) else {
            self.waiting.lock().unwrap_or_else(|e| e.into_inner()).entry(node_name).or_default().push(pod);
            return;
        };
        let key = informer::key_of(pod.as_ref());
        if pod.metadata.deletion_timestamp.is_some() {
            if self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(format!("delete:{key}")) {
                tokio::spawn(async move { self.finish_deletion(&pod).await });
            }
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        let started =
            pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|c| !c.is_empty());
        if phase != "Pending" || started {
            return;
        }
        if !self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(format!("start:{key}")) {
            return;
        }
        tokio::spawn(async move {
            self.start_pod(&pod, &node).await;
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&format!("start:{key}"));
        });
    }

    async fn finish_deletion(self: Arc<Self>, pod: &Pod) {
        let (ns, name) = informer::namespace_name(pod);
        // The containers "stop" at once; the pod goes well within its grace period.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = pod_deletion::delete_instance(&self.client, pod, Some(0)).await
            && !matches!(&e, kube::Error::Api(s) if s.code == 404 || s.code == 409)
        {
            tracing::debug!(pod = %name, error = %e, "finishing a pod deletion failed");
        }
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&format!("delete:{ns}/{name}"));
    }

    async fn start_pod(&self, pod: &Pod, node: &Node) {
        let (ns, name) = informer::namespace_name(pod);
        let node_name = informer::name(node);
        let ip = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let s = state.entry(node_name.clone()).or_default();
            s.next_ip += 1;
            let cidr = node
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidr.clone())
                .unwrap_or_else(|| "10.244.0.0/24".to_string());
            pod_ip(&cidr, s.next_ip - 1).unwrap_or_else(|| "10.244.0.2".to_string())
        };
        let host_ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone())
            .unwrap_or_default();
        let rules = self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let spec = pod.spec.clone().unwrap_or_default();
        let now = now_rfc3339();
        let host_network = spec.host_network.unwrap_or(false);
        let pod_ip = if host_network && !host_ip.is_empty() { host_ip.clone() } else { ip };
        let mut ready_delay = 0u64;
        let mut all_ready = true;
        let mut any_pull_failure = false;
        let statuses: Vec<Value> = spec
            .containers
            .iter()
            .map(|c| {
                let image = c.image.clone().unwrap_or_default();
                let (behaviour, extra) = decide(&rules, &image, &node_name);
                let probe_delay = c.readiness_probe.as_ref().and_then(|p| p.initial_delay_seconds).unwrap_or(0).max(0) as u64;
                ready_delay = ready_delay.max(probe_delay + extra);
                let image_id = format!("docker.io/library/{image}@sha256:{:064x}", fnv(&image));
                match behaviour {
                    Behaviour::Ready => json!({"name": c.name, "image": image, "imageID": image_id, "ready": probe_delay + extra == 0,
                        "started": true, "restartCount": 0, "containerID": format!("everynode://{}", fnv(&format!("{ns}/{name}/{}", c.name))),
                        "state": {"running": {"startedAt": now}}}),
                    Behaviour::NeverReady => {
                        all_ready = false;
                        json!({"name": c.name, "image": image, "imageID": image_id, "ready": false, "started": true, "restartCount": 0,
                            "state": {"running": {"startedAt": now}}})
                    }
                    Behaviour::ImagePullBackOff => {
                        all_ready = false;
                        any_pull_failure = true;
                        json!({"name": c.name, "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                            "state": {"waiting": {"reason": "ErrImagePull", "message": format!("failed to pull and unpack image \"{image}\": not found")}}})
                    }
                    Behaviour::CrashLoopBackOff => {
                        all_ready = false;
                        json!({"name": c.name, "image": image, "imageID": image_id, "ready": false, "started": false, "restartCount": 1,
                            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={}", c.name)}},
                            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}}})
                    }
                }
            })
            .collect();
        let ready_now = all_ready && ready_delay == 0;
        let condition = |t: &str, ok: bool| json!({"type": t, "status": if ok { "True" } else { "False" }, "lastTransitionTime": now, "lastProbeTime": null});
        let phase = if any_pull_failure { "Pending" } else { "Running" };
        let mut status = json!({"status": {
            "phase": phase,
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": now,
            "conditions": [condition("PodReadyToStartContainers", true), condition("Initialized", true),
                condition("Ready", ready_now), condition("ContainersReady", ready_now), condition("PodScheduled", true)],
            "containerStatuses": statuses,
        }});
        if host_ip.is_empty() {
            // A node that has not reported its address yet: no host IP rather than an empty one
            // (which pod status validation refuses).
            let s = status["status"].as_object_mut().expect("status is an object");
            s.remove("hostIP");
            s.remove("hostIPs");
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status)).await {
            tracing::debug!(pod = %name, error = %e, "starting a pod failed");
            return;
        }
        if any_pull_failure {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let patch = json!({"status": {"containerStatuses": spec.containers.iter().map(|c| {
                let image = c.image.clone().unwrap_or_default();
                let waiting = if decide(&rules, &image, &node_name).0 == Behaviour::ImagePullBackOff {
                    json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}})
                } else {
                    json!({"running": {"startedAt": now}})
                };
                json!({"name": c.name, "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0, "state": waiting})
            }).collect::<Vec<_>>()}});
            let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await;
        }
        if all_ready && ready_delay > 0 {
            tokio::time::sleep(Duration::from_secs(ready_delay)).await;
            let Some(current) = api.get_opt(&name).await.ok().flatten() else { return };
            if current.metadata.uid != pod.metadata.uid || current.metadata.deletion_timestamp.is_some() {
                return;
            }
            let later = now_rfc3339();
            let mut statuses = current.status.and_then(|s| s.container_statuses).unwrap_or_default();
            for s in &mut statuses {
                s.ready = true;
            }
            let patch = json!({"status": {
                "conditions": [condition("PodReadyToStartContainers", true), condition("Initialized", true),
                    json!({"type": "Ready", "status": "True", "lastTransitionTime": later}),
                    json!({"type": "ContainersReady", "status": "True", "lastTransitionTime": later}), condition("PodScheduled", true)],
                "containerStatuses": statuses}});
            let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await;
        }
    }
}

/// Which of `slots` heartbeat slots a node renews in (stable per name).
fn spread(name: &str, slots: u64) -> u64 {
    u64::from(fnv(name)) % slots
}

fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ips_come_from_the_node_cidr() {
        assert_eq!(pod_ip("10.244.1.0/24", 0).as_deref(), Some("10.244.1.2"));
        assert_eq!(pod_ip("10.244.1.0/24", 5).as_deref(), Some("10.244.1.7"));
        assert_eq!(pod_ip("10.244.1.0/24", 253).as_deref(), Some("10.244.1.2"), "wraps within the range");
    }

    #[test]
    fn status_fills_what_the_manifest_lacks() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n"}})).unwrap();
        let patch = node_status_patch(&node, "v1.33.0");
        assert_eq!(patch["status"]["allocatable"]["pods"], "110");
        assert_eq!(patch["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
        assert_eq!(patch["status"]["conditions"][3]["type"], "Ready");
        assert_eq!(patch["status"]["conditions"][3]["status"], "True");
    }
}
