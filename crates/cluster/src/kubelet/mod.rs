//! Simulated kubelets, as KWOK runs them: one per Node object, running no containers. Each
//! fills in its node's status, renews its Lease in `kube-node-lease` every 10 s (spread over
//! the interval), runs the pods bound to it and finishes their graceful deletion. One pod watch
//! and one node watch serve every node.
//!
//! Pods are reconciled, level-triggered: what a pod's status should be is a pure function of
//! the pod, its node, the rules and the time ([`pod_status`]), every delay measured from
//! timestamps stored in the pod. A pod is looked at when it or its node changes, when the
//! rules change, and when the last look said it would change by itself (a timer queue of
//! wake-ups), so a kubelet that restarts picks up where it stopped.
//!
//! A node stops heartbeating while it carries the annotation
//! `everynode.io/heartbeat: stopped` (`kubectl annotate node NAME everynode.io/heartbeat=stopped`):
//! its Lease goes stale as a dead kubelet's would, and its kubelet does nothing else either (no
//! pod starts, no status, no finished deletions); removing the annotation revives it.
//!
//! Fault injection: the ConfigMap `kube-system/everynode-simulation`, key `rules.yaml`, holds an
//! ordered list of rules (see [`SimulationRule`]): how containers behave, and which conditions
//! hold on which nodes.

use std::collections::{BTreeSet, HashMap, HashSet};
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

use client::informer::{self, Change, Informers, Store};
use client::pod_deletion;
use client::stripped::Stripped;

pub mod pod_status;

use pod_status::Placement;
use simulation::SimulationRule;

pub const HEARTBEAT_ANNOTATION: &str = "everynode.io/heartbeat";
/// The node conditions that hold on a simulated node, comma-separated.
pub const CONDITIONS_ANNOTATION: &str = "everynode.io/conditions";
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
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
    apimachinery::duration::format_time(Timestamp::now())
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

/// The node conditions that hold on a node: what its annotation `everynode.io/conditions` says
/// (`MemoryPressure,DiskPressure`; also `PIDPressure`, `NetworkUnavailable`), or else the first
/// node's rule that matches it.
fn node_conditions(node: &Node, rules: &[SimulationRule]) -> Vec<String> {
    let annotated = node.metadata.annotations.as_ref().and_then(|a| a.get(CONDITIONS_ANNOTATION));
    match annotated {
        Some(v) => v.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect(),
        None => simulation::node_conditions(
            rules,
            node.metadata.name.as_deref().unwrap_or_default(),
            node.metadata.labels.as_ref(),
        )
        .map(<[String]>::to_vec)
        .unwrap_or_default(),
    }
}

