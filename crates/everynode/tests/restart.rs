//! `everynode up` keeps its state across clean stops and `kill -9`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::Cluster;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};

fn node_names(k: &Cluster) -> Vec<String> {
    k.ok(&["get", "nodes", "-o", "name"]).lines().map(str::to_string).collect()
}

/// A clean stop stops the in-process components before the API server, so none of them logs
/// losing it: the log a user sees has no warning or error from start to stop.
#[test]
fn a_clean_stop_logs_no_warning_or_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("everynode.log");
    let k = Cluster::start_logged(dir.path(), &["--workers", "5"], &log);
    k.apply("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n      containers:\n      - name: agent\n        image: busybox:1.36\n");
    assert!(k.kubectl(&["rollout", "status", "ds/agent", "--timeout=30s"]).status.success());
    // A watch held open through the stop, as kubectl get -w or an informer would.
    let mut watch =
        k.kubectl_cmd(&["get", "pods", "-w"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    k.stop();
    let _ = watch.kill();
    let _ = watch.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("shutting down"), "{text}");
    let noisy: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    assert!(noisy.is_empty(), "warnings or errors on a clean run:\n{}", noisy.join("\n"));
}

#[test]
fn restart_keeps_credentials_objects_and_adds_missing_workers() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    let mode = std::fs::metadata(&k.kubeconfig).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    assert_eq!(node_names(&k), ["node/k8s-control-plane", "node/k8s-worker-1"]);
    k.ok(&["create", "ns", "keep"]);
    k.ok(&["label", "node", "k8s-worker-1", "kept=yes"]);
    let ca = std::fs::read(dir.path().join("pki/ca.crt")).unwrap();
    let token = std::fs::read(dir.path().join("token")).unwrap();
    k.stop();

    let k = Cluster::start(dir.path(), &["--workers", "3"]);
    assert_eq!(
        node_names(&k),
        ["node/k8s-control-plane", "node/k8s-worker-1", "node/k8s-worker-2", "node/k8s-worker-3"],
        "missing workers are added, none duplicated"
    );
    assert_eq!(
        k.ok(&["get", "node", "k8s-worker-1", "-o", "jsonpath={.metadata.labels.kept}"]),
        "yes",
        "existing nodes are not reset"
    );
    assert!(k.ok(&["get", "ns", "keep"]).contains("keep"));
    assert_eq!(std::fs::read(dir.path().join("pki/ca.crt")).unwrap(), ca, "same CA");
    assert_eq!(std::fs::read(dir.path().join("token")).unwrap(), token, "same token");
    k.stop();
}

#[test]
fn nodes_file_replaces_the_default_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nodes.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-a\n  labels:\n    zone: a\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: edge-b\n",
    )
    .unwrap();
    let k = Cluster::start(&dir.path().join("data"), &["--nodes-file", file.to_str().unwrap()]);
    assert_eq!(node_names(&k), ["node/edge-a", "node/edge-b"]);
    assert_eq!(k.ok(&["get", "node", "edge-a", "-o", "jsonpath={.metadata.labels.zone}"]), "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--controllers=*,-garbagecollector"]);
    let client = k.client().await;
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}-{i}");
                let cm: ConfigMap = serde_json::from_value(
                    serde_json::json!({"metadata": {"name": name}, "data": {"i": i.to_string()}}),
                )
                .unwrap();
                match api.create(&PostParams::default(), &cm).await {
                    Ok(made) => {
                        let rv = made.resource_version().unwrap().parse().unwrap();
                        acked.lock().unwrap().insert(name, rv);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Let the burst run, then pull the plug mid-write.
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    k.kill9();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let max_rv = *acked.values().max().unwrap();

    let k = Cluster::start(dir.path(), &[]);
    let client = k.client().await;
    let stored: BTreeMap<String, ConfigMap> = Api::<ConfigMap>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name_any(), c))
        .collect();
    for (name, rv) in &acked {
        let cm = stored.get(name).unwrap_or_else(|| panic!("acknowledged write {name} was lost"));
        assert_eq!(cm.resource_version().unwrap().parse::<u64>().unwrap(), *rv);
    }
    let next = Api::<Node>::all(client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "after-crash"}})).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        next.resource_version().unwrap().parse::<u64>().unwrap() > max_rv,
        "resourceVersions keep increasing"
    );
}
