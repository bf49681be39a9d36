//! The simulated kubelets reconcile from what pods store, so they resume after `kill -9`.

mod common;

use std::time::Duration;

use common::Cluster;

const RULES: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'slow:*'\n      readySeconds: 2\n      log: |\n        listening on :8080\n        serving\n    - image: 'crashy:*'\n      behaviour: CrashLoopBackOff\n";

fn daemonset(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {{app: agent}}\n  template:\n    metadata:\n      labels: {{app: agent}}\n    spec:\n      containers:\n      - name: agent\n        image: {image}\n"
    )
}

/// `(node, image, ready)` of each daemon pod.
fn daemon_pods(k: &Cluster) -> Vec<(String, String, String)> {
    k.pod_rows(
        "app=agent",
        &[".spec.nodeName", ".spec.containers[0].image", ".status.containerStatuses[0].ready"],
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
    .collect()
}

#[test]
fn a_rollout_killed_mid_way_finishes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "3"]);
    k.apply(RULES);
    k.apply(&daemonset("app:1"));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["set", "image", "ds/agent", "agent=slow:2"]);
    // Killed while a new pod waits out its two seconds.
    k.eventually_within("a new pod not ready yet", Duration::from_secs(20), || {
        daemon_pods(&k).iter().any(|(_, image, ready)| image == "slow:2" && ready == "false")
    });
    k.kill9();

    let k = Cluster::start(dir.path(), &["--workers", "3"]);
    k.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    let mut pods = daemon_pods(&k);
    pods.sort();
    let nodes: Vec<&str> = pods.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(nodes, ["k8s-worker-1", "k8s-worker-2", "k8s-worker-3"], "one daemon pod per node");
    assert!(pods.iter().all(|(_, image, ready)| image == "slow:2" && ready == "true"), "{pods:?}");
}

fn restarts(k: &Cluster) -> Option<u32> {
    k.ok(&["get", "pod", "crashy", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]).parse().ok()
}

#[test]
fn a_crash_loop_keeps_counting_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    k.apply(RULES);
    k.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: crashy\nspec:\n  nodeName: k8s-worker-1\n  containers:\n  - name: c\n    image: crashy:1\n");
    k.eventually_within("the first exit", Duration::from_secs(20), || restarts(&k) == Some(1));
    let reason =
        k.ok(&["get", "pod", "crashy", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"]);
    assert_eq!(reason, "CrashLoopBackOff");
    k.kill9();

    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    // Its back-off (10 s from the exit) runs out, it runs a second, and exits again: counted
    // from where it was.
    let mut seen = Vec::new();
    k.eventually_within("the second exit", Duration::from_secs(40), || {
        let n = restarts(&k);
        seen.push(n);
        n == Some(2)
    });
    assert!(seen.iter().all(|n| n.is_some_and(|n| n >= 1)), "never counted from zero again: {seen:?}");
    let last_exit = k.ok(&[
        "get",
        "pod",
        "crashy",
        "-o",
        "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
    ]);
    assert_eq!(last_exit, "1");
}

fn status_column(k: &Cluster, pod: &str) -> String {
    let out = k.ok(&["get", "pod", pod, "--no-headers"]);
    out.split_whitespace().nth(2).unwrap_or_default().to_string()
}

#[test]
fn init_containers_exits_and_rule_edits_show_in_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'fetch:*'\n      exitAfterSeconds: 2\n    - image: 'job:*'\n      behaviour: Exit\n      exitAfterSeconds: 1\n    - image: 'broken-job:*'\n      behaviour: Exit\n      exitCode: 3\n    - image: 'web:*'\n      namespace: default\n      behaviour: NeverReady\n");
    let pod = |name: &str, image: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: k8s-worker-1\n  restartPolicy: Never\n{extra}  containers:\n  - name: c\n    image: {image}\n"
        )
    };
    k.apply(&pod("init", "app:1", "  initContainers:\n  - name: fetch\n    image: fetch:1\n"));
    k.apply(&pod("done", "job:1", ""));
    k.apply(&pod("failed", "broken-job:1", ""));
    k.apply(&pod("web", "web:1", ""));
    k.eventually_within("init running", Duration::from_secs(10), || status_column(&k, "init") == "Init:0/1");
    k.eventually_within("init done", Duration::from_secs(10), || status_column(&k, "init") == "Running");
    k.eventually_within("completed", Duration::from_secs(10), || status_column(&k, "done") == "Completed");
    k.eventually_within("failed", Duration::from_secs(10), || status_column(&k, "failed") == "Error");
    assert_eq!(k.ok(&["get", "pod", "failed", "-o", "jsonpath={.status.phase}"]), "Failed");
    k.eventually_within("web running unready", Duration::from_secs(10), || {
        k.ok(&["get", "pod", "web", "--no-headers"]).split_whitespace().nth(1) == Some("0/1")
    });
    // The rule goes: the running pod turns ready at its next look.
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'nothing:*'\n      behaviour: NeverReady\n");
    k.eventually_within("web ready", Duration::from_secs(10), || {
        k.ok(&["get", "pod", "web", "--no-headers"]).split_whitespace().nth(1) == Some("1/1")
    });
}