/// The status a healthy simulated kubelet reports, filling in what the manifest lacks.
pub fn node_status_patch(node: &Node, rules: &[SimulationRule], kubelet_version: &str) -> Value {
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
            c["lastTransitionTime"] = json!(apimachinery::duration::format_time(t.0));
        }
        c
    };
    let holds = node_conditions(node, rules);
    let pressure =
        |type_: &str, (reason_true, message_true): (&str, &str), (reason, message): (&str, &str)| {
            if holds.iter().any(|h| h == type_) {
                condition(type_, "True", reason_true, message_true)
            } else {
                condition(type_, "False", reason, message)
            }
        };
    let mut conditions: Vec<Value> = vec![
        pressure(
            "MemoryPressure",
            ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
            ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ),
        pressure(
            "DiskPressure",
            ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ),
        pressure(
            "PIDPressure",
            ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
            ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ];
    // NetworkUnavailable is the network plugin's: reported only once asked for.
    let had_network = status.conditions.iter().flatten().any(|c| c.type_ == "NetworkUnavailable");
    if holds.iter().any(|h| h == "NetworkUnavailable") || had_network {
        conditions.push(pressure(
            "NetworkUnavailable",
            ("NoRouteCreated", "Node created without a route"),
            ("RouteCreated", "RouteController created a route"),
        ));
    }
    let conditions: Vec<Value> = conditions.into_iter().map(keep_transition).collect();
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

/// Every simulated kubelet of the cluster.
pub struct Kubelets {
    client: Client,
    kubelet_version: String,
    renew_interval: Duration,
    informers: Arc<Informers>,
    nodes: Arc<Store<Node>>,
    pods: Arc<Store<Pod>>,
    rules: Mutex<Arc<Vec<SimulationRule>>>,
    /// When pods change by themselves next.
    wakeups: Mutex<Wakeups>,
    /// Signalled when a wake-up earlier than any before is queued.
    woken: tokio::sync::Notify,
    /// Pods with a status write or a deletion in flight (by `namespace/name`): looked at again
    /// once it lands.
    in_flight: Mutex<HashSet<String>>,
    /// Pods bound to a node not seen yet, by node: looked at when it appears.
    waiting: Mutex<HashMap<String, Vec<String>>>,
    /// Pod IPs given out, by node, so a new pod never takes a running pod's address.
    addresses: Mutex<HashMap<String, HashSet<String>>>,
    /// Bounds the API requests of node registration and heartbeats in flight at once.
    requests: Arc<tokio::sync::Semaphore>,
}

/// The timer queue: each pod's next wake-up, earliest first.
#[derive(Default)]
struct Wakeups {
    queue: BTreeSet<(Timestamp, String)>,
    by_pod: HashMap<String, Timestamp>,
}

impl Wakeups {
    /// Sets (or, with `None`, clears) the wake-up of `key`; whether it is now the earliest.
    fn set(&mut self, key: &str, at: Option<Timestamp>) -> bool {
        if let Some(old) = self.by_pod.remove(key) {
            self.queue.remove(&(old, key.to_string()));
        }
        let Some(at) = at else { return false };
        self.by_pod.insert(key.to_string(), at);
        self.queue.insert((at, key.to_string()));
        self.queue.first().is_some_and(|(first, _)| *first == at)
    }

    fn next(&self) -> Option<Timestamp> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Takes the pods due by `now`.
    fn due(&mut self, now: Timestamp) -> Vec<String> {
        let mut due = Vec::new();
        while let Some((t, _)) = self.queue.first()
            && *t <= now
        {
            let (_, key) = self.queue.pop_first().expect("not empty");
            self.by_pod.remove(&key);
            due.push(key);
        }
        due
    }
}

/// How long to wait before looking at a pod again after a write of it failed.
const RETRY: jiff::SignedDuration = jiff::SignedDuration::from_secs(1);

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
            pods: informers.pods.store(),
            rules: Mutex::default(),
            wakeups: Mutex::default(),
            woken: tokio::sync::Notify::new(),
            in_flight: Mutex::default(),
            waiting: Mutex::default(),
            addresses: Mutex::default(),
            requests: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_NODE_REQUESTS)),
        })
    }

    /// Runs every simulated kubelet until the process stops.
    pub async fn run(self: Arc<Self>) {
        let mut node_rx = self.informers.nodes.subscribe();
        let mut pod_rx = self.informers.pods.subscribe();
        let cm_config =
            watcher::Config::default().fields(&format!("metadata.name={}", simulation::RULES_CONFIG_MAP));
        let cm_api = Api::<ConfigMap>::namespaced(self.client.clone(), simulation::RULES_NAMESPACE);
        let mut cm_rx = informer::spawn(cm_api, cm_config, Arc::default());
        tokio::spawn(self.clone().heartbeats());
        tokio::spawn(self.clone().wake_pods());
        loop {
            tokio::select! {
                Some(change) = node_rx.recv() => self.node_changed(change).await,
                Some(change) = pod_rx.recv() => self.pod_changed(change),
                Some(change) = cm_rx.recv() => {
                    let rules = match change {
                        Change::Applied { new, .. } => simulation::rules_of(&new).unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "ignoring unreadable simulation rules");
                            Vec::new()
                        }),
                        Change::Deleted(_) => Vec::new(),
                        Change::Synced => continue,
                    };
                    let rules = Arc::new(rules);
                    let old = std::mem::replace(&mut *self.rules.lock().unwrap_or_else(|e| e.into_inner()), rules.clone());
                    // A rule edit applies to running pods at once, and to the conditions of nodes.
                    for pod in self.pods.list() {
                        self.reconcile(pod);
                    }
                    for node in self.nodes.list() {
                        if !heartbeat_stopped(&node) && node_conditions(&node, &old) != node_conditions(&node, &rules) {
                            self.post_node_status(&node).await;
                        }
                    }
                }
                else => return,
            }
        }
    }

    /// Looks at each pod when its wake-up comes.
    async fn wake_pods(self: Arc<Self>) {
        loop {
            let next = self.wakeups.lock().unwrap_or_else(|e| e.into_inner()).next();
            let wait = match next {
                Some(at) => Duration::try_from(at.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.woken.notified() => continue,
            }
            let due = self.wakeups.lock().unwrap_or_else(|e| e.into_inner()).due(Timestamp::now());
            for key in due {
                if let Some(pod) = self.pods.get(&key) {
                    self.reconcile(pod);
                }
            }
        }
    }

    fn wake_at(&self, key: &str, at: Option<Timestamp>) {
        if self.wakeups.lock().unwrap_or_else(|e| e.into_inner()).set(key, at) {
            self.woken.notify_one();
        }
    }

    /// Looks at every pod bound to `node`.
    fn reconcile_node(self: &Arc<Self>, node: &str) {
        for pod in self.pods.list() {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node) {
                self.reconcile(pod);
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
                for key in waiting.into_iter().flatten() {
                    if let Some(pod) = self.pods.get(&key) {
                        self.reconcile(pod);
                    }
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
                if heartbeat_stopped(&new) {
                    return;
                }
                // Revived (annotation removed): it reports Ready again at once, and its kubelet
                // takes up its pods where it left them. Its conditions edited: it reports them.
                let revived = heartbeat_stopped(&old);
                let rules = self.rules();
                if revived || node_conditions(&old, &rules) != node_conditions(&new, &rules) {
                    self.post_node_status(&new).await;
                }
                if revived {
                    self.renew_lease(&informer::name(new.as_ref())).await;
                    self.reconcile_node(&informer::name(new.as_ref()));
                }
            }
            Change::Deleted(node) => {
                let name = informer::name(node.as_ref());
                self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
                self.addresses.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
            }
            Change::Synced => {}
        }
    }

    fn rules(&self) -> Arc<Vec<SimulationRule>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn post_node_status(&self, node: &Node) {
        // The answer is not read: decoded without managed fields.
        let api: Api<Stripped<Node>> = Api::all_with(self.client.clone(), &());
        let patch = node_status_patch(node, &self.rules(), &self.kubelet_version);
        if let Err(e) =
            api.patch_status(&informer::name(node), &PatchParams::default(), &Patch::Strategic(patch)).await
        {
            tracing::debug!(node = ?node.metadata.name, error = %e, "posting node status failed");
        }
    }

    async fn renew_lease(&self, node: &str) {
        let api: Api<Stripped<Lease>> = Api::namespaced_with(self.client.clone(), LEASE_NAMESPACE, &());
        let now = MicroTime(Timestamp::now());
        let spec = LeaseSpec {
            holder_identity: Some(node.to_string()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(now),
            ..Default::default()
        };
        let patch = json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": spec.renew_time}});
        // The answer is not needed, so it is not decoded: a large cluster renews thousands of
        // Leases a second.
        let request = kube::core::Request::new(<Lease as kube::Resource>::url_path(
            &(),
            Some(LEASE_NAMESPACE),
        ))
        .patch(node, &PatchParams::default(), &Patch::Merge(patch));
        let renewed = match request {
            Ok(request) => self.client.request_text(request).await.map(|_| ()),
            Err(e) => Err(kube::Error::BuildRequest(e)),
        };
        match renewed {
            Ok(()) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {
                let lease = Stripped(Lease {
                    metadata: ObjectMeta {
                        name: Some(node.to_string()),
                        namespace: Some(LEASE_NAMESPACE.to_string()),
                        owner_references: None,
                        ..Default::default()
                    },
                    spec: Some(spec),
                });
                if let Err(e) = api.create(&PostParams::default(), &lease).await {
                    tracing::debug!(node, error = %e, "creating the node lease failed");
                }
            }
            Err(e) => tracing::debug!(node, error = %e, "renewing the node lease failed"),
        }
    }

    /// Renews each node's Lease every renew interval, spread over it in runs of neighbouring
    /// names; a node that reports NotReady or Unknown while it heartbeats reports Ready again.
    async fn heartbeats(self: Arc<Self>) {
        const SLOTS: usize = 10;
        let mut tick = tokio::time::interval(self.renew_interval / SLOTS as u32);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut names: Vec<String> = Vec::new();
        for slot in (0..SLOTS).cycle() {
            tick.tick().await;
            if slot == 0 {
                // Once a round, the nodes in name order, the order of their Leases' keys in
                // the store: the Leases one commit writes are neighbours that share the
                // B-tree's pages, a fifth of the pages written for random ones.
                names = self.nodes.list().iter().map(|n| informer::name(n.as_ref())).collect();
                names.sort_unstable();
            }
            let run = &names[names.len() * slot / SLOTS..names.len() * (slot + 1) / SLOTS];
            let due: Vec<Arc<Node>> = run
                .iter()
                .filter_map(|name| self.nodes.get(name))
                .filter(|n| !heartbeat_stopped(n))
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
        match change {
            Change::Applied { new, .. } => self.reconcile(new),
            Change::Deleted(pod) => {
                let key = informer::key_of(pod.as_ref());
                self.wake_at(&key, None);
                if let (Some(node), Some(ip)) = (
                    pod.spec.as_ref().and_then(|s| s.node_name.as_ref()),
                    pod.status.as_ref().and_then(|s| s.pod_ip.as_ref()),
                ) && let Some(used) =
                    self.addresses.lock().unwrap_or_else(|e| e.into_inner()).get_mut(node)
                {
                    used.remove(ip);
                }
            }
            Change::Synced => {}
        }
    }

    /// Brings one pod's status to what it should be now, and queues its next look.
    fn reconcile(self: &Arc<Self>, pod: Arc<Pod>) {
        let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { return };
        let key = informer::key_of(pod.as_ref());
        let Some(node) = self.nodes.get(&node_name) else {
            // Bound to a node that does not exist yet: started once it does.
            self.waiting.lock().unwrap_or_else(|e| e.into_inner()).entry(node_name).or_default().push(key);
            return;
        };
        // A node whose kubelet is stopped does nothing at all.
        if heartbeat_stopped(&node) {
            return;
        }
        if self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).contains(&key) {
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            self.wake_at(&key, None);
            self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone());
            let this = self.clone();
            tokio::spawn(async move { this.finish_deletion(&pod, key).await });
            return;
        }
        let placement = self.placement(&pod, &node);
        let rules = self.rules();
        let step = pod_status::next(&pod, &placement, &rules, Timestamp::now());
        let Some(status) = step.status else {
            self.wake_at(&key, step.wake);
            return;
        };
        self.wake_at(&key, None);
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone());
        let this = self.clone();
        tokio::spawn(async move { this.write_status(&pod, status, key).await });
    }

    /// Where `pod` runs: its node's address, and the pod IP it has or would get.
    fn placement(&self, pod: &Pod, node: &Node) -> Placement {
        let node_name = informer::name(node);
        let host_ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone());
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        let used = addresses.entry(node_name.clone()).or_default();
        let pod_ip = match pod.status.as_ref().and_then(|s| s.pod_ip.clone()) {
            Some(ip) => ip,
            None => {
                let cidr = node.spec.as_ref().and_then(|s| s.pod_cidr.clone());
                let cidr = cidr.as_deref().unwrap_or("10.244.0.0/24");
                // The first free address, counting from where the pod's uid points.
                let start = fnv(pod.metadata.uid.as_deref().unwrap_or_default());
                (0..256u32)
                    .filter_map(|i| pod_ip(cidr, start.wrapping_add(i)))
                    .find(|ip| !used.contains(ip))
                    .unwrap_or_else(|| "10.244.0.2".to_string())
            }
        };
        used.insert(pod_ip.clone());
        let node_labels = node.metadata.labels.clone().unwrap_or_default();
        Placement { node: node_name, node_labels, host_ip, pod_ip }
    }

    /// Writes a pod's status, on the condition that the pod is still the version it was
    /// computed from, then looks at it again as the write left it.
    async fn write_status(
        self: Arc<Self>,
        pod: &Pod,
        status: k8s_openapi::api::core::v1::PodStatus,
        key: String,
    ) {
        let (ns, name) = informer::namespace_name(pod);
        // The pod written is looked at again, as the informer would have it: without managed
        // fields.
        let api: Api<Stripped<Pod>> = Api::namespaced_with(self.client.clone(), &ns, &());
        let patch = json!({"metadata": {"resourceVersion": pod.metadata.resource_version}, "status": status});
        let written = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await;
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        match written {
            Ok(Stripped(pod)) => self.reconcile(Arc::new(pod)),
            Err(e) => {
                // Changed meanwhile (its event follows) or a passing failure: looked at again.
                tracing::debug!(pod = %name, error = %e, "writing a pod status failed");
                self.wake_at(&key, Some(Timestamp::now() + RETRY));
            }
        }
    }

    async fn finish_deletion(self: Arc<Self>, pod: &Pod, key: String) {
        let name = informer::name(pod);
        // The containers "stop" at once; the pod goes well within its grace period.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let deleted = pod_deletion::delete_instance(&self.client, pod, Some(0)).await;
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        if let Err(e) = deleted
            && !matches!(&e, kube::Error::Api(s) if s.code == 404 || s.code == 409)
        {
            tracing::debug!(pod = %name, error = %e, "finishing a pod deletion failed");
            self.wake_at(&key, Some(Timestamp::now() + RETRY));
        }
    }
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
        let patch = node_status_patch(&node, &[], "v1.33.0");
        assert_eq!(patch["status"]["allocatable"]["pods"], "110");
        assert_eq!(patch["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
        assert_eq!(patch["status"]["conditions"][3]["type"], "Ready");
        assert_eq!(patch["status"]["conditions"][3]["status"], "True");
    }
}
