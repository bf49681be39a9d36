//! One object kept in every namespace, as upstream's `serviceaccount` controller keeps the
//! `default` ServiceAccount and its `root-ca-cert-publisher` keeps the `kube-root-ca.crt`
//! ConfigMap: created in each new namespace, created again when deleted, and (where the
//! controller owns its content) put back when changed.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{StreamExt, stream};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Keeps the object `desired` makes in every active namespace.
pub struct EveryNamespace<K> {
    client: Client,
    name: &'static str,
    desired: Box<dyn Fn(&str) -> K + Send + Sync>,
    /// Whether an existing object must be put back when it differs from the desired one.
    owns_content: bool,
    /// What the content comparison reads.
    content: fn(&K) -> serde_json::Value,
}

/// Upstream's `serviceaccount` controller: a `default` ServiceAccount in every namespace.
pub fn service_accounts(client: Client) -> Arc<EveryNamespace<ServiceAccount>> {
    Arc::new(EveryNamespace {
        client,
        name: "default",
        desired: Box::new(|_| ServiceAccount {
            metadata: kube::api::ObjectMeta { name: Some("default".into()), ..Default::default() },
            ..Default::default()
        }),
        owns_content: false,
        content: |_| serde_json::Value::Null,
    })
}

/// Upstream's `root-ca-cert-publisher`: the cluster's CA as `kube-root-ca.crt` in every
/// namespace.
pub fn root_ca_publisher(client: Client, ca_pem: String) -> Arc<EveryNamespace<ConfigMap>> {
    Arc::new(EveryNamespace {
        client,
        name: "kube-root-ca.crt",
        desired: Box::new(move |_| ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some("kube-root-ca.crt".into()),
                annotations: Some(
                    [(
                        "kubernetes.io/description".to_string(),
                        apimachinery::core::ROOT_CA_DESCRIPTION.to_string(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            data: Some([("ca.crt".to_string(), ca_pem.clone())].into()),
            ..Default::default()
        }),
        owns_content: true,
        content: |cm| serde_json::json!([cm.data, cm.metadata.annotations]),
    })
}

enum Seen<K> {
    Namespace(Box<Namespace>),
    Object(Event<K>),
}

impl<K> EveryNamespace<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static,
{
    /// Keeps the object in every namespace until the process stops.
    pub async fn run(self: Arc<Self>) {
        let namespaces = watcher(Api::<Namespace>::all(self.client.clone()), watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .filter_map(|r| async move { r.ok().map(|ns| Seen::Namespace(Box::new(ns))) });
        let objects = watcher(
            Api::<K>::all(self.client.clone()),
            watcher::Config::default().fields(&format!("metadata.name={}", self.name)),
        )
        .default_backoff()
        .filter_map(|r| async move { r.ok().map(Seen::Object) });
        let mut seen = stream::select(namespaces.boxed(), objects.boxed());
        while let Some(s) = seen.next().await {
            match s {
                Seen::Namespace(ns) if ns.metadata.deletion_timestamp.is_none() => {
                    self.ensure(&ns.name_any()).await;
                }
                Seen::Object(Event::Delete(obj)) => {
                    if let Some(ns) = obj.namespace() {
                        self.ensure(&ns).await;
                    }
                }
                Seen::Object(Event::Apply(obj) | Event::InitApply(obj))
                    if self.owns_content && !self.up_to_date(&obj) =>
                {
                    if let Some(ns) = obj.namespace() {
                        self.ensure(&ns).await;
                    }
                }
                _ => {}
            }
        }
    }

    fn up_to_date(&self, obj: &K) -> bool {
        let desired = (self.desired)(obj.namespace().as_deref().unwrap_or_default());
        (self.content)(obj) == (self.content)(&desired)
    }

    /// Creates the object in `ns` if it is missing, or puts its content back.
    async fn ensure(&self, ns: &str) {
        let api = Api::<K>::namespaced(self.client.clone(), ns);
        let result = match api.get_opt(self.name).await {
            Ok(None) => api.create(&PostParams::default(), &(self.desired)(ns)).await.map(|_| ()),
            Ok(Some(current)) if self.owns_content && !self.up_to_date(&current) => {
                let mut desired = (self.desired)(ns);
                desired.meta_mut().resource_version = current.resource_version();
                api.replace(self.name, &PostParams::default(), &desired).await.map(|_| ())
            }
            Ok(Some(_)) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {}
            // Another writer won, or the namespace is going away: nothing to do.
            Err(kube::Error::Api(s)) if [403, 404, 409].contains(&s.code) => {}
            Err(e) => {
                tracing::info!(namespace = ns, object = self.name, error = %e, "will retry on the next change")
            }
        }
    }
}
