//! Bad input gets upstream's Status and never changes what is stored; requests without the
//! admin token are refused.

mod common;

use common::{TestServer, daemonset, from_json, status};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::core::Status;
use serde_json::{Value, json};

/// Sends a raw request and returns the error Status.
async fn raw_error(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Status {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(body)
        .unwrap();
    status(client.request::<Value>(req).await)
}

/// Everything stored in the `default` namespace and the global resourceVersion.
async fn snapshot(client: &kube::Client) -> (String, Vec<String>) {
    let cms =
        Api::<ConfigMap>::namespaced(client.clone(), "default").list(&ListParams::default()).await.unwrap();
    let dss =
        Api::<DaemonSet>::namespaced(client.clone(), "default").list(&ListParams::default()).await.unwrap();
    let mut names: Vec<String> = cms.items.iter().map(|c| format!("cm/{:?}", c.metadata.name)).collect();
    names.extend(
        dss.items.iter().map(|d| format!("ds/{:?}/{:?}", d.metadata.name, d.metadata.resource_version)),
    );
    (dss.metadata.resource_version.unwrap_or_default(), names)
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    Api::<DaemonSet>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &daemonset("keep", "nginx"))
        .await
        .unwrap();
    let before = snapshot(&c).await;
    let path = "/apis/apps/v1/namespaces/default/daemonsets";

    let json =
        raw_error(&c, "POST", path, "application/json", b"{\"apiVersion\": \"apps/v1\", \"kind\": ".to_vec())
            .await;
    assert_eq!((json.code, json.reason.as_str()), (400, "BadRequest"), "{json:?}");
    let yaml =
        raw_error(&c, "POST", path, "application/yaml", b"kind: DaemonSet\n  bad: [indent\n".to_vec()).await;
    assert_eq!((yaml.code, yaml.reason.as_str()), (400, "BadRequest"), "{yaml:?}");
    let media = raw_error(&c, "POST", path, "text/plain", b"hello".to_vec()).await;
    assert_eq!((media.code, media.reason.as_str()), (415, "UnsupportedMediaType"), "{media:?}");
    let put = raw_error(&c, "PUT", &format!("{path}/keep"), "application/json", b"[1,2".to_vec()).await;
    assert_eq!(put.code, 400);

    let big = {
        let mut cm =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {}});
        cm["data"]["k"] = json!("x".repeat(4 * 1024 * 1024));
        serde_json::to_vec(&cm).unwrap()
    };
    let too_large =
        raw_error(&c, "POST", "/api/v1/namespaces/default/configmaps", "application/json", big).await;
    assert_eq!((too_large.code, too_large.reason.as_str()), (413, "RequestEntityTooLarge"), "{too_large:?}");

    assert_eq!(snapshot(&c).await, before, "nothing was stored");
}

#[tokio::test]
async fn unknown_fields_under_strict_validation() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let mut ds = serde_json::to_value(daemonset("strict", "nginx")).unwrap();
    ds["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = json!("Always");
    let body = serde_json::to_vec(&ds).unwrap();
    let path = "/apis/apps/v1/namespaces/default/daemonsets";
    let err =
        raw_error(&c, "POST", &format!("{path}?fieldValidation=Strict"), "application/json", body.clone())
            .await;
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    assert_eq!(
        err.message,
        "DaemonSet in version \"v1\" cannot be handled as a DaemonSet: strict decoding error: unknown field \"spec.template.spec.containers[0].imagePullPolice\""
    );
    assert!(Api::<DaemonSet>::namespaced(c.clone(), "default").get_opt("strict").await.unwrap().is_none());

    // Ignore accepts it and drops the field.
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("{path}?fieldValidation=Ignore"))
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap();
    let made: Value = c.request(req).await.unwrap();
    assert!(made["spec"]["template"]["spec"]["containers"][0].get("imagePullPolice").is_none());
}

fn invalid_ds(mutate: impl FnOnce(&mut Value)) -> DaemonSet {
    let mut v = serde_json::to_value(daemonset("bad", "nginx")).unwrap();
    mutate(&mut v);
    from_json(v)
}

