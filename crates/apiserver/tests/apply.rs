//! Server-side apply and managed fields over HTTPS with kube-rs (`Patch::Apply`): an apply
//! creates and owns what it sends, other writers take the fields they change, a conflicting
//! apply is refused with upstream's 409 unless forced, fields an applier stops sending go, and a
//! dry run changes nothing.

mod common;

use common::{TestServer, from_json, status};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn daemonset(image: &str, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": "agent", "labels": labels},
           "spec": {"selector": {"matchLabels": {"app": "agent"}},
                    "template": {"metadata": {"labels": {"app": "agent"}},
                                 "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

fn managers(ds: &DaemonSet) -> Vec<(String, String)> {
    ds.metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| (m.manager.clone().unwrap_or_default(), m.operation.clone().unwrap_or_default()))
        .collect()
}

fn fields_of(ds: &DaemonSet, manager: &str) -> Value {
    let entry = ds.metadata.managed_fields.iter().flatten().find(|m| m.manager.as_deref() == Some(manager));
    entry.and_then(|m| m.fields_v1.as_ref()).map(|f| f.0.clone()).unwrap_or(Value::Null)
}

fn image(ds: &DaemonSet) -> String {
    ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default()
}

#[tokio::test]
async fn apply_owns_conflicts_forces_and_prunes() {
    let ts = TestServer::start().await;
    let dss = Api::<DaemonSet>::namespaced(ts.client().await, "default");
    let apply = PatchParams::apply("deployer");

    let created = dss
        .patch("agent", &apply, &Patch::Apply(daemonset("nginx:1", json!({"app": "agent", "tier": "edge"}))))
        .await
        .expect("an apply creates");
    assert_eq!(managers(&created), [("deployer".to_string(), "Apply".to_string())]);
    let owned = fields_of(&created, "deployer");
    assert_eq!(
        owned["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:image"],
        json!({})
    );
    assert_eq!(owned["f:spec"]["f:selector"], json!({}), "LabelSelector is atomic");
    assert!(owned["f:metadata"].get("f:name").is_none());

    // Another manager changes the image: it owns it now.
    let edit = PatchParams { field_manager: Some("editor".into()), ..Default::default() };
    let edited = dss
        .patch(
            "agent",
            &edit,
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}})),
        )
        .await
        .expect("patch");
    assert!(managers(&edited).contains(&("editor".to_string(), "Update".to_string())));

    // Applying the old image again conflicts, with upstream's message and causes.
    let refused = status(
        dss.patch(
            "agent",
            &apply,
            &Patch::Apply(daemonset("nginx:1", json!({"app": "agent", "tier": "edge"}))),
        )
        .await,
    );
    assert_eq!((refused.code, refused.reason.as_str()), (409, "Conflict"), "{refused:?}");
    assert_eq!(
        refused.message,
        "Apply failed with 1 conflict: conflict with \"editor\" using apps/v1: .spec.template.spec.containers[name=\"web\"].image"
    );
    let causes = refused.details.expect("details").causes;
    assert_eq!(causes[0].field, ".spec.template.spec.containers[name=\"web\"].image");
    assert_eq!(causes[0].reason, "FieldManagerConflict");

    // A dry run changes nothing, forced or not.
    let dry = PatchParams { dry_run: true, ..PatchParams::apply("deployer").force() };
    let would = dss
        .patch("agent", &dry, &Patch::Apply(daemonset("nginx:1", json!({"app": "agent"}))))
        .await
        .expect("dry run");
    assert_eq!(image(&would), "nginx:1");
    assert_eq!(image(&dss.get("agent").await.unwrap()), "nginx:2");

    // Forced, the applier takes the image back; the label it stopped sending goes.
    let forced = dss
        .patch(
            "agent",
            &PatchParams::apply("deployer").force(),
            &Patch::Apply(daemonset("nginx:1", json!({"app": "agent"}))),
        )
        .await
        .expect("forced apply");
    assert_eq!(image(&forced), "nginx:1");
    assert!(!managers(&forced).iter().any(|(m, _)| m == "editor"), "{:?}", forced.metadata.managed_fields);
    let labels = forced.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("tier"), None, "{labels:?}");
    assert_eq!(labels.get("app").map(String::as_str), Some("agent"));

    // Without a manager, an apply is refused as upstream refuses it.
    let nameless = PatchParams { field_manager: None, ..Default::default() };
    let refused = status(dss.patch("agent", &nameless, &Patch::Apply(daemonset("nginx:1", json!({})))).await);
    assert_eq!(refused.code, 422);
    assert_eq!(
        refused.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply requests"
    );
}

