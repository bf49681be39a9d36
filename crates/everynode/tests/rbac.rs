//! Authentication and authorization as a kubeadm cluster has them: ServiceAccount tokens
//! (`kubectl create token`, the projected token every pod gets), RBAC with the default roles,
//! 403s in upstream's words, `kubectl auth can-i` and `kubectl auth whoami`; and the DaemonSet
//! controller running on the ServiceAccount and ClusterRole that `deploy/controller.yaml` gives
//! it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Cluster, json};

/// A kubeconfig like the cluster's, whose user is `token`.
fn kubeconfig_with_token(k: &Cluster, token: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(&k.kubeconfig).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for user in config["users"].as_sequence_mut().unwrap() {
        user["user"]["token"] = serde_yaml::Value::String(token.to_string());
    }
    let path = k.dir.join(name);
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

/// kubectl as the holder of `kubeconfig`.
fn as_user(k: &Cluster, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = k.kubectl_cmd(args);
    cmd.env("KUBECONFIG", kubeconfig);
    cmd.output().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn service_account_tokens_are_authorized_by_rbac() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1"]);
    k.ok(&["create", "serviceaccount", "reader"]);

    // TokenRequest: kubectl prints the token alone.
    let token = k.ok(&["create", "token", "reader"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let too_short = k.fails(&["create", "token", "reader", "--duration=5m"]);
    assert!(
        too_short.contains(
            "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"
        ),
        "{too_short}"
    );
    let reader = kubeconfig_with_token(&k, &token, "reader.kubeconfig");

    // Who the token is.
    let whoami = as_user(&k, &reader, &["auth", "whoami", "-o", "json"]);
    assert!(whoami.status.success(), "{}", stderr(&whoami));
    let info = &json(&stdout(&whoami))["status"]["userInfo"];
    assert_eq!(info["username"], "system:serviceaccount:default:reader");
    assert_eq!(
        info["groups"],
        serde_json::json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    let uid = k.ok(&["get", "sa", "reader", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(info["uid"], uid.as_str());
    let admin = k.ok(&["auth", "whoami"]);
    assert!(admin.contains("kubernetes-admin") && admin.contains("system:masters"), "{admin}");

    // Nothing is granted yet: upstream's 403, and can-i says no.
    let denied = as_user(&k, &reader, &["get", "pods"]);
    assert!(!denied.status.success());
    assert_eq!(
        stderr(&denied),
        r#"Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:reader" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    let no = as_user(&k, &reader, &["auth", "can-i", "list", "pods"]);
    assert_eq!((stdout(&no).as_str(), no.status.code()), ("no", Some(1)));
    // Discovery and self-reviews are every authenticated user's (system:discovery, system:basic-user).
    assert!(as_user(&k, &reader, &["api-resources"]).status.success());

    // The default `view` role holds the rules aggregated into it.
    k.eventually("view to be aggregated", || {
        k.ok(&["get", "clusterrole", "view", "-o", "jsonpath={.rules[*].resources}"]).contains("pods")
    });
    k.ok(&["create", "rolebinding", "read", "--clusterrole=view", "--serviceaccount=default:reader"]);
    let yes = as_user(&k, &reader, &["auth", "can-i", "list", "pods"]);
    assert_eq!((stdout(&yes).as_str(), yes.status.code()), ("yes", Some(0)));
    assert!(as_user(&k, &reader, &["get", "pods"]).status.success());
    let write = as_user(&k, &reader, &["auth", "can-i", "delete", "pods"]);
    assert_eq!(stdout(&write), "no");
    let elsewhere = as_user(&k, &reader, &["get", "pods", "-n", "kube-system"]);
    assert!(
        stderr(&elsewhere)
            .contains(r#"cannot list resource "pods" in API group "" in the namespace "kube-system""#)
    );
    let secrets = as_user(&k, &reader, &["get", "secrets"]);
    assert!(stderr(&secrets).contains("secrets is forbidden"), "view does not read secrets");
    let list = as_user(&k, &reader, &["auth", "can-i", "--list"]);
    assert!(
        stdout(&list).contains("daemonsets.apps") && stdout(&list).contains("selfsubjectreviews"),
        "{}",
        stdout(&list)
    );
    // The admin may do anything and can-i says so.
    assert_eq!(k.ok(&["auth", "can-i", "*", "*"]).trim(), "yes");
    // The admin may act as the reader (`--as`), and then has only the reader's rights.
    let as_reader = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--as=system:serviceaccount:default:reader");
        k.kubectl(&all)
    };
    assert_eq!(stdout(&as_reader(&["auth", "can-i", "list", "pods"])), "yes");
    assert_eq!(stdout(&as_reader(&["auth", "can-i", "delete", "pods"])), "no");
    assert!(stderr(&as_reader(&["delete", "pod", "x"])).contains(
        r#"pods "x" is forbidden: User "system:serviceaccount:default:reader" cannot delete resource "pods""#
    ));
    // The reader may not act as anyone.
    let impersonating = as_user(&k, &reader, &["get", "pods", "--as=kubernetes-admin"]);
    assert_eq!(
        stderr(&impersonating),
        r#"Error from server (Forbidden): users "kubernetes-admin" is forbidden: User "system:serviceaccount:default:reader" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );

    // A role binding to a role that is not there: the reason says so.
    k.ok(&["create", "rolebinding", "broken", "--role=missing", "--serviceaccount=default:reader"]);
    let broken = as_user(&k, &reader, &["create", "configmap", "x"]);
    assert!(
        stderr(&broken).ends_with(
            r#"in the namespace "default": RBAC: role.rbac.authorization.k8s.io "missing" not found"#
        ),
        "{}",
        stderr(&broken)
    );

    // Escalation: allowed to write roles and bindings, the reader may still grant only what it
    // holds (view's rules), not more.
    k.ok(&["create", "role", "rbac-writer", "--verb=create,update,patch", "--resource=roles,rolebindings"]);
    k.ok(&["create", "rolebinding", "rbac-writer", "--role=rbac-writer", "--serviceaccount=default:reader"]);
    let within =
        as_user(&k, &reader, &["create", "role", "pod-reader", "--verb=get,list", "--resource=pods"]);
    assert!(within.status.success(), "{}", stderr(&within));
    let beyond =
        as_user(&k, &reader, &["create", "role", "grab", "--verb=get,list", "--resource=pods,secrets"]);
    assert_eq!(
        stderr(&beyond),
        "Error from server (Forbidden): roles.rbac.authorization.k8s.io \"grab\" is forbidden: user \"system:serviceaccount:default:reader\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:default\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"list\"]}"
    );
    let bind_admin = as_user(
        &k,
        &reader,
        &["create", "rolebinding", "mine", "--clusterrole=admin", "--serviceaccount=default:reader"],
    );
    assert!(
        stderr(&bind_admin).contains(r#"rolebindings.rbac.authorization.k8s.io "mine" is forbidden: user "system:serviceaccount:default:reader""#),
        "{}",
        stderr(&bind_admin)
    );
    let bind_view = as_user(
        &k,
        &reader,
        &["create", "rolebinding", "also-view", "--clusterrole=view", "--serviceaccount=default:reader"],
    );
    assert!(bind_view.status.success(), "binding a role whose rules it holds: {}", stderr(&bind_view));
    k.ok(&[
        "create",
        "clusterrole",
        "binder",
        "--verb=bind",
        "--resource=clusterroles",
        "--resource-name=admin",
    ]);
    k.ok(&["create", "rolebinding", "binder", "--clusterrole=binder", "--serviceaccount=default:reader"]);
    let with_bind = as_user(
        &k,
        &reader,
        &["create", "rolebinding", "mine", "--clusterrole=admin", "--serviceaccount=default:reader"],
    );
    assert!(with_bind.status.success(), "the bind verb allows it: {}", stderr(&with_bind));

    // A pod gets its account's token projected into every container.
    k.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  serviceAccountName: reader\n  containers:\n  - name: c\n    image: busybox\n");
    let pod = json(&k.ok(&["get", "pod", "p", "-o", "json"]));
    let volume = &pod["spec"]["volumes"][0];
    assert!(volume["name"].as_str().unwrap().starts_with("kube-api-access-"), "{volume}");
    assert_eq!(volume["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(volume["projected"]["sources"][1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(volume["projected"]["defaultMode"], 420);
    let mount = &pod["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/var/run/secrets/kubernetes.io/serviceaccount");
    assert_eq!(mount["readOnly"], true);
    assert_eq!(mount["name"], volume["name"]);
    k.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: q\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: busybox\n");
    assert_eq!(k.ok(&["get", "pod", "q", "-o", "jsonpath={.spec.volumes}"]), "");

    // A token bound to a pod authenticates with the pod's name, and dies with it.
    let bound = k.ok(&["create", "token", "reader", "--bound-object-kind=Pod", "--bound-object-name=p"]);
    let bound_config = kubeconfig_with_token(&k, bound.trim(), "bound.kubeconfig");
    let whoami = json(&stdout(&as_user(&k, &bound_config, &["auth", "whoami", "-o", "json"])));
    assert_eq!(
        whoami["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"],
        serde_json::json!(["p"])
    );
    k.ok(&["delete", "pod", "p", "--grace-period=0", "--force"]);
    k.eventually("the pod to be gone", || !k.kubectl(&["get", "pod", "p"]).status.success());
    let gone = as_user(&k, &bound_config, &["get", "pods"]);
    assert_eq!(stderr(&gone), "error: You must be logged in to the server (Unauthorized)");

    // TokenReview answers for the audiences asked: a token made for `vault` is valid for
    // vault, not for the API server.
    let vault = k.ok(&["create", "token", "reader", "--audience=vault"]);
    let review = |audiences: &str| {
        let manifest = format!(
            "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {}\n  audiences: {audiences}\n",
            vault.trim()
        );
        let mut child = k
            .kubectl_cmd(&["create", "-f", "-", "-o", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), manifest.as_bytes()).unwrap();
        json(&String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap())["status"].clone()
    };
    let for_vault = review("[vault, other]");
    assert_eq!(for_vault["authenticated"], true, "{for_vault}");
    assert_eq!(for_vault["audiences"], serde_json::json!(["vault"]));
    assert_eq!(review("[]")["authenticated"], false, "not a token for the API server");
    let vault_config = kubeconfig_with_token(&k, vault.trim(), "vault.kubeconfig");
    assert!(stderr(&as_user(&k, &vault_config, &["get", "pods"])).contains("Unauthorized"));

    // A rule for one name allows a list of that name only, however the selector is written.
    k.ok(&["create", "configmap", "one"]);
    k.ok(&["create", "configmap", "two"]);
    k.ok(&["create", "role", "one-cm", "--verb=get,list", "--resource=configmaps", "--resource-name=one"]);
    k.ok(&["create", "serviceaccount", "narrow"]);
    k.ok(&["create", "rolebinding", "one-cm", "--role=one-cm", "--serviceaccount=default:narrow"]);
    let narrow = kubeconfig_with_token(&k, k.ok(&["create", "token", "narrow"]).trim(), "narrow.kubeconfig");
    let one = as_user(&k, &narrow, &["get", "cm", "--field-selector", "metadata.name=one", "-o", "name"]);
    assert_eq!(stdout(&one), "configmap/one", "{}", stderr(&one));
    assert!(stderr(&as_user(&k, &narrow, &["get", "cm"])).contains("forbidden"));
    let sneaky = as_user(
        &k,
        &narrow,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.namespace!%3Dx%5C,metadata.name%3Done",
        ],
    );
    assert!(
        stderr(&sneaky).contains("Forbidden") || stderr(&sneaky).contains("forbidden"),
        "{}",
        stderr(&sneaky)
    );

    // Deleting the account invalidates its tokens; a made-up token is refused.
    k.ok(&["delete", "sa", "reader"]);
    let revoked = as_user(&k, &reader, &["get", "pods"]);
    assert_eq!(stderr(&revoked), "error: You must be logged in to the server (Unauthorized)");
    let forged = kubeconfig_with_token(&k, "not-a-token", "forged.kubeconfig");
    assert!(stderr(&as_user(&k, &forged, &["get", "pods"])).contains("Unauthorized"));
}

const SEED_DS: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: fluentd\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n      app: fluentd\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 1\n  template:\n    metadata:\n      labels:\n        app: fluentd\n    spec:\n      tolerations:\n      - key: node-role.kubernetes.io/control-plane\n        effect: NoSchedule\n      containers:\n      - name: fluentd\n        image: fluentd:v1.16\n";

/// `everynode controller` with `kubeconfig`, its log (warnings and up) in `log`.
fn controller(kubeconfig: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_everynode"))
        .args(["controller", "--kubeconfig"])
        .arg(kubeconfig)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the controller starts")
}

#[test]
fn the_controller_runs_on_the_rbac_its_manifest_grants() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "3", "--controllers=*,-daemonset"]);
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/controller.yaml"))
            .unwrap();
    k.apply(&manifest);
    let token =
        k.ok(&["create", "token", "everynode-daemonset-controller", "-n", "kube-system", "--duration=2h"]);
    let kubeconfig = kubeconfig_with_token(&k, token.trim(), "controller.kubeconfig");
    let log = k.dir.join("controller.log");
    let mut ctl = controller(&kubeconfig, &log);

    // The seed walkthrough's rollout: a pod per node, then a new image rolled out and undone.
    k.apply(SEED_DS);
    let status =
        |k: &Cluster| k.kubectl(&["rollout", "status", "ds/fluentd", "--timeout=60s"]).status.success();
    assert!(status(&k), "the first rollout completes");
    let nodes = k.ok(&["get", "nodes", "-o", "name"]).lines().count();
    assert_eq!(k.pod_rows("app=fluentd", &[".spec.nodeName"]).len(), nodes);
    k.ok(&["set", "image", "ds/fluentd", "fluentd=fluentd:v1.17"]);
    assert!(status(&k), "the image update rolls out");
    k.ok(&["rollout", "undo", "ds/fluentd"]);
    assert!(status(&k), "the undo rolls out");
    let images =
        k.ok(&["get", "pods", "-l", "app=fluentd", "-o", "jsonpath={.items[*].spec.containers[0].image}"]);
    assert_eq!(common::words(&images), vec!["fluentd:v1.16"; nodes]);
    // Repeated events were patched, which the role allows.
    std::thread::sleep(Duration::from_millis(500));
    let quiet = std::fs::read_to_string(&log).unwrap();
    assert!(
        !quiet.contains("forbidden") && !quiet.contains("refused"),
        "no 403 with the manifest's role:\n{quiet}"
    );

    // Without `create` on pods, the controller says exactly what it lacks.
    let reduced = manifest.replace(
        "  resources: [\"pods\"]\n  verbs: [\"list\", \"watch\", \"create\", \"patch\", \"delete\"]",
        "  resources: [\"pods\"]\n  verbs: [\"list\", \"watch\", \"patch\", \"delete\"]",
    );
    assert_ne!(reduced, manifest, "the manifest's pods rule is where the test expects it");
    k.apply(&reduced);
    k.apply(&SEED_DS.replace("fluentd", "collector"));
    let lacking = r#"pods is forbidden: User "system:serviceaccount:kube-system:everynode-daemonset-controller" cannot create resource "pods" in API group "" in the namespace "default""#;
    k.eventually_within("the controller to report the refusal", Duration::from_secs(20), || {
        std::fs::read_to_string(&log).unwrap().contains(lacking)
    });
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=FailedCreate",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains(lacking), "{events}");
    let _ = ctl.kill();
    let _ = ctl.wait();
}
