//! CustomResourceDefinitions over HTTPS with kube-rs: a definition is accepted and served at
//! once (discovery, CRUD, selectors, watch), its schema prunes, defaults and validates, its
//! status subresource and printer columns work, deleting it deletes its resources, and a
//! restart keeps both.

mod common;

use std::time::Duration;

use common::{TestServer, client_for, status};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

fn crontab_definition() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "cronSpec": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$"},
                        "image": {"type": "string"},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "integer"}}}}}}
            }]
        }
    }))
    .expect("definition")
}

fn crontabs(client: kube::Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("stable.example.com", "v1", "CronTab"),
        "crontabs",
    );
    Api::namespaced_with(client, "default", &resource)
}

fn crontab(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}))
    .expect("crontab")
}

async fn define(client: &kube::Client) -> CustomResourceDefinition {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    crds.create(&PostParams::default(), &crontab_definition()).await.expect("definition is created")
}

/// `GET path` with kubectl's Table Accept header.
async fn table(client: &kube::Client, path: &str) -> Value {
    let req = http::Request::get(path)
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        .body(Vec::new())
        .unwrap();
    serde_json::from_str(&client.request_text(req).await.expect("table")).expect("json")
}

#[tokio::test]
async fn a_definition_is_accepted_and_its_resources_served() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let created = define(&client).await;
    let accepted = created.status.expect("status");
    let conditions: Vec<(String, String)> =
        accepted.conditions.unwrap_or_default().into_iter().map(|c| (c.type_, c.status)).collect();
    assert!(conditions.contains(&("Established".into(), "True".into())), "{conditions:?}");
    assert!(conditions.contains(&("NamesAccepted".into(), "True".into())), "{conditions:?}");
    assert_eq!(accepted.accepted_names.expect("names").singular.as_deref(), Some("crontab"));
    assert_eq!(accepted.stored_versions, Some(vec!["v1".to_string()]));
    assert_eq!(created.spec.names.list_kind.as_deref(), Some("CronTabList"));

    // Discovery finds it, with its short name and categories.
    let discovery = kube::Discovery::new(client.clone()).run().await.expect("discovery");
    let group = discovery.get("stable.example.com").expect("group is discovered");
    let (resource, caps) = group.recommended_kind("CronTab").expect("kind is discovered");
    assert_eq!(resource.plural, "crontabs");
    assert!(caps.supports_operation("watch"));
    assert!(caps.subresources.iter().any(|(r, _)| r.plural == "crontabs/status" || r.plural == "status"));

    let api = crontabs(client.clone());
    let mut watch = api.watch(&WatchParams::default(), "0").await.expect("watch").boxed();
    let made = api
        .create(
            &PostParams::default(),
            &crontab("nightly", json!({"cronSpec": "* * * * */5", "image": "cron:1"})),
        )
        .await
        .expect("custom resource is created");
    assert_eq!(made.data["spec"]["replicas"], 1, "the schema's default is filled in");
    assert_eq!(made.metadata.generation, Some(1));
    match tokio::time::timeout(Duration::from_secs(10), watch.try_next()).await {
        Ok(Ok(Some(WatchEvent::Added(o)))) => assert_eq!(o.metadata.name.as_deref(), Some("nightly")),
        other => panic!("expected ADDED, got {other:?}"),
    }
    api.create(&PostParams::default(), &crontab("hourly", json!({"cronSpec": "0 * * * *"})))
        .await
        .expect("second");
    let selected = api.list(&ListParams::default().labels("app=hourly")).await.expect("list");
    assert_eq!(selected.items.len(), 1);
    let by_name = api.list(&ListParams::default().fields("metadata.name=nightly")).await.expect("list");
    assert_eq!(by_name.items.len(), 1);

    // The Table has its printer columns; `kubectl get all` includes it (category `all`).
    let t = table(&client, "/apis/stable.example.com/v1/namespaces/default/crontabs").await;
    let columns: Vec<&str> =
        t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["Name", "Spec", "Replicas", "Age"]);
    let row = t["rows"].as_array().unwrap().iter().find(|r| r["cells"][0] == "nightly").expect("row");
    assert_eq!(row["cells"][1], "* * * * */5");
    assert_eq!(row["cells"][2], 1);

    // Strategic merge patches are refused for custom resources, as upstream does.
    let refused = status(
        api.patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"image": "cron:2"}})),
        )
        .await,
    );
    assert_eq!((refused.code, refused.reason.as_str()), (415, "UnsupportedMediaType"), "{refused:?}");
    let patched = api
        .patch("nightly", &PatchParams::default(), &Patch::Merge(json!({"spec": {"image": "cron:2"}})))
        .await
        .expect("merge patch");
    assert_eq!(patched.data["spec"]["image"], "cron:2");
    assert_eq!(patched.metadata.generation, Some(2), "a spec change moves the generation");
}

