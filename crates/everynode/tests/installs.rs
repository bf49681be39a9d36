//! Install manifests in the shape real projects ship them (a Namespace, a ServiceAccount, RBAC, a
//! Service beside the DaemonSet), applied with the real kubectl of every supported minor, as a
//! user would against `everynode up`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Cluster;

fn manifest(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/installs").join(name).to_string_lossy().into_owned()
}

/// The `kubectl.1.NN` binary shipped beside the `kubectl` the PATH points to.
fn kubectl_minor(minor: u32) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kubectl = std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.exists())
        .expect("kubectl on PATH");
    let real = std::fs::canonicalize(kubectl).expect("kubectl resolves");
    real.with_file_name(format!("kubectl.1.{minor}"))
}

fn run(cluster: &Cluster, kubectl: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(kubectl);
    cmd.args(args).env("KUBECONFIG", &cluster.kubeconfig).env("HOME", &cluster.home);
    let out = cmd.output().expect("kubectl runs");
    assert!(
        out.status.success(),
        "{} {args:?} failed:\nstdout: {}\nstderr: {}",
        kubectl.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn a_node_exporter_install_applies_rolls_out_and_deletes_with_every_kubectl_minor() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    let file = manifest("node-exporter.yaml");
    for minor in 27..=33 {
        let kubectl = kubectl_minor(minor);
        if !kubectl.exists() {
            panic!("{} is missing (the kubectl package ships every minor 1.27–1.33)", kubectl.display());
        }
        let applied = run(&cluster, &kubectl, &["apply", "-f", &file]);
        if minor == 27 {
            for object in [
                "namespace/monitoring created",
                "serviceaccount/node-exporter created",
                "clusterrole.rbac.authorization.k8s.io/node-exporter created",
                "clusterrolebinding.rbac.authorization.k8s.io/node-exporter created",
                "service/node-exporter created",
                "daemonset.apps/node-exporter created",
            ] {
                assert!(applied.contains(object), "kubectl 1.{minor}: {applied}");
            }
        } else {
            // Re-applying the same file changes nothing, whichever kubectl applied it before.
            let changed: Vec<&str> = applied.lines().filter(|l| !l.ends_with(" unchanged")).collect();
            assert!(changed.is_empty(), "kubectl 1.{minor} re-apply changed {changed:?}");
        }
        let got = run(&cluster, &kubectl, &["get", "-f", &file, "--no-headers"]);
        assert_eq!(got.lines().filter(|l| !l.trim().is_empty()).count(), 6, "kubectl 1.{minor}: {got}");
        run(
            &cluster,
            &kubectl,
            &["rollout", "status", "ds/node-exporter", "-n", "monitoring", "--timeout=30s"],
        );
        let history =
            run(&cluster, &kubectl, &["rollout", "history", "ds/node-exporter", "-n", "monitoring"]);
        assert!(history.contains("REVISION"), "kubectl 1.{minor}: {history}");
    }
    let svc = cluster.ok(&["get", "svc", "node-exporter", "-n", "monitoring"]);
    assert!(svc.contains("ClusterIP   None") && svc.contains("9100/TCP"), "{svc}");
    let binding = cluster.ok(&["get", "clusterrolebinding", "node-exporter"]);
    assert!(binding.contains("ClusterRole/node-exporter"), "{binding}");
    cluster.ok(&["delete", "-f", &file]);
    cluster.eventually("the namespace is gone", || {
        !cluster.kubectl(&["get", "ns", "monitoring"]).status.success()
    });
    assert!(!cluster.kubectl(&["get", "clusterrole", "node-exporter"]).status.success());
}

#[test]
fn a_definition_and_its_first_resource_apply_from_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    let file = manifest("crd-agent.yaml");
    // As against any cluster: kubectl maps every object before it applies the first, so the
    // first run creates the definition and says the kind is not known yet; the second applies
    // the rest.
    let first = cluster.kubectl(&["apply", "-f", &file]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("customresourcedefinition.apiextensions.k8s.io/nodeconfigs.agent.example.io created"),
        "{stdout}"
    );
    if !first.status.success() {
        assert!(String::from_utf8_lossy(&first.stderr).contains("ensure CRDs are installed first"));
    }
    cluster.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/nodeconfigs.agent.example.io",
        "--timeout=30s",
    ]);
    let second = cluster.ok(&["apply", "-f", &file]);
    assert!(second.contains("nodeconfig.agent.example.io/cluster-default"), "{second}");
    let unchanged = cluster.ok(&["apply", "-f", &file]);
    let changed: Vec<&str> = unchanged.lines().filter(|l| !l.ends_with(" unchanged")).collect();
    assert!(changed.is_empty(), "re-apply changed {changed:?}");

    let got = cluster.ok(&["get", "-f", &file, "--no-headers"]);
    assert_eq!(got.lines().filter(|l| !l.trim().is_empty()).count(), 4, "{got}");
    let listed = cluster.ok(&["get", "nc"]);
    assert!(listed.starts_with("NAME") && listed.contains("INTERVAL"), "{listed}");
    assert!(listed.contains("cluster-default   30s"), "the schema's default shows in its column: {listed}");
    cluster.ok(&["rollout", "status", "ds/node-agent", "-n", "kube-system", "--timeout=30s"]);

    // The definition takes its resources with it, so the resource may be gone when its turn comes.
    cluster.ok(&["delete", "-f", &file, "--ignore-not-found"]);
    assert!(!cluster.kubectl(&["get", "crd", "nodeconfigs.agent.example.io"]).status.success());
    assert!(!cluster.kubectl(&["get", "ds", "node-agent", "-n", "kube-system"]).status.success());
}
