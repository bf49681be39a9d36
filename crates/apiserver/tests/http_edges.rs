//! Requests a fuzzer found answered unlike upstream's API server, each as upstream (or, where
//! upstream itself errs, as its maintainers intend): duplicate JSON keys, an early refusal of a
//! request whose large body is still coming, resourceVersion parameters, a negative watch
//! timeout, percent-encoded paths and a huge bad name.

mod common;

use std::time::Duration;

use common::{TestServer, status};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

fn request(method: &str, path: &str, body: Vec<u8>) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap()
}

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).unwrap()
}

async fn configmap(c: &kube::Client, name: &str, value: &str) -> ConfigMap {
    let cm: ConfigMap = common::from_json(json!({"metadata": {"name": name}, "data": {"value": value}}));
    Api::<ConfigMap>::namespaced(c.clone(), "default").create(&PostParams::default(), &cm).await.unwrap()
}

#[tokio::test]
async fn duplicate_json_keys_are_refused_under_strict_and_the_last_kept_otherwise() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let body = br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"},
        "data": {"a": "1", "a": "2"}}"#
        .to_vec();
    let s = status(
        c.request::<Value>(request("POST", &format!("{CONFIGMAPS}?fieldValidation=Strict"), body.clone()))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"), "{s:?}");
    assert_eq!(
        s.message,
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"data.a\""
    );
    let made: Value = c.request(request("POST", CONFIGMAPS, body.clone())).await.unwrap();
    assert_eq!(made["data"], json!({"a": "2"}), "Warn (the default) keeps the last");
    let ignored: Value = c
        .request(request(
            "PUT",
            &format!("{CONFIGMAPS}/twice?fieldValidation=Ignore"),
            br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"}, "data": {"b": "1", "b": "3"}}"#.to_vec(),
        ))
        .await
        .unwrap();
    assert_eq!(ignored["data"], json!({"b": "3"}));
}

/// Sends `request` whole over a fresh HTTP/1.1 connection before reading anything, as simple
/// clients and scripts do, and returns the first bytes of the answer.
async fn send_then_read(ts: &TestServer, request: &[u8]) -> std::io::Result<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ts.server.credentials.ca_pem.as_bytes()).unwrap()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(ts.server.addr).await?;
    let name = ServerName::IpAddress(ts.server.addr.ip().into());
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(request).await?;
    tls.flush().await?;
    let mut answer = vec![0; 4096];
    let n = tls.read(&mut answer).await?;
    answer.truncate(n);
    Ok(answer)
}

/// A request refused for its query while its 2.5 MB body is still coming gets its answer,
/// every time, instead of a reset connection that loses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_before_its_body_is_read_still_gets_its_answer() {
    let ts = TestServer::start().await;
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"blob": "x".repeat(2_500_000)}});
    let body = serde_json::to_vec(&big).unwrap();
    let mut request = format!(
        "POST {CONFIGMAPS}?fieldValidation=Bogus HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        ts.server.addr,
        ts.server.credentials.token,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    for attempt in 0..5 {
        let answer = send_then_read(&ts, &request).await;
        let answer = String::from_utf8_lossy(answer.as_deref().unwrap_or_default()).to_string();
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "attempt {attempt}: {answer:?}");
        assert!(answer.contains("fieldValidation parameter unsupported: Bogus"), "{answer}");
    }
}

#[tokio::test]
async fn a_resource_version_that_is_not_a_number_is_a_bad_request_everywhere() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    configmap(&c, "one", "1").await;
    for path in [
        format!("{CONFIGMAPS}/one?resourceVersion=abc"),
        format!("{CONFIGMAPS}?resourceVersion=abc"),
        format!("{CONFIGMAPS}?watch=true&resourceVersion=abc"),
        format!("{CONFIGMAPS}?resourceVersion=-1"),
    ] {
        let s = status(c.request::<Value>(get(&path)).await);
        assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"), "{path}: {s:?}");
        assert!(s.message.starts_with("resourceVersion: Invalid value: "), "{path}: {s:?}");
    }
}