#[tokio::test]
async fn the_schema_prunes_validates_and_splits_status() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    define(&client).await;
    let api = crontabs(client.clone());

    // Unknown fields are pruned (and refused under Strict).
    let mut with_unknown = crontab("a", json!({"cronSpec": "* * * * *", "colour": "blue"}));
    with_unknown.data["extra"] = json!(true);
    let made = api.create(&PostParams::default(), &with_unknown).await.expect("create");
    assert!(made.data["spec"].get("colour").is_none(), "{:?}", made.data);
    assert!(made.data.get("extra").is_none());
    let strict =
        http::Request::post("/apis/stable.example.com/v1/namespaces/default/crontabs?fieldValidation=Strict")
            .header("Content-Type", "application/json")
            .body(
                serde_json::to_vec(&crontab("b", json!({"cronSpec": "* * * * *", "colour": "blue"})))
                    .unwrap(),
            )
            .unwrap();
    let strict = status(client.request::<DynamicObject>(strict).await);
    assert_eq!(strict.code, 400, "{strict:?}");
    assert!(strict.message.contains("unknown field \"spec.colour\""), "{}", strict.message);

    // Values the schema forbids are refused with upstream's message.
    let refused = status(
        api.create(&PostParams::default(), &crontab("c", json!({"cronSpec": "* * * * *", "replicas": 11})))
            .await,
    );
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        refused.message,
        "CronTab.stable.example.com \"c\" is invalid: spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"
    );
    let refused = status(api.create(&PostParams::default(), &crontab("d", json!({"cronSpec": 5}))).await);
    assert!(refused.message.contains("spec.cronSpec in body must be of type string"), "{}", refused.message);

    // The main resource ignores status; /status changes only status.
    let mut with_status = made.clone();
    with_status.data["status"] = json!({"ready": 3});
    let replaced = api.replace("a", &PostParams::default(), &with_status).await.expect("replace");
    assert!(replaced.data.get("status").is_none(), "status is the subresource's");
    assert_eq!(replaced.metadata.generation, Some(1), "nothing outside status changed");
    let patched = api
        .patch_status(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": 3}, "spec": {"image": "x"}})),
        )
        .await
        .expect("status patch");
    assert_eq!(patched.data["status"]["ready"], 3);
    assert!(patched.data["spec"].get("image").is_none(), "/status ignores spec");
    assert_eq!(patched.metadata.generation, Some(1));
}

