//! Daemon pods: how they are built from the template (upstream `CreatePodTemplate`,
//! `GetPodFromTemplate`, `ReplaceDaemonSetPodNodeNameNodeAffinity`), which node they belong to
//! and which revision they carry. What a sync reads of them (ordering, readiness, whether they
//! run the current template) is `crate::pod_facts`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::eligibility::add_daemon_tolerations;

/// The pod label holding the ControllerRevision hash of the template a pod was made from.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// The pod label holding the DaemonSet template generation a pod was made from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// The DaemonSet annotation in which apps/v1 exposes the template generation.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// The DaemonSet's template generation, from its annotation.
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION)?.parse().ok()
}

/// The controller ownerReference a DaemonSet puts on what it creates.
pub fn controller_ref(ds: &DaemonSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_string(),
        kind: "DaemonSet".to_string(),
        name: ds.metadata.name.clone().unwrap_or_default(),
        uid: ds.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Upstream `CreatePodTemplate`: the template with the default daemon tolerations and the
/// `pod-template-generation` and `controller-revision-hash` labels.
pub fn daemon_pod_template(ds: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let spec = template.spec.get_or_insert_with(Default::default);
    add_daemon_tolerations(spec);
    let labels =
        template.metadata.get_or_insert_with(ObjectMeta::default).labels.get_or_insert_with(BTreeMap::new);
    if let Some(generation) = template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.to_string(), generation.to_string());
    }
    if !hash.is_empty() {
        labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.to_string());
    }
    template
}

/// Upstream `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required node affinity becomes one
/// term pinning the pod to `node`; preferred terms and other affinities are kept.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let pinned = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".to_string(),
                operator: "In".to_string(),
                values: Some(vec![node.to_string()]),
            }]),
            match_expressions: None,
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(pinned);
    affinity
}

/// The pod the controller creates for `node` from a template made by [`daemon_pod_template`]:
/// `generateName: <ds>-`, the template's labels, annotations and finalizers, the controller
/// ownerReference, and node affinity pinning it to `node`. It is not bound: the scheduler binds it.
pub fn new_daemon_pod(ds: &DaemonSet, template: &PodTemplateSpec, node: &str) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.affinity = Some(pin_to_node(spec.affinity.take(), node));
    let name = ds.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: ds.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(ds)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Upstream `GetTargetNodeName`: `spec.nodeName`, else the one `metadata.name In [node]`
/// requirement of the required node affinity.
pub fn target_node_name(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    for term in terms {
        for r in term.match_fields.iter().flatten() {
            if r.key == "metadata.name" && r.operator == "In" {
                return match r.values.as_deref() {
                    Some([one]) => Some(one.as_str()),
                    _ => None,
                };
            }
        }
    }
    None
}

/// The pod's `controller-revision-hash` label.
pub fn revision_hash(pod: &Pod) -> Option<&str> {
    pod.metadata.labels.as_ref()?.get(CONTROLLER_REVISION_HASH_LABEL).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds() -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "fluentd", "namespace": "logging", "uid": "u1",
            "annotations": {TEMPLATE_GENERATION_ANNOTATION: "3"}},
            "spec": {"selector": {"matchLabels": {"name": "fluentd"}}, "template": {
                "metadata": {"labels": {"name": "fluentd"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}}]}}}}}}))
        .unwrap()
    }

    #[test]
    fn new_pods_are_pinned_labelled_and_owned() {
        let d = ds();
        let template = daemon_pod_template(&d, "abc");
        let pod = new_daemon_pod(&d, &template, "node-1");
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("fluentd-"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("logging"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[CONTROLLER_REVISION_HASH_LABEL], "abc");
        assert_eq!(labels[TEMPLATE_GENERATION_LABEL], "3");
        assert_eq!(labels["name"], "fluentd");
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller, owner.block_owner_deletion),
            ("DaemonSet", "u1", Some(true), Some(true))
        );
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name, None, "not pre-bound");
        let na = spec.affinity.as_ref().unwrap().node_affinity.as_ref().unwrap();
        let terms =
            &na.required_during_scheduling_ignored_during_execution.as_ref().unwrap().node_selector_terms;
        assert_eq!(terms.len(), 1, "the template's required terms are replaced");
        assert_eq!(
            serde_json::to_value(&terms[0]).unwrap(),
            json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]})
        );
        assert!(na.preferred_during_scheduling_ignored_during_execution.is_some(), "preferred terms kept");
        assert_eq!(spec.tolerations.as_ref().unwrap().len(), 6);
        assert_eq!(target_node_name(&pod), Some("node-1"));
    }
}
