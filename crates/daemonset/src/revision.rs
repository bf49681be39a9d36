//! ControllerRevisions: the canonical `data` of a DaemonSet's template, its hash, new
//! revisions, which revision is current, renumbering when an old template returns, and history
//! truncation (upstream `update.go`: `getPatch`, `Match`, `snapshot`, `constructHistory`,
//! `dedupCurHistories`, `cleanupHistory`; `controller_utils.go`: `ComputeHash`).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Value, json};

use crate::pod::{CONTROLLER_REVISION_HASH_LABEL, controller_ref, revision_hash};

/// The characters upstream's `SafeEncodeString` maps hash digits onto (no vowels, no
/// look-alikes).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Writes `v` as Go's `encoding/json` would marshal a generic map: object keys sorted, compact,
/// and `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The template as Go would marshal the typed object: template metadata always present with
/// `creationTimestamp: null`, and every container's `resources` present.
fn go_shaped_template(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    let obj = t.as_object_mut().expect("a template is an object");
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.entry("creationTimestamp").or_insert(Value::Null);
    }
    let spec = obj.entry("spec").or_insert_with(|| json!({}));
    for list in ["containers", "initContainers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(c) = c.as_object_mut() {
                c.entry("resources").or_insert_with(|| json!({}));
            }
        }
    }
    t
}

fn template_of(ds: &DaemonSet) -> PodTemplateSpec {
    ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default()
}

/// The revision `data` of a DaemonSet: `{"spec":{"template":{"$patch":"replace",…}}}`, as
/// upstream's `getPatch` produces it and `kubectl rollout undo` sends it back.
pub fn revision_data(ds: &DaemonSet) -> Value {
    let mut template = go_shaped_template(&template_of(ds));
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

/// [`revision_data`] as the bytes kubectl compares.
pub fn revision_data_bytes(ds: &DaemonSet) -> String {
    canonical_json(&revision_data(ds))
}

/// FNV-1a, 32 bits.
fn fnv32a(bytes: &[u8], mut hash: u32) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Upstream `ComputeHash`: FNV-32a of the template (here its canonical JSON) and, when set, the
/// collision count (little-endian, in an 8-byte buffer), written as decimal through the safe
/// alphabet.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash = fnv32a(canonical_json(&go_shaped_template(template)).as_bytes(), 0x811c_9dc5);
    if let Some(count) = collision_count {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv32a(&buf, hash);
    }
    hash.to_string().bytes().map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char).collect()
}

/// The hash of a DaemonSet's current template and collision count.
pub fn daemonset_hash(ds: &DaemonSet) -> String {
    compute_hash(&template_of(ds), ds.status.as_ref().and_then(|s| s.collision_count))
}

/// Upstream `snapshot`: the revision for the DaemonSet's current template, named
/// `<ds>-<hash>`, carrying the template labels plus the hash, a copy of the DaemonSet's
/// annotations, and the controller reference.
pub fn new_revision(ds: &DaemonSet, hash: &str, revision: i64) -> ControllerRevision {
    let mut labels = template_of(ds).metadata.and_then(|m| m.labels).unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.to_string());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", ds.metadata.name.as_deref().unwrap_or_default())),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: ds.metadata.annotations.clone(),
            owner_references: Some(vec![controller_ref(ds)]),
            ..Default::default()
        },
        data: Some(RawExtension(revision_data(ds))),
        revision,
    }
}

/// Upstream `Match`: the revision holds exactly the DaemonSet's current template.
pub fn revision_matches(ds: &DaemonSet, revision: &ControllerRevision) -> bool {
    revision.data.as_ref().is_some_and(|d| canonical_json(&d.0) == revision_data_bytes(ds))
}

fn revision_name(r: &ControllerRevision) -> &str {
    r.metadata.name.as_deref().unwrap_or_default()
}

/// The hash a revision stands for: its `controller-revision-hash` label, else its name.
pub fn revision_label_hash(r: &ControllerRevision) -> &str {
    r.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
        .map(String::as_str)
        .unwrap_or_else(|| revision_name(r))
}

/// What the controller must do to a DaemonSet's history before it can act (upstream
/// `constructHistory` and `dedupCurHistories`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryPlan {
    /// Revisions lacking the `controller-revision-hash` label: add it, with their name as value.
    pub label_missing_hash: Vec<String>,
    /// The current revision, when one exists.
    pub current: Option<String>,
    /// The hash pods of the current template carry.
    pub hash: String,
    /// A new revision to create when none holds the current template.
    pub create: Option<ControllerRevision>,
    /// Set the current revision's number to this (it held an older template number).
    pub renumber_to: Option<i64>,
    /// Other revisions holding the current template: delete them.
    pub delete_duplicates: Vec<String>,
    /// Pods carrying a deleted duplicate's hash: relabel them with [`HistoryPlan::hash`].
    pub relabel_pods: Vec<String>,
    /// The revisions that are not current, for [`history_to_truncate`].
    pub old: Vec<String>,
}

