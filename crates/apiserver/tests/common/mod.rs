//! An in-process API server on a free port in a temporary directory, and kube-rs clients for it.
#![allow(dead_code)]

use std::time::Duration;

use apiserver::{RunningServer, ServerConfig};

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(dir.path());
        config.port = 0;
        config.bookmark_interval = Duration::from_millis(500);
        configure(&mut config);
        let server = apiserver::start(config).await.expect("server starts");
        TestServer { server, dir }
    }

    pub async fn client(&self) -> kube::Client {
        client_for(&self.server.kubeconfig()).await
    }

    /// A client that presents `token` (or none) instead of the admin token.
    pub async fn client_with_token(&self, token: Option<&str>) -> kube::Client {
        let text = self.server.kubeconfig();
        let text = match token {
            Some(t) => text.replace(&self.server.credentials.token, t),
            None => text.replace(&format!("    token: {}\n", self.server.credentials.token), "    {}\n"),
        };
        client_for(&text).await
    }
}

pub async fn client_for(kubeconfig: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("kubeconfig loads");
    kube::Client::try_from(config).expect("client")
}

/// The `Status` of a failed call; panics when the call succeeded or failed otherwise.
pub fn status<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

/// Parses a JSON literal into a typed object.
pub fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("test object deserializes")
}

/// A minimal valid DaemonSet.
pub fn daemonset(name: &str, image: &str) -> k8s_openapi::api::apps::v1::DaemonSet {
    from_json(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image,
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80}]}]}
            }
        }
    }))
}

/// A minimal valid Pod, optionally bound to a node.
pub fn pod(name: &str, node: Option<&str>) -> k8s_openapi::api::core::v1::Pod {
    let mut v = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}
    });
    if let Some(n) = node {
        v["spec"]["nodeName"] = serde_json::json!(n);
    }
    from_json(v)
}
