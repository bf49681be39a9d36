//! Regressions for requests that used to lose data or take the server down: dry runs that were
//! carried out, a collection delete of every namespace, deletable system objects, a field
//! selector that panicked the handler, a YAML body that stalled the server, `/version/`.

mod common;

use common::{TestServer, status};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

fn request(method: &str, path: &str, content_type: &str, body: Vec<u8>) -> http::Request<Vec<u8>> {
    http::Request::builder().method(method).uri(path).header("Content-Type", content_type).body(body).unwrap()
}

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

async fn configmap_data(cms: &Api<ConfigMap>, name: &str) -> Option<Value> {
    cms.get_opt(name).await.unwrap().map(|cm| json!(cm.data))
}

#[tokio::test]
async fn dry_run_answers_as_if_written_and_changes_nothing() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let cms = Api::<ConfigMap>::namespaced(c.clone(), "default");
    let path = "/api/v1/namespaces/default/configmaps";

    let created: Value = c
        .request(request(
            "POST",
            &format!("{path}?dryRun=All"),
            "application/json",
            body(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost"}, "data": {"a": "1"}})),
        ))
        .await
        .unwrap();
    assert_eq!(created["metadata"]["name"], "ghost");
    assert!(created["metadata"]["uid"].is_string(), "answered as if created: {created}");
    assert_eq!(configmap_data(&cms, "ghost").await, None, "a dry-run create stores nothing");

    let real =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real"}, "data": {"a": "1"}});
    let _: Value = c.request(request("POST", path, "application/json", body(real))).await.unwrap();
    let rv = cms.get("real").await.unwrap().metadata.resource_version;

    let patched: Value = c
        .request(request(
            "PATCH",
            &format!("{path}/real?dryRun=All"),
            "application/merge-patch+json",
            body(json!({"data": {"a": "2"}})),
        ))
        .await
        .unwrap();
    assert_eq!(patched["data"]["a"], "2", "the answer is the patched object");
    let mut replacement = serde_json::to_value(cms.get("real").await.unwrap()).unwrap();
    replacement["data"]["a"] = json!("3");
    let updated: Value = c
        .request(request("PUT", &format!("{path}/real?dryRun=All"), "application/json", body(replacement)))
        .await
        .unwrap();
    assert_eq!(updated["data"]["a"], "3");

    let _: Value = c
        .request(request("DELETE", &format!("{path}/real?dryRun=All"), "application/json", Vec::new()))
        .await
        .unwrap();
    let _: Value = c
        .request(request("DELETE", path, "application/json", body(json!({"dryRun": ["All"]}))))
        .await
        .unwrap();
    let after = cms.get("real").await.unwrap();
    assert_eq!(json!(after.data), json!({"a": "1"}), "neither patch, update nor delete was carried out");
    assert_eq!(after.metadata.resource_version, rv, "nothing was written at all");

    // kube-rs sends dryRun=All as kubectl's --dry-run=server does.
    cms.delete("real", &DeleteParams { dry_run: true, ..DeleteParams::default() }).await.unwrap();
    assert!(cms.get_opt("real").await.unwrap().is_some());

    for (method, p, kind) in [
        ("POST", path.to_string(), "CreateOptions"),
        ("PATCH", format!("{path}/real"), "PatchOptions"),
        ("DELETE", format!("{path}/real"), "DeleteOptions"),
    ] {
        let content_type =
            if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
        let s = status(
            c.request::<Value>(request(method, &format!("{p}?dryRun=Bogus"), content_type, body(json!({}))))
                .await,
        );
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{method}: {s:?}");
        assert_eq!(
            s.message,
            format!(
                "{kind}.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{{\"Bogus\"}}: supported values: \"All\""
            )
        );
    }
    assert_eq!(json!(cms.get("real").await.unwrap().data), json!({"a": "1"}));
}