#[tokio::test]
async fn every_write_records_its_manager() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let pp = PostParams { field_manager: Some("creator".into()), ..Default::default() };
    let created = cms
        .create(&pp, &from_json(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})))
        .await
        .expect("create");
    let entries = created.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].manager.as_deref(), Some("creator"));
    assert_eq!(entries[0].operation.as_deref(), Some("Update"));
    assert_eq!(entries[0].api_version.as_deref(), Some("v1"));
    assert_eq!(entries[0].fields_v1.as_ref().unwrap().0, json!({"f:data": {".": {}, "f:a": {}}}));

    // A merge patch by another manager: it owns what it added; the creator keeps the rest.
    let patched = cms
        .patch(
            "c",
            &PatchParams { field_manager: Some("patcher".into()), ..Default::default() },
            &Patch::Merge(json!({"data": {"b": "2"}})),
        )
        .await
        .expect("patch");
    let by = |m: &str| {
        patched.metadata.managed_fields.iter().flatten().find(|e| e.manager.as_deref() == Some(m)).cloned()
    };
    assert_eq!(by("patcher").unwrap().fields_v1.unwrap().0, json!({"f:data": {"f:b": {}}}));
    assert_eq!(by("creator").unwrap().fields_v1.unwrap().0, json!({"f:data": {".": {}, "f:a": {}}}));

    // A client may clear them, as upstream allows, with one empty entry.
    let cleared = cms
        .patch("c", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"managedFields": [{}]}})))
        .await
        .expect("clear");
    assert_eq!(cleared.metadata.managed_fields, None);
}

#[tokio::test]
async fn custom_resources_merge_by_their_schemas_list_types() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let definition: CustomResourceDefinition = from_json(json!({
        "metadata": {"name": "gateways.net.example.com"},
        "spec": {"group": "net.example.com", "scope": "Namespaced",
                 "names": {"plural": "gateways", "kind": "Gateway"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                     "listeners": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"],
                                   "items": {"type": "object", "required": ["port"], "properties": {
                                     "port": {"type": "integer"}, "name": {"type": "string"}}}},
                     "addresses": {"type": "array", "items": {"type": "string"}}}}}}}}]}}));
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &definition)
        .await
        .expect("definition");
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("net.example.com", "v1", "Gateway"),
        "gateways",
    );
    let gateways = Api::<DynamicObject>::namespaced_with(client, "default", &resource);
    let gateway = |listeners: Value, addresses: Value| {
        json!({"apiVersion": "net.example.com/v1", "kind": "Gateway", "metadata": {"name": "edge"},
               "spec": {"listeners": listeners, "addresses": addresses}})
    };
    gateways
        .patch(
            "edge",
            &PatchParams::apply("team-a"),
            &Patch::Apply(gateway(json!([{"port": 80, "name": "http"}]), json!(["10.0.0.1"]))),
        )
        .await
        .expect("team a applies");
    let merged = gateways
        .patch(
            "edge",
            &PatchParams::apply("team-b"),
            &Patch::Apply(gateway(json!([{"port": 443, "name": "https"}]), json!(["10.0.0.1"]))),
        )
        .await
        .expect("team b applies a listener of its own and shares the address list");
    let listeners: Vec<i64> = merged.data["spec"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["port"].as_i64().unwrap())
        .collect();
    assert_eq!(listeners, [80, 443], "a list map merges by its key");
    // An atomic list another manager set differently is a conflict.
    let refused = status(
        gateways
            .patch(
                "edge",
                &PatchParams::apply("team-b"),
                &Patch::Apply(gateway(json!([{"port": 443, "name": "https"}]), json!(["10.0.0.2"]))),
            )
            .await,
    );
    assert_eq!(refused.code, 409);
    assert!(refused.message.contains(".spec.addresses"), "{}", refused.message);
}
