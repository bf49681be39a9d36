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
    // The namespace comes first in the file, and its content may be gone with it before
    // kubectl reaches it (as on any cluster whose namespace controller is quick).
    cluster.ok(&["delete", "-f", &file, "--ignore-not-found"]);
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

/// What every install must do with the real kubectl: apply with every object `created`,
/// re-apply `unchanged`, list every object with `kubectl get -f`, roll out each DaemonSet
/// (`namespace/name`), and leave nothing behind after `kubectl delete -f`. Returns what the
/// first apply printed; the caller checks what is particular to the install before it is
/// deleted by `uninstall`.
fn install(cluster: &Cluster, file: &str, objects: usize, daemonsets: &[&str]) -> String {
    let applied = cluster.ok(&["apply", "-f", file]);
    let lines: Vec<&str> = applied.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), objects, "{applied}");
    assert!(lines.iter().all(|l| l.ends_with(" created")), "{applied}");
    let again = cluster.ok(&["apply", "-f", file]);
    // A PodDisruptionBudget's selector has the `replace` patch strategy, so kubectl's patch
    // for it is never empty and it says `configured` on any cluster; the server changes
    // nothing (its resourceVersion is checked below).
    let changed: Vec<&str> = again
        .lines()
        .filter(|l| !l.ends_with(" unchanged") && !l.starts_with("poddisruptionbudget.policy/"))
        .collect();
    assert!(changed.is_empty(), "re-apply changed {changed:?}");
    let got = cluster.ok(&["get", "-f", file, "--no-headers"]);
    assert_eq!(got.lines().filter(|l| !l.trim().is_empty()).count(), objects, "{got}");
    for ds in daemonsets {
        let (ns, name) = ds.split_once('/').expect("namespace/name");
        cluster.ok(&["rollout", "status", &format!("ds/{name}"), "-n", ns, "--timeout=30s"]);
        let ready = cluster.ok(&["get", "ds", name, "-n", ns, "-o", "jsonpath={.status.numberReady}"]);
        assert!(ready.parse::<u32>().is_ok_and(|n| n >= 2), "{ds} ready on {ready} nodes");
    }
    applied
}

fn uninstall(cluster: &Cluster, file: &str) {
    let deleted = cluster.ok(&["delete", "-f", file, "--ignore-not-found", "--wait=false"]);
    assert!(deleted.lines().all(|l| l.ends_with(" deleted") || l.trim().is_empty()), "{deleted}");
    cluster.eventually("every object of the install is gone", || {
        let left = cluster.kubectl(&["get", "-f", file, "--ignore-not-found", "--no-headers"]);
        left.status.success() && String::from_utf8_lossy(&left.stdout).trim().is_empty()
    });
}

#[test]
fn a_log_shipper_with_namespaced_rbac_installs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    let file = manifest("log-shipper.yaml");
    let applied = install(&cluster, &file, 10, &["logging/log-shipper"]);
    assert!(applied.contains("role.rbac.authorization.k8s.io/log-shipper-leader created"), "{applied}");
    assert!(
        applied.contains("rolebinding.rbac.authorization.k8s.io/log-shipper-leader created"),
        "{applied}"
    );
    let binding = cluster.ok(&["get", "rolebinding", "log-shipper-leader", "-n", "logging", "-o", "wide"]);
    assert!(
        binding.contains("Role/log-shipper-leader") && binding.contains("logging/log-shipper"),
        "{binding}"
    );
    let pods = cluster.ok(&[
        "get",
        "pods",
        "-n",
        "logging",
        "-o",
        "jsonpath={range .items[*]}{.spec.priority} {.spec.serviceAccountName}{\"\\n\"}{end}",
    ]);
    assert!(pods.lines().count() >= 2 && pods.lines().all(|l| l == "1000000 log-shipper"), "{pods}");
    uninstall(&cluster, &file);
}

#[test]
fn a_load_balancer_with_a_deployment_a_disruption_budget_and_a_daemonset_installs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    let file = manifest("load-balancer.yaml");
    let version = || {
        cluster.ok(&[
            "get",
            "pdb",
            "controller",
            "-n",
            "lb-system",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
    };
    install(&cluster, &file, 11, &["lb-system/speaker"]);
    let before = version();
    cluster.ok(&["apply", "-f", &file]);
    assert_eq!(version(), before, "re-applying the budget writes nothing");
    let pdb = cluster.ok(&["get", "pdb", "controller", "-n", "lb-system"]);
    assert!(
        pdb.starts_with("NAME") && pdb.contains("MIN AVAILABLE") && pdb.contains("controller   1 "),
        "{pdb}"
    );
    let deploy = cluster.ok(&["get", "deploy", "controller", "-n", "lb-system"]);
    assert!(deploy.contains("UP-TO-DATE") && deploy.contains("controller   0/2"), "{deploy}");
    // The speaker tolerates the control plane's taint: one pod on every node.
    let nodes = cluster.ok(&["get", "nodes", "--no-headers"]).lines().count();
    let speakers = cluster.ok(&["get", "pods", "-n", "lb-system", "-l", "component=speaker", "--no-headers"]);
    assert_eq!(speakers.lines().count(), nodes, "{speakers}");
    uninstall(&cluster, &file);
}

#[test]
fn an_ingress_controller_with_network_policies_and_a_node_port_service_installs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    let file = manifest("ingress-controller.yaml");
    install(&cluster, &file, 8, &["ingress/ingress-controller"]);
    let policies = cluster.ok(&["get", "networkpolicy", "-n", "ingress"]);
    assert!(policies.contains("POD-SELECTOR"), "{policies}");
    assert!(policies.contains("default-deny         <none>"), "{policies}");
    assert!(policies.contains("app.kubernetes.io/name=ingress-controller"), "{policies}");
    let svc = cluster.ok(&["get", "svc", "ingress-controller", "-n", "ingress", "--no-headers"]);
    let cells: Vec<&str> = svc.split_whitespace().collect();
    assert_eq!(cells[1], "NodePort", "{svc}");
    assert!(cells[2].starts_with("10."), "a cluster IP from the service network: {svc}");
    assert!(cells[4].starts_with("80:30080/TCP,443:3"), "the asked-for and a chosen node port: {svc}");
    uninstall(&cluster, &file);
}

#[test]
fn a_csi_node_driver_with_its_webhook_configuration_installs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    let file = manifest("csi-driver.yaml");
    install(&cluster, &file, 8, &["kube-system/csi-disk-node"]);
    let driver = cluster.ok(&["get", "csidriver", "disk.csi.example.io"]);
    assert!(driver.contains("ATTACHREQUIRED") && driver.contains("disk.csi.example.io   false"), "{driver}");
    let webhook = cluster.ok(&["get", "validatingwebhookconfigurations", "--no-headers"]);
    assert!(webhook.contains("validation-webhook.snapshot.storage.k8s.io   1 "), "{webhook}");
    let class = cluster.ok(&["get", "storageclass", "example-disk", "--no-headers"]);
    assert!(class.contains("disk.csi.example.io") && class.contains("WaitForFirstConsumer"), "{class}");
    uninstall(&cluster, &file);
}
