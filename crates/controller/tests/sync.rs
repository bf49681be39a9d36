//! The controller's real sync (`controller::sync::sync_daemonset`, what `everynode up` and
//! `everynode controller` run) against the API server in-process, through a client whose
//! requests pass a recording layer that can also spoil them: upstream's
//! TestStoreDaemonSetStatus and TestSimpleDaemonSetUpdatesStatusError, and `syncNodes`' order
//! (creates before deletes).

use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use controller::Controller;
use controller::cache::{self, Router};
use controller::sync::sync_daemonset;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// What passed between the controller and the server.
#[derive(Default)]
struct Wire {
    /// Each request as `METHOD path`.
    log: Vec<String>,
    /// How many status writes to spoil still.
    spoil_status_writes: usize,
    /// Whether DaemonSet watches get no answer (the cache keeps what its list saw).
    hold_daemonset_watches: bool,
}

impl Wire {
    fn count(&self, prefix: &str) -> usize {
        self.log.iter().filter(|l| l.starts_with(prefix)).count()
    }

    fn first(&self, prefix: &str) -> Option<usize> {
        self.log.iter().position(|l| l.starts_with(prefix))
    }
}

#[derive(Clone)]
struct Recording(Arc<Mutex<Wire>>);

impl<S> tower::Layer<S> for Recording {
    type Service = Recorded<S>;
    fn layer(&self, inner: S) -> Recorded<S> {
        Recorded { inner, wire: self.0.clone() }
    }
}

#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    wire: Arc<Mutex<Wire>>,
}

impl<S> tower::Service<http::Request<kube::client::Body>> for Recorded<S>
where
    S: tower::Service<http::Request<kube::client::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<kube::client::Body>) -> Self::Future {
        let mut wire = self.wire.lock().unwrap();
        let path = req.uri().path().to_string();
        wire.log.push(format!("{} {path}", req.method()));
        let watch = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "watch=true"));
        let held = wire.hold_daemonset_watches && watch && path.ends_with("/daemonsets");
        if req.method() == http::Method::PUT && path.ends_with("/status") && wire.spoil_status_writes > 0 {
            wire.spoil_status_writes -= 1;
            // A body the server cannot read: an error that is not a conflict.
            *req.body_mut() = kube::client::Body::from(b"{not json".to_vec());
        }
        drop(wire);
        let answer = self.inner.call(req);
        Box::pin(async move {
            if held {
                std::future::pending::<()>().await;
            }
            answer.await
        })
    }
}

struct Setup {
    _server: apiserver::RunningServer,
    _dir: tempfile::TempDir,
    /// The admin client, unrecorded.
    admin: kube::Client,
    controller: Arc<Controller>,
    wire: Arc<Mutex<Wire>>,
    /// The controller's watches, started when a test first waits for its cache.
    watches: Mutex<Option<(kube::Client, Router)>>,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut config = apiserver::ServerConfig::new(dir.path());
    config.port = 0;
    let server = apiserver::start(config).await.unwrap();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.unwrap();
    let admin = kube::Client::try_from(config.clone()).unwrap();
    let wire = Arc::new(Mutex::new(Wire::default()));
    let recorded =
        kube::client::ClientBuilder::try_from(config).unwrap().with_layer(&Recording(wire.clone())).build();
    let controller = Controller::new(recorded.clone());
    let router = Router {
        cache: controller.ctx.cache.clone(),
        queue: controller.queue.clone(),
        expectations: controller.ctx.expectations.clone(),
        metrics: controller.metrics.clone(),
    };
    // The watches run for the test's life; the workers do not: each test calls the sync.
    let watches = Mutex::new(Some((recorded, router)));
    Setup { _server: server, _dir: dir, admin, controller, wire, watches }
}

impl Setup {
    async fn node(&self, name: &str, labels: serde_json::Value) {
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        Api::<Node>::all(self.admin.clone()).create(&PostParams::default(), &node).await.unwrap();
    }

