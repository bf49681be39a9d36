//! The seeds' DaemonSet workflow, command by command, with the real `kubectl` against
//! `everynode up` and its in-process controllers (DaemonSet controller, scheduler, simulated
//! kubelets, garbage collector).

mod common;

use common::{Cluster, json};
use serde_json::Value;

const FLUENTD: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd
  namespace: logging
  labels:
    k8s-app: fluentd-logging
spec:
  selector:
    matchLabels:
      name: fluentd
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  template:
    metadata:
      labels:
        name: fluentd
    spec:
      tolerations:
      - key: app
        operator: Equal
        value: fluentd-logging
        effect: NoExecute
      containers:
      - name: fluentd
        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        securityContext:
          privileged: true
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      terminationGracePeriodSeconds: 30
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
"#;

fn start(workers: &str) -> (tempfile::TempDir, Cluster) {
    start_with(&["--workers", workers])
}

fn start_with(args: &[&str]) -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), args);
    cluster.ok(&["create", "ns", "logging"]);
    (dir, cluster)
}

/// (node, pod name, image, ready) of every fluentd pod that is not terminating.
fn pods(k: &Cluster) -> Vec<(String, String, String, bool)> {
    let list = json(&k.ok(&["get", "pods", "-n", "logging", "-l", "name=fluentd", "-o", "json"]));
    let mut out: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let ready = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (
                p["spec"]["nodeName"].as_str().unwrap_or_default().to_string(),
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["spec"]["containers"][0]["image"].as_str().unwrap().to_string(),
                ready,
            )
        })
        .collect();
    out.sort();
    out
}

fn nodes_with_ready_pods(k: &Cluster) -> Vec<String> {
    pods(k).into_iter().filter(|p| p.3).map(|p| p.0).collect()
}

fn ds_status(k: &Cluster) -> Value {
    json(&k.ok(&["get", "ds", "fluentd", "-n", "logging", "-o", "json"]))["status"].clone()
}

fn wait_for_nodes(k: &Cluster, want: &[&str]) {
    k.eventually(&format!("ready fluentd pods on exactly {want:?}"), || nodes_with_ready_pods(k) == want);
}

#[test]
fn fluentd_runs_on_every_worker_and_follows_nodes() {
    // The pod of a deleted node goes when pod GC's quarantine ends (40 s, as upstream's, by
    // default).
    let (_dir, k) = start_with(&["--workers", "2", "--pod-gc-quarantine", "1"]);
    k.apply(FLUENTD);
    wait_for_nodes(&k, &["k8s-worker-1", "k8s-worker-2"]);
    k.eventually("status counts", || {
        let s = ds_status(&k);
        s["desiredNumberScheduled"] == 2
            && s["numberReady"] == 2
            && s["numberAvailable"] == 2
            && s["updatedNumberScheduled"] == 2
    });

    let table = k.ok(&["get", "ds", "-n", "logging"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR", "AGE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..7], ["fluentd", "2", "2", "2", "2", "2", "<none>"]);
    let wide = k.ok(&["get", "pods", "-n", "logging", "-o", "wide"]);
    assert!(
        wide.lines().skip(1).all(|l| l.contains("Running") && l.contains("1/1") && l.contains("10.244.")),
        "{wide}"
    );
    let describe = k.ok(&["describe", "ds", "fluentd", "-n", "logging"]);
    assert!(describe.contains("Desired Number of Nodes Scheduled: 2"), "{describe}");
    assert!(describe.contains("Pods Status:  2 Running / 0 Waiting / 0 Succeeded / 0 Failed"), "{describe}");
    // Events are written in the background, moments after what they report.
    k.eventually("SuccessfulCreate events", || {
        k.ok(&["describe", "ds", "fluentd", "-n", "logging"]).contains("SuccessfulCreate")
    });

    // A deleted pod comes back.
    let victim = pods(&k)[0].1.clone();
    k.ok(&["delete", "pod", "-n", "logging", &victim]);
    k.eventually("the pod replaced", || {
        let now = pods(&k);
        now.len() == 2 && now.iter().all(|p| p.1 != victim && p.3)
    });

    // A node that joins gets a pod; one that leaves loses it.
    k.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: k8s-worker-3\n  labels:\n    kubernetes.io/hostname: k8s-worker-3\nspec:\n  podCIDR: 10.244.3.0/24\n");
    wait_for_nodes(&k, &["k8s-worker-1", "k8s-worker-2", "k8s-worker-3"]);
    k.ok(&["delete", "node", "k8s-worker-3"]);
    wait_for_nodes(&k, &["k8s-worker-1", "k8s-worker-2"]);
    k.eventually("desired back to 2", || ds_status(&k)["desiredNumberScheduled"] == 2);
}

