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
    let mut pods: Vec<(String, String)> = k
        .pod_rows(
            "app=agent",
            &[".spec.nodeName", ".spec.containers[0].image", ".metadata.deletionTimestamp"],
        )
        .into_iter()
        // Bound and not being deleted.
        .filter(|r| !r[0].is_empty() && r[2].is_empty())
        .map(|r| (r[0].clone(), r[1].clone()))
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
    assert_eq!(condition(&k, "Progressing", "status"), "Unknown");
    assert_eq!(condition(&k, "Progressing", "reason"), "RolloutPaused");
    std::thread::sleep(Duration::from_secs(2));
    assert!(images(&k).iter().all(|(_, image)| image == "app:1"), "{:?}", images(&k));
    assert!(!k.kubectl(&["rollout", "status", "ds/agent", "--timeout=1s"]).status.success());
    k.ok(&["annotate", "ds", "agent", "--overwrite", "rollout.everynode.io/paused=false"]);
    k.ok(&["wait", "--for=condition=RolloutComplete", "ds/agent", "--timeout=30s"]);
    assert!(images(&k).iter().all(|(_, image)| image == "app:2"), "{:?}", images(&k));
    assert_eq!(condition(&k, "Paused", "reason"), "Resumed");
    assert_eq!(condition(&k, "Progressing", "reason"), "NewRevisionAvailable");
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

/// The WAITING FOR column of `kubectl everynode status`, by node.
fn waiting_for(k: &Cluster) -> Vec<(String, String)> {
    let table = k.plugin_ok(&["status", "ds/agent"]);
    table
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("k8s-"))
        .map(|l| {
            let cells: Vec<&str> = l.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
            (cells[0].to_string(), cells[4].to_string())
        })
        .collect()
}

#[test]
fn the_kubectl_plugin_pauses_partitions_promotes_undoes_and_tells_each_node() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "3"]);
    k.apply(&daemonset("app:1", 3));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert_eq!(k.plugin_ok(&["pause", "ds/agent"]), "daemonset.apps/agent paused\n");
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.eventually("every node waiting for resume", || {
        waiting_for(&k).iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>() == ["resume"; 3]
    });
    let table = k.plugin_ok(&["status", "ds/agent"]);
    assert!(table.starts_with("NODE "), "{table}");
    assert!(table.contains("REVISION") && table.contains("WAITING FOR"), "{table}");
    assert!(table.lines().last().unwrap().starts_with("revision 2: 0 of 3 nodes updated"), "{table}");

    // Followed: a change prints the table again.
    let mut follow =
        k.plugin(&["status", "ds/agent", "-w"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut summaries = 0;
    k.plugin_ok(&["partition", "ds/agent", "1"]);
    k.plugin_ok(&["resume", "ds/agent"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while summaries < 2 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1))
            && line.starts_with("revision ")
        {
            summaries += 1;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(summaries >= 2, "the followed status printed again after a change");

    k.eventually("two nodes updated, the last held", || {
        let w = waiting_for(&k);
        w.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>() == ["-", "-", "partition"]
    });
    assert_eq!(k.plugin_ok(&["promote", "ds/agent"]), "daemonset.apps/agent promoted\n");
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert!(images(&k).iter().all(|(_, image)| image == "app:2"));
    assert_eq!(k.plugin_ok(&["undo", "ds/agent"]), "daemonset.apps/agent rolled back\n");
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    assert!(images(&k).iter().all(|(_, image)| image == "app:1"));
    let err = k.plugin(&["pause", "deploy/web"]).output().unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("works on DaemonSets, not deploy"));
}

/// The frames `kubectl everynode status -o grid -w` prints, each as its lines, as they come.
fn grid_frames(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<Vec<String>> {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut frame: Vec<String> = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.is_empty() && !frame.is_empty() {
                let _ = tx.send(std::mem::take(&mut frame));
            } else if !line.is_empty() {
                frame.push(line);
            }
        }
        let _ = tx.send(frame);
    });
    rx
}