    async fn daemonset(&self, node_selector: serde_json::Value) -> DaemonSet {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"nodeSelector": node_selector, "containers": [{"name": "agent", "image": "app:1"}]},
                },
            },
        }))
        .unwrap();
        Api::<DaemonSet>::namespaced(self.admin.clone(), "default")
            .create(&PostParams::default(), &ds)
            .await
            .unwrap()
    }

    /// A pod with this metadata bound to `node`, running the DaemonSet's image.
    async fn pod(&self, metadata: serde_json::Value, node: &str) {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": metadata,
            "spec": {"nodeName": node, "containers": [{"name": "agent", "image": "app:1"}]},
        }))
        .unwrap();
        Api::<Pod>::namespaced(self.admin.clone(), "default")
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
    }

    /// Waits until the controller's cache has seen `what` (starting its watches the first time).
    async fn cached(&self, what: &str, check: impl Fn(&controller::cache::Cache) -> bool) {
        if let Some((client, router)) = self.watches.lock().unwrap().take() {
            cache::start(client, router, None);
        }
        let cache = &self.controller.ctx.cache;
        for _ in 0..200 {
            if cache.synced() && check(cache) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the cache never showed {what}");
    }

    async fn sync(&self) -> Result<(), controller::sync_error::SyncError> {
        self.wire.lock().unwrap().log.clear();
        sync_daemonset(&self.controller.ctx, "default/agent").await
    }

    async fn stored(&self) -> DaemonSet {
        Api::<DaemonSet>::namespaced(self.admin.clone(), "default").get("agent").await.unwrap()
    }
}

const STATUS_WRITE: &str = "PUT /apis/apps/v1/namespaces/default/daemonsets/agent/status";

/// A DaemonSet over one node, in the cache, its first sync still to come.
async fn one_node() -> Setup {
    let s = setup().await;
    s.node("node-1", json!({})).await;
    s.daemonset(json!({})).await;
    s.cached("the node and the DaemonSet", |c| {
        c.nodes().len() == 1 && c.daemonset("default", "agent").is_some()
    })
    .await;
    s
}

/// TestStoreDaemonSetStatus: a failed status write, of any kind, is retried once after a
/// fresh read; a second failure fails the sync (which the work queue then retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_status_write_is_retried_once_after_a_fresh_read() {
    for (spoiled, ok) in [(0, true), (1, true), (2, false)] {
        let s = one_node().await;
        s.wire.lock().unwrap().spoil_status_writes = spoiled;
        let outcome = s.sync().await;
        assert_eq!(outcome.is_ok(), ok, "{spoiled} spoiled: {outcome:?}");
        {
            let wire = s.wire.lock().unwrap();
            assert_eq!(wire.count(STATUS_WRITE), spoiled.min(1) + 1, "{spoiled} spoiled: {:?}", wire.log);
            if spoiled > 0 {
                // The retry writes onto a fresh read of the DaemonSet.
                let first = wire.first(STATUS_WRITE).unwrap();
                let get = "GET /apis/apps/v1/namespaces/default/daemonsets/agent";
                assert!(wire.log[first..].iter().any(|l| l == get), "{:?}", wire.log);
            }
        }
        let status = s.stored().await.status.unwrap_or_default();
        assert_eq!(status.desired_number_scheduled, if ok { 1 } else { 0 }, "{spoiled} spoiled");
        if !ok {
            let e = outcome.unwrap_err().to_string();
            assert!(e.contains("writing status"), "{e}");
        }
    }
}

/// TestSimpleDaemonSetUpdatesStatusError's point: the sync's own work is done before the
/// failing status write, which fails the sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pods_are_created_even_when_the_status_write_fails() {
    let s = one_node().await;
    s.wire.lock().unwrap().spoil_status_writes = 2;
    assert!(s.sync().await.is_err());
    let pods = Api::<Pod>::namespaced(s.admin.clone(), "default").list(&Default::default()).await.unwrap();
    assert_eq!(pods.items.len(), 1);
}

/// Upstream's `syncNodes` creates (in slow-start batches) before it deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_creates_before_it_deletes() {
    let s = setup().await;
    s.node("node-a", json!({})).await;
    s.node("node-b", json!({"role": "agent"})).await;
    let ds = s.daemonset(json!({"role": "agent"})).await;
    // A pod of the DaemonSet on node-a, where its node selector no longer lets it run.
    s.pod(
        json!({"name": "agent-old", "namespace": "default", "labels": {"app": "agent"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
            "uid": ds.metadata.uid, "controller": true, "blockOwnerDeletion": true}]}),
        "node-a",
    )
    .await;
    s.cached("both nodes, the DaemonSet and its pod", |c| {
        c.nodes().len() == 2
            && c.daemonset("default", "agent").is_some()
            && c.pod("default", "agent-old").is_some()
    })
    .await;
    s.sync().await.unwrap();
    let wire = s.wire.lock().unwrap();
    let create = wire.first("POST /api/v1/namespaces/default/pods").expect("a create");
    let delete = wire.first("DELETE /api/v1/namespaces/default/pods/agent-old").expect("a delete");
    assert!(create < delete, "creates first: {:?}", wire.log);
}

