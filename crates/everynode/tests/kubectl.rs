//! The real `kubectl` against a real `everynode up`: every command the seed workflow uses,
//! with upstream's output.

mod common;

use common::{Cluster, header, json, words};

const FLUENTD: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd
  namespace: logging
  labels:
    app: fluentd-logging
spec:
  selector:
    matchLabels:
      name: fluentd
  template:
    metadata:
      labels:
        name: fluentd
    spec:
      containers:
      - name: fluentd-elasticsearch
        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      terminationGracePeriodSeconds: 30
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
"#;

fn start() -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--workers", "2"]);
    (dir, cluster)
}

#[test]
fn create_apply_get_and_output_formats() {
    let (_dir, k) = start();
    assert_eq!(k.ok(&["create", "ns", "logging"]), "namespace/logging created\n");
    assert!(k.fails(&["create", "ns", "logging"]).contains("namespaces \"logging\" already exists"));

    assert_eq!(k.apply(FLUENTD), "daemonset.apps/fluentd created\n");
    // Second apply: a new image, and the memory limit removed.
    let changed = FLUENTD
        .replace("fluentd:v2.5.2", "fluentd:v2.6.0")
        .replace("          limits:\n            memory: 200Mi\n", "");
    assert_eq!(k.apply(&changed), "daemonset.apps/fluentd configured\n");
    let ds = json(&k.ok(&["get", "ds", "fluentd", "-n", "logging", "-o", "json"]));
    let c = &ds["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "quay.io/fluentd_elasticsearch/fluentd:v2.6.0");
    assert!(c["resources"].get("limits").is_none(), "the removed field is gone: {}", c["resources"]);
    assert_eq!(c["resources"]["requests"]["cpu"], "100m");
    assert_eq!(ds["metadata"]["generation"], 2);
    assert_eq!(k.apply(&changed), "daemonset.apps/fluentd unchanged\n");

    let table = k.ok(&["get", "daemonset", "-n", "logging"]);
    assert_eq!(header(&table), words("NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"));
    assert!(table.lines().nth(1).unwrap().starts_with("fluentd "), "{table}");
    let wide = k.ok(&["get", "ds", "-n", "logging", "-o", "wide"]);
    assert_eq!(
        header(&wide),
        words("NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE CONTAINERS IMAGES SELECTOR")
    );
    assert!(
        wide.contains("quay.io/fluentd_elasticsearch/fluentd:v2.6.0") && wide.contains("name=fluentd"),
        "{wide}"
    );

    assert_eq!(k.ok(&["get", "ds", "-n", "logging", "-o", "name"]), "daemonset.apps/fluentd\n");
    assert_eq!(
        k.ok(&[
            "get",
            "ds",
            "fluentd",
            "-n",
            "logging",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "quay.io/fluentd_elasticsearch/fluentd:v2.6.0"
    );
    let yaml = k.ok(&["get", "ds", "fluentd", "-n", "logging", "-o", "yaml"]);
    assert!(yaml.starts_with("apiVersion: apps/v1\nkind: DaemonSet\n"), "{yaml}");
    assert!(yaml.contains("kubectl.kubernetes.io/last-applied-configuration"));

    let labels = k.ok(&["get", "ds", "-n", "logging", "--show-labels"]);
    assert_eq!(header(&labels).last().unwrap(), "LABELS");
    assert!(labels.contains("app=fluentd-logging"));

    let all = k.ok(&["get", "ds", "-A"]);
    assert_eq!(header(&all)[0], "NAMESPACE");
    assert!(all.lines().nth(1).unwrap().starts_with("logging "));
}

#[test]
fn get_every_kind_with_upstream_headers() {
    let (_dir, k) = start();
    // The deprecated componentstatuses, read-only, as a kubeadm cluster answers them.
    let cs = k.ok(&["get", "cs"]);
    assert_eq!(header(&cs), words("NAME STATUS MESSAGE ERROR"));
    assert!(cs.lines().any(|l| words(l)[..3] == words("scheduler Healthy ok")), "{cs}");
    assert!(cs.lines().any(|l| l.starts_with("etcd-0") && l.contains("Healthy")), "{cs}");
    assert!(k.fails(&["delete", "cs", "scheduler"]).contains("MethodNotAllowed"), "read-only");
    let nodes = k.ok(&["get", "nodes"]);
    assert_eq!(header(&nodes), words("NAME STATUS ROLES AGE VERSION"));
    assert!(
        nodes.lines().any(|l| l.starts_with("k8s-control-plane") && l.contains("control-plane")),
        "{nodes}"
    );
    assert_eq!(nodes.lines().count(), 4, "control plane and two workers: {nodes}");
    let wide = k.ok(&["get", "nodes", "-o", "wide"]);
    assert_eq!(
        header(&wide),
        words(
            "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"
        )
    );

    assert_eq!(header(&k.ok(&["get", "ns"])), words("NAME STATUS AGE"));
    k.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  nodeName: k8s-worker-1\n  containers:\n  - name: c\n    image: nginx\n",
    );
    let pods = k.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(header(&pods), words("NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"));
    assert!(pods.lines().nth(1).unwrap().contains("k8s-worker-1"), "{pods}");
    let all_pods = k.ok(&["get", "pods", "-A"]);
    assert_eq!(header(&all_pods), words("NAMESPACE NAME READY STATUS RESTARTS AGE"));

    k.ok(&["create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2"]);
    let cms = k.ok(&["get", "cm", "settings"]);
    assert_eq!(header(&cms), words("NAME DATA AGE"));
    assert_eq!(words(cms.lines().nth(1).unwrap())[1], "2");

    assert_eq!(
        k.ok(&["create", "priorityclass", "high", "--value=1000", "--description=important"]),
        "priorityclass.scheduling.k8s.io/high created\n"
    );
    let pcs = k.ok(&["get", "priorityclass"]);
    assert_eq!(&header(&pcs)[..4], &words("NAME VALUE GLOBAL-DEFAULT AGE")[..]);
    assert!(pcs.contains("system-node-critical") && pcs.contains("2000001000"), "{pcs}");

    k.apply(
        "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: rev-1\nrevision: 1\ndata: {}\n",
    );
    assert_eq!(header(&k.ok(&["get", "controllerrevisions"])), words("NAME CONTROLLER REVISION AGE"));

    k.apply("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  holderIdentity: me\n");
    assert_eq!(header(&k.ok(&["get", "leases"])), words("NAME HOLDER AGE"));

    k.apply("apiVersion: v1\nkind: Event\nmetadata:\n  name: ev\ninvolvedObject:\n  kind: Pod\n  name: web\n  namespace: default\nreason: Testing\nmessage: hello there\ntype: Normal\n");
    let events = k.ok(&["get", "events"]);
    assert_eq!(header(&events), words("LAST SEEN TYPE REASON OBJECT MESSAGE"));
    assert!(events.contains("pod/web") && events.contains("hello there"), "{events}");
}

#[test]
fn describe_edit_label_taint_cordon_patch() {
    let (_dir, k) = start();
    k.ok(&["create", "ns", "logging"]);
    k.apply(FLUENTD);

    let described = k.ok(&["describe", "daemonset", "-n", "logging"]);
    for want in ["Name:           fluentd", "Selector:       name=fluentd", "Image:", "/var/log"] {
        assert!(described.contains(want), "describe ds lacks {want:?}:\n{described}");
    }
    let node = k.ok(&["describe", "node", "k8s-worker-1"]);
    assert!(node.contains("Name:               k8s-worker-1") && node.contains("Capacity:"), "{node}");
    k.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  nodeName: k8s-worker-1\n  containers:\n  - name: c\n    image: nginx\n",
    );
    let pod = k.ok(&["describe", "pod", "web"]);
    assert!(pod.contains("Name:") && pod.contains("k8s-worker-1") && pod.contains("nginx"), "{pod}");

    // edit with a scripted editor.
    let editor = k.dir.join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/fluentd:v2.5.2/fluentd:v3.0.0/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = k
        .kubectl_cmd(&["edit", "ds", "fluentd", "-n", "logging"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(out.status.success(), "edit: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "daemonset.apps/fluentd edited\n");
    assert_eq!(
        k.ok(&[
            "get",
            "ds",
            "fluentd",
            "-n",
            "logging",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "quay.io/fluentd_elasticsearch/fluentd:v3.0.0"
    );

    assert_eq!(
        k.ok(&["label", "node", "k8s-worker-1", "type=platform-tools"]),
        "node/k8s-worker-1 labeled\n"
    );
    assert_eq!(k.ok(&["get", "nodes", "-l", "type=platform-tools", "-o", "name"]), "node/k8s-worker-1\n");
    assert_eq!(k.ok(&["label", "node", "k8s-worker-1", "type-"]), "node/k8s-worker-1 unlabeled\n");

    assert_eq!(
        k.ok(&["taint", "node", "k8s-worker-2", "app=fluentd-logging:NoExecute"]),
        "node/k8s-worker-2 tainted\n"
    );
    let taints = k.ok(&["get", "node", "k8s-worker-2", "-o", "jsonpath={.spec.taints}"]);
    assert!(taints.contains("fluentd-logging") && taints.contains("NoExecute"), "{taints}");
    assert_eq!(k.ok(&["taint", "node", "k8s-worker-2", "app:NoExecute-"]), "node/k8s-worker-2 untainted\n");

    assert_eq!(k.ok(&["cordon", "k8s-worker-1"]), "node/k8s-worker-1 cordoned\n");
    assert!(k.ok(&["get", "node", "k8s-worker-1"]).contains("SchedulingDisabled"));
    assert_eq!(k.ok(&["uncordon", "k8s-worker-1"]), "node/k8s-worker-1 uncordoned\n");

    let ds = ["-n", "logging", "ds", "fluentd"];
    let patch = |ty: &str, body: &str| {
        let mut args = vec!["patch"];
        args.extend(ds);
        args.extend(["--type", ty, "-p", body]);
        k.ok(&args)
    };
    assert_eq!(
        patch(
            "strategic",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"fluentd-elasticsearch","image":"img:s"}]}}}}"#
        ),
        "daemonset.apps/fluentd patched\n"
    );
    assert_eq!(
        patch("merge", r#"{"metadata":{"labels":{"merged":"yes"}}}"#),
        "daemonset.apps/fluentd patched\n"
    );
    assert_eq!(
        patch("json", r#"[{"op":"add","path":"/spec/minReadySeconds","value":3}]"#),
        "daemonset.apps/fluentd patched\n"
    );
    let got = json(&k.ok(&["get", "-n", "logging", "ds", "fluentd", "-o", "json"]));
    assert_eq!(got["spec"]["template"]["spec"]["containers"][0]["image"], "img:s");
    assert_eq!(got["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"], "varlog");
    assert_eq!(got["metadata"]["labels"]["merged"], "yes");
    assert_eq!(got["spec"]["minReadySeconds"], 3);
}

#[test]
fn explain_and_api_resources() {
    let (_dir, k) = start();
    let explained = k.ok(&["explain", "ds.spec.updateStrategy"]);
    assert!(
        explained.contains("KIND:       DaemonSet") || explained.contains("KIND:     DaemonSet"),
        "{explained}"
    );
    assert!(
        explained.contains("FIELD: updateStrategy") || explained.contains("updateStrategy"),
        "{explained}"
    );
    assert!(explained.contains("rollingUpdate") && explained.contains("type"), "{explained}");

    let resources = k.ok(&["api-resources"]);
    assert_eq!(header(&resources), words("NAME SHORTNAMES APIVERSION NAMESPACED KIND"));
    let ds_line = resources.lines().find(|l| l.starts_with("daemonsets ")).expect("daemonsets listed");
    assert_eq!(words(ds_line), words("daemonsets ds apps/v1 true DaemonSet"));
    for (name, short) in [("namespaces", "ns"), ("nodes", "no"), ("pods", "po"), ("priorityclasses", "pc")] {
        let line = resources
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(words(line)[1], short);
    }
}

#[test]
fn get_watch_streams_changes() {
    let (_dir, k) = start();
    let mut watch = k
        .kubectl_cmd(&["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait for the watch to be established (kube-root-ca.crt may or may not exist; the header comes with the first row).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    k.ok(&["create", "configmap", "watched", "--from-literal=a=1"]);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            seen.push(line);
            if seen.iter().any(|l| l.contains("watched")) {
                break;
            }
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let row = seen
        .iter()
        .find(|l| l.contains("watched"))
        .unwrap_or_else(|| panic!("no row for the new configmap: {seen:?}"));
    assert!(row.starts_with("ADDED"), "{row}");
}

#[test]
fn delete_with_each_cascade() {
    // Garbage collection alone: without the DaemonSet controller releasing or replacing the
    // hand-made pods.
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2", "--controllers=*,-daemonset"]);
    let owned_pod = |ds: &str| {
        let uid = k.ok(&["get", "ds", ds, "-o", "jsonpath={.metadata.uid}"]);
        k.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {ds}-pod\n  labels:\n    name: {ds}\n  ownerReferences:\n  - apiVersion: apps/v1\n    kind: DaemonSet\n    name: {ds}\n    uid: {uid}\n    controller: true\n    blockOwnerDeletion: true\nspec:\n  containers:\n  - name: c\n    image: nginx\n"
        ));
    };
    for (ds, cascade) in [("bg", "background"), ("orph", "orphan"), ("fg", "foreground")] {
        k.apply(
            &FLUENTD
                .replace("name: fluentd\n  namespace: logging", &format!("name: {ds}\n  namespace: default")),
        );
        owned_pod(ds);
        let out = k.ok(&["delete", "ds", ds, &format!("--cascade={cascade}")]);
        assert_eq!(out, format!("daemonset.apps \"{ds}\" deleted\n"));
        assert!(k.kubectl(&["get", "ds", ds]).stderr.ends_with(b"not found\n"), "{ds} is gone");
        let pod = format!("{ds}-pod");
        if cascade == "orphan" {
            let owners = k.ok(&["get", "pod", &pod, "-o", "jsonpath={.metadata.ownerReferences}"]);
            assert_eq!(owners, "", "the orphaned pod has no owner left");
        } else {
            k.eventually(&format!("{pod} to be collected"), || {
                !k.kubectl(&["get", "pod", &pod]).status.success()
            });
        }
    }
}

#[test]
fn server_dry_runs_change_nothing_and_system_namespaces_stay() {
    let (_dir, k) = start();
    assert_eq!(
        k.ok(&["create", "configmap", "x", "--from-literal=a=1", "--dry-run=server"]),
        "configmap/x created (server dry run)\n"
    );
    assert!(k.fails(&["get", "configmap", "x"]).contains("configmaps \"x\" not found"));
    k.ok(&["create", "configmap", "x", "--from-literal=a=1"]);
    assert_eq!(
        k.ok(&["delete", "configmap", "x", "--dry-run=server"]),
        "configmap \"x\" deleted (server dry run)\n"
    );
    assert_eq!(k.ok(&["get", "configmap", "x", "-o", "jsonpath={.data.a}"]), "1");
    k.ok(&["label", "configmap", "x", "tier=web", "--dry-run=server"]);
    assert_eq!(k.ok(&["get", "configmap", "x", "-o", "jsonpath={.metadata.labels}"]), "");

    let refused = k.fails(&["delete", "namespace", "default"]);
    assert!(
        refused.contains("namespaces \"default\" is forbidden: this namespace may not be deleted"),
        "{refused}"
    );
    assert_eq!(k.ok(&["get", "namespace", "default", "-o", "jsonpath={.status.phase}"]), "Active");
}

/// kubectl's typed generators send `application/vnd.kubernetes.protobuf`: every object they
/// create decodes to the fields they set.
#[test]
fn create_generators_send_protobuf_that_decodes() {
    let (_dir, k) = start();
    let get = |kind: &str, name: &str| json(&k.ok(&["get", kind, name, "-o", "json"]));

    assert_eq!(
        k.ok(&["create", "deployment", "web", "--image=nginx", "--port=80"]),
        "deployment.apps/web created\n"
    );
    let d = get("deployment", "web");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx");
    assert_eq!(c["ports"][0]["containerPort"], 80);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(d["spec"]["replicas"], 1);
    k.ok(&["create", "deployment", "idle", "--image=nginx", "--replicas=0"]);
    assert_eq!(get("deployment", "idle")["spec"]["replicas"], 0, "an explicit zero in a pointer field stays");

    k.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let s = get("service", "web");
    assert_eq!(s["spec"]["ports"][0]["port"], 80);
    assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(s["spec"]["type"], "ClusterIP");
    k.ok(&["create", "service", "nodeport", "np", "--tcp=81:8081"]);
    assert_eq!(get("service", "np")["spec"]["type"], "NodePort");
    k.ok(&["create", "service", "externalname", "ext", "--external-name=example.com"]);
    assert_eq!(get("service", "ext")["spec"]["externalName"], "example.com");

    k.ok(&["create", "secret", "generic", "s", "--from-literal=a=b"]);
    let secret = get("secret", "s");
    assert_eq!(secret["data"]["a"], "Yg==");
    k.ok(&[
        "create",
        "secret",
        "docker-registry",
        "reg",
        "--docker-server=r.example",
        "--docker-username=u",
        "--docker-password=p",
    ]);
    assert_eq!(get("secret", "reg")["type"], "kubernetes.io/dockerconfigjson");

    k.ok(&["create", "configmap", "cm", "--from-literal=k=v"]);
    assert_eq!(get("configmap", "cm")["data"]["k"], "v");

    k.ok(&["create", "serviceaccount", "sa1"]);
    assert_eq!(get("serviceaccount", "sa1")["metadata"]["name"], "sa1");

    k.ok(&["create", "role", "r", "--verb=get", "--resource=pods"]);
    let role = get("role", "r");
    assert_eq!(role["rules"][0]["verbs"], serde_json::json!(["get"]));
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods"]));
    k.ok(&["create", "rolebinding", "rb", "--role=r", "--serviceaccount=default:sa1"]);
    let rb = get("rolebinding", "rb");
    assert_eq!(rb["roleRef"]["name"], "r");
    assert_eq!(rb["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(rb["subjects"][0]["name"], "sa1");
    k.ok(&["create", "clusterrole", "cr", "--verb=list", "--resource=nodes"]);
    assert_eq!(get("clusterrole", "cr")["rules"][0]["verbs"], serde_json::json!(["list"]));
    k.ok(&["create", "clusterrolebinding", "crb", "--clusterrole=cr", "--user=jane"]);
    assert_eq!(get("clusterrolebinding", "crb")["subjects"][0]["name"], "jane");

    k.ok(&["create", "job", "j", "--image=busybox"]);
    assert_eq!(get("job", "j")["spec"]["template"]["spec"]["containers"][0]["image"], "busybox");
    k.ok(&["create", "cronjob", "c", "--image=busybox", "--schedule=*/1 * * * *"]);
    let cj = get("cronjob", "c");
    assert_eq!(cj["spec"]["schedule"], "*/1 * * * *");
    assert_eq!(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"], "busybox");

    k.ok(&["create", "quota", "q", "--hard=pods=10"]);
    assert_eq!(get("resourcequota", "q")["spec"]["hard"]["pods"], "10");
    k.ok(&["create", "pdb", "p", "--selector=app=web", "--min-available=1"]);
    let pdb = get("pdb", "p");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"]["app"], "web");

    k.ok(&["create", "ingress", "ing", "--rule=foo.example/bar=web:80"]);
    let ing = get("ingress", "ing");
    assert_eq!(ing["spec"]["rules"][0]["host"], "foo.example");
    assert_eq!(ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"], 80);

    k.ok(&["create", "priorityclass", "pc", "--value=7"]);
    assert_eq!(get("priorityclass", "pc")["value"], 7);

    k.ok(&["run", "pod1", "--image=nginx", "--labels=app=pod1"]);
    let pod = get("pod", "pod1");
    assert_eq!(pod["spec"]["containers"][0]["image"], "nginx");
    assert_eq!(pod["metadata"]["labels"]["app"], "pod1");
}

#[test]
fn auth_can_i_and_whoami_are_answered() {
    let (_dir, k) = start();
    assert_eq!(k.ok(&["auth", "can-i", "create", "daemonsets", "-n", "kube-system"]), "yes\n");
    assert_eq!(k.ok(&["auth", "can-i", "get", "/healthz"]), "yes\n");
    let list = k.ok(&["auth", "can-i", "--list"]);
    assert_eq!(header(&list), words("Resources Non-Resource URLs Resource Names Verbs"));
    assert!(list.lines().any(|l| words(l) == words("*.* [] [] [*]")), "{list}");
    let whoami = k.ok(&["auth", "whoami"]);
    assert!(whoami.contains("kubernetes-admin") && whoami.contains("system:masters"), "{whoami}");
    // Reviews are only ever created.
    let listed = k.kubectl(&["get", "selfsubjectaccessreviews"]);
    assert!(!listed.status.success());
    assert!(
        String::from_utf8_lossy(&listed.stderr).contains("MethodNotAllowed")
            || String::from_utf8_lossy(&listed.stderr).contains("does not allow this method")
    );
    // Both versions of events and autoscalers are served; kubectl prefers upstream's.
    let resources = k.ok(&["api-resources", "--api-group=events.k8s.io"]);
    assert!(
        resources.lines().any(|l| words(l) == words("events ev events.k8s.io/v1 true Event")),
        "{resources}"
    );
    let versions = k.ok(&["api-versions"]);
    for v in [
        "autoscaling/v1",
        "autoscaling/v2",
        "events.k8s.io/v1",
        "authorization.k8s.io/v1",
        "authentication.k8s.io/v1",
    ] {
        assert!(versions.lines().any(|l| l == v), "{v} in {versions}");
    }
}

/// kubectl speaks HTTP/2 to everynode: request headers are taken up to upstream's 1 MiB, so a
/// long label selector in the URL works as on a real cluster.
#[test]
fn a_long_label_selector_is_taken() {
    let (_dir, k) = start();
    k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labelled\n  labels: {app: web}\n");
    let mut selector = String::from("app=web");
    for i in 0..2000 {
        selector.push_str(&format!(",key-{i}!=value"));
    }
    assert!(selector.len() > 18_000);
    let out = k.ok(&["get", "configmaps", "-l", &selector, "-o", "name"]);
    assert_eq!(out, "configmap/labelled\n");
}

/// Events as client-go's correlator writes them: a DaemonSet creating 40 pods records nine
/// `SuccessfulCreate` events, then one aggregated event whose count rises, until the spam
/// filter's burst of 25 per object is spent; `kubectl describe` shows the count.
#[test]
fn similar_events_are_aggregated_into_one_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "40"]);
    k.apply("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      containers:\n      - name: agent\n        image: app:1\n");
    k.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    let events = || {
        let list = json(&k.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=agent,reason=SuccessfulCreate",
            "-o",
            "json",
        ]));
        list["items"].as_array().unwrap().clone()
    };
    k.eventually("the aggregated event's count at the burst", || events().iter().any(|e| e["count"] == 16));
    let all = events();
    assert_eq!(all.len(), 10, "{all:#?}");
    let combined: Vec<&serde_json::Value> = all.iter().filter(|e| e["count"] != 1).collect();
    assert_eq!(combined.len(), 1);
    let message = combined[0]["message"].as_str().unwrap();
    assert!(message.starts_with("(combined from similar events): Created pod: agent-"), "{message}");
    assert!(combined[0]["firstTimestamp"].is_string() && combined[0]["lastTimestamp"].is_string());
    let described = k.ok(&["describe", "ds", "agent"]);
    assert!(described.contains("(x16 over "), "{described}");
    assert!(
        described.contains("daemonset-controller  (combined from similar events): Created pod: agent-"),
        "{described}"
    );
}

/// Events expire once their time to live has passed since their last write (kube-apiserver's
/// `--event-ttl`, one hour by default).
#[test]
fn events_expire_after_their_time_to_live() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "2", "--event-ttl", "3"]);
    k.apply("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      containers:\n      - name: agent\n        image: app:1\n");
    let created = || {
        k.ok(&["get", "events", "--field-selector", "reason=SuccessfulCreate", "-o", "name"]).lines().count()
    };
    k.eventually("the DaemonSet's events", || created() == 2);
    let seen = std::time::Instant::now();
    k.eventually("the events gone", || created() == 0);
    assert!(seen.elapsed() >= std::time::Duration::from_secs(1), "kept for their time to live first");
}
