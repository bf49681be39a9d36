//! `everynode up`: the API server, its seed objects and nodes, and the in-process
//! controllers, in the foreground until SIGINT or SIGTERM.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use apiserver::ServerConfig;
use clap::Args;

use crate::progress::Progress;
use crate::{controllers, nodes};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where the cluster keeps its state, credentials and kubeconfig.
    #[arg(long, default_value = "./.everynode")]
    pub data_dir: PathBuf,
    /// The HTTPS port (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// How many worker nodes the cluster has besides its control-plane node.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// A YAML stream of Node manifests to use instead of the default nodes.
    #[arg(long)]
    pub nodes_file: Option<PathBuf>,
    /// Which in-process controllers run, in kube-controller-manager's syntax
    /// (`*` for all, `-name` to switch one off), e.g. `*,-daemonset`.
    #[arg(long, default_value = "*", allow_hyphen_values = true)]
    pub controllers: String,
    /// Seconds without a Lease renewal before a node is marked unreachable.
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period: u64,
    /// Seconds a node must stay gone before pod GC collects its pods (upstream's quarantine,
    /// 40 s; shorter for demos and tests).
    #[arg(long, default_value_t = 40)]
    pub pod_gc_quarantine: u64,
    /// Terminated pods kept before pod GC deletes the oldest (kube-controller-manager's flag).
    #[arg(long, default_value_t = cluster::pod_gc::TERMINATED_POD_THRESHOLD)]
    pub terminated_pod_gc_threshold: usize,
    /// Concurrent DaemonSet syncs of the in-process controller.
    #[arg(long, default_value_t = 2)]
    pub controller_workers: usize,
    /// Seconds an Event is kept after its last write (kube-apiserver's `--event-ttl`, 1h).
    #[arg(long, default_value_t = 3600)]
    pub event_ttl: u64,
}

/// The name of the DaemonSet controller's threads: it runs on a runtime of its own, so its CPU
/// time can be told apart from the rest of the process (`everynode bench` reads it).
pub const CONTROLLER_THREAD: &str = "everynode-ds";

/// The name of the cluster components' threads (scheduler, kubelets, node lifecycle, GC…).
pub const CLUSTER_THREAD: &str = "everynode-cluster";

/// A started cluster: the API server, a client of it, and the in-process controllers.
pub struct Running {
    pub server: apiserver::RunningServer,
    pub client: kube::Client,
    pub kubeconfig_path: PathBuf,
    /// How many nodes the cluster started with.
    pub nodes: usize,
    /// The web UI's one-time login link.
    pub ui_link: String,
    /// The runtimes the in-process components run on (the cluster's, the DaemonSet
    /// controller's), so that they stop, every task and connection of theirs with them, before
    /// the server does, rather than lose it mid-request.
    components: Components,
}

impl Running {
    /// Stops the in-process components, then the API server.
    pub async fn shutdown(self) {
        let Running { server, components, .. } = self;
        components.stop().await;
        server.shutdown().await;
    }
}

/// The in-process components' runtimes.
struct Components(Vec<tokio::runtime::Runtime>);

impl Components {
    /// Stops every task of the components (waiting a little for blocking ones).
    async fn stop(mut self) {
        let runtimes = std::mem::take(&mut self.0);
        let stopped = tokio::task::spawn_blocking(move || {
            for runtime in runtimes {
                runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            }
        });
        let _ = stopped.await;
    }
}

impl Drop for Components {
    fn drop(&mut self) {
        // Dropped without `stop` (an error on the way): stop them without blocking the async
        // context this may run in.
        for runtime in std::mem::take(&mut self.0) {
            runtime.shutdown_background();
        }
    }
}

/// The User-Agent of the upstream component `name` at the served version, in client-go's form.
fn user_agent(name: &str) -> String {
    format!("{name}/{} (linux/amd64) kubernetes/everynode", apiserver::git_version())
}

/// A runtime of two worker threads named `name`.
fn components_runtime(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name(name).enable_all().build()
}

/// A client for a kubeconfig's current context.
pub async fn client_for(kubeconfig: &str) -> anyhow::Result<kube::Client> {
    Ok(client::kubeconfig::client_from_yaml(kubeconfig).await?)
}