/// TestDontDoAnythingIfBeingDeletedRace: the cache still shows the DaemonSet alive (its watch
/// is held), the server has it being deleted, and an orphan pod matches it. The sync's live
/// re-check before adopting sees the deletion: no pod is created and the orphan is not adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemonset_the_server_is_deleting_is_left_alone_though_the_cache_lags() {
    let s = setup().await;
    s.wire.lock().unwrap().hold_daemonset_watches = true;
    s.node("node-1", json!({})).await;
    s.daemonset(json!({})).await;
    let daemonsets = Api::<DaemonSet>::namespaced(s.admin.clone(), "default");
    let hold = json!({"metadata": {"finalizers": ["example.com/hold"]}});
    daemonsets.patch("agent", &PatchParams::default(), &Patch::Merge(&hold)).await.unwrap();
    s.pod(json!({"name": "orphan", "namespace": "default", "labels": {"app": "agent"}}), "node-1").await;
    s.cached("the node, the DaemonSet and the orphan", |c| {
        c.nodes().len() == 1
            && c.daemonset("default", "agent").is_some()
            && c.pod("default", "orphan").is_some()
    })
    .await;
    daemonsets.delete("agent", &Default::default()).await.unwrap();
    assert!(daemonsets.get("agent").await.unwrap().metadata.deletion_timestamp.is_some());
    let cached = s.controller.ctx.cache.daemonset("default", "agent").unwrap();
    assert!(cached.metadata.deletion_timestamp.is_none(), "the cache lags");

    let outcome = s.sync().await;
    let wire = s.wire.lock().unwrap();
    assert_eq!(wire.count("POST /api/v1/namespaces/default/pods"), 0, "no pod created: {:?}", wire.log);
    assert_eq!(
        wire.count("PATCH /api/v1/namespaces/default/pods/orphan"),
        0,
        "the orphan is not adopted: {outcome:?}"
    );
    assert!(
        wire.log.iter().any(|l| l == "GET /apis/apps/v1/namespaces/default/daemonsets/agent"),
        "the live re-check: {:?}",
        wire.log
    );
}

/// TestControlledHistories: an orphan revision that matches the DaemonSet in its namespace is
/// adopted; one in another namespace is never looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_orphan_revisions_are_adopted_only_in_the_daemonsets_namespace() {
    let s = one_node().await;
    let other: Namespace = serde_json::from_value(json!({"metadata": {"name": "default-other"}})).unwrap();
    Api::<Namespace>::all(s.admin.clone()).create(&PostParams::default(), &other).await.unwrap();
    let revision = |namespace: &str, name: &str| -> ControllerRevision {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": namespace, "labels": {"app": "agent"}},
            "revision": 1, "data": {}}),
        )
        .unwrap()
    };
    for (namespace, name) in [("default", "agent-x2"), ("default-other", "agent-x3")] {
        Api::<ControllerRevision>::namespaced(s.admin.clone(), namespace)
            .create(&PostParams::default(), &revision(namespace, name))
            .await
            .unwrap();
    }
    s.cached("both revisions", |c| c.revisions_in("default").len() == 1).await;
    s.sync().await.unwrap();
    let owned = |namespace: &str, name: &str| {
        let api = Api::<ControllerRevision>::namespaced(s.admin.clone(), namespace);
        let name = name.to_string();
        async move { api.get(&name).await.unwrap().metadata.owner_references.unwrap_or_default() }
    };
    let adopted = owned("default", "agent-x2").await;
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].uid, s.stored().await.metadata.uid.unwrap());
    assert!(owned("default-other", "agent-x3").await.is_empty(), "another namespace is left alone");
    let wire = s.wire.lock().unwrap();
    assert_eq!(wire.count("PATCH /apis/apps/v1/namespaces/default-other"), 0, "{:?}", wire.log);
}