#[test]
fn kubectl_logs_tells_what_the_container_did() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    k.apply(RULES);
    let pod = |name: &str, image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: k8s-worker-1\n  containers:\n  - name: c\n    image: {image}\n"
        )
    };
    k.apply(&pod("slow", "slow:1"));
    k.apply(&pod("crashy", "crashy:1"));
    k.eventually_within("slow running", Duration::from_secs(10), || status_column(&k, "slow") == "Running");
    // Followed: the start and the rule's lines at once, the readiness two seconds later, on
    // the same stream.
    let (mut follow, rx) = follow(&k, "slow");
    let next = |what: &str| rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{what}"));
    assert_eq!(next("the start"), "everynode: container c started (image slow:1, node k8s-worker-1)");
    assert_eq!(next("the rule's first line"), "listening on :8080");
    assert_eq!(next("the rule's second line"), "serving");
    assert_eq!(next("the readiness, followed"), "everynode: container c is ready");
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(k.ok(&["logs", "slow", "--tail=1"]), "everynode: container c is ready\n");

    k.eventually_within("the first exit", Duration::from_secs(20), || restarts_of(&k, "crashy") == Some(1));
    let last = k.ok(&["logs", "crashy", "--previous"]);
    assert!(last.ends_with("everynode: container c exited with code 1 (Error)\n"), "{last}");
    let stamped = k.ok(&["logs", "crashy", "--previous", "--timestamps"]);
    assert!(stamped.lines().all(|l| l.split(' ').next().is_some_and(|t| t.ends_with('Z'))), "{stamped}");
    assert!(
        k.fails(&["logs", "slow", "-c", "nope"]).contains("container nope is not valid for pod slow"),
        "an unknown container is refused"
    );
    assert!(
        k.fails(&["logs", "slow", "--previous"])
            .contains("previous terminated container \"c\" in pod \"slow\" not found")
    );
}

