//! The DaemonSet controller: drives `crates/daemonset` against any Kubernetes API server with
//! kube-rs, on the `client` crate's machinery — watch-fed caches, a work queue keyed by DaemonSet,
//! expectations, events, leader election on a Lease, and Prometheus metrics.
//!
//! It runs in-process in `everynode up` and standalone as `everynode controller` against a
//! real cluster whose own DaemonSet controller is switched off.

pub mod cache;
pub mod expectations;
mod metrics;
pub mod sync;
pub mod sync_error;
pub mod verdict;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;

pub use client::LeaderElection;
use client::informer::Informers;

use crate::cache::{Cache, Router};
use crate::expectations::Expectations;
use crate::metrics::Metrics;
use client::queue::WorkQueue;

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("serving metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("leadership lost")]
    LeadershipLost,
}

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// Concurrent syncs (upstream `--concurrent-daemonset-syncs`, default 2).
    pub workers: usize,
    /// Run only while holding this lease.
    pub leader_election: Option<LeaderElection>,
    /// Serve `/metrics` and `/healthz` here.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions { workers: 2, leader_election: None, metrics_addr: None }
    }
}

/// A running controller's shared state.
pub struct Controller {
    pub ctx: Arc<sync::Context>,
    pub metrics: Arc<Metrics>,
    pub queue: WorkQueue,
    leader: std::sync::atomic::AtomicBool,
    /// The node and pod informers of the process the controller runs in, if it shares them.
    shared: Option<Arc<Informers>>,
}

impl Controller {
    /// A controller that watches everything it reads itself.
    pub fn new(client: Client) -> Arc<Self> {
        Controller::build(client, None)
    }

    /// A controller that reads nodes and pods from `informers`, which the process's other
    /// components share (in `everynode up`), so that each node and pod is decoded and held once.
    pub fn sharing(client: Client, informers: Arc<Informers>) -> Arc<Self> {
        Controller::build(client, Some(informers))
    }

    fn build(client: Client, shared: Option<Arc<Informers>>) -> Arc<Self> {
        let cache = Arc::new(Cache::default());
        let queue = WorkQueue::new();
        let expectations = Arc::new(Expectations::default());
        let metrics = Arc::new(Metrics::default());
        let ctx = Arc::new(sync::Context::new(client, cache, queue.clone(), expectations, metrics.clone()));
        Arc::new(Controller { ctx, metrics, queue, leader: Default::default(), shared })
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn render_metrics(&self) -> String {
        self.metrics.render(self.queue.len(), self.is_leader())
    }

    /// Runs until leadership is lost (with leader election) or forever.
    pub async fn run(self: Arc<Self>, options: ControllerOptions) -> Result<(), RunError> {
        if let Some(addr) = options.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Metrics { addr, source })?;
            tracing::info!(%addr, "serving /metrics and /healthz");
            tokio::spawn(serve_metrics(listener, self.clone()));
        }
        let client = self.ctx.client.clone();
        if let Some(election) = &options.leader_election {
            election.acquire(&client).await;
        }
        self.leader.store(true, std::sync::atomic::Ordering::Relaxed);
        let router = Router {
            cache: self.ctx.cache.clone(),
            queue: self.queue.clone(),
            expectations: self.ctx.expectations.clone(),
            metrics: self.metrics.clone(),
        };
        let watches = cache::start(client.clone(), router, self.shared.as_deref());
        while !self.ctx.cache.synced() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!("caches synced; DaemonSet controller running");
        let mut workers = Vec::new();
        for _ in 0..options.workers.max(1) {
            workers.push(tokio::spawn(worker(self.ctx.clone())));
        }
        let gc = tokio::spawn(backoff_gc(self.ctx.clone()));
        match &options.leader_election {
            Some(election) => election.hold(&client).await,
            None => futures::future::pending::<()>().await,
        }
        self.leader.store(false, std::sync::atomic::Ordering::Relaxed);
        self.queue.shut_down();
        for task in watches.into_iter().chain(workers).chain([gc]) {
            task.abort();
        }
        Err(RunError::LeadershipLost)
    }
}

async fn worker(ctx: Arc<sync::Context>) {
    while let Some(key) = ctx.queue.get().await {
        match sync::sync_daemonset(&ctx, &key).await {
            Ok(()) => ctx.queue.forget(&key),
            Err(e) => {
                ctx.metrics.sync_errors.inc();
                // A refusal will not pass by itself: say what is missing, loudly.
                let forbidden = e.forbidden();
                if forbidden.is_empty() {
                    tracing::info!(daemonset = %key, error = %e, "sync failed; will retry");
                } else {
                    tracing::warn!(daemonset = %key, "sync forbidden; will retry: {}", forbidden.join("; "));
                }
                ctx.queue.add_rate_limited(&key);
            }
        }
        ctx.queue.done(&key);
    }
}

/// Forgets idle failed-pod backoff entries once a minute (upstream `BackoffGCInterval`).
async fn backoff_gc(ctx: Arc<sync::Context>) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        ctx.backoff.lock().unwrap_or_else(|e| e.into_inner()).gc(jiff::Timestamp::now());
    }
}

async fn serve_metrics(listener: tokio::net::TcpListener, controller: Arc<Controller>) {
    use axum::routing::get;
    let app =
        axum::Router::new().route("/healthz", get(|| async { "ok" })).route(
            "/metrics",
            get(move || {
                let c = controller.clone();
                async move {
                    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], c.render_metrics())
                }
            }),
        );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}
