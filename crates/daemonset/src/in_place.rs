//! In-place updates (rollout control `rollout.everynode.io/in-place: "true"`): when the only
//! differences between a pod's revision and the current one are container images and the
//! template's labels and annotations, the pod is patched instead of deleted and recreated — it
//! keeps its name, node and IP, its kubelet restarts the containers whose image changed, and
//! its revision labels move on.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use serde_json::{Value, json};

use crate::revision::{revision_label_hash, revision_matches, template_from_data};

/// The hashes of the DaemonSet's other revisions whose pods can become pods of its current
/// template in place.
pub fn compatible_hashes(ds: &DaemonSet, revisions: &[&ControllerRevision]) -> BTreeSet<String> {
    let Some(current) = ds.spec.as_ref().map(|s| &s.template) else { return BTreeSet::new() };
    revisions
        .iter()
        .filter(|r| !revision_matches(ds, r))
        .filter(|r| {
            r.data
                .as_ref()
                .and_then(|d| template_from_data(&d.0))
                .is_some_and(|old| compatible(&old, current))
        })
        .map(|r| revision_label_hash(r).to_string())
        .collect()
}

/// Whether a pod of template `old` can become one of template `new` in place: an image
/// changed, and everything else but the template's labels and annotations is the same. (A
/// change of metadata alone, as `kubectl rollout restart` makes, recreates the pods: patching
/// them would restart nothing.)
pub fn compatible(old: &PodTemplateSpec, new: &PodTemplateSpec) -> bool {
    let without_images = |t: &PodTemplateSpec| {
        let mut spec = t.spec.clone().unwrap_or_default();
        for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
            c.image = None;
        }
        spec
    };
    old.spec != new.spec && without_images(old) == without_images(new)
}

/// The strategic merge patch that makes a pod one of `template` (a daemon pod template, its
/// revision labels included): its labels and annotations, and each container's image by name.
/// Labels and annotations the template dropped stay on the pod.
pub fn patch(template: &PodTemplateSpec) -> Value {
    let meta = template.metadata.clone().unwrap_or_default();
    let spec = template.spec.clone().unwrap_or_default();
    let images = |containers: &[k8s_openapi::api::core::v1::Container]| -> Vec<Value> {
        containers.iter().map(|c| json!({"name": c.name, "image": c.image})).collect()
    };
    let mut patch = json!({
        "metadata": {"labels": meta.labels.unwrap_or_default()},
        "spec": {"containers": images(&spec.containers)},
    });
    if let Some(annotations) = meta.annotations {
        patch["metadata"]["annotations"] = json!(annotations);
    }
    if let Some(init) = spec.init_containers.as_deref().filter(|i| !i.is_empty()) {
        patch["spec"]["initContainers"] = json!(images(init));
    }
    patch
}

/// Whether the kubelet reports every container of the pod with the image its spec asks for
/// (after an in-place update, not until it has restarted them).
pub fn images_current(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return true };
    let Some(status) = pod.status.as_ref() else { return true };
    let reported =
        status.container_statuses.iter().flatten().chain(status.init_container_statuses.iter().flatten());
    reported.into_iter().all(|s| {
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == s.name)
            .is_none_or(|c| c.image.as_deref() == Some(s.image.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str, env: Option<&str>, label: &str) -> PodTemplateSpec {
        let mut container = json!({"name": "c", "image": image});
        if let Some(v) = env {
            container["env"] = json!([{"name": "X", "value": v}]);
        }
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "a", "tier": label}},
            "spec": {"containers": [container]},
        }))
        .unwrap()
    }

    #[test]
    fn only_images_and_template_metadata_may_differ() {
        assert!(compatible(&template("app:1", None, "x"), &template("app:2", None, "y")));
        assert!(!compatible(&template("app:1", None, "x"), &template("app:2", Some("1"), "x")));
        assert!(
            !compatible(&template("app:1", None, "x"), &template("app:1", None, "y")),
            "nothing to restart"
        );
        assert_eq!(
            patch(&template("app:2", None, "y")),
            json!({"metadata": {"labels": {"app": "a", "tier": "y"}},
                   "spec": {"containers": [{"name": "c", "image": "app:2"}]}})
        );
    }

    #[test]
    fn images_are_current_once_the_kubelet_reports_them() {
        let mut pod: Pod = serde_json::from_value(json!({
            "spec": {"containers": [{"name": "c", "image": "app:2"}]},
            "status": {"containerStatuses": [{"name": "c", "image": "app:1", "imageID": "", "ready": true, "restartCount": 0}]},
        }))
        .unwrap();
        assert!(!images_current(&pod));
        pod.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0].image = "app:2".into();
        assert!(images_current(&pod));
    }
}
