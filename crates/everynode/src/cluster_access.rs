//! Reaching a cluster as kubectl does: a kubeconfig (`--kubeconfig`, else `$KUBECONFIG`, else
//! `~/.kube/config`), a context and a namespace; and the server's errors as kubectl prints them.

use anyhow::{anyhow, bail};
use kube::Client;

/// The kubeconfig, context and namespace flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Connection {
    /// Path to the kubeconfig file (else $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace (else the context's).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
}

impl Connection {
    /// A client for the chosen context, and the namespace to work in.
    pub async fn client(&self) -> anyhow::Result<(Client, String)> {
        let (client, namespace) =
            client::kubeconfig::client(self.kubeconfig.as_deref(), self.context.as_deref()).await?;
        Ok((client, self.namespace.clone().unwrap_or(namespace)))
    }
}

/// The server's message, as kubectl prints it.
pub fn status_error(e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(s) => anyhow!("Error from server ({}): {}", s.reason, s.message),
        other => anyhow!(other),
    }
}

/// `ds/NAME`, `daemonset/NAME`, `daemonsets/NAME`, `daemonsets.apps/NAME` or `NAME`.
pub fn daemonset_name(arg: &str) -> anyhow::Result<&str> {
    match arg.split_once('/') {
        None => Ok(arg),
        Some(("ds" | "daemonset" | "daemonsets" | "daemonset.apps" | "daemonsets.apps", name)) => Ok(name),
        Some((kind, _)) => bail!("error: kubectl everynode works on DaemonSets, not {kind}"),
    }
}