/// `kubectl logs -f POD`, and its lines as they come.
fn follow(k: &Cluster, pod: &str) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = k.kubectl_cmd(&["logs", "-f", pod]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn restarts_of(k: &Cluster, pod: &str) -> Option<u32> {
    k.ok(&["get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]).parse().ok()
}

#[test]
fn a_pressured_node_is_tainted_and_daemon_pods_still_run_there() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    k.ok(&["annotate", "node", "k8s-worker-1", "everynode.io/conditions=DiskPressure"]);
    let taints = || k.ok(&["get", "node", "k8s-worker-1", "-o", "jsonpath={.spec.taints[*].key}"]);
    k.eventually_within("the disk-pressure taint", Duration::from_secs(10), || {
        taints() == "node.kubernetes.io/disk-pressure"
    });
    let condition = k.ok(&[
        "get",
        "node",
        "k8s-worker-1",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"DiskPressure\")].reason}",
    ]);
    assert_eq!(condition, "KubeletHasDiskPressure");
    // A plain pod waits; a DaemonSet's pods tolerate the pressure, as upstream's do.
    k.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: plain\nspec:\n  containers:\n  - name: c\n    image: app:1\n");
    k.apply(&daemonset("app:1"));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert_eq!(status_column(&k, "plain"), "Pending");
    k.ok(&["annotate", "node", "k8s-worker-1", "everynode.io/conditions-"]);
    k.eventually_within("the taint gone", Duration::from_secs(10), || taints().is_empty());
    k.eventually_within("plain running", Duration::from_secs(20), || status_column(&k, "plain") == "Running");
    // The same through a node's rule, and gone with the rules.
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - node: 'k8s-worker-*'\n      nodeConditions: [MemoryPressure]\n");
    k.eventually_within("the memory-pressure taint", Duration::from_secs(10), || {
        taints() == "node.kubernetes.io/memory-pressure"
    });
    k.ok(&["delete", "configmap", "-n", "kube-system", "everynode-simulation"]);
    k.eventually_within("the taint gone with the rule", Duration::from_secs(10), || taints().is_empty());
}

#[test]
fn a_flapping_container_shows_its_changes_after_the_probes_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'flaky:*'\n      behaviour: Flapping\n      flapSeconds: 3\n");
    // Probed every second: ready once it has seen it, unready after two failures in a row.
    k.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: flaky\nspec:\n  nodeName: k8s-worker-1\n  containers:\n  - name: c\n    image: flaky:1\n    readinessProbe:\n      periodSeconds: 1\n      failureThreshold: 2\n      exec:\n        command: [\"true\"]\n");
    let ready = || k.ok(&["get", "pod", "flaky", "--no-headers"]).split_whitespace().nth(1) == Some("1/1");
    k.eventually_within("ready", Duration::from_secs(10), ready);
    let (mut follow, rx) = follow(&k, "flaky");
    k.eventually_within("unready, a second after the flap", Duration::from_secs(10), || !ready());
    k.eventually_within("ready again", Duration::from_secs(10), ready);
    // The followed log tells each change as it happens.
    let told: Vec<String> = (0..4).map_while(|_| rx.recv_timeout(Duration::from_secs(10)).ok()).collect();
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(
        told,
        [
            "everynode: container c started (image flaky:1, node k8s-worker-1)",
            "everynode: container c is ready",
            "everynode: container c is not ready",
            "everynode: container c is ready",
        ],
    );
    // The exact schedule (on at 0, off shown at 4, on at 6) is pod_status's unit tests'.
}

#[test]
fn a_rolling_update_treats_the_pod_of_a_stopped_node_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2", "--node-monitor-grace-period", "3"]);
    k.apply(&daemonset("app:1"));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "node", "k8s-worker-2", "everynode.io/heartbeat=stopped"]);
    let status = |field: &str| k.ok(&["get", "ds", "agent", "-o", &format!("jsonpath={{.status.{field}}}")]);
    // As upstream: the unreachable node's NoSchedule taint takes it out of the desired count,
    // and its pod, marked not ready, stays (the DaemonSet tolerates the NoExecute taint).
    k.eventually_within("the node out of the desired count", Duration::from_secs(20), || {
        status("desiredNumberScheduled") == "1"
    });
    // A field of the daemon pods on the stopped node.
    let there = |path: &str| {
        let jsonpath = format!("jsonpath={{.items[*].{path}}}");
        k.ok(&[
            "get",
            "pods",
            "-l",
            "app=agent",
            "--field-selector",
            "spec.nodeName=k8s-worker-2",
            "-o",
            &jsonpath,
        ])
    };
    let ready_there = || there("status.conditions[?(@.type==\"Ready\")].status");
    k.eventually_within("its pod not ready", Duration::from_secs(10), || ready_there() == "False");
    // The rolling update deletes the unavailable old pod at once. It stays Terminating (the
    // kubelet that would finish that is stopped) and counts as unavailable, so with
    // maxUnavailable 1 the rollout waits for the node, as upstream's does.
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    let deleting = || there("metadata.deletionTimestamp");
    k.eventually_within("the old pod there deleted", Duration::from_secs(10), || !deleting().is_empty());
    assert!(!k.kubectl(&["rollout", "status", "ds/agent", "--timeout=3s"]).status.success(), "stalled");
    // Zero, so omitted as upstream omits it.
    assert_eq!(status("updatedNumberScheduled"), "");
    k.ok(&["annotate", "node", "k8s-worker-2", "everynode.io/heartbeat-"]);
    k.eventually_within("both nodes again", Duration::from_secs(30), || {
        let mut pods = daemon_pods(&k);
        pods.sort();
        pods.len() == 2 && pods.iter().all(|(_, image, ready)| image == "app:2" && ready == "true")
    });
}