#[test]
fn taints_selectors_and_cordon() {
    let (_dir, k) = start("2");
    // Without the seed's toleration, a NoExecute taint evicts; with it, the pod returns.
    let intolerant = FLUENTD.replace("      tolerations:\n      - key: app\n        operator: Equal\n        value: fluentd-logging\n        effect: NoExecute\n", "");
    k.apply(&intolerant);
    wait_for_nodes(&k, &["k8s-worker-1", "k8s-worker-2"]);
    k.ok(&["taint", "node", "k8s-worker-1", "app=fluentd-logging:NoExecute"]);
    wait_for_nodes(&k, &["k8s-worker-2"]);
    k.apply(FLUENTD);
    wait_for_nodes(&k, &["k8s-worker-1", "k8s-worker-2"]);
    k.ok(&["taint", "node", "k8s-worker-1", "app-"]);

    // nodeSelector follows label changes both ways.
    k.ok(&[
        "patch",
        "ds",
        "fluentd",
        "-n",
        "logging",
        "-p",
        r#"{"spec":{"template":{"spec":{"nodeSelector":{"type":"platform-tools"}}}}}"#,
    ]);
    wait_for_nodes(&k, &[]);
    k.ok(&["label", "node", "k8s-worker-2", "type=platform-tools"]);
    wait_for_nodes(&k, &["k8s-worker-2"]);
    assert!(k.ok(&["get", "ds", "-n", "logging"]).contains("type=platform-tools"));
    k.ok(&["label", "node", "k8s-worker-2", "type-"]);
    wait_for_nodes(&k, &[]);

    // Required node affinity behaves the same.
    k.ok(&["patch", "ds", "fluentd", "-n", "logging", "--type", "json", "-p",
        r#"[{"op":"remove","path":"/spec/template/spec/nodeSelector"},{"op":"add","path":"/spec/template/spec/affinity","value":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}]}}}}]"#]);
    k.ok(&["label", "node", "k8s-worker-1", "disk=ssd"]);
    wait_for_nodes(&k, &["k8s-worker-1"]);

    // Cordon does not remove a daemon pod.
    let before = pods(&k);
    k.ok(&["cordon", "k8s-worker-1"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(pods(&k), before, "cordon keeps the daemon pod");
    k.ok(&["uncordon", "k8s-worker-1"]);

    // Tolerating the control-plane taint covers all three nodes.
    k.ok(&["patch", "ds", "fluentd", "-n", "logging", "--type", "json", "-p",
        r#"[{"op":"remove","path":"/spec/template/spec/affinity"},{"op":"add","path":"/spec/template/spec/tolerations/-","value":{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"}}]"#]);
    wait_for_nodes(&k, &["k8s-control-plane", "k8s-worker-1", "k8s-worker-2"]);
}

#[test]
fn rolling_update_history_undo_and_restart() {
    let (_dir, k) = start("4");
    k.apply(FLUENTD);
    let all = ["k8s-worker-1", "k8s-worker-2", "k8s-worker-3", "k8s-worker-4"];
    wait_for_nodes(&k, &all);
    k.ok(&["annotate", "ds", "fluentd", "-n", "logging", "kubernetes.io/change-cause=v2.5.2"]);
    k.ok(&[
        "set",
        "image",
        "ds/fluentd",
        "-n",
        "logging",
        "fluentd=quay.io/fluentd_elasticsearch/fluentd:v2.6.0",
    ]);
    // Never more than maxUnavailable (1) of the 4 nodes without a ready pod, at every step.
    let mut steps = 0;
    loop {
        let now = pods(&k);
        let ready_nodes: std::collections::BTreeSet<&str> =
            now.iter().filter(|p| p.3).map(|p| p.0.as_str()).collect();
        assert!(ready_nodes.len() >= 3, "more than maxUnavailable down: {now:?}");
        if now.len() == 4 && now.iter().all(|p| p.2.ends_with(":v2.6.0") && p.3) {
            break;
        }
        steps += 1;
        assert!(steps < 300, "rollout did not finish: {now:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = k.ok(&["rollout", "status", "ds/fluentd", "-n", "logging", "--timeout=30s"]);
    assert!(status.contains("daemon set \"fluentd\" successfully rolled out"), "{status}");
    let history = k.ok(&["rollout", "history", "ds/fluentd", "-n", "logging"]);
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows, [vec!["1", "<none>"], vec!["2", "v2.5.2"]], "{history}");
    let revision = k.ok(&["rollout", "history", "ds/fluentd", "-n", "logging", "--revision=1"]);
    assert!(revision.contains("fluentd:v2.5.2"), "{revision}");

    // Undo goes back to v2.5.2 and renumbers its revision.
    assert!(k.ok(&["rollout", "undo", "ds/fluentd", "-n", "logging"]).contains("rolled back"));
    k.eventually("rolled back to v2.5.2", || {
        let now = pods(&k);
        now.len() == 4 && now.iter().all(|p| p.2.ends_with(":v2.5.2") && p.3)
    });
    let history = k.ok(&["rollout", "history", "ds/fluentd", "-n", "logging"]);
    assert!(history.contains("\n2 ") && history.contains("\n3 ") && !history.contains("\n1 "), "{history}");
    let skipped = k.ok(&["rollout", "undo", "ds/fluentd", "-n", "logging", "--to-revision=3"]);
    assert!(skipped.contains("skipped rollback (current template already matches revision 3)"), "{skipped}");
    let before: Vec<String> = pods(&k).into_iter().map(|p| p.1).collect();
    k.ok(&["rollout", "undo", "ds/fluentd", "-n", "logging", "--to-revision=2"]);
    k.eventually("back on v2.6.0", || {
        pods(&k).iter().filter(|p| p.2.ends_with(":v2.6.0") && p.3).count() == 4
    });

    // rollout restart replaces every pod.
    let before_restart: Vec<String> = pods(&k).into_iter().map(|p| p.1).collect();
    assert_ne!(before, before_restart);
    k.ok(&["rollout", "restart", "ds/fluentd", "-n", "logging"]);
    k.eventually("every pod replaced", || {
        let now = pods(&k);
        now.len() == 4 && now.iter().all(|p| p.3 && !before_restart.contains(&p.1))
    });
}

#[test]
fn on_delete_orphan_adoption_and_priority() {
    let (_dir, k) = start("2");
    let on_delete = FLUENTD.replace(
        "    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 1\n",
        "    type: OnDelete\n",
    );
    k.apply(&on_delete);
    wait_for_nodes(&k, &["k8s-worker-1", "k8s-worker-2"]);
    k.ok(&[
        "set",
        "image",
        "ds/fluentd",
        "-n",
        "logging",
        "fluentd=quay.io/fluentd_elasticsearch/fluentd:v2.6.0",
    ]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(pods(&k).iter().all(|p| p.2.ends_with(":v2.5.2")), "OnDelete leaves pods alone");
    let victim = pods(&k)[0].clone();
    k.ok(&["delete", "pod", "-n", "logging", &victim.1]);
    k.eventually("the replacement runs the new template", || {
        pods(&k).iter().any(|p| p.0 == victim.0 && p.2.ends_with(":v2.6.0") && p.3)
    });

    // Orphan, then adopt without restarting.
    let names: Vec<String> = pods(&k).into_iter().map(|p| p.1).collect();
    k.ok(&["delete", "ds", "fluentd", "-n", "logging", "--cascade=orphan"]);
    k.eventually("owner references dropped", || {
        k.ok(&["get", "pods", "-n", "logging", "-o", "jsonpath={.items[*].metadata.ownerReferences}"])
            .trim()
            .is_empty()
    });
    assert_eq!(pods(&k).into_iter().map(|p| p.1).collect::<Vec<_>>(), names, "orphaned pods keep running");
    k.apply(&on_delete.replace("v2.5.2", "v2.6.0"));
    k.eventually("adopted", || {
        k.ok(&["get", "pods", "-n", "logging", "-o", "jsonpath={.items[*].metadata.ownerReferences[*].kind}"])
            .split_whitespace()
            .count()
            == 2
    });
    assert_eq!(pods(&k).into_iter().map(|p| p.1).collect::<Vec<_>>(), names, "adoption restarts nothing");
    k.ok(&["delete", "ds", "fluentd", "-n", "logging"]);
    k.eventually("a plain delete removes the pods", || pods(&k).is_empty());

    // PriorityClass: the pods get its value; an unknown class gives FailedCreate and no pods.
    k.apply("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: fluentd-priority\nvalue: 1000000\ndescription: logging\n");
    let prioritized = FLUENTD
        .replace("      tolerations:\n", "      priorityClassName: fluentd-priority\n      tolerations:\n");
    k.apply(&prioritized);
    wait_for_nodes(&k, &["k8s-worker-1", "k8s-worker-2"]);
    let priorities = k.ok(&["get", "pods", "-n", "logging", "-o", "jsonpath={.items[*].spec.priority}"]);
    assert_eq!(priorities.split_whitespace().collect::<Vec<_>>(), ["1000000", "1000000"]);
    let spec = json(&k.ok(&["get", "pods", "-n", "logging", "-o", "json"]))["items"][0]["spec"].clone();
    assert_eq!(spec["containers"][0]["securityContext"]["privileged"], true);
    assert_eq!(spec["containers"][0]["resources"]["limits"]["memory"], "200Mi");
    assert_eq!(spec["volumes"][0]["hostPath"]["path"], "/var/log");
    k.ok(&["delete", "ds", "fluentd", "-n", "logging"]);
    k.eventually("pods gone", || pods(&k).is_empty());
    k.apply(
        &FLUENTD
            .replace("      tolerations:\n", "      priorityClassName: no-such-class\n      tolerations:\n"),
    );
    k.eventually("FailedCreate events", || {
        k.ok(&["get", "events", "-n", "logging", "--field-selector", "reason=FailedCreate"])
            .contains("no PriorityClass with name no-such-class was found")
    });
    assert!(pods(&k).is_empty());
}

#[test]
fn surge_broken_image_rollback_and_failed_pods() {
    let (_dir, k) = start("3");
    let all = ["k8s-worker-1", "k8s-worker-2", "k8s-worker-3"];
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'broken/*'\n      behaviour: ImagePullBackOff\n");
    let surge = FLUENTD.replace("      maxUnavailable: 1\n", "      maxUnavailable: 0\n      maxSurge: 1\n");
    k.apply(&surge);
    wait_for_nodes(&k, &all);

    // maxSurge 1, maxUnavailable 0: every node keeps a ready pod, never more than one extra pod.
    k.ok(&[
        "set",
        "image",
        "ds/fluentd",
        "-n",
        "logging",
        "fluentd=quay.io/fluentd_elasticsearch/fluentd:v2.6.0",
    ]);
    let mut steps = 0;
    loop {
        let now = pods(&k);
        let ready: std::collections::BTreeSet<&str> =
            now.iter().filter(|p| p.3).map(|p| p.0.as_str()).collect();
        assert_eq!(ready.len(), 3, "a node without a ready pod during a surge rollout: {now:?}");
        assert!(now.len() <= 4, "more than maxSurge extra pods: {now:?}");
        if now.len() == 3 && now.iter().all(|p| p.2.ends_with(":v2.6.0") && p.3) {
            break;
        }
        steps += 1;
        assert!(steps < 300, "surge rollout did not finish: {now:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A broken image stalls the rollout on one node; rolling back restarts no healthy pod.
    k.ok(&[
        "patch",
        "ds",
        "fluentd",
        "-n",
        "logging",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}}}"#,
    ]);
    let healthy: Vec<String> = pods(&k).into_iter().map(|p| p.1).collect();
    k.ok(&["set", "image", "ds/fluentd", "-n", "logging", "fluentd=broken/fluentd:v9"]);
    k.eventually("one pod in ImagePullBackOff", || {
        k.ok(&["get", "pods", "-n", "logging"]).contains("ImagePullBackOff")
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        pods(&k).iter().filter(|p| p.2.starts_with("broken/")).count(),
        1,
        "the rollout stalls at maxUnavailable"
    );
    k.ok(&["rollout", "undo", "ds/fluentd", "-n", "logging"]);
    k.eventually("all healthy again", || {
        let now = pods(&k);
        now.len() == 3 && now.iter().all(|p| p.2.ends_with(":v2.6.0") && p.3)
    });
    let after: Vec<String> = pods(&k).into_iter().map(|p| p.1).collect();
    let kept = healthy.iter().filter(|n| after.contains(n)).count();
    assert_eq!(kept, 2, "only the pod of the broken revision was replaced: {healthy:?} → {after:?}");

    // A Failed pod is deleted and replaced.
    let failed = pods(&k)[0].clone();
    k.ok(&[
        "patch",
        "pod",
        &failed.1,
        "-n",
        "logging",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Failed"}}"#,
    ]);
    k.eventually("the failed pod replaced", || {
        pods(&k).iter().any(|p| p.0 == failed.0 && p.1 != failed.1 && p.3)
    });
    k.eventually("the FailedDaemonPod event", || {
        k.ok(&["get", "events", "-n", "logging", "--field-selector", "reason=FailedDaemonPod"])
            .contains("will try to kill it")
    });
}
