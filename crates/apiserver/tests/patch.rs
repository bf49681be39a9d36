//! PATCH in its three forms, and one test per strategic-merge directive kubectl emits.

mod common;

use common::{TestServer, daemonset, from_json, pod, status};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

async fn ds_api(ts: &TestServer) -> Api<DaemonSet> {
    let dss = Api::<DaemonSet>::namespaced(ts.client().await, "default");
    dss.create(&PostParams::default(), &daemonset("d", "nginx:1.25")).await.unwrap();
    dss
}

async fn smp(dss: &Api<DaemonSet>, patch: Value) -> Value {
    let ds = dss.patch("d", &PatchParams::default(), &Patch::Strategic(patch)).await.expect("patch applies");
    serde_json::to_value(ds).unwrap()
}

fn container(ds: &Value) -> &Value {
    &ds["spec"]["template"]["spec"]["containers"][0]
}

fn env_names(ds: &Value) -> Vec<String> {
    container(ds)["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn json_patch() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let p: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.26"},
        {"op": "add", "path": "/metadata/labels/extra", "value": "1"}
    ]))
    .unwrap();
    let ds = dss.patch("d", &PatchParams::default(), &Patch::<()>::Json(p)).await.unwrap();
    let v = serde_json::to_value(ds).unwrap();
    assert_eq!(container(&v)["image"], "nginx:1.26");
    assert_eq!(v["metadata"]["labels"]["extra"], "1");
}

#[tokio::test]
async fn merge_patch_replaces_lists_and_deletes_with_null() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let ds = dss
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": null, "new": "x"}},
                "spec": {"template": {"spec": {"containers": [{"name": "other", "image": "busybox"}]}}}})),
        )
        .await
        .unwrap();
    let v = serde_json::to_value(ds).unwrap();
    assert_eq!(v["metadata"]["labels"], json!({"new": "x"}));
    let containers = v["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "a merge patch replaces lists wholesale");
    assert_eq!(containers[0]["name"], "other");
}

#[tokio::test]
async fn strategic_merge_by_key() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let v = smp(
        &dss,
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "main", "image": "nginx:1.26", "env": [{"name": "C", "value": "3"}]},
            {"name": "sidecar", "image": "busybox"}
        ]}}}}),
    )
    .await;
    let containers = v["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "containers merge by name");
    assert_eq!(container(&v)["image"], "nginx:1.26");
    assert_eq!(container(&v)["ports"][0]["containerPort"], 80, "untouched fields stay");
    assert_eq!(env_names(&v), ["A", "B", "C"], "env merges by name");
}

#[tokio::test]
async fn strategic_directive_patch_delete() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let v = smp(
        &dss,
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "main", "env": [{"name": "A", "$patch": "delete"}]}
        ]}}}}),
    )
    .await;
    assert_eq!(env_names(&v), ["B"]);
}

#[tokio::test]
async fn strategic_directive_patch_replace() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let v = smp(
        &dss,
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "main", "env": [{"$patch": "replace"}, {"name": "Z", "value": "26"}]}
        ]}}}}),
    )
    .await;
    assert_eq!(env_names(&v), ["Z"], "$patch: replace in a list replaces it");
    let v = smp(&dss, json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}})).await;
    assert_eq!(v["metadata"]["labels"], json!({"only": "this"}), "$patch: replace in a map replaces it");
}

#[tokio::test]
async fn strategic_directive_patch_merge() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let v = smp(&dss, json!({"metadata": {"labels": {"$patch": "merge", "more": "x"}}})).await;
    assert_eq!(v["metadata"]["labels"], json!({"app": "d", "more": "x"}));
}

#[tokio::test]
async fn strategic_directive_set_element_order() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let v = smp(
        &dss,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main",
        "$setElementOrder/env": [{"name": "B"}, {"name": "C"}, {"name": "A"}],
        "env": [{"name": "C", "value": "3"}]}]}}}}),
    )
    .await;
    assert_eq!(env_names(&v), ["B", "C", "A"]);
}

#[tokio::test]
async fn strategic_directive_retain_keys() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let v =
        smp(&dss, json!({"spec": {"updateStrategy": {"$retainKeys": ["type"], "type": "OnDelete"}}})).await;
    assert_eq!(
        v["spec"]["updateStrategy"],
        json!({"type": "OnDelete"}),
        "rollingUpdate dropped by $retainKeys"
    );
}

#[tokio::test]
async fn strategic_directive_delete_from_primitive_list() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    smp(&dss, json!({"metadata": {"finalizers": ["example.com/a", "example.com/b"]}})).await;
    let v = smp(&dss, json!({"metadata": {"finalizers": ["example.com/c"]}})).await;
    assert_eq!(
        v["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b", "example.com/c"]),
        "finalizers merge"
    );
    let v = smp(
        &dss,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a", "example.com/c"]}}),
    )
    .await;
    assert_eq!(v["metadata"]["finalizers"], json!(["example.com/b"]));
    smp(&dss, json!({"metadata": {"finalizers": null}})).await;
}

#[tokio::test]
async fn strategic_patch_of_pod_and_node_lists() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let nodes = Api::<Node>::all(c.clone());
    nodes
        .create(&PostParams::default(), &from_json(json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}})))
        .await
        .unwrap();
    // Taints carry no merge strategy upstream: the list is replaced.
    let n = nodes
        .patch(
            "n",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}})),
        )
        .await
        .unwrap();
    let taints = n.spec.unwrap().taints.unwrap();
    assert_eq!(taints.len(), 1);
    assert_eq!(taints[0].key, "b");

    let pods = Api::<Pod>::namespaced(c, "default");
    pods.create(&PostParams::default(), &pod("p", None)).await.unwrap();
    let p = pods
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Strategic(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}})),
        )
        .await
        .unwrap();
    assert_eq!(p.status.as_ref().unwrap().conditions.as_ref().unwrap().len(), 2);
    let p = pods
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Strategic(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
        )
        .await
        .unwrap();
    let conds = p.status.unwrap().conditions.unwrap();
    assert_eq!(conds.len(), 2, "conditions merge by type");
    assert_eq!(conds.iter().find(|c| c.type_ == "Ready").unwrap().status, "False");
}

#[tokio::test]
async fn a_patch_that_does_not_apply_changes_nothing() {
    let ts = TestServer::start().await;
    let dss = ds_api(&ts).await;
    let before = dss.get("d").await.unwrap();
    let p: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/spec/template/spec/containers/5"}]))
            .unwrap();
    let err = status(dss.patch("d", &PatchParams::default(), &Patch::<()>::Json(p)).await);
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let test_op: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/metadata/name", "value": "other"}])).unwrap();
    assert_eq!(status(dss.patch("d", &PatchParams::default(), &Patch::<()>::Json(test_op)).await).code, 422);
    let bad_directive = status(
        dss.patch(
            "d",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"$patch": "explode"}}})),
        )
        .await,
    );
    assert!(bad_directive.code == 422 || bad_directive.code == 400, "{bad_directive:?}");
    // A patch producing an invalid object is refused as Invalid.
    let invalid = status(
        dss.patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": null}}}})),
        )
        .await,
    );
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    let after = dss.get("d").await.unwrap();
    assert_eq!(before.metadata.resource_version, after.metadata.resource_version, "nothing was written");
}
