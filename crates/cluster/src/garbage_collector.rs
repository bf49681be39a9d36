//! The garbage collector: owner references and deletion propagation, as upstream's
//! `garbagecollector` controller.
//!
//! - An object whose owners are all gone is deleted (background propagation); references to
//!   owners that are gone are dropped when other owners remain.
//! - An owner being deleted with the `orphan` finalizer has its reference removed from every
//!   dependent, then the finalizer removed.
//! - An owner being deleted with the `foregroundDeletion` finalizer has its dependents deleted
//!   (in the foreground too); the finalizer is removed once no dependent remains.
//!
//! It watches the kinds that own or are owned in this cluster and rescans after changes. A
//! missing owner is confirmed with a live read before anything is deleted, so a lagging cache
//! never deletes an object whose owner exists.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;

/// `orphan` finalizer: dependents are orphaned before the owner goes.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// `foregroundDeletion` finalizer: dependents are deleted before the owner goes.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// A kind the collector tracks: group, version, kind, plural, namespaced.
type Kind = (&'static str, &'static str, &'static str, &'static str, bool);

/// The kinds that own or are owned in this cluster. Node Leases are not among them: the
/// simulated kubelets create them without owners, and ten thousand of them renewing every
/// ten seconds would only cost the collector memory and wake-ups.
pub const KINDS: &[Kind] = &[
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", true),
    ("", "v1", "Pod", "pods", true),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Node", "nodes", false),
];

struct Tracked {
    resource: ApiResource,
    namespaced: bool,
    store: Store<ObjectMetadata>,
}

/// An object as the collector sees it: its metadata and nothing else. Decoding skips the rest
/// of each watched object without building it, which for a large cluster's pods and nodes is
/// most of their bytes.
#[derive(Clone, Debug, Deserialize)]
pub struct ObjectMetadata {
    #[serde(default, deserialize_with = "collected_metadata")]
    pub metadata: ObjectMeta,
}

/// The metadata the collector reads: everything but `managedFields`, which is skipped while
/// decoding instead of being built and dropped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CollectedMetadata {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    owner_references: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    finalizers: Option<Vec<String>>,
    deletion_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    creation_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

fn collected_metadata<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = CollectedMetadata::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        labels: m.labels,
        owner_references: m.owner_references,
        finalizers: m.finalizers,
        deletion_timestamp: m.deletion_timestamp,
        creation_timestamp: m.creation_timestamp,
        ..ObjectMeta::default()
    })
}

impl kube::Resource for ObjectMetadata {
    type DynamicType = ApiResource;
    type Scope = kube::core::DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn api_resource(&(group, version, kind, plural, _): &Kind) -> ApiResource {
    let api_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version,
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

/// Whether a change may give the collector work: an object that has owners, or one being
/// deleted, or gone (its dependents may be orphans now). Lease renewals and node status
/// updates, the bulk of a large cluster's changes, do not.
fn concerns_collection(event: &watcher::Event<ObjectMetadata>) -> bool {
    match event {
        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
            !obj.owner_references().is_empty() || obj.metadata.deletion_timestamp.is_some()
        }
        watcher::Event::Delete(_) | watcher::Event::Init | watcher::Event::InitDone => true,
    }
}

/// Identifies one object.
#[derive(Clone, Debug)]
struct ObjectRef {
    kind: usize,
    namespace: Option<String>,
    name: String,
    uid: String,
}

/// The garbage collector; [`GarbageCollector::run`] drives it until the process stops.
pub struct GarbageCollector {
    client: Client,
    tracked: Vec<Tracked>,
    changed: Arc<Notify>,
    /// Owners confirmed gone by a live read; uids are never reused.
    gone: HashSet<String>,
}

impl GarbageCollector {
    /// Starts the watches; objects are collected once [`GarbageCollector::run`] is polled.
    pub fn new(client: Client) -> Self {
        let changed = Arc::new(Notify::new());
        let mut tracked = Vec::new();
        for kind in KINDS {
            let resource = api_resource(kind);
            let writer = reflector::store::Writer::<ObjectMetadata>::new(resource.clone());
            let store = writer.as_reader();
            let api: Api<ObjectMetadata> = Api::all_with(client.clone(), &resource);
            let notify = changed.clone();
            tokio::spawn(async move {
                let mut events =
                    watcher(api, watcher::Config::default()).default_backoff().reflect(writer).boxed();
                while let Some(event) = events.next().await {
                    if event.as_ref().is_ok_and(concerns_collection) {
                        notify.notify_one();
                    }
                }
            });
            tracked.push(Tracked { resource, namespaced: kind.4, store });
        }
        GarbageCollector { client, tracked, changed, gone: HashSet::new() }
    }

