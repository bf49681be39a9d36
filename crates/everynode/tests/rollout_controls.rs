//! everynode's rollout controls on the native DaemonSet, driven with the real kubectl.

mod common;

use std::time::Duration;

use common::Cluster;

fn daemonset(image: &str, max_unavailable: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {{app: agent}}\n  updateStrategy:\n    rollingUpdate: {{maxUnavailable: {max_unavailable}}}\n  template:\n    metadata:\n      labels: {{app: agent}}\n    spec:\n      containers:\n      - name: agent\n        image: {image}\n"
    )
}

/// The image of the daemon pod of each node, sorted by node.
fn images(k: &Cluster) -> Vec<(String, String)> {
    let out = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.spec.containers[0].image} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    let mut pods: Vec<(String, String)> = out
        .lines()
        .filter(|l| l.split(' ').nth(2).is_none_or(str::is_empty))
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (w[0].to_string(), w[1].to_string())
        })
        .collect();
    pods.sort();
    pods
}

fn condition(k: &Cluster, type_: &str, field: &str) -> String {
    k.ok(&[
        "get",
        "ds",
        "agent",
        "-o",
        &format!("jsonpath={{.status.conditions[?(@.type==\"{type_}\")].{field}}}"),
    ])
}

#[test]
fn a_paused_rollout_stays_put_until_resumed_and_kubectl_wait_sees_it_complete() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "3"]);
    k.apply(&daemonset("app:1", 3));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/paused=true"]);
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.eventually("the Paused condition", || condition(&k, "Paused", "status") == "True");
    assert_eq!(condition(&k, "RolloutComplete", "reason"), "Paused");
    std::thread::sleep(Duration::from_secs(2));
    assert!(images(&k).iter().all(|(_, image)| image == "app:1"), "{:?}", images(&k));
    assert!(!k.kubectl(&["rollout", "status", "ds/agent", "--timeout=1s"]).status.success());
    k.ok(&["annotate", "ds", "agent", "--overwrite", "rollout.everynode.io/paused=false"]);
    k.ok(&["wait", "--for=condition=RolloutComplete", "ds/agent", "--timeout=30s"]);
    assert!(images(&k).iter().all(|(_, image)| image == "app:2"), "{:?}", images(&k));
    assert_eq!(condition(&k, "Paused", "reason"), "Resumed");
    // History and undo keep working on the native kind.
    k.ok(&["rollout", "undo", "ds/agent"]);
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert!(images(&k).iter().all(|(_, image)| image == "app:1"));
}

#[test]
fn a_partition_holds_its_share_and_lowering_it_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "4"]);
    k.apply(&daemonset("app:1", 4));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/partition=50%"]);
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.eventually("the partition reached", || condition(&k, "RolloutComplete", "reason") == "Partitioned");
    let held = images(&k);
    let want: Vec<(String, String)> = [("k8s-worker-1", "app:2"), ("k8s-worker-2", "app:2")]
        .into_iter()
        .chain([("k8s-worker-3", "app:1"), ("k8s-worker-4", "app:1")])
        .map(|(n, i)| (n.to_string(), i.to_string()))
        .collect();
    assert_eq!(held, want, "the first nodes by name are updated, the last held");
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/partition-"]);
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert!(images(&k).iter().all(|(_, image)| image == "app:2"));
}

#[test]
fn a_node_selector_scopes_the_update() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "3"]);
    k.ok(&["label", "node", "k8s-worker-2", "tier=canary"]);
    k.apply(&daemonset("app:1", 3));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/node-selector=tier=canary"]);
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.eventually("the canary updated", || condition(&k, "RolloutComplete", "reason") == "NodeSelector");
    let now = images(&k);
    assert_eq!(
        now.iter().filter(|(_, i)| i == "app:2").map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["k8s-worker-2"]
    );
}

#[test]
fn a_not_ready_node_does_not_stall_a_rollout_that_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2", "--node-monitor-grace-period", "3"]);
    k.apply(&daemonset("app:1", 1));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/not-ready-nodes=Skip"]);
    k.ok(&["annotate", "node", "k8s-worker-2", "everynode.io/heartbeat=stopped"]);
    k.eventually_within("the node NotReady", Duration::from_secs(20), || {
        k.ok(&[
            "get",
            "node",
            "k8s-worker-2",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]) == "Unknown"
    });
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    // The NotReady node's pod was left alone (upstream deletes it, and it stays Terminating).
    let want: Vec<(String, String)> = [("k8s-worker-1", "app:2"), ("k8s-worker-2", "app:1")]
        .into_iter()
        .map(|(n, i)| (n.to_string(), i.to_string()))
        .collect();
    assert_eq!(images(&k), want);
    // As upstream counts it, the unreachable node (tainted NoSchedule) is not desired, so the
    // rollout is complete; once the node is back its pod is updated too.
    assert_eq!(condition(&k, "RolloutComplete", "status"), "True");
    k.ok(&["annotate", "node", "k8s-worker-2", "everynode.io/heartbeat-"]);
    k.eventually_within("the node's pod updated once it is back", Duration::from_secs(40), || {
        images(&k).iter().all(|(_, image)| image == "app:2")
    });
    k.ok(&["wait", "--for=condition=RolloutComplete", "ds/agent", "--timeout=30s"]);
}

#[test]
fn a_control_the_server_cannot_read_is_refused_naming_the_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    k.apply(&daemonset("app:1", 1));
    let err = k.fails(&["annotate", "ds", "agent", "rollout.everynode.io/partition=many"]);
    assert!(
        err.contains("metadata.annotations[rollout.everynode.io/partition]: Invalid value: \"many\""),
        "{err}"
    );
    let err = k.fails(&["annotate", "ds", "agent", "rollout.everynode.io/pause=true"]);
    assert!(err.contains("metadata.annotations[rollout.everynode.io/pause]: Unsupported value"), "{err}");
    // Without controls, a DaemonSet's status has no conditions, as upstream's.
    assert_eq!(k.ok(&["get", "ds", "agent", "-o", "jsonpath={.status.conditions}"]), "");
}