#[tokio::test]
async fn invalid_daemonsets_are_refused_with_causes() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let dss = Api::<DaemonSet>::namespaced(c.clone(), "default");
    let before = snapshot(&c).await;

    let mismatch = status(
        dss.create(
            &PostParams::default(),
            &invalid_ds(|v| v["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"})),
        )
        .await,
    );
    assert_eq!((mismatch.code, mismatch.reason.as_str()), (422, "Invalid"));
    assert!(mismatch.message.starts_with("DaemonSet.apps \"bad\" is invalid: "), "{}", mismatch.message);
    assert!(
        mismatch.message.contains("spec.template.metadata.labels: Invalid value"),
        "{}",
        mismatch.message
    );
    assert!(mismatch.message.contains("`selector` does not match template `labels`"), "{}", mismatch.message);
    let causes = mismatch.details.as_ref().unwrap().causes.clone();
    assert!(causes.iter().any(|c| c.field == "spec.template.metadata.labels"), "{causes:?}");

    let zero = status(
        dss.create(
            &PostParams::default(),
            &invalid_ds(|v| {
                v["spec"]["updateStrategy"] =
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})
            }),
        )
        .await,
    );
    assert_eq!(zero.code, 422);
    assert!(
        zero.message.contains(
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
        ),
        "{}",
        zero.message
    );

    let empty = status(
        dss.create(
            &PostParams::default(),
            &invalid_ds(|v| v["spec"]["template"]["spec"]["containers"] = json!([])),
        )
        .await,
    );
    assert_eq!(empty.code, 422);
    assert!(empty.message.contains("spec.template.spec.containers: Required value"), "{}", empty.message);
    assert!(empty.details.unwrap().causes.iter().any(|c| c.reason == "FieldValueRequired"));

    assert_eq!(snapshot(&c).await, before, "nothing was stored");
}

#[tokio::test]
async fn malformed_label_selector() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let err = status(
        Api::<ConfigMap>::namespaced(c, "default").list(&ListParams::default().labels("a in (b")).await,
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let nf = status(
        c.request::<Value>(http::Request::get("/apis/nope/v1/things").body(Vec::new()).unwrap()).await,
    );
    assert_eq!(nf.code, 404);
    let nope = status(
        c.request::<Value>(
            http::Request::get("/api/v1/namespaces/default/configmaps/missing").body(Vec::new()).unwrap(),
        )
        .await,
    );
    assert_eq!((nope.code, nope.reason.as_str()), (404, "NotFound"));
    assert_eq!(nope.message, "configmaps \"missing\" not found");
    let method =
        raw_error(&c, "POST", "/api/v1/namespaces/default/configmaps/x", "application/json", b"{}".to_vec())
            .await;
    assert_eq!((method.code, method.reason.as_str()), (405, "MethodNotAllowed"));
}

#[tokio::test]
async fn requests_need_a_credential() {
    let ts = TestServer::start().await;
    // Without one, a request is anonymous, which the default policy lets read only health and
    // version; a token that stands for no one is refused outright.
    let anonymous = ts.client_with_token(None).await;
    let err =
        status(Api::<ConfigMap>::namespaced(anonymous.clone(), "default").list(&ListParams::default()).await);
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        err.message,
        r#"configmaps is forbidden: User "system:anonymous" cannot list resource "configmaps" in API group "" in the namespace "default""#
    );
    let discovery =
        status(anonymous.request::<Value>(http::Request::get("/api").body(Vec::new()).unwrap()).await);
    assert_eq!(discovery.message, r#"forbidden: User "system:anonymous" cannot get path "/api""#);
    let wrong = ts.client_with_token(Some("wrong-token")).await;
    let err =
        status(Api::<ConfigMap>::namespaced(wrong.clone(), "default").list(&ListParams::default()).await);
    assert_eq!((err.code, err.reason.as_str()), (401, "Unauthorized"));
    for client in [anonymous, wrong] {
        // Health and version stay open, as upstream's do for anonymous users.
        assert!(client.apiserver_version().await.is_ok());
    }
    let ok = ts.client().await;
    assert!(Api::<ConfigMap>::namespaced(ok, "default").list(&ListParams::default()).await.is_ok());
}

/// Updates are validated for every kind: an immutable ConfigMap keeps its data, and a pod's
/// status cannot carry an address that is not one.
#[tokio::test]
async fn updates_are_validated_for_every_kind() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Patch, PatchParams};
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let cms = Api::<ConfigMap>::namespaced(c.clone(), "default");
    let cm: ConfigMap =
        from_json(json!({"metadata": {"name": "frozen"}, "immutable": true, "data": {"a": "1"}}));
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let change = Patch::Merge(json!({"data": {"a": "2"}}));
    let s = status(cms.patch("frozen", &PatchParams::default(), &change).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert_eq!(
        s.message,
        "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    assert_eq!(cms.get("frozen").await.unwrap().data.unwrap()["a"], "1");

    let pods = Api::<Pod>::namespaced(c.clone(), "default");
    let pod: Pod =
        from_json(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}));
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let bad = Patch::Merge(json!({"status": {"podIPs": [{"ip": "not-an-ip"}]}}));
    let s = status(pods.patch_status("p", &PatchParams::default(), &bad).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert!(
        s.message.contains("status.podIPs[0].ip: Invalid value: \"not-an-ip\": must be a valid IP address"),
        "{}",
        s.message
    );
}
