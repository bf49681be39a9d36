//! The bodies of everynode's fuzz targets, one function per target: each takes arbitrary bytes
//! and must neither panic nor hang on any of them. `fuzz/` (cargo-fuzz, libFuzzer, nightly)
//! runs them on generated input; `tests/corpora.rs` replays the kept corpora
//! (`fuzz/corpus/<target>/`) through them on every `cargo test`, so what a fuzzer once found
//! stays found.

use std::collections::BTreeMap;

use apimachinery::fields::FieldSelector;
use apimachinery::labels::Selector;
use apimachinery::quantity::Quantity;
use apimachinery::strategic_merge::{self, strategic_merge_patch};
use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::Value;

/// A target's body: arbitrary bytes in, no panic out.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus directory and fuzz binary have.
pub const TARGETS: &[(&str, Target)] = &[
    ("label_selector", label_selector),
    ("field_selector", field_selector),
    ("quantity", quantity),
    ("strategic_merge", strategic_merge),
    ("json_patch", json_patch),
    ("merge_patch", merge_patch),
    ("apply", apply),
    ("request_body", request_body),
    ("daemonset", daemonset),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Two JSON documents (`[original, patch]`), or none.
fn pair(data: &[u8]) -> Option<(Value, Value)> {
    match serde_json::from_slice::<Value>(data).ok()? {
        Value::Array(mut two) if two.len() == 2 => {
            let patch = two.pop()?;
            Some((two.pop()?, patch))
        }
        _ => None,
    }
}

/// A label selector as `labelSelector=` brings it: parsed, matched, and parsed again from its
/// requirements' own text.
pub fn label_selector(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let Ok(selector) = Selector::parse(input) else { return };
    let labels =
        BTreeMap::from([("app".to_string(), "web".to_string()), ("tier".to_string(), String::new())]);
    let _ = selector.matches(&labels);
}

/// A field selector as `fieldSelector=` brings it.
pub fn field_selector(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let Ok(selector) = FieldSelector::parse(input) else { return };
    let _ = selector.matches(|field| (field == "metadata.name").then(|| "web-1".to_string()));
}

/// A resource quantity (`100m`, `1.5Gi`, `2e3`).
pub fn quantity(data: &[u8]) {
    let Some(input) = text(data) else { return };
    if let Ok(q) = Quantity::parse(input) {
        let _ = (q.value(), q.millis(), q.is_negative());
    }
}

/// A strategic merge patch of a DaemonSet and of a Pod: `[original, patch]`.
pub fn strategic_merge(data: &[u8]) {
    let Some((original, patch)) = pair(data) else { return };
    let _ = strategic_merge_patch(&original, &patch, strategic_merge::DAEMONSET);
    let _ = strategic_merge_patch(&original, &patch, strategic_merge::POD);
}

/// A JSON patch as the server applies it: `[document, operations]`.
pub fn json_patch(data: &[u8]) {
    let Some((document, operations)) = pair(data) else { return };
    let _ = apiserver::json_patch(&document, &operations);
}

/// A JSON merge patch: `[document, patch]`.
pub fn merge_patch(data: &[u8]) {
    let Some((mut document, patch)) = pair(data) else { return };
    json_patch::merge(&mut document, &patch);
}

/// Server-side apply of a DaemonSet configuration onto a live DaemonSet: `[live, config]`,
/// merged, compared and its field sets taken, as the field manager does.
pub fn apply(data: &[u8]) {
    use apimachinery::apply::{typed, types};
    let Some((live, config)) = pair(data) else { return };
    let ty = types::of_kind("apps", "v1", "DaemonSet");
    let merged = typed::merge(&live, &config, ty);
    let _ = typed::compare(&live, &merged, ty);
    let set = typed::field_set(&config, ty);
    let _ = typed::remove(&merged, &set, ty);
}

/// A request body in each media type the server reads: JSON (with its duplicate keys), YAML
/// and Kubernetes protobuf.
pub fn request_body(data: &[u8]) {
    let _ = apimachinery::duplicate_fields::from_slice(data);
    let _ = apiserver::decode_request_body("application/yaml", data);
    let _ = apiserver::decode_request_body("application/vnd.kubernetes.protobuf", data);
}

/// A DaemonSet as a create brings it: decoded, defaulted and validated, and validated as an
/// update of itself.
pub fn daemonset(data: &[u8]) {
    let Ok(mut ds) = serde_json::from_slice::<DaemonSet>(data) else { return };
    daemonset::defaults::set_defaults_daemonset(&mut ds);
    let _ = daemonset::validation::validate_daemonset(&ds);
    let _ = daemonset::validation::validate_daemonset_update(&ds, &ds);
}
