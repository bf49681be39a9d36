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