/// Starts the API server, creates the nodes, and starts the enabled controllers.
pub async fn start(args: &UpArgs) -> anyhow::Result<Running> {
    let enabled = controllers::parse(&args.controllers).map_err(|e| anyhow::anyhow!("--controllers: {e}"))?;
    let node_objects = match &args.nodes_file {
        Some(path) => nodes::parse_nodes_file(
            &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => nodes::default_nodes(args.workers),
    };
    let node_count = node_objects.len();
    let mut config = ServerConfig::new(&args.data_dir);
    config.bind = args.bind;
    config.port = args.port;
    config.event_ttl = std::time::Duration::from_secs(args.event_ttl.max(1));
    let server = apiserver::start(config).await?;

    server.ensure_nodes(node_objects).await?;

    // The kubeconfig is written only once the server answers through it.
    let kubeconfig_text = server.kubeconfig();
    let client = client_for(&kubeconfig_text).await?;
    client.apiserver_version().await.context("the API server does not answer")?;
    let kubeconfig_path = std::fs::canonicalize(&args.data_dir)?.join("kubeconfig");
    apiserver::pki::write_private(&kubeconfig_path, kubeconfig_text.as_bytes(), 0o600)?;
    // The cluster components run on a runtime of their own (entered here, so what they and
    // their informers spawn runs there too) and share one node and one pod informer, which
    // the DaemonSet controller reads too.
    let mut components = Components(vec![components_runtime(CLUSTER_THREAD)?]);
    let entered = components.0[0].enter();
    // They reach the server through its loopback, as upstream's in-process controllers do;
    // the client is made here, on their runtime, which then runs its request queue.
    // Each sends its upstream counterpart's User-Agent, which names it as its writes' field
    // manager (`kubelet`, `kube-scheduler`, `kube-controller-manager`).
    let as_component =
        |name: &str| kube::Client::new(server.loopback().with_user_agent(&user_agent(name)), "default");
    let loopback = as_component("kube-controller-manager");
    let informers = client::Informers::start(loopback.clone());
    if enabled.contains("garbagecollector") {
        tokio::spawn(cluster::GarbageCollector::new(loopback.clone()).run());
    }
    if enabled.contains("kubelet") {
        let version = apiserver::git_version();
        // Kubelets renew four times per grace period, as upstream's 10 s against 40 s.
        let renew = std::time::Duration::from_millis(args.node_monitor_grace_period * 1000 / 4)
            .min(cluster::kubelet::LEASE_RENEW_INTERVAL);
        tokio::spawn(cluster::Kubelets::new(as_component("kubelet"), &informers, &version, renew).run());
    }
    if enabled.contains("nodelifecycle") {
        let grace = std::time::Duration::from_secs(args.node_monitor_grace_period);
        tokio::spawn(cluster::NodeLifecycle::new(loopback.clone(), &informers, grace).run());
    }
    if enabled.contains("podgc") {
        let quarantine = std::time::Duration::from_secs(args.pod_gc_quarantine);
        let threshold = args.terminated_pod_gc_threshold;
        tokio::spawn(cluster::PodGc::new(loopback.clone(), &informers, quarantine, threshold).run());
    }
    if enabled.contains("scheduler") {
        tokio::spawn(cluster::Scheduler::new(as_component("kube-scheduler"), &informers).run());
    }
    if enabled.contains("clusterrole-aggregation") {
        tokio::spawn(cluster::clusterrole_aggregation::ClusterRoleAggregation::new(loopback.clone()).run());
    }
    if enabled.contains("serviceaccount") {
        tokio::spawn(cluster::every_namespace::service_accounts(loopback.clone()).run());
    }
    if enabled.contains("root-ca-cert-publisher") {
        let ca = server.credentials.ca_pem.clone();
        tokio::spawn(cluster::every_namespace::root_ca_publisher(loopback.clone(), ca).run());
    }
    drop(entered);
    if enabled.contains("daemonset") {
        components.0.push(spawn_daemonset_controller(
            server.loopback().with_user_agent(&user_agent("kube-controller-manager")),
            informers.clone(),
            args.controller_workers,
        )?);
    }
    let ui = everynode::ui::Ui::new(client.clone(), informers.clone(), &server.credentials.token);
    server.mount(everynode::ui::PREFIX, ui.router());
    let ui_link = ui.login_link(&server.url);
    tracing::info!(url = %server.url, controllers = ?enabled, "everynode is up");
    Ok(Running { server, client, kubeconfig_path, nodes: node_count, ui_link, components })
}

/// Runs the DaemonSet controller on a runtime of its own, with its own client of the server's
/// loopback, reading nodes and pods from the components' `informers`; returns the runtime.
fn spawn_daemonset_controller(
    loopback: apiserver::LoopbackService,
    informers: std::sync::Arc<client::Informers>,
    workers: usize,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let runtime = components_runtime(CONTROLLER_THREAD)?;
    runtime.spawn(async move {
        let options = controller::ControllerOptions { workers, ..Default::default() };
        let client = kube::Client::new(loopback, "default");
        if let Err(e) = controller::Controller::sharing(client, informers).run(options).await {
            tracing::error!(error = %e, "the DaemonSet controller stopped");
        }
    });
    Ok(runtime)
}

/// Waits until `total` nodes report Ready, showing progress on stderr.
pub async fn wait_for_nodes_ready(client: kube::Client, total: usize) -> anyhow::Result<()> {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Node;
    use kube::runtime::watcher;
    let mut progress = Progress::new("nodes Ready", total);
    let mut ready = std::collections::HashSet::new();
    let mut events = watcher(kube::Api::<Node>::all(client), watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        if let watcher::Event::Apply(node) | watcher::Event::InitApply(node) = event? {
            let name = node.metadata.name.clone().unwrap_or_default();
            if cluster::kubelet::node_ready(&node) {
                ready.insert(name);
            } else {
                ready.remove(&name);
            }
            progress.set(ready.len());
            if ready.len() >= total {
                progress.finish();
                return Ok(());
            }
        }
    }
    anyhow::bail!("the node watch ended")
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let running = start(&args).await?;
    println!(
        "everynode is up at {}: export KUBECONFIG={}",
        running.server.url,
        running.kubeconfig_path.display()
    );
    println!("Its live view: {} (a one-time link)", running.ui_link);
    if running.nodes >= 100 {
        let (client, nodes) = (running.client.clone(), running.nodes);
        tokio::spawn(async move {
            if let Err(e) = wait_for_nodes_ready(client, nodes).await {
                tracing::debug!(error = %e, "stopped reporting node readiness");
            }
        });
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
