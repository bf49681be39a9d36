//! Deleting a pod on the cluster's behalf, as the kubelet, the scheduler (preemption), the node
//! lifecycle (taint eviction) and pod GC do: exactly the instance that was judged, never a
//! newer pod that took its name since.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;

use crate::informer;

/// Deletes this instance of the pod (a uid precondition), with `grace_seconds` or, with
/// `None`, the pod's own grace period.
pub async fn delete_instance(
    client: &Client,
    pod: &Pod,
    grace_seconds: Option<u32>,
) -> Result<(), kube::Error> {
    let (ns, name) = informer::namespace_name(pod);
    let params = DeleteParams {
        grace_period_seconds: grace_seconds,
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    Api::<Pod>::namespaced(client.clone(), &ns).delete(&name, &params).await.map(|_| ())
}

/// Adds the `DisruptionTarget=True` condition upstream sets on a pod before deleting it for a
/// disruption (preemption, taint eviction).
pub async fn mark_disruption_target(client: &Client, pod: &Pod, reason: &str, message: &str) {
    let (ns, name) = informer::namespace_name(pod);
    let patch = json!({"status": {"conditions": [{
        "type": "DisruptionTarget", "status": "True", "reason": reason, "message": message,
        "lastTransitionTime": Time(Timestamp::now()),
    }]}});
    let api = Api::<Pod>::namespaced(client.clone(), &ns);
    if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch)).await {
        tracing::debug!(pod = %name, error = %e, "adding the DisruptionTarget condition failed");
    }
}