    /// Rescans after every burst of changes that concern it, and at least every few seconds.
    /// Passes are spaced by at least ten times the last one's duration, so that on a large
    /// cluster the collector takes at most a tenth of a core however fast objects change.
    pub async fn run(mut self) {
        for t in &self.tracked {
            t.store.wait_until_ready().await.ok();
        }
        loop {
            let started = std::time::Instant::now();
            if let Err(e) = self.scan().await {
                tracing::warn!(error = %e, "garbage collection pass failed; retrying");
            }
            let pause = (started.elapsed() * 10).max(Duration::from_millis(50));
            tokio::select! {
                _ = self.changed.notified() => tokio::time::sleep(pause).await,
                _ = tokio::time::sleep(Duration::from_secs(5).max(pause)) => {}
            }
        }
    }

    fn api(&self, kind: usize, namespace: Option<&str>) -> Api<DynamicObject> {
        let t = &self.tracked[kind];
        match namespace {
            Some(ns) if t.namespaced => Api::namespaced_with(self.client.clone(), ns, &t.resource),
            _ => Api::all_with(self.client.clone(), &t.resource),
        }
    }

    fn kind_of(&self, api_version: &str, kind: &str) -> Option<usize> {
        self.tracked.iter().position(|t| t.resource.api_version == api_version && t.resource.kind == kind)
    }

    /// One pass over every tracked object.
    async fn scan(&mut self) -> Result<(), kube::Error> {
        let mut live: HashSet<String> = HashSet::new();
        let mut dependents: HashMap<String, Vec<(ObjectRef, bool)>> = HashMap::new();
        let mut objects = Vec::new();
        for (kind, t) in self.tracked.iter().enumerate() {
            for obj in t.store.state() {
                let uid = obj.uid().unwrap_or_default();
                live.insert(uid.clone());
                let me = ObjectRef { kind, namespace: obj.namespace(), name: obj.name_any(), uid };
                for owner in obj.owner_references() {
                    dependents
                        .entry(owner.uid.clone())
                        .or_default()
                        .push((me.clone(), owner.block_owner_deletion.unwrap_or(false)));
                }
                objects.push((me, obj));
            }
        }
        for (me, obj) in &objects {
            if obj.metadata.deletion_timestamp.is_some() {
                let deps = dependents.get(&me.uid).map(Vec::as_slice).unwrap_or_default();
                if obj.finalizers().iter().any(|f| f == ORPHAN_FINALIZER) {
                    self.orphan(me, obj, deps).await?;
                } else if obj.finalizers().iter().any(|f| f == FOREGROUND_FINALIZER) {
                    self.delete_in_foreground(me, obj, deps).await?;
                }
            }
            self.collect_if_orphaned(me, obj, &live).await?;
        }
        Ok(())
    }

    /// Removes the owner's reference from its dependents, then the `orphan` finalizer.
    async fn orphan(
        &self,
        owner: &ObjectRef,
        obj: &ObjectMetadata,
        deps: &[(ObjectRef, bool)],
    ) -> Result<(), kube::Error> {
        for (dep, _) in deps {
            let t = &self.tracked[dep.kind];
            let mut key = reflector::ObjectRef::new_with(&dep.name, t.resource.clone());
            if let Some(ns) = &dep.namespace {
                key = key.within(ns);
            }
            let Some(current) = t.store.get(&key) else {
                continue;
            };
            let refs: Vec<_> =
                current.owner_references().iter().filter(|r| r.uid != owner.uid).cloned().collect();
            let patch = json!({"metadata": {
                "ownerReferences": if refs.is_empty() { json!(null) } else { json!(refs) },
                "resourceVersion": current.resource_version(),
            }});
            tolerate(
                self.api(dep.kind, dep.namespace.as_deref())
                    .patch(&dep.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await,
            )?;
        }
        self.remove_finalizer(owner, obj, ORPHAN_FINALIZER).await
    }

    /// Deletes the owner's dependents; removes `foregroundDeletion` once none remains.
    async fn delete_in_foreground(
        &self,
        owner: &ObjectRef,
        obj: &ObjectMetadata,
        deps: &[(ObjectRef, bool)],
    ) -> Result<(), kube::Error> {
        if deps.is_empty() {
            return self.remove_finalizer(owner, obj, FOREGROUND_FINALIZER).await;
        }
        for (dep, _) in deps {
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                preconditions: Some(Preconditions { uid: Some(dep.uid.clone()), resource_version: None }),
                ..DeleteParams::default()
            };
            tolerate(self.api(dep.kind, dep.namespace.as_deref()).delete(&dep.name, &dp).await.map(|_| ()))?;
        }
        Ok(())
    }

