//! Recording core/v1 Events about objects, as upstream's event recorder does: one Event per
//! occurrence, named `<object>.<random hex>`, with the reporting component as its source.
//! Recording never fails the caller; a failed write is logged.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};

/// Records events for one component (e.g. `daemonset-controller`).
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    component: String,
    host: Option<String>,
}

/// A reference to the object an event is about.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(K::kind(&()).to_string()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

impl EventRecorder {
    pub fn new(client: Client, component: &str) -> Self {
        EventRecorder { client, component: component.to_string(), host: None }
    }

    /// Events from a node-local component carry the node as `source.host`.
    pub fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    /// Records an event about `object`, in its namespace (`default` for cluster-scoped ones).
    pub async fn record(&self, object: &ObjectReference, type_: &str, reason: &str, message: &str) {
        let namespace =
            object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_string());
        let now = Time(Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:016x}", object.name.as_deref().unwrap_or("object"), rand_u64())),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.to_string()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(EventSource { component: Some(self.component.clone()), host: self.host.clone() }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::debug!(reason, object = ?object.name, error = %e, "recording an event failed");
        }
    }

    /// [`EventRecorder::record`] for a typed object.
    pub async fn record_for<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: &str,
        reason: &str,
        message: &str,
    ) {
        self.record(&object_reference(obj), type_, reason, message).await;
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    h.finish()
}