/// Plans the history of `ds` given its owned revisions and pods.
pub fn plan_history(ds: &DaemonSet, revisions: &[&ControllerRevision], pods: &[&Pod]) -> HistoryPlan {
    let mut plan = HistoryPlan::default();
    let data = revision_data_bytes(ds);
    let mut current: Vec<&ControllerRevision> = Vec::new();
    let mut max_old = 0;
    for r in revisions {
        if r.metadata.labels.as_ref().is_none_or(|l| !l.contains_key(CONTROLLER_REVISION_HASH_LABEL)) {
            plan.label_missing_hash.push(revision_name(r).to_string());
        }
        if r.data.as_ref().is_some_and(|d| canonical_json(&d.0) == data) {
            current.push(r);
        } else {
            max_old = max_old.max(r.revision);
            plan.old.push(revision_name(r).to_string());
        }
    }
    let next = max_old + 1;
    let Some(keep) = current
        .iter()
        .copied()
        .max_by(|a, b| a.revision.cmp(&b.revision).then_with(|| revision_name(b).cmp(revision_name(a))))
    else {
        let hash = daemonset_hash(ds);
        plan.create = Some(new_revision(ds, &hash, next));
        plan.hash = hash;
        return plan;
    };
    plan.current = Some(revision_name(keep).to_string());
    plan.hash = revision_label_hash(keep).to_string();
    let duplicate_hashes: HashSet<&str> = current
        .iter()
        .filter(|r| revision_name(r) != revision_name(keep))
        .map(|r| revision_label_hash(r))
        .collect();
    plan.delete_duplicates = current
        .iter()
        .filter(|r| revision_name(r) != revision_name(keep))
        .map(|r| revision_name(r).to_string())
        .collect();
    // Only pods of a duplicate revision are relabelled; most syncs have none to look for.
    if !duplicate_hashes.is_empty() {
        plan.relabel_pods = pods
            .iter()
            .filter(|p| revision_hash(p).is_some_and(|h| h != plan.hash && duplicate_hashes.contains(h)))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
    }
    if keep.revision < next {
        plan.renumber_to = Some(next);
    }
    plan
}

/// Upstream `cleanupHistory`: the old revisions beyond `revisionHistoryLimit`, oldest first,
/// skipping any whose hash a pod still carries (`pods` includes terminal and terminating ones).
pub fn history_to_truncate(ds: &DaemonSet, old: &[&ControllerRevision], pods: &[&Pod]) -> Vec<String> {
    let limit = ds
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(crate::defaults::DEFAULT_REVISION_HISTORY_LIMIT);
    let mut to_kill = old.len() as i64 - i64::from(limit);
    if to_kill <= 0 {
        return Vec::new();
    }
    // As upstream's `cleanupHistory`, which reads pods by node: a pod with no target node
    // keeps no revision alive. Terminal pods being deleted still do.
    let live: HashSet<&str> = pods
        .iter()
        .filter(|p| crate::pod::target_node_name(p).is_some())
        .filter_map(|p| revision_hash(p))
        .collect();
    let mut sorted: Vec<&ControllerRevision> = old.to_vec();
    sorted.sort_by(|a, b| a.revision.cmp(&b.revision).then_with(|| revision_name(a).cmp(revision_name(b))));
    let mut out = Vec::new();
    for r in sorted {
        if to_kill <= 0 {
            break;
        }
        if live.contains(revision_label_hash(r)) {
            continue;
        }
        out.push(revision_name(r).to_string());
        to_kill -= 1;
    }
    out
}

/// `kubectl rollout history`'s view: revision number → change cause.
pub fn change_causes(revisions: &[&ControllerRevision]) -> BTreeMap<i64, String> {
    revisions
        .iter()
        .map(|r| {
            let cause =
                r.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/change-cause")).cloned();
            (r.revision, cause.unwrap_or_else(|| "<none>".to_string()))
        })
        .collect()
}

