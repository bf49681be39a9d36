//! `kubectl apply --server-side` against `everynode up`, as GitOps tools and people use it:
//! create, take over from another manager only when forced, remove what the manifest stops
//! saying, merge lists as upstream's schema says, and `kubectl diff` and `--dry-run=server`.

mod common;

use common::Cluster;

const AGENT: &str = r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: default
  labels: {app: agent, tier: edge}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: agent
        image: busybox:1.36
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
"#;

fn jsonpath(cluster: &Cluster, path: &str) -> String {
    cluster.ok(&["get", "ds", "agent", "-o", &format!("jsonpath={path}")])
}

#[test]
fn kubectl_applies_server_side_with_upstreams_ownership() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    let file = dir.path().join("agent.yaml");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap().to_string();
    write(AGENT);

    let applied = cluster.ok(&["apply", "--server-side", "-f", &file]);
    assert_eq!(applied.trim(), "daemonset.apps/agent serverside-applied");
    cluster.ok(&["rollout", "status", "ds/agent", "--timeout=30s"]);
    let managers = jsonpath(&cluster, "{range .metadata.managedFields[*]}{.manager}/{.operation} {end}");
    assert!(managers.contains("kubectl/Apply"), "{managers}");
    // The cluster's own components write as upstream's do: the controller manager creates
    // the daemon pods, the kubelet writes their status and renews its node's Lease.
    let pod = |path: &str| cluster.ok(&["get", "pods", "-l", "app=agent", "-o", &format!("jsonpath={path}")]);
    let pod_managers = pod("{range .items[0].metadata.managedFields[*]}{.manager}/{.operation} {end}");
    assert!(pod_managers.contains("kube-controller-manager/Update"), "{pod_managers}");
    assert!(pod_managers.contains("kubelet/Update"), "{pod_managers}");
    let node = pod("{.items[0].spec.nodeName}");
    let lease = [
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        node.trim(),
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ];
    let lease_managers = cluster.ok(&lease);
    assert_eq!(lease_managers.trim(), "kubelet");

    // Another manager changes the image; applying the manifest again conflicts with it.
    cluster.ok(&["set", "image", "ds/agent", "agent=busybox:1.37"]);
    let refused = cluster.fails(&["apply", "--server-side", "-f", &file]);
    assert!(
        refused.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl-set\" using apps/v1: .spec.template.spec.containers[name=\"agent\"].image"
        ),
        "{refused}"
    );
    assert!(refused.contains("--force-conflicts"), "kubectl's advice follows: {refused}");
    assert_eq!(jsonpath(&cluster, "{.spec.template.spec.containers[0].image}"), "busybox:1.37");

    // `kubectl diff` shows what applying would change, and exits 1; nothing changes.
    let diff = cluster.kubectl(&["diff", "--server-side", "--force-conflicts", "-f", &file]);
    assert_eq!(diff.status.code(), Some(1), "{}", String::from_utf8_lossy(&diff.stderr));
    let shown = String::from_utf8_lossy(&diff.stdout);
    assert!(
        shown.contains("-        image: busybox:1.37") && shown.contains("+        image: busybox:1.36"),
        "{shown}"
    );
    // A server dry run neither.
    cluster.ok(&["apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", &file]);
    assert_eq!(jsonpath(&cluster, "{.spec.template.spec.containers[0].image}"), "busybox:1.37");

    // Forced, the manifest wins and kubectl owns the image again.
    cluster.ok(&["apply", "--server-side", "--force-conflicts", "-f", &file]);
    assert_eq!(jsonpath(&cluster, "{.spec.template.spec.containers[0].image}"), "busybox:1.36");
    let managers = jsonpath(&cluster, "{range .metadata.managedFields[*]}{.manager} {end}");
    assert!(!managers.contains("kubectl-set"), "{managers}");

    // What the manifest stops saying goes; env merges by name, tolerations are replaced whole.
    write(
        &AGENT
            .replace("labels: {app: agent, tier: edge}", "labels: {app: agent}")
            .replace(
                r#"env: [{name: A, value: "1"}, {name: B, value: "2"}]"#,
                r#"env: [{name: A, value: "1"}]"#,
            )
            .replace(
                "tolerations: [{operator: Exists}]",
                "tolerations: [{key: dedicated, operator: Exists}]",
            ),
    );
    cluster.ok(&["apply", "--server-side", "-f", &file]);
    assert_eq!(jsonpath(&cluster, "{.metadata.labels.tier}"), "");
    assert_eq!(jsonpath(&cluster, "{.spec.template.spec.containers[0].env[*].name}"), "A");
    assert_eq!(jsonpath(&cluster, "{.spec.template.spec.tolerations[*].key}"), "dedicated");

    // A client-side apply and its field owners are left as they were for another object.
    let out = cluster.ok(&["apply", "--server-side", "-f", &file]);
    assert_eq!(out.trim(), "daemonset.apps/agent serverside-applied");
}

#[test]
fn an_object_applied_client_side_moves_to_server_side_without_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "1"]);
    let file = dir.path().join("settings.yaml");
    let manifest = |mode: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  mode: {mode}\n  level: \"1\"\n"
        )
    };
    std::fs::write(&file, manifest("fast")).unwrap();
    let file = file.to_str().unwrap().to_string();
    assert_eq!(cluster.ok(&["apply", "-f", &file]).trim(), "configmap/settings created");

    // The same user now applies server-side, with a change: no conflict with its own
    // client-side apply, and its record follows.
    std::fs::write(&file, manifest("safe")).unwrap();
    assert_eq!(
        cluster.ok(&["apply", "--server-side", "-f", &file]).trim(),
        "configmap/settings serverside-applied"
    );
    let get = |path: &str| cluster.ok(&["get", "cm", "settings", "-o", &format!("jsonpath={path}")]);
    assert_eq!(get("{.data.mode}"), "safe");
    let managers = get("{range .metadata.managedFields[*]}{.manager}/{.operation} {end}");
    assert!(managers.contains("kubectl/Apply"), "{managers}");
    let record = get("{.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}");
    assert!(record.contains("\"mode\":\"safe\""), "the client-side record follows: {record}");

    // And back to client-side apply, which still works from that record.
    std::fs::write(&file, manifest("fast")).unwrap();
    cluster.ok(&["apply", "-f", &file]);
    assert_eq!(get("{.data.mode}"), "fast");
}