#[test]
fn the_terminal_grid_follows_a_rollout_cell_by_cell() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "4"]);
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'app:2'\n      readySeconds: 2\n");
    k.apply(&daemonset("app:1", 1));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);

    // Without colour (not a terminal, `-o grid`): one block per node, older revisions as ○.
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.eventually("a grid with both revisions", || {
        let grid = k.plugin_ok(&["status", "ds/agent", "-o", "grid"]);
        let cells = grid.lines().nth(3).unwrap_or_default();
        grid.starts_with("daemonset.apps/agent in default: revision 2\n")
            && cells.chars().count() == 4
            && cells.contains('○')
            && grid.contains("wait for its turn (budget)")
    });

    // Followed with colour while the rest rolls out: revision 1's blue cells turn green.
    let mut follow = k
        .plugin(&["status", "ds/agent", "-o", "grid", "--color", "always", "-w"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let frames = grid_frames(&mut follow);
    let (mut mixed, mut done) = (false, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done && std::time::Instant::now() < deadline {
        let Ok(frame) = frames.recv_timeout(Duration::from_secs(1)) else { continue };
        assert_eq!(frame[0], "daemonset.apps/agent in default: revision 2", "{frame:?}");
        let cells = &frame[3];
        let (current, older) = (cells.matches("\x1b[32m").count(), cells.matches("\x1b[34m").count());
        assert_eq!(cells.matches('\x1b').count(), 8, "four cells, each coloured and reset: {cells:?}");
        mixed |= older > 0 && current > 0;
        done = frame[1] == "DESIRED 4  CURRENT 4  READY 4  UP-TO-DATE 4  AVAILABLE 4"
            && cells.matches("\x1b[32m█").count() == 4;
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(mixed, "a frame showed both revisions");
    assert!(done, "the last frame shows every node on revision 2, available");
}

#[test]
fn a_zone_ordered_rollout_finishes_one_zone_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "4"]);
    // The new image is Ready two seconds after it starts, so the waves can be seen apart.
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'app:2'\n      readySeconds: 2\n");
    for (node, zone) in
        [("k8s-worker-1", "b"), ("k8s-worker-2", "a"), ("k8s-worker-3", "b"), ("k8s-worker-4", "a")]
    {
        k.ok(&["label", "node", node, &format!("topology.kubernetes.io/zone={zone}")]);
    }
    k.apply(&daemonset("app:1", 4));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/wave-label=topology.kubernetes.io/zone"]);
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    // When zone a first ran the new image Ready on both its nodes, and when zone b first got it.
    let start = std::time::Instant::now();
    let (mut a_ready, mut b_started) = (None, None);
    while b_started.is_none() && start.elapsed() < Duration::from_secs(40) {
        let rows = k.pod_rows(
            "app=agent",
            &[".spec.nodeName", ".spec.containers[0].image", ".status.containerStatuses[0].ready"],
        );
        let new_on = |node: &str, ready: bool| {
            rows.iter().any(|r| r[0] == node && r[1] == "app:2" && (!ready || r[2] == "true"))
        };
        if a_ready.is_none() && new_on("k8s-worker-2", true) && new_on("k8s-worker-4", true) {
            a_ready = Some(start.elapsed());
        }
        if new_on("k8s-worker-1", false) || new_on("k8s-worker-3", false) {
            b_started = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (a_ready, b_started) =
        (a_ready.expect("zone a updated and Ready"), b_started.expect("zone b started"));
    assert!(a_ready <= b_started, "zone b began at {b_started:?}, before zone a was Ready at {a_ready:?}");
    k.ok(&["wait", "--for=condition=RolloutComplete", "ds/agent", "--timeout=30s"]);
}

/// Two nodes on `app:1`, a rule that makes `bad:*` crash, and the health gate's annotations.
fn gated(k: &Cluster, on_failure: &str) {
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'bad:*'\n      behaviour: CrashLoopBackOff\n");
    k.apply(&daemonset("app:1", 1));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&[
        "annotate",
        "ds",
        "agent",
        "rollout.everynode.io/max-restarts=0",
        "rollout.everynode.io/progress-deadline-seconds=60",
        &format!("rollout.everynode.io/on-failure={on_failure}"),
    ]);
    k.ok(&["set", "image", "ds/agent", "agent=bad:1"]);
}

fn annotation(k: &Cluster, key: &str) -> String {
    let escaped = key.replace('.', "\\.");
    k.ok(&["get", "ds", "agent", "-o", &format!("jsonpath={{.metadata.annotations.{escaped}}}")])
}

#[test]
fn a_bad_image_trips_the_health_gate_and_pauses_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2"]);
    gated(&k, "Pause");
    k.eventually_within("the gate tripped", Duration::from_secs(20), || {
        annotation(&k, "rollout.everynode.io/paused") == "true"
    });
    let why = annotation(&k, "rollout.everynode.io/halted");
    assert!(why.contains("restarted 1 times (at most 0)") && why.starts_with("pod agent-"), "{why}");
    k.eventually("the condition says why", || condition(&k, "Paused", "reason") == "HealthGate");
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=RolloutHalted",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("health gate: pod agent-"), "{events}");
    // One node took the bad image; the other keeps the good one, and stays.
    std::thread::sleep(Duration::from_secs(2));
    let now = images(&k);
    assert_eq!(now.iter().filter(|(_, i)| i == "app:1").count(), 1, "{now:?}");
}

