//! `everynode controller`: the DaemonSet controller alone, against any API server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// The kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Act only while holding the leader Lease, so that replicas never both act.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "everynode-daemonset-controller")]
    pub leader_elect_name: String,
    /// This replica's identity in the Lease (default: hostname and process id).
    #[arg(long)]
    pub identity: Option<String>,
    /// Concurrent DaemonSet syncs.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Serve /metrics and /healthz on this address.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
}

pub async fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let path = args.kubeconfig.as_ref().map(|p| p.to_string_lossy().into_owned());
    let (client, _) = client::kubeconfig::client(path.as_deref(), None).await?;
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "everynode".into());
        format!("{host}_{}", std::process::id())
    });
    let options = controller::ControllerOptions {
        workers: args.workers,
        leader_election: args.leader_elect.then(|| {
            client::LeaderElection::new(&args.leader_elect_namespace, &args.leader_elect_name, &identity)
        }),
        metrics_addr: args.metrics_addr,
    };
    let daemonsets = controller::Controller::new(client);
    tokio::select! {
        result = daemonsets.run(options) => Ok(result?),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
