//! A client from a kubeconfig, as kubectl finds one: the file named (the first of a
//! `:`-separated list), else `$KUBECONFIG`, else `~/.kube/config`, else the in-cluster
//! ServiceAccount; the context named, else the current one.

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: KubeconfigError,
    },
    #[error(transparent)]
    Config(#[from] KubeconfigError),
    #[error(transparent)]
    Infer(#[from] kube::config::InferConfigError),
    #[error(transparent)]
    Client(#[from] kube::Error),
}

/// A client for `context` (else the current one) of the kubeconfig at `path` (else the
/// default one, else in-cluster), and the namespace that context names (`default` if none).
pub async fn client(path: Option<&str>, context: Option<&str>) -> Result<(Client, String), Error> {
    let options = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let config = match path.and_then(|p| p.split(':').find(|p| !p.is_empty())) {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|source| Error::Read { path: path.to_string(), source })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    let namespace = config.default_namespace.clone();
    Ok((Client::try_from(config)?, namespace))
}

/// A client for the current context of a kubeconfig held in memory.
pub async fn client_from_yaml(yaml: &str) -> Result<Client, Error> {
    let config =
        kube::Config::from_custom_kubeconfig(Kubeconfig::from_yaml(yaml)?, &KubeConfigOptions::default())
            .await?;
    Ok(Client::try_from(config)?)
}