#[tokio::test]
async fn deleting_a_definition_deletes_its_resources_and_a_restart_keeps_both() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    define(&client).await;
    let api = crontabs(client.clone());
    api.create(&PostParams::default(), &crontab("kept", json!({"cronSpec": "* * * * *"})))
        .await
        .expect("create");

    let dir = ts.dir;
    ts.server.shutdown().await;
    let mut config = apiserver::ServerConfig::new(dir.path());
    config.port = 0;
    let server = apiserver::start(config).await.expect("restarts");
    let client = client_for(&server.kubeconfig()).await;
    let api = crontabs(client.clone());
    let kept = api.get("kept").await.expect("the custom resource survives a restart");
    assert_eq!(kept.data["spec"]["replicas"], 1);

    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    crds.delete("crontabs.stable.example.com", &DeleteParams::default()).await.expect("delete");
    let gone = async {
        loop {
            if let Err(kube::Error::Api(s)) = crds.get("crontabs.stable.example.com").await
                && s.code == 404
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), gone).await.expect("the definition goes");
    let refused = status(api.get("kept").await);
    assert_eq!(refused.code, 404, "its resources are no longer served");

    // Defined again, it starts empty: its resources were deleted, not hidden.
    define(&client).await;
    assert!(api.list(&ListParams::default()).await.expect("list").items.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_definition_is_refused_with_the_field_named() {
    let ts = TestServer::start().await;
    let crds = Api::<CustomResourceDefinition>::all(ts.client().await);
    let mut bad = serde_json::to_value(crontab_definition()).unwrap();
    bad["metadata"]["name"] = json!("crontab.stable.example.com");
    let refused = status(crds.create(&PostParams::default(), &serde_json::from_value(bad).unwrap()).await);
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        refused.message,
        "CustomResourceDefinition.apiextensions.k8s.io \"crontab.stable.example.com\" is invalid: metadata.name: Invalid value: \"crontab.stable.example.com\": must be spec.names.plural+\".\"+spec.group"
    );
    let mut schemaless = serde_json::to_value(crontab_definition()).unwrap();
    schemaless["spec"]["versions"][0]["schema"] = json!(null);
    let refused =
        status(crds.create(&PostParams::default(), &serde_json::from_value(schemaless).unwrap()).await);
    assert!(
        refused
            .message
            .ends_with("spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn a_resource_of_several_versions_answers_in_the_version_asked() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let mut def = serde_json::to_value(crontab_definition()).unwrap();
    let mut beta = def["spec"]["versions"][0].clone();
    beta["name"] = json!("v1beta1");
    beta["storage"] = json!(false);
    def["spec"]["versions"].as_array_mut().unwrap().push(beta);
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(def).unwrap())
        .await
        .expect("create");
    let v1 = crontabs(client.clone());
    v1.create(&PostParams::default(), &crontab("a", json!({"cronSpec": "* * * * *"}))).await.expect("create");
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("stable.example.com", "v1beta1", "CronTab"),
        "crontabs",
    );
    let beta = Api::<DynamicObject>::namespaced_with(client.clone(), "default", &resource);
    let got = beta.get("a").await.expect("served in v1beta1");
    assert_eq!(got.types.unwrap().api_version, "stable.example.com/v1beta1");
    let listed = beta.list(&ListParams::default()).await.expect("list");
    assert_eq!(listed.items[0].types.as_ref().unwrap().api_version, "stable.example.com/v1beta1");
    let groups: Value = serde_json::from_str(
        &client
            .request_text(http::Request::get("/apis/stable.example.com").body(Vec::new()).unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(groups["preferredVersion"]["version"], "v1", "GA is preferred over beta");
    assert_eq!(groups["versions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_custom_resource_scales_where_its_definition_points() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let mut def = serde_json::to_value(crontab_definition()).unwrap();
    def["spec"]["versions"][0]["subresources"]["scale"] = json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.ready", "labelSelectorPath": ".status.selector"});
    def["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["selector"] =
        json!({"type": "string"});
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(def).unwrap())
        .await
        .expect("create");
    let api = crontabs(client);
    api.create(&PostParams::default(), &crontab("a", json!({"cronSpec": "* * * * *", "replicas": 2})))
        .await
        .expect("create");
    api.patch_status(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"ready": 1, "selector": "app=a"}})),
    )
    .await
    .expect("status");
    let scale = api.get_scale("a").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    let scale_status = scale.status.expect("status");
    assert_eq!((scale_status.replicas, scale_status.selector.as_deref()), (1, Some("app=a")));
    api.patch_scale("a", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 5}})))
        .await
        .expect("patch scale");
    assert_eq!(api.get("a").await.expect("get").data["spec"]["replicas"], 5);
}