    async fn remove_finalizer(
        &self,
        me: &ObjectRef,
        obj: &ObjectMetadata,
        finalizer: &str,
    ) -> Result<(), kube::Error> {
        let rest: Vec<&String> = obj.finalizers().iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {
            "finalizers": if rest.is_empty() { json!(null) } else { json!(rest) },
            "resourceVersion": obj.resource_version(),
        }});
        tracing::debug!(name = %me.name, finalizer, "removing finalizer");
        tolerate(
            self.api(me.kind, me.namespace.as_deref())
                .patch(&me.name, &PatchParams::default(), &Patch::Merge(patch))
                .await,
        )
    }

    /// Deletes an object whose owners are all gone; drops references to owners that are gone
    /// when others remain.
    async fn collect_if_orphaned(
        &mut self,
        me: &ObjectRef,
        obj: &ObjectMetadata,
        live: &HashSet<String>,
    ) -> Result<(), kube::Error> {
        let owners = obj.owner_references();
        if owners.is_empty() || obj.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let mut absent = Vec::new();
        for owner in owners {
            if live.contains(&owner.uid) {
                continue;
            }
            let Some(kind) = self.kind_of(&owner.api_version, &owner.kind) else {
                // An owner of a kind not tracked here is never presumed gone.
                continue;
            };
            if self.confirm_gone(kind, me.namespace.as_deref(), &owner.name, &owner.uid).await? {
                absent.push(owner.uid.clone());
            }
        }
        if absent.is_empty() {
            return Ok(());
        }
        let api = self.api(me.kind, me.namespace.as_deref());
        if absent.len() == owners.len() {
            tracing::info!(kind = %self.tracked[me.kind].resource.kind, namespace = ?me.namespace, name = %me.name, "deleting object whose owners are gone");
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(Preconditions { uid: Some(me.uid.clone()), resource_version: None }),
                ..DeleteParams::default()
            };
            tolerate(api.delete(&me.name, &dp).await.map(|_| ()))
        } else {
            let refs: Vec<_> = owners.iter().filter(|r| !absent.contains(&r.uid)).cloned().collect();
            let patch =
                json!({"metadata": {"ownerReferences": refs, "resourceVersion": obj.resource_version()}});
            tolerate(api.patch(&me.name, &PatchParams::default(), &Patch::Merge(patch)).await)
        }
    }

    /// Whether the owner `uid` is gone, by a live read (remembered once confirmed).
    async fn confirm_gone(
        &mut self,
        kind: usize,
        namespace: Option<&str>,
        name: &str,
        uid: &str,
    ) -> Result<bool, kube::Error> {
        if self.gone.contains(uid) {
            return Ok(true);
        }
        let gone = match self.api(kind, namespace).get_opt(name).await? {
            Some(owner) => owner.uid().as_deref() != Some(uid),
            None => true,
        };
        if gone {
            self.gone.insert(uid.to_string());
        }
        Ok(gone)
    }
}

/// Conflicts, missing objects and failed preconditions mean the world moved on; the next
/// pass sees the new state.
fn tolerate<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn object_metadata_keeps_the_metadata_of_any_kind_and_addresses_it_as_that_kind() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "u0"}]},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}, "status": {"phase": "Running"}});
        let obj: ObjectMetadata = serde_json::from_value(pod).unwrap();
        assert_eq!(obj.name_any(), "p");
        assert_eq!(obj.namespace().as_deref(), Some("ns"));
        assert_eq!(obj.owner_references()[0].uid, "u0");
        assert_eq!(obj.resource_version().as_deref(), Some("7"));
        // A watch bookmark carries nothing but a resourceVersion.
        let bookmark: ObjectMetadata = serde_json::from_value(
            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}),
        )
        .unwrap();
        assert_eq!(bookmark.resource_version().as_deref(), Some("9"));
        let pods = api_resource(&KINDS[2]);
        assert_eq!(ObjectMetadata::url_path(&pods, Some("ns")), "/api/v1/namespaces/ns/pods");
        let daemonsets = api_resource(&KINDS[0]);
        assert_eq!(ObjectMetadata::url_path(&daemonsets, None), "/apis/apps/v1/daemonsets");
    }
}
