//! The cluster runtime with the real kubectl: simulated nodes, the scheduler, node lifecycle
//! and taint-based eviction, pod GC, and fault injection.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;

fn start(args: &[&str]) -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), args);
    (dir, cluster)
}

fn pod(name: &str, node: Option<&str>, extra: &str) -> String {
    let node = node.map(|n| format!("  nodeName: {n}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n{node}  containers:\n  - name: c\n    image: nginx:1.25\n{extra}"
    )
}

fn get(k: &Cluster, args: &[&str]) -> String {
    let out = k.kubectl(args);
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn row(k: &Cluster, pod: &str) -> Vec<String> {
    get(k, &["get", "pod", pod, "--no-headers"]).split_whitespace().map(str::to_string).collect()
}

#[test]
fn applied_nodes_become_ready_and_take_their_pods_when_deleted() {
    let (_dir, k) = start(&["--workers", "1", "--pod-gc-quarantine", "3"]);
    let applied = Instant::now();
    k.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-1\nspec:\n  podCIDR: 10.244.7.0/24\n");
    k.eventually("edge-1 Ready", || {
        get(&k, &["get", "node", "edge-1", "--no-headers"]).split_whitespace().nth(1) == Some("Ready")
    });
    assert!(applied.elapsed() < Duration::from_secs(2), "Ready within 2 s: {:?}", applied.elapsed());
    let lease = get(
        &k,
        &["get", "lease", "edge-1", "-n", "kube-node-lease", "-o", "jsonpath={.spec.holderIdentity}"],
    );
    assert_eq!(lease, "edge-1");
    k.apply(&pod("on-edge", Some("edge-1"), ""));
    k.eventually("running on edge-1", || row(&k, "on-edge").get(2).map(String::as_str) == Some("Running"));
    assert!(row(&k, "on-edge")[1] == "1/1");
    let ip = get(&k, &["get", "pod", "on-edge", "-o", "jsonpath={.status.podIPs[0].ip}"]);
    assert!(ip.starts_with("10.244.7."), "{ip}");
    k.ok(&["delete", "node", "edge-1"]);
    let deleted = Instant::now();
    // Pod GC waits out its quarantine (3 s here, 40 s by default) before collecting them.
    k.eventually("its pod is gone", || !get(&k, &["get", "pods"]).contains("on-edge"));
    assert!(deleted.elapsed() >= Duration::from_secs(2), "quarantined first: {:?}", deleted.elapsed());
}

#[test]
fn no_execute_taints_evict_intolerant_pods_and_respect_toleration_seconds() {
    let (_dir, k) = start(&["--workers", "1"]);
    let tolerant = "  tolerations:\n  - key: app\n    operator: Exists\n    effect: NoExecute\n";
    let timed = "  tolerations:\n  - key: app\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 3\n";
    k.apply(&pod("intolerant", Some("k8s-worker-1"), ""));
    k.apply(&pod("tolerant", Some("k8s-worker-1"), tolerant));
    k.apply(&pod("timed", Some("k8s-worker-1"), timed));
    k.eventually("all running", || {
        ["intolerant", "tolerant", "timed"]
            .iter()
            .all(|p| row(&k, p).get(2).map(String::as_str) == Some("Running"))
    });
    let tainted = Instant::now();
    k.ok(&["taint", "node", "k8s-worker-1", "app=x:NoExecute"]);
    k.eventually("intolerant evicted", || !get(&k, &["get", "pods"]).contains("intolerant"));
    k.eventually("timed evicted", || !get(&k, &["get", "pods"]).contains("timed"));
    assert!(
        tainted.elapsed() >= Duration::from_secs(3),
        "tolerationSeconds honoured: {:?}",
        tainted.elapsed()
    );
    assert!(get(&k, &["get", "pods"]).contains("tolerant"), "the tolerant pod stays");
    // Events are written in the background, moments after what they report.
    k.eventually("the eviction event", || {
        get(&k, &["get", "events", "--field-selector", "reason=TaintManagerEviction"])
            .contains("Marking for deletion Pod default/intolerant")
    });
}

#[test]
fn a_stopped_node_turns_unknown_is_tainted_and_recovers() {
    let (_dir, k) = start(&["--workers", "1", "--node-monitor-grace-period", "3"]);
    k.apply(&pod("plain", Some("k8s-worker-1"), ""));
    let tolerant = "  tolerations:\n  - key: node.kubernetes.io/unreachable\n    operator: Exists\n    effect: NoExecute\n";
    k.apply(&pod("sticky", Some("k8s-worker-1"), tolerant));
    k.eventually("running", || row(&k, "plain").get(2).map(String::as_str) == Some("Running"));
    k.ok(&["annotate", "node", "k8s-worker-1", "everynode.io/heartbeat=stopped"]);
    k.eventually("NotReady", || {
        get(&k, &["get", "node", "k8s-worker-1", "--no-headers"]).split_whitespace().nth(1)
            == Some("NotReady")
    });
    let ready = get(
        &k,
        &["get", "node", "k8s-worker-1", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"],
    );
    assert_eq!(ready, "Unknown");
    k.eventually("unreachable taints", || {
        get(&k, &["get", "node", "k8s-worker-1", "-o", "jsonpath={.spec.taints[*].key}"])
            == "node.kubernetes.io/unreachable node.kubernetes.io/unreachable"
    });
    let ready_of = |pod: &str| {
        get(&k, &["get", "pod", pod, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])
    };
    // As upstream: its pods are marked not ready, and the evicted one stays Terminating, since
    // the kubelet that would finish its deletion is gone.
    k.eventually("pods not ready", || ready_of("sticky") == "False");
    k.eventually("plain evicted", || row(&k, "plain").get(2).map(String::as_str) == Some("Terminating"));
    assert_eq!(ready_of("plain"), "False");
    // Nothing starts there.
    k.apply(&pod("late", Some("k8s-worker-1"), tolerant));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(row(&k, "late").get(2).map(String::as_str), Some("Pending"));
    k.ok(&["annotate", "node", "k8s-worker-1", "everynode.io/heartbeat-"]);
    k.eventually("Ready again without taints", || {
        get(&k, &["get", "node", "k8s-worker-1", "--no-headers"]).split_whitespace().nth(1) == Some("Ready")
            && get(&k, &["get", "node", "k8s-worker-1", "-o", "jsonpath={.spec.taints}"]).trim().is_empty()
    });
    // Its kubelet takes up where it stopped: the deletion finishes, the others run and are ready.
    k.eventually("plain gone", || !get(&k, &["get", "pods"]).contains("plain"));
    k.eventually("sticky ready again", || ready_of("sticky") == "True");
    k.eventually("late running", || row(&k, "late")[1..3] == ["1/1".to_string(), "Running".to_string()]);
}

#[test]
fn unschedulable_pods_stay_pending_with_an_explanation() {
    let (_dir, k) = start(&["--workers", "2"]);
    k.apply(&pod("huge", None, "    resources:\n      requests:\n        cpu: \"64\"\n"));
    k.eventually("FailedScheduling", || {
        get(&k, &["get", "events", "--field-selector", "reason=FailedScheduling"]).contains("huge")
    });
    let events = get(
        &k,
        &[
            "get",
            "events",
            "--field-selector",
            "reason=FailedScheduling",
            "-o",
            "jsonpath={.items[0].message}",
        ],
    );
    assert_eq!(
        events,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    assert_eq!(row(&k, "huge")[2], "Pending");
    k.apply(&pod("small", None, ""));
    k.eventually("small scheduled", || row(&k, "small").get(2).map(String::as_str) == Some("Running"));
    let node = get(&k, &["get", "pod", "small", "-o", "jsonpath={.spec.nodeName}"]);
    assert!(node.starts_with("k8s-worker-"), "{node}");
    k.eventually("the Scheduled event", || {
        get(&k, &["get", "events", "--field-selector", "reason=Scheduled"])
            .contains("Successfully assigned default/small to k8s-worker-")
    });
}

#[test]
fn a_gated_pod_waits_for_its_gates_to_be_removed() {
    let (dir, k) = start(&["--workers", "1"]);
    k.apply(&format!(
        "{}  schedulingGates:\n  - name: example.com/quota\n  - name: example.com/approval\n",
        pod("gated", None, "")
    ));
    // As upstream: SchedulingGated from its creation, and the scheduler leaves it alone.
    assert_eq!(row(&k, "gated")[2], "SchedulingGated");
    let condition = |field: &str| {
        get(
            &k,
            &[
                "get",
                "pod",
                "gated",
                "-o",
                &format!("jsonpath={{.status.conditions[?(@.type==\"PodScheduled\")].{field}}}"),
            ],
        )
    };
    assert_eq!(condition("reason"), "SchedulingGated");
    assert_eq!(condition("message"), "Scheduling is blocked due to non-empty scheduling gates");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(get(&k, &["get", "pod", "gated", "-o", "jsonpath={.spec.nodeName}"]), "");

    // Gates can be removed, not added.
    let err = k.fails(&[
        "patch",
        "pod",
        "gated",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/schedulingGates/-","value":{"name":"example.com/more"}}]"#,
    ]);
    assert!(
        err.contains("spec.schedulingGates: Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/more'"),
        "{err}"
    );
    let json_patch = |patch: &str| k.ok(&["patch", "pod", "gated", "--type=json", "-p", patch]);
    json_patch(r#"[{"op":"remove","path":"/spec/schedulingGates/0"}]"#);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(row(&k, "gated")[2], "SchedulingGated", "one gate is left");
    json_patch(r#"[{"op":"remove","path":"/spec/schedulingGates"}]"#);
    k.eventually("the pod scheduled and running", || {
        row(&k, "gated").get(2).map(String::as_str) == Some("Running")
    });
    assert_eq!(condition("status"), "True");

    // A node cannot be named while gates hold a pod; a gate's name is a qualified name.
    let refused = |manifest: String| {
        let file = dir.path().join("refused.yaml");
        std::fs::write(&file, manifest).unwrap();
        k.fails(&["apply", "-f", file.to_str().unwrap()])
    };
    let named = format!(
        "{}  schedulingGates:\n  - name: example.com/quota\n",
        pod("named", Some("k8s-worker-1"), "")
    );
    let out = refused(named);
    assert!(
        out.contains("spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"),
        "{out}"
    );
    let bad = format!("{}  schedulingGates:\n  - name: a/b/c\n  - name: a/b/c\n", pod("bad", None, ""));
    let out = refused(bad);
    assert!(out.contains("spec.schedulingGates[0]: Invalid value: \"a/b/c\""), "{out}");
    assert!(out.contains("spec.schedulingGates[1]: Duplicate value: \"a/b/c\""), "{out}");
}

#[test]
fn a_higher_priority_pod_preempts_a_lower_priority_one_on_a_full_node() {
    let (_dir, k) = start(&["--workers", "1"]);
    k.ok(&["create", "priorityclass", "low", "--value=100"]);
    k.ok(&["create", "priorityclass", "high", "--value=100000"]);
    let wants = |class: &str| {
        format!("  priorityClassName: {class}\n")
            + "  containers:\n  - name: c\n    image: nginx:1.25\n    resources:\n      requests:\n        cpu: \"3\"\n"
    };
    let manifest = |name: &str, class: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n{}",
            wants(class)
        )
    };
    k.apply(&manifest("filler", "low"));
    k.eventually("filler running", || row(&k, "filler").get(2).map(String::as_str) == Some("Running"));
    k.apply(&manifest("important", "high"));
    k.eventually("important running in filler's place", || {
        row(&k, "important").get(2).map(String::as_str) == Some("Running")
    });
    assert!(!get(&k, &["get", "pods"]).contains("filler"), "the victim is gone");
    let placed =
        get(&k, &["get", "pod", "important", "-o", "jsonpath={.spec.nodeName} {.status.nominatedNodeName}"]);
    assert_eq!(placed, "k8s-worker-1 k8s-worker-1");
    let uid = get(&k, &["get", "pod", "important", "-o", "jsonpath={.metadata.uid}"]);
    k.eventually("the Preempted event", || {
        let preempted = get(
            &k,
            &["get", "events", "--field-selector", "reason=Preempted", "-o", "jsonpath={.items[*].message}"],
        );
        preempted == format!("Preempted by pod {uid} on node k8s-worker-1")
    });
    // Nominated by preemption, so no `preemption: …` part (a later attempt, while the victim
    // is still terminating, may add one saying it is not eligible to preempt again).
    k.eventually("the FailedScheduling event", || {
        let failed = get(
            &k,
            &[
                "get",
                "events",
                "--field-selector",
                "reason=FailedScheduling,involvedObject.name=important",
                "-o",
                "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
            ],
        );
        failed.lines().any(|m| m
            == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.")
    });

    // A pod of lower priority cannot take the room back.
    k.apply(&manifest("modest", "low"));
    k.eventually("modest explained", || {
        get(&k, &["get", "pod", "modest", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"])
            .ends_with("preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.")
    });
    assert_eq!(row(&k, "modest")[2], "Pending");
    assert_eq!(row(&k, "important")[2], "Running");
}

#[test]
fn simulation_rules_show_in_kubectl_get_pods() {
    let (_dir, k) = start(&["--workers", "1"]);
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'broken:*'\n      behaviour: ImagePullBackOff\n    - image: 'crashy:*'\n      behaviour: CrashLoopBackOff\n    - image: 'lazy:*'\n      behaviour: NeverReady\n");
    std::thread::sleep(Duration::from_millis(500));
    for (name, image) in
        [("pull", "broken:1"), ("crash", "crashy:1"), ("lazy", "lazy:1"), ("fine", "nginx:1")]
    {
        k.apply(&pod(name, Some("k8s-worker-1"), "").replace("nginx:1.25", image));
    }
    k.eventually("ImagePullBackOff", || {
        row(&k, "pull").get(2).map(String::as_str) == Some("ImagePullBackOff")
    });
    k.eventually("CrashLoopBackOff", || {
        row(&k, "crash").get(2).map(String::as_str) == Some("CrashLoopBackOff")
    });
    assert_eq!(row(&k, "crash")[3], "1", "restarts counted");
    k.eventually("running, never ready", || {
        row(&k, "lazy")[1..3] == ["0/1".to_string(), "Running".to_string()]
    });
    k.eventually("fine", || row(&k, "fine")[1..3] == ["1/1".to_string(), "Running".to_string()]);
}

#[test]
fn every_namespace_gets_its_service_account_and_root_ca_and_pods_wait_for_theirs() {
    let (_dir, k) = start(&["--workers", "2"]);
    k.ok(&["create", "namespace", "agents"]);
    k.eventually("the default ServiceAccount and kube-root-ca.crt in a new namespace", || {
        k.kubectl(&["get", "serviceaccount", "default", "-n", "agents"]).status.success()
            && k.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", "agents"]).status.success()
    });
    let ca =
        k.ok(&["get", "configmap", "kube-root-ca.crt", "-n", "agents", "-o", "jsonpath={.data.ca\\.crt}"]);
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    // Deleted, they come back.
    k.ok(&["delete", "serviceaccount", "default", "-n", "agents"]);
    k.eventually("the default ServiceAccount is created again", || {
        k.kubectl(&["get", "serviceaccount", "default", "-n", "agents"]).status.success()
    });

    // A DaemonSet naming a ServiceAccount that does not exist yet gets no pods, and says why.
    k.apply(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: agents\nspec:\n  selector:\n    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      serviceAccountName: agent\n      containers:\n      - name: a\n        image: agent:1\n",
    );
    k.eventually("a FailedCreate event naming the missing ServiceAccount", || {
        get(&k, &["get", "events", "-n", "agents", "--field-selector", "reason=FailedCreate"])
            .contains("error looking up service account agents/agent: serviceaccount \"agent\" not found")
    });
    assert_eq!(get(&k, &["get", "pods", "-n", "agents", "--no-headers"]).lines().count(), 0);
    k.ok(&["create", "serviceaccount", "agent", "-n", "agents"]);
    // The two workers (the control-plane node's taint is not tolerated).
    k.eventually("a pod on each worker once the ServiceAccount exists", || {
        get(&k, &["get", "pods", "-n", "agents", "--no-headers"])
            .lines()
            .filter(|l| l.contains("Running"))
            .count()
            == 2
    });
    let account = k.ok(&["get", "pods", "-n", "agents", "-o", "jsonpath={.items[0].spec.serviceAccount}"]);
    assert_eq!(account, "agent", "serviceAccount mirrors serviceAccountName");
}
