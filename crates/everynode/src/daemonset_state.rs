//! A DaemonSet read from a cluster with what its controller decides from: every node, the
//! pods and revisions it controls.

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::cluster_access::status_error;

pub struct DaemonSetState {
    pub ds: DaemonSet,
    pub nodes: Vec<Node>,
    /// The pods it controls.
    pub pods: Vec<Pod>,
    /// Its revisions, oldest first.
    pub revisions: Vec<ControllerRevision>,
}

impl DaemonSetState {
    pub async fn read(client: &Client, namespace: &str, name: &str) -> anyhow::Result<Self> {
        let ds =
            Api::<DaemonSet>::namespaced(client.clone(), namespace).get(name).await.map_err(status_error)?;
        let nodes =
            Api::<Node>::all(client.clone()).list(&ListParams::default()).await.map_err(status_error)?.items;
        let uid = ds.uid();
        let pods = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().labels(&selector_string(&ds)))
            .await
            .map_err(status_error)?
            .items
            .into_iter()
            .filter(|p| controlled_by(&p.metadata, uid.as_deref()))
            .collect();
        let revisions = revisions(client, namespace, &ds).await?;
        Ok(DaemonSetState { ds, nodes, pods, revisions })
    }
}

/// Whether the object's controller is the one with this uid.
pub fn controlled_by(meta: &ObjectMeta, uid: Option<&str>) -> bool {
    daemonset::ownership::controller_of(meta).is_some_and(|c| Some(c.uid.as_str()) == uid)
}

/// The DaemonSet's revisions, oldest first.
pub async fn revisions(
    client: &Client,
    namespace: &str,
    ds: &DaemonSet,
) -> anyhow::Result<Vec<ControllerRevision>> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    let uid = ds.uid();
    let mut revs: Vec<ControllerRevision> = api
        .list(&ListParams::default())
        .await
        .map_err(status_error)?
        .items
        .into_iter()
        .filter(|r| controlled_by(&r.metadata, uid.as_deref()))
        .collect();
    revs.sort_by_key(|r| r.revision);
    Ok(revs)
}

/// The DaemonSet's selector as a label-selector string (its matchLabels; expressions are
/// checked by ownership instead).
fn selector_string(ds: &DaemonSet) -> String {
    let labels = ds.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}
