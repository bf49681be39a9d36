//! `kill -9` of `everynode up` at random moments of a rollout, restarting each time, while a
//! client writes ConfigMaps and records every write acknowledged to it. At the end every
//! acknowledged write is there, the rollout has completed, no node runs two daemon pods and
//! no daemon pod has lost its owner.
//!
//! The small form runs in the test suite; `scripts/crash-test.sh` runs the large one
//! (`EVERYNODE_CRASH_NODES`, `EVERYNODE_CRASH_KILLS`, `EVERYNODE_CRASH_SEED`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Cluster;
use rand::{Rng, SeedableRng};

const RULES: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'app:2'\n      readySeconds: 1\n";

fn daemonset(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {{app: agent}}\n  updateStrategy:\n    rollingUpdate: {{maxUnavailable: 10%}}\n  template:\n    metadata:\n      labels: {{app: agent}}\n    spec:\n      containers:\n      - name: agent\n        image: {image}\n"
    )
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes ConfigMaps `ack-N` one after another with kubectl (which finds the restarted server
/// through the kubeconfig `up` rewrites), until told to stop; returns those acknowledged.
fn writer(kubeconfig: std::path::PathBuf, home: std::path::PathBuf, stop: Arc<AtomicBool>) -> BTreeSet<u64> {
    let mut acknowledged = BTreeSet::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let out = std::process::Command::new("kubectl")
            .args([
                "create",
                "configmap",
                &format!("ack-{n}"),
                &format!("--from-literal=n={n}"),
                "--request-timeout=5s",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", &home)
            .output()
            .unwrap();
        if out.status.success() {
            acknowledged.insert(n);
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    acknowledged
}

#[test]
fn kill_9_during_a_rollout_loses_no_acknowledged_write_and_the_rollout_completes() {
    let nodes = env_or("EVERYNODE_CRASH_NODES", 100);
    let kills = env_or("EVERYNODE_CRASH_KILLS", 3);
    let seed = env_or("EVERYNODE_CRASH_SEED", rand::random::<u32>() as u64);
    println!("crash test: {nodes} nodes, {kills} kills, seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let workers = nodes.to_string();
    let args = ["--workers", workers.as_str()];
    let mut k = Cluster::start(dir.path(), &args);
    k.apply(RULES);
    k.apply(&daemonset("app:1"));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=300s"]);

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let write = {
        let (kubeconfig, home, stop, acknowledged) =
            (k.kubeconfig.clone(), k.home.clone(), stop.clone(), acknowledged.clone());
        std::thread::spawn(move || *acknowledged.lock().unwrap() = writer(kubeconfig, home, stop))
    };
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    for kill in 1..=kills {
        let after = Duration::from_millis(rng.random_range(300..3000));
        std::thread::sleep(after);
        println!("kill {kill}: {} ms after the last start", after.as_millis());
        k.kill9();
        k = Cluster::start(dir.path(), &args);
    }
    k.ok(&["rollout", "status", "ds/agent", "--timeout=300s"]);
    stop.store(true, Ordering::Relaxed);
    write.join().unwrap();

    // Every acknowledged write is there.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 5, "the writer got through: {}", acknowledged.len());
    let stored: BTreeSet<u64> = k
        .ok(&["get", "configmaps", "-o", "jsonpath={range .items[*]}{.data.n}{\"\\n\"}{end}"])
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let lost: Vec<&u64> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?} (seed {seed})");

    // One available daemon pod of the new revision per node, each with its owner.
    let rows = k.pod_rows(
        "app=agent",
        &[
            ".spec.nodeName",
            ".spec.containers[0].image",
            ".metadata.deletionTimestamp",
            ".metadata.ownerReferences[0].kind",
            ".status.containerStatuses[0].ready",
        ],
    );
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r[2].is_empty()) {
        *per_node.entry(r[0].as_str()).or_default() += 1;
        assert_eq!(r[1], "app:2", "{r:?} (seed {seed})");
        assert_eq!(r[3], "DaemonSet", "a daemon pod without its owner: {r:?} (seed {seed})");
        assert_eq!(r[4], "true", "{r:?}");
    }
    assert_eq!(per_node.len() as u64, nodes, "every node runs one (seed {seed})");
    let doubled: Vec<_> = per_node.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "nodes with two daemon pods: {doubled:?} (seed {seed})");
    println!("{} writes acknowledged, all kept; {} nodes, one daemon pod each", acknowledged.len(), nodes);
}
