//! Upstream's `pkg/controller/daemon/util/daemonset_util_test.go`, case by case:
//! TestIsPodUpdated, TestCreatePodTemplate, TestReplaceDaemonSetPodNodeNameNodeAffinity and
//! TestGetTargetNodeName.

use daemonset::pod::{
    CONTROLLER_REVISION_HASH_LABEL, TEMPLATE_GENERATION_ANNOTATION, TEMPLATE_GENERATION_LABEL,
    daemon_pod_template, pin_to_node, target_node_name,
};
use daemonset::pod_facts::PodFacts;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Affinity, Pod};
use serde_json::{Value, json};

fn pod(v: Value) -> Pod {
    serde_json::from_value(v).unwrap()
}

#[test]
fn test_is_pod_updated() {
    const GENERATION: i64 = 12345;
    const BAD_GENERATION: i64 = 12350;
    const HASH: &str = "55555";
    let labels = json!({TEMPLATE_GENERATION_LABEL: "12345", CONTROLLER_REVISION_HASH_LABEL: HASH});
    let labels_no_hash = json!({TEMPLATE_GENERATION_LABEL: "12345"});
    let with = |labels: Option<Value>| {
        let mut meta = json!({"name": "pod1"});
        if let Some(l) = labels {
            meta["labels"] = l;
        }
        pod(json!({"metadata": meta, "spec": {"nodeName": "node1", "containers": []}}))
    };
    let cases: [(&str, i64, Option<Value>, &str, bool); 10] = [
        ("templateGeneration and hash both match", GENERATION, Some(labels.clone()), HASH, true),
        ("templateGeneration matches, hash doesn't", GENERATION, Some(labels.clone()), "55555123", true),
        (
            "templateGeneration matches, no hash label, has hash",
            GENERATION,
            Some(labels_no_hash.clone()),
            HASH,
            true,
        ),
        ("templateGeneration matches, no hash label, no hash", GENERATION, Some(labels_no_hash), "", true),
        ("templateGeneration matches, has hash label, no hash", GENERATION, Some(labels.clone()), "", true),
        ("templateGeneration doesn't match, hash does", BAD_GENERATION, Some(labels.clone()), HASH, true),
        ("templateGeneration and hash don't match", BAD_GENERATION, Some(labels), "55555123", false),
        ("empty labels, no hash", GENERATION, Some(json!({})), "", false),
        ("empty labels", GENERATION, Some(json!({})), HASH, false),
        ("no labels", GENERATION, None, HASH, false),
    ];
    for (name, generation, labels, hash, want) in cases {
        // What the sync reads: the pod's facts, the generation formatted as its label value.
        let facts = PodFacts::of(&with(labels));
        assert_eq!(facts.is_updated(hash, Some(&generation.to_string())), want, "{name}");
    }
}

fn daemon_set(generation: Option<&str>, template: Value) -> DaemonSet {
    let mut meta = json!({"name": "ds", "namespace": "default"});
    if let Some(g) = generation {
        meta["annotations"] = json!({TEMPLATE_GENERATION_ANNOTATION: g});
    }
    serde_json::from_value(json!({"metadata": meta,
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template}}))
    .unwrap()
}

#[test]
fn test_create_pod_template() {
    let cases = [
        (Some("1"), "", json!({TEMPLATE_GENERATION_LABEL: "1"})),
        (
            Some("2"),
            "3242341807",
            json!({TEMPLATE_GENERATION_LABEL: "2", CONTROLLER_REVISION_HASH_LABEL: "3242341807"}),
        ),
        // Without a generation there is no generation label (upstream's nil branch).
        (None, "h", json!({CONTROLLER_REVISION_HASH_LABEL: "h"})),
    ];
    for (generation, hash, want) in cases {
        // An empty template, as upstream's: the labels map is made.
        let template = daemon_pod_template(&daemon_set(generation, json!({})), hash);
        let labels = serde_json::to_value(template.metadata.unwrap().labels.unwrap()).unwrap();
        assert_eq!(labels, want, "generation {generation:?}, hash {hash:?}");
        let tolerations = template.spec.unwrap().tolerations.unwrap();
        assert_eq!(tolerations.len(), 6, "the default daemon tolerations are added");
    }
}

const PIN: &str = r#"{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["host_1"]}]}]}}}"#;

fn required(terms: Value) -> Value {
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}})
}

#[test]
fn test_replace_daemon_set_pod_node_name_node_affinity() {
    let pin: Value = serde_json::from_str(PIN).unwrap();
    let preferred = json!([{"weight": 0, "preference": {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["host_1"]}]}}]);
    let mut preferred_and_pin = pin.clone();
    preferred_and_pin["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = preferred.clone();
    let cases: Vec<(Option<Value>, Value)> = vec![
        (None, pin.clone()),
        (
            Some(required(
                json!([{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["host_1"]}]}]),
            )),
            pin.clone(),
        ),
        (
            Some(json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}})),
            preferred_and_pin,
        ),
        (
            Some(required(
                json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["host_1", "host_2"]}]}]),
            )),
            pin.clone(),
        ),
        (None, pin.clone()),
        (
            Some(required(json!([
                {"matchExpressions": [{"key": "hostname", "operator": "In", "values": ["host_1"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["host_2"]}]},
            ]))),
            pin.clone(),
        ),
        (
            Some(required(
                json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["host_2"]}]}]),
            )),
            pin.clone(),
        ),
        (
            Some(required(
                json!([{"matchFields": [{"key": "metadata.foo", "operator": "In", "values": ["bar"]}]}]),
            )),
            pin.clone(),
        ),
    ];
    for (i, (input, want)) in cases.into_iter().enumerate() {
        let input: Option<Affinity> = input.map(|v| serde_json::from_value(v).unwrap());
        let got = serde_json::to_value(pin_to_node(input, "host_1")).unwrap();
        assert_eq!(got, want, "case {i}");
    }
    // Not upstream's table: other affinities stay.
    let anti = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone"}]}});
    let got =
        serde_json::to_value(pin_to_node(Some(serde_json::from_value(anti.clone()).unwrap()), "host_1"))
            .unwrap();
    assert_eq!(got["podAntiAffinity"], anti["podAntiAffinity"]);
    assert_eq!(got["nodeAffinity"], pin["nodeAffinity"]);
}

#[test]
fn test_get_target_node_name() {
    let pinned = |values: Value| {
        pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "affinity": required(json!([
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": values}]}]))}}))
    };
    let by_name =
        pod(json!({"metadata": {"name": "pod1"}, "spec": {"containers": [], "nodeName": "node-1"}}));
    assert_eq!(target_node_name(&by_name), Some("node-1"));
    assert_eq!(target_node_name(&pinned(json!(["node-1"]))), Some("node-1"));
    assert_eq!(target_node_name(&pinned(json!(["node-1", "node-2"]))), None, "not one node");
    assert_eq!(
        target_node_name(&pod(json!({"metadata": {"name": "pod4"}, "spec": {"containers": []}}))),
        None
    );
    // An empty nodeName counts as unset.
    let mut empty_name = pinned(json!(["node-1"]));
    empty_name.spec.as_mut().unwrap().node_name = Some(String::new());
    assert_eq!(target_node_name(&empty_name), Some("node-1"));
}
