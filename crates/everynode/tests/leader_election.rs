//! Two `everynode controller --leader-elect` replicas against `everynode up` with its own
//! DaemonSet controller off: exactly one acts; when it dies the other takes over within the
//! lease duration, without duplicate pods.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Cluster;

const DS: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n      containers:\n      - name: agent\n        image: busybox:1.36\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET /metrics` of a replica, as Prometheus text.
fn metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port answers");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn replica(k: &Cluster, identity: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_everynode"))
        .args([
            "controller",
            "--leader-elect",
            "--identity",
            identity,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--kubeconfig",
        ])
        .arg(&k.kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the controller starts")
}

fn holder(k: &Cluster) -> String {
    let out = k.kubectl(&[
        "get",
        "lease",
        "everynode-daemonset-controller",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Pod counts per node (non-terminating).
fn pods_per_node(k: &Cluster) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for row in k.pod_rows("app=agent", &[".spec.nodeName", ".metadata.deletionTimestamp"]) {
        let node = if row[0].is_empty() { "<unscheduled>".to_string() } else { row[0].clone() };
        if row[1].is_empty() {
            *counts.entry(node).or_insert(0) += 1;
        }
    }
    counts.into_iter().collect()
}

#[test]
fn one_replica_leads_and_the_other_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2", "--controllers=*,-daemonset"]);
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = replica(&k, "replica-a", port_a);
    let mut b = replica(&k, "replica-b", port_b);
    k.apply(DS);
    let both = vec![("k8s-worker-1".to_string(), 1), ("k8s-worker-2".to_string(), 1)];
    k.eventually("one pod per worker", || pods_per_node(&k) == both);
    let leader = holder(&k);
    assert!(leader == "replica-a" || leader == "replica-b", "holder {leader:?}");
    let (leader_port, follower_port) =
        if leader == "replica-a" { (port_a, port_b) } else { (port_b, port_a) };
    let text = metrics(leader_port);
    assert!(text.contains("everynode_daemonset_leader 1"), "{text}");
    assert!(text.contains("everynode_daemonset_pods_created_total 2"), "{text}");
    assert!(text.contains("everynode_daemonset_sync_duration_seconds_count"), "{text}");
    let text = metrics(follower_port);
    assert!(
        text.contains("everynode_daemonset_leader 0")
            && text.contains("everynode_daemonset_pods_created_total 0"),
        "{text}"
    );
    // Kill the leader; the follower must take over and replace a deleted pod, never doubling one.
    let (dead, alive) = if leader == "replica-a" { (&mut a, "replica-b") } else { (&mut b, "replica-a") };
    dead.kill().unwrap();
    dead.wait().unwrap();
    let victim = k.ok(&["get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[0].metadata.name}"]);
    k.ok(&["delete", "pod", &victim]);
    let started = Instant::now();
    loop {
        let now = pods_per_node(&k);
        assert!(now.iter().all(|(_, n)| *n <= 1), "a duplicate pod: {now:?}");
        if now == both && holder(&k) == alive {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no takeover within the lease duration: {now:?}, holder {}",
            holder(&k)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = a.kill();
    let _ = b.kill();
    let _ = a.wait();
    let _ = b.wait();
}