#[tokio::test]
async fn namespaces_have_no_collection_delete_and_system_objects_stay() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let nss = Api::<Namespace>::all(c.clone());

    let s = status(
        c.request::<Value>(request("DELETE", "/api/v1/namespaces", "application/json", Vec::new())).await,
    );
    assert_eq!((s.code, s.reason.as_str()), (405, "MethodNotAllowed"), "{s:?}");
    let discovery: Value = c.request(http::Request::get("/api/v1").body(Vec::new()).unwrap()).await.unwrap();
    let namespaces =
        discovery["resources"].as_array().unwrap().iter().find(|r| r["name"] == "namespaces").unwrap();
    assert!(!namespaces["verbs"].as_array().unwrap().contains(&json!("deletecollection")), "{namespaces}");
    let pods = discovery["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods").unwrap();
    assert!(pods["verbs"].as_array().unwrap().contains(&json!("deletecollection")));

    for name in ["default", "kube-system", "kube-public"] {
        let s = status(nss.delete(name, &DeleteParams::default()).await);
        assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"), "{s:?}");
        assert_eq!(
            s.message,
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")
        );
    }
    let pcs = Api::<PriorityClass>::all(c.clone());
    let s = status(pcs.delete("system-node-critical", &DeleteParams::default()).await);
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"), "{s:?}");
    assert_eq!(
        s.message,
        "priorityclasses.scheduling.k8s.io \"system-node-critical\" is forbidden: this is a system priority class and cannot be deleted"
    );

    let left: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for name in ["default", "kube-system", "kube-public"] {
        assert!(left.contains(&name.to_string()), "{name} is still there: {left:?}");
    }
    for name in ["system-node-critical", "system-cluster-critical"] {
        let pc = pcs.get(name).await.unwrap();
        assert!(pc.metadata.deletion_timestamp.is_none());
    }

    // Any other namespace is deleted as before.
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap(),
    )
    .await
    .unwrap();
    nss.delete("scratch", &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn non_ascii_field_selectors_are_answered() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let s = status(
        c.request::<Value>(http::Request::get("/api/v1/pods?fieldSelector=%C2%BD").body(Vec::new()).unwrap())
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"), "{s:?}");
    assert_eq!(s.message, "invalid selector: '½'; can't understand '½'");
    // A well-formed selector with a value no object has selects nothing, as upstream's does.
    let cms = Api::<ConfigMap>::namespaced(c.clone(), "default");
    let none = cms.list(&ListParams::default().fields("metadata.name=é")).await.unwrap();
    assert!(none.items.is_empty());
    let s = status(cms.list(&ListParams::default().fields("metadata.name\\é=x")).await);
    assert_eq!(s.code, 400, "{s:?}");
    // The server is still serving.
    cms.list(&ListParams::default()).await.unwrap();
}

/// Posts a ConfigMap body of the given Content-Type.
async fn post_configmap(c: &kube::Client, content_type: &str, body: &str) -> Result<Value, kube::Error> {
    let path = "/api/v1/namespaces/default/configmaps";
    c.request::<Value>(request("POST", path, content_type, body.as_bytes().to_vec())).await
}

#[tokio::test]
async fn deeply_nested_yaml_is_refused_at_once() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let s = status(post_configmap(&c, "application/yaml", &deep).await);
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"), "{s:?}");
    assert!(s.message.contains("nested more than 128 levels"), "{s:?}");
    let json_deep = format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let s = status(post_configmap(&c, "application/json", &json_deep).await);
    assert_eq!(s.code, 400, "{s:?}");
    // An ordinary YAML body still goes through.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  a: \"[1]\"\n";
    let made = post_configmap(&c, "application/yaml", yaml).await.unwrap();
    assert_eq!(made["data"]["a"], "[1]");
}

#[tokio::test]
async fn version_answers_with_a_trailing_slash() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let plain: Value = c.request(http::Request::get("/version").body(Vec::new()).unwrap()).await.unwrap();
    let slash: Value = c.request(http::Request::get("/version/").body(Vec::new()).unwrap()).await.unwrap();
    assert_eq!(plain, slash);
    assert_eq!(slash["major"], "1");
}
