//! Starting and stopping the API server: storage, credentials, the HTTPS listener, seed
//! objects, and the background sweep that finishes namespace and definition deletions.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::authentication::Authenticator;
use crate::handlers::{self, ApiState};
use crate::kinds;
use crate::openapi::OpenApi;
use crate::pki::{self, Credentials};
use crate::registry::Registry;
use crate::resources::{self, ResourceType};
use crate::service_account_token::TokenSigner;
use crate::service_network;
use crate::storage::{self, Store};

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub bind: IpAddr,
    /// `0` picks a free port.
    pub port: u16,
    /// Events kept for watch resumption.
    pub watch_history: usize,
    pub bookmark_interval: Duration,
    /// How long an Event is kept after its last write (upstream's `--event-ttl`).
    pub event_ttl: Duration,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 6443,
            watch_history: storage::DEFAULT_HISTORY,
            bookmark_interval: Duration::from_secs(60),
            event_ttl: Duration::from_secs(3600),
        }
    }
}

/// A running server.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT` (loopback when bound to all addresses).
    pub url: String,
    pub credentials: Credentials,
    state: Arc<ApiState>,
    router: axum::Router,
    /// The runtime the server started on, whose blocking pool serves its writes.
    runtime: tokio::runtime::Handle,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningServer {
    /// The kubeconfig that reaches this server as admin.
    pub fn kubeconfig(&self) -> String {
        pki::kubeconfig(&self.url, &self.credentials)
    }

    /// The in-process transport of the control plane's own components: requests served by
    /// this server's handlers without a connection, as `system:apiserver`.
    pub fn loopback(&self) -> crate::LoopbackService {
        crate::LoopbackService {
            router: self.router.clone(),
            runtime: self.runtime.clone(),
            user_agent: None,
        }
    }

    /// Creates the Nodes among `nodes` that do not exist yet (a new cluster's nodes, staged and
    /// committed together).
    pub async fn ensure_nodes(&self, nodes: Vec<Value>) -> Result<(), StartError> {
        let node_rt = resources::builtin("", "v1", "nodes");
        let seeds: Vec<(&'static ResourceType, Value)> = nodes.into_iter().map(|n| (node_rt, n)).collect();
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.registry.ensure_exist(seeds, jiff::Timestamp::now()))
            .await
            .map_err(|e| StartError::Seed(e.to_string()))?
            .map_err(|e| StartError::Seed(format!("creating the nodes: {e}")))
    }

    /// Serves `router` for every path under `prefix` (which ends with `/`; the prefix without
    /// its slash too), before authentication: the router authenticates its own requests.
    pub fn mount(&self, prefix: &str, router: axum::Router) {
        self.state.mounts.write().unwrap_or_else(|e| e.into_inner()).push((prefix.to_string(), router));
    }

    /// Stops accepting connections, ends open ones and the background work.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

fn rt(group: &str, plural: &str) -> &'static ResourceType {
    resources::builtin(group, "v1", plural)
}

/// What a new cluster has: its namespaces, each with the `default` ServiceAccount and the
/// `kube-root-ca.crt` ConfigMap the controllers keep in every namespace (present before any
/// pod is admitted), the `kubernetes` Service on the first cluster IP (its target the API
/// server's port when the cluster was made), and the built-in priority classes.
fn seed_objects(ca_pem: &str, port: u16) -> Vec<(&'static ResourceType, Value)> {
    let mut objs: Vec<(&'static ResourceType, Value)> = Vec::new();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        objs.push((
            rt("", "namespaces"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        ));
        objs.push((
            rt("", "serviceaccounts"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
        ));
        objs.push((
            rt("", "configmaps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "kube-root-ca.crt", "namespace": ns,
                                "annotations": {"kubernetes.io/description": apimachinery::core::ROOT_CA_DESCRIPTION}},
                   "data": {"ca.crt": ca_pem}}),
        ));
    }
    objs.push((
        rt("", "services"),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "kubernetes", "namespace": "default",
                            "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"type": "ClusterIP", "clusterIP": service_network::API_SERVICE_IP.to_string(),
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}}),
    ));
    for (plural, obj) in crate::authorization::bootstrap_policy::objects() {
        objs.push((rt("rbac.authorization.k8s.io", plural), obj));
    }
    for (name, message) in kinds::componentstatus::COMPONENTS {
        objs.push((rt("", "componentstatuses"), kinds::componentstatus::healthy(name, message)));
    }
    for (name, value, description) in [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        objs.push((
            rt("scheduling.k8s.io", "priorityclasses"),
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                   "value": value, "description": description, "preemptionPolicy": "PreemptLowerPriority"}),
        ));
    }
    objs
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("opening {}: {source}", path.display())]
    Store {
        path: std::path::PathBuf,
        #[source]
        source: storage::StorageError,
    },
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error("loading the service account key: {0}")]
    Key(String),
    #[error("{0}")]
    Seed(String),
}