#[test]
fn a_bad_image_trips_the_health_gate_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2"]);
    gated(&k, "Rollback");
    k.eventually_within("rolled back", Duration::from_secs(20), || {
        annotation(&k, "rollout.everynode.io/halted").ends_with("rolled back to revision 1")
    });
    k.ok(&["rollout", "status", "ds/agent", "--timeout=40s"]);
    assert!(images(&k).iter().all(|(_, image)| image == "app:1"), "{:?}", images(&k));
    assert!(k.ok(&["rollout", "history", "ds/agent"]).contains("3 "), "the rollback is a new revision");
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=RolloutRolledBack",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("rolled back to revision 1"), "{events}");
}

#[test]
fn a_rollout_held_by_a_crash_looping_pod_says_it_is_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2"]);
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'bad:*'\n      behaviour: CrashLoopBackOff\n");
    k.apply(&daemonset("app:1", 1));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/paused=false"]);
    assert_eq!(condition(&k, "RolloutStuck", "status"), "False");
    k.ok(&["set", "image", "ds/agent", "agent=bad:1"]);
    k.ok(&["wait", "--for=condition=RolloutStuck", "ds/agent", "--timeout=30s"]);
    let message = condition(&k, "RolloutStuck", "message");
    assert!(
        message.starts_with("1 pods hold the budget and do not recover: 1 pods in CrashLoopBackOff (agent-"),
        "{message}"
    );
    // Fixed: no longer stuck, and complete.
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.ok(&["wait", "--for=condition=RolloutComplete", "ds/agent", "--timeout=40s"]);
    assert_eq!(condition(&k, "RolloutStuck", "status"), "False");
}

#[test]
fn an_in_place_update_keeps_pod_names_and_counts_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2"]);
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'app:2'\n      readySeconds: 1\n");
    k.apply(&daemonset("app:1", 1));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    k.ok(&["annotate", "ds", "agent", "rollout.everynode.io/in-place=true"]);
    let names = || k.ok(&["get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].metadata.name}"]);
    let before = names();
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    k.ok(&["rollout", "status", "ds/agent", "--timeout=40s"]);
    assert_eq!(names(), before, "the same pods");
    assert!(images(&k).iter().all(|(_, image)| image == "app:2"), "{:?}", images(&k));
    let restarts = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "-o",
        "jsonpath={.items[*].status.containerStatuses[0].restartCount}",
    ]);
    assert_eq!(restarts, "1 1", "each container restarted once, for its new image");
    let hashes = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "-o",
        "jsonpath={.items[*].metadata.labels.controller-revision-hash}",
    ]);
    let current = k.ok(&[
        "get",
        "controllerrevisions",
        "-l",
        "app=agent",
        "--sort-by=.revision",
        "-o",
        "jsonpath={.items[-1:].metadata.labels.controller-revision-hash}",
    ]);
    assert!(hashes.split(' ').all(|h| h == current), "{hashes} vs {current}");
    let first = before.split(' ').next().unwrap();
    let previous = k.ok(&["logs", first, "--previous"]);
    assert!(previous.ends_with("exited with code 0 (Completed)\n"), "the run before the update: {previous}");
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=UpdatedInPlace",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains(&format!("Updated pod in place: {first}")), "{events}");
    // `kubectl rollout restart` changes only the template's annotations: the pods are
    // recreated, as a restart must.
    k.ok(&["rollout", "restart", "ds/agent"]);
    k.ok(&["rollout", "status", "ds/agent", "--timeout=40s"]);
    let after = names();
    assert!(after.split(' ').all(|n| !before.contains(n)), "{before} then {after}");
}
