//! The loopback transport the control plane's own components use: the same handlers as HTTPS,
//! as upstream's loopback user, and an identity no remote client can claim.

mod common;

use common::TestServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

async fn whoami(client: &kube::Client) -> Value {
    let body = serde_json::to_vec(&json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"
    }))
    .unwrap();
    let request = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap();
    client.request::<Value>(request).await.expect("a SelfSubjectReview")
}

#[tokio::test]
async fn the_loopback_is_served_by_the_same_handlers_as_the_loopback_user() {
    let ts = TestServer::start().await;
    let loopback = kube::Client::new(ts.server.loopback(), "default");

    let review = whoami(&loopback).await;
    assert_eq!(review["status"]["userInfo"]["username"], "system:apiserver");
    let groups = review["status"]["userInfo"]["groups"].as_array().unwrap();
    assert!(groups.contains(&json!("system:masters")), "{groups:?}");

    // A write through the loopback is the server's: an HTTPS client sees it, and a watch over
    // the loopback sees what HTTPS writes.
    let local: Api<ConfigMap> = Api::namespaced(loopback.clone(), "default");
    let remote: Api<ConfigMap> = Api::namespaced(ts.client().await, "default");
    let mut cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "by-loopback"}})).unwrap();
    let created = local.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(remote.get("by-loopback").await.unwrap().metadata.uid, created.metadata.uid);
    let watch = local
        .watch(
            &WatchParams::default().fields("metadata.name=by-https"),
            &created.metadata.resource_version.unwrap(),
        )
        .await
        .unwrap();
    cm.metadata.name = Some("by-https".into());
    remote.create(&PostParams::default(), &cm).await.unwrap();
    let mut watch = watch.boxed();
    match watch.try_next().await.unwrap() {
        Some(WatchEvent::Added(seen)) => assert_eq!(seen.metadata.name.as_deref(), Some("by-https")),
        other => panic!("expected the HTTPS create, got {other:?}"),
    }

    // Over HTTPS without credentials, a client is anonymous: the loopback's identity travels in
    // the request's extensions, which no remote request carries.
    let anonymous = ts.client_with_token(None).await;
    let listed = Api::<ConfigMap>::namespaced(anonymous, "default").list(&Default::default()).await;
    match listed {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("an anonymous list was not refused: {other:?}"),
    }
}

/// A component on a runtime of its own writes through the loopback: the write's blocking work
/// (a body over the inline limit waits for the writer on a blocking thread) runs in the
/// server's pool, not the component's. The component's runtime here has one blocking thread,
/// held for the whole test, so a write that used it could never finish.
#[tokio::test]
async fn a_loopback_write_hands_its_blocking_work_to_the_servers_pool() {
    let ts = TestServer::start().await;
    let loopback = ts.server.loopback();
    let component = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    component.spawn_blocking(move || held.recv());
    let written = component.spawn(async move {
        let client = kube::Client::new(loopback, "default");
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        // 64 KiB of data: over the 16 KiB a write may be decided inline.
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "large"},
            "data": {"blob": "x".repeat(64 * 1024)}
        }))
        .unwrap();
        api.create(&PostParams::default(), &cm).await.map(|c| c.metadata.uid)
    });
    let uid = tokio::time::timeout(std::time::Duration::from_secs(20), written)
        .await
        .expect("the write finished although the component's blocking pool is held")
        .unwrap()
        .unwrap();
    assert!(uid.is_some());
    release.send(()).unwrap();
    component.shutdown_background();
}

/// A component's loopback carries its User-Agent, which names its writes' field manager as
/// upstream's components are named (`kube-scheduler`, `kubelet`, …); a request's own header
/// wins.
#[tokio::test]
async fn a_loopback_component_is_its_writes_field_manager() {
    let ts = TestServer::start().await;
    let agent = "kube-scheduler/v1.33.0 (linux/amd64) kubernetes/everynode";
    let client = kube::Client::new(ts.server.loopback().with_user_agent(agent), "default");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "by-scheduler"}, "data": {"a": "1"}})).unwrap();
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let managers: Vec<String> =
        created.metadata.managed_fields.unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert_eq!(managers, ["kube-scheduler"]);

    let body = serde_json::to_vec(&json!({"metadata": {"name": "by-hand"}, "data": {"a": "1"}})).unwrap();
    let request = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("Content-Type", "application/json")
        .header("User-Agent", "by-hand/1.0")
        .body(body)
        .unwrap();
    let created: Value = client.request(request).await.unwrap();
    assert_eq!(created["metadata"]["managedFields"][0]["manager"], "by-hand");
}