/// Decodes revision `data` back into the template it holds (for callers that show history).
pub fn template_from_data(data: &Value) -> Option<PodTemplateSpec> {
    let mut t = data.get("spec")?.get("template")?.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::set_defaults_daemonset;

    fn ds(image: &str) -> DaemonSet {
        let mut d: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "fluentd", "namespace": "logging", "uid": "u",
            "annotations": {"kubernetes.io/change-cause": "image"}},
            "spec": {"selector": {"matchLabels": {"name": "fluentd"}}, "revisionHistoryLimit": 1,
                "template": {"metadata": {"labels": {"name": "fluentd"}},
                    "spec": {"containers": [{"name": "c", "image": image, "command": ["sh", "-c", "a && b < c"]}]}}}}))
        .unwrap();
        set_defaults_daemonset(&mut d);
        d
    }

    #[test]
    fn data_is_go_canonical() {
        let bytes = revision_data_bytes(&ds("i:1"));
        assert!(bytes.starts_with(r#"{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"name":"fluentd"}},"spec":{"containers":[{"command":["sh","-c","a \u0026\u0026 b \u003c c"],"image":"i:1","imagePullPolicy":"IfNotPresent","name":"c","resources":{},"#), "{bytes}");
    }

    #[test]
    fn hash_is_pure_and_sensitive() {
        let a = ds("i:1");
        assert_eq!(daemonset_hash(&a), daemonset_hash(&ds("i:1")));
        assert_ne!(daemonset_hash(&a), daemonset_hash(&ds("i:2")));
        let t = template_of(&a);
        assert_ne!(compute_hash(&t, None), compute_hash(&t, Some(1)));
        assert_ne!(compute_hash(&t, Some(1)), compute_hash(&t, Some(2)));
        assert!(compute_hash(&t, None).bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }

    fn rev(d: &DaemonSet, n: i64) -> ControllerRevision {
        new_revision(d, &daemonset_hash(d), n)
    }

    #[test]
    fn new_revision_copies_labels_and_annotations() {
        let d = ds("i:1");
        let r = rev(&d, 1);
        let hash = daemonset_hash(&d);
        assert_eq!(r.metadata.name.as_deref(), Some(format!("fluentd-{hash}").as_str()));
        assert_eq!(r.metadata.labels.as_ref().unwrap()[CONTROLLER_REVISION_HASH_LABEL], hash);
        assert_eq!(r.metadata.labels.as_ref().unwrap()["name"], "fluentd");
        assert_eq!(r.metadata.annotations.as_ref().unwrap()["kubernetes.io/change-cause"], "image");
        assert!(revision_matches(&d, &r));
        assert!(!revision_matches(&ds("i:2"), &r));
        assert_eq!(
            template_from_data(&r.data.unwrap().0).unwrap().spec.unwrap().containers[0].image.as_deref(),
            Some("i:1")
        );
    }

    #[test]
    fn first_revision_is_created_as_one() {
        let plan = plan_history(&ds("i:1"), &[], &[]);
        assert_eq!(plan.create.as_ref().unwrap().revision, 1);
        assert_eq!(plan.hash, daemonset_hash(&ds("i:1")));
    }

    #[test]
    fn a_returning_template_is_renumbered() {
        let (one, two) = (rev(&ds("i:1"), 1), rev(&ds("i:2"), 2));
        let plan = plan_history(&ds("i:1"), &[&one, &two], &[]);
        assert_eq!(plan.current.as_deref(), one.metadata.name.as_deref());
        assert_eq!(plan.renumber_to, Some(3));
        assert!(plan.create.is_none());
        let plan = plan_history(&ds("i:2"), &[&one, &two], &[]);
        assert_eq!(plan.renumber_to, None);
        assert_eq!(plan.old, vec![one.metadata.name.clone().unwrap()]);
    }

    #[test]
    fn duplicates_keep_the_highest() {
        let d = ds("i:1");
        let mut dup = rev(&d, 1);
        dup.metadata.name = Some("fluentd-dup".into());
        dup.metadata.labels.as_mut().unwrap().insert(CONTROLLER_REVISION_HASH_LABEL.into(), "dup".into());
        let keep = rev(&d, 2);
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "p", "labels": {CONTROLLER_REVISION_HASH_LABEL: "dup"}}}),
        )
        .unwrap();
        let plan = plan_history(&d, &[&dup, &keep], &[&pod]);
        assert_eq!(plan.current, keep.metadata.name);
        assert_eq!(plan.delete_duplicates, vec!["fluentd-dup"]);
        assert_eq!(plan.relabel_pods, vec!["p"]);
    }

    #[test]
    fn truncation_spares_revisions_pods_use() {
        let d = ds("i:9");
        let olds: Vec<ControllerRevision> = (1..=3).map(|i| rev(&ds(&format!("i:{i}")), i)).collect();
        let in_use: Pod = serde_json::from_value(json!({"metadata": {"name": "p",
            "labels": {CONTROLLER_REVISION_HASH_LABEL: daemonset_hash(&ds("i:1"))}},
            "spec": {"containers": [], "nodeName": "n"}}))
        .unwrap();
        let mut nowhere = in_use.clone();
        nowhere.spec.as_mut().unwrap().node_name = None;
        let refs: Vec<&ControllerRevision> = olds.iter().collect();
        // Limit 1: two must go; revision 1 is in use, so 2 and 3 go.
        assert_eq!(
            history_to_truncate(&d, &refs, &[&in_use]),
            vec![olds[1].metadata.name.clone().unwrap(), olds[2].metadata.name.clone().unwrap()]
        );
        assert_eq!(
            history_to_truncate(&d, &refs, &[]),
            vec![olds[0].metadata.name.clone().unwrap(), olds[1].metadata.name.clone().unwrap()]
        );
        assert_eq!(
            history_to_truncate(&d, &refs, &[&nowhere]),
            history_to_truncate(&d, &refs, &[]),
            "a pod with no target node keeps no revision (upstream reads pods by node)"
        );
    }
}