/// Opens the store in `config.data_dir`, seeds a new cluster, and serves HTTPS.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let io = |what: String| move |source| StartError::Io { what, source };
    std::fs::create_dir_all(&config.data_dir)
        .map_err(io(format!("creating data directory {}", config.data_dir.display())))?;
    let store_path = config.data_dir.join("store.redb");
    let store = Arc::new(
        Store::open(&store_path, config.watch_history)
            .map_err(|source| StartError::Store { path: store_path.clone(), source })?,
    );
    let registry = Registry::new(store);
    let credentials = pki::ensure_credentials(&config.data_dir, &[config.bind])?;
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(pki::server_config(&credentials)?));
    let listener = TcpListener::bind((config.bind, config.port))
        .await
        .map_err(io(format!("binding {}:{}", config.bind, config.port)))?;
    let addr = listener.local_addr().map_err(io("reading the bound address".into()))?;
    let now = jiff::Timestamp::now();
    let seeds = seed_objects(&credentials.ca_pem, addr.port());
    let registry = tokio::task::spawn_blocking(move || registry.ensure_exist(seeds, now).map(|()| registry))
        .await
        .map_err(|e| StartError::Seed(e.to_string()))?
        .map_err(|e| StartError::Seed(format!("seeding the cluster: {e}")))?;
    let host = if config.bind.is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { config.bind };
    let url = format!("https://{}", SocketAddr::new(host, addr.port()));
    let state = Arc::new(ApiState {
        registry,
        openapi: OpenApi::default(),
        authenticator: Authenticator::new(
            credentials.token.clone(),
            TokenSigner::from_pkcs8(&credentials.service_account_key)
                .map_err(|e| StartError::Key(e.to_string()))?,
        ),
        authorizer: Default::default(),
        server_address: SocketAddr::new(host, addr.port()).to_string(),
        bookmark_interval: config.bookmark_interval,
        mounts: Default::default(),
    });
    let router = axum::Router::new()
        .fallback(handlers::handle)
        .layer(axum::middleware::from_fn(crate::unread_body::drain_unread_body))
        .with_state(state.clone());

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(accept_loop(listener, tls, router.clone(), shutdown_rx.clone()));
    tasks.spawn(sweep_loop(state.clone(), shutdown_rx.clone()));
    tasks.spawn(expire_events_loop(state.clone(), config.event_ttl, shutdown_rx));
    Ok(RunningServer {
        addr,
        url,
        credentials,
        state,
        router,
        runtime: tokio::runtime::Handle::current(),
        shutdown,
        tasks,
    })
}

/// Go's `http.DefaultMaxHeaderBytes`.
const MAX_HEADER_BYTES: usize = 1 << 20;

async fn accept_loop(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (tls, router) = (tls.clone(), router.clone());
                connections.spawn(async move {
                    let Ok(stream) = tls.accept(stream).await else { return };
                    let service = TowerToHyperService::new(router);
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    // Request headers up to Go's `DefaultMaxHeaderBytes` (1 MiB), as upstream
                    // takes them: a long label selector in the URL is fine over either protocol.
                    builder.http1().max_buf_size(MAX_HEADER_BYTES + 64 * 1024);
                    builder.http2().max_header_list_size(MAX_HEADER_BYTES as u32);
                    let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    connections.abort_all();
}

/// Finishes graceful pod deletions whose time has come and tears down terminating
/// namespaces, once a second.
/// Deletes expired Events: at a tenth of their time to live, at most once a minute.
async fn expire_events_loop(state: Arc<ApiState>, ttl: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick =
        tokio::time::interval((ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let Ok(ttl) = jiff::SignedDuration::try_from(ttl) else { return };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let state = state.clone();
                let expired =
                    tokio::task::spawn_blocking(move || state.registry.expire_events(ttl, jiff::Timestamp::now())).await;
                if let Ok(Err(e)) = expired {
                    tracing::warn!(error = %e, "expiring events failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

async fn sweep_loop(state: Arc<ApiState>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let state = state.clone();
                let swept = tokio::task::spawn_blocking(move || state.registry.sweep()).await;
                if let Ok(Err(e)) = swept {
                    tracing::warn!(error = %e, "sweeping terminating namespaces and definitions failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}