#[tokio::test]
async fn a_list_exactly_at_an_older_resource_version_shows_that_moment() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    configmap(&c, "kept", "old").await;
    configmap(&c, "gone", "here").await;
    let then: Value = c.request(get(CONFIGMAPS)).await.unwrap();
    let rv = then["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    // Afterwards: one changed, one deleted, one added.
    let api = Api::<ConfigMap>::namespaced(c.clone(), "default");
    let mut kept = api.get("kept").await.unwrap();
    kept.data = Some([("value".to_string(), "new".to_string())].into());
    api.replace("kept", &PostParams::default(), &kept).await.unwrap();
    api.delete("gone", &Default::default()).await.unwrap();
    configmap(&c, "later", "x").await;

    let exact: Value = c
        .request(get(&format!("{CONFIGMAPS}?resourceVersion={rv}&resourceVersionMatch=Exact")))
        .await
        .unwrap();
    assert_eq!(exact["metadata"]["resourceVersion"], rv.as_str());
    assert_eq!(exact["items"], then["items"], "the list as it was at {rv}");
    // A first page with a limit is exact too, as upstream serves it.
    let page: Value = c.request(get(&format!("{CONFIGMAPS}?resourceVersion={rv}&limit=1"))).await.unwrap();
    assert_eq!(page["items"][0]["data"]["value"], "here", "{page}");
    let now: Value = c
        .request(get(&format!("{CONFIGMAPS}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan")))
        .await
        .unwrap();
    let names: Vec<&str> = now["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .filter(|n| *n != "kube-root-ca.crt")
        .collect();
    assert_eq!(names, ["kept", "later"]);

    // Upstream's ListOptions validation.
    for (query, message) in [
        (
            "resourceVersionMatch=Exact",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact",
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        ),
        (
            "resourceVersion=1&resourceVersionMatch=Newest",
            "resourceVersionMatch: Unsupported value: \"Newest\"",
        ),
        (
            "watch=true&resourceVersion=1&resourceVersionMatch=Exact",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch",
        ),
    ] {
        let s = status(c.request::<Value>(get(&format!("{CONFIGMAPS}?{query}"))).await);
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{query}: {s:?}");
        assert!(s.message.starts_with("ListOptions.meta.k8s.io \"\" is invalid: "), "{s:?}");
        assert!(s.message.contains(message), "{query}: {s:?}");
    }
    // kube-rs retries a 504 with backoff by default; this client asks once.
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&ts.server.kubeconfig()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    config.default_retry = false;
    let once = kube::Client::try_from(config).unwrap();
    let s = status(
        once.request::<Value>(get(&format!(
            "{CONFIGMAPS}?resourceVersion=99999999&resourceVersionMatch=Exact"
        )))
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (504, "Timeout"), "{s:?}");
    assert!(s.message.starts_with("Timeout: Too large resource version: 99999999, current: "), "{s:?}");
}

#[tokio::test]
async fn a_watch_with_a_negative_timeout_ends_at_once() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    // From now: the current objects as ADDED events, then the end at once (the timer has
    // passed already) instead of 30 to 60 minutes later.
    let watch = c.request_text(get(&format!("{CONFIGMAPS}?watch=true&timeoutSeconds=-1")));
    let body = tokio::time::timeout(Duration::from_secs(10), watch).await.expect("the watch ended").unwrap();
    assert!(body.lines().all(|l| l.starts_with(r#"{"type":"ADDED""#)), "{body}");
}

#[tokio::test]
async fn percent_encoded_path_segments_are_decoded() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    configmap(&c, "my-cm", "1").await;
    let got: Value = c.request(get(&format!("{CONFIGMAPS}/my%2Dcm"))).await.unwrap();
    assert_eq!(got["metadata"]["name"], "my-cm");
    let got: Value = c.request(get("/api/v1/namespaces/%64efault/configmaps/my-cm")).await.unwrap();
    assert_eq!(got["metadata"]["name"], "my-cm");
}

#[tokio::test]
async fn a_huge_bad_name_is_not_repeated_into_a_huge_answer() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let name = "a".repeat(1 << 20);
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    let s = status(c.request::<Value>(request("POST", CONFIGMAPS, serde_json::to_vec(&body).unwrap())).await);
    let answer = serde_json::to_string(&s).unwrap();
    assert!(answer.len() < 16 * 1024, "a {} byte answer", answer.len());
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(s.message.contains("metadata.name: Invalid value: \"aaaa"), "{}", &s.message[..200]);
    assert!(s.message.ends_with("...(truncated, 1048576 bytes)\": must be no more than 253 characters"));
}

/// Found by the json_patch fuzzer: a JSON patch whose last operation fails after a `move`
/// made the json-patch crate's own undo panic, dropping the request. It is a 422 now, and the
/// object is unchanged.
#[tokio::test]
async fn a_json_patch_that_fails_halfway_is_refused_and_changes_nothing() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let cm: ConfigMap = common::from_json(json!({"metadata": {"name": "cm", "finalizers": ["x", "y"]}}));
    let api = Api::<ConfigMap>::namespaced(c.clone(), "default");
    let before = api.create(&PostParams::default(), &cm).await.unwrap();
    let operations = json!([
        {"op": "add", "path": "/a+-", "value": 3},
        {"op": "move", "from": "/metadata/finalizers/1", "path": "/:b.b"},
        {"op": "move", "from": "/metadata/finalizers/0", "path": "/b/b"}]);
    let patch = http::Request::patch(format!("{CONFIGMAPS}/cm"))
        .header("Content-Type", "application/json-patch+json")
        .body(serde_json::to_vec(&operations).unwrap())
        .unwrap();
    let s = status(c.request::<Value>(patch).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert!(s.message.contains("the patch does not apply"), "{s:?}");
    let after = api.get("cm").await.unwrap();
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version);
    assert_eq!(after.metadata.finalizers, Some(vec!["x".to_string(), "y".to_string()]));
}
