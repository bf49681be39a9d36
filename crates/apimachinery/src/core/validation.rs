//! core/v1 validation with upstream's field paths and messages.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Event, Namespace, Node, NodeSelector, NodeSelectorRequirement, Pod, PodSpec,
    PodStatus, PodTemplateSpec, Toleration, Volume,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use crate::quantity::Quantity;
use crate::validation::{
    FieldError, FieldErrors, Path, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, validate_labels,
};

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
const CONFIG_MAP_SIZE_LIMIT: usize = 1024 * 1024;
/// The highest priority a user-defined PriorityClass may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;
/// The built-in priority classes, with their values.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i32); 2] =
    [("system-node-critical", 2_000_001_000), ("system-cluster-critical", 2_000_000_000)];
pub const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn push_all(errs: &mut FieldErrors, path: &Path, value: &str, messages: Vec<String>) {
    errs.extend(messages.into_iter().map(|m| FieldError::invalid(path, value, m)));
}

/// `ValidateAnnotations`: each key a qualified name (case aside), all of them at most 256 KiB.
pub fn validate_annotations(annotations: &BTreeMap<String, String>, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let mut total = 0;
    for (k, v) in annotations {
        push_all(&mut errs, path, k, is_qualified_name(&k.to_lowercase()));
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// `ValidateObjectMeta`: name (or generateName), namespace scope, labels, annotations, owner
/// references and finalizers.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, path: &Path) -> FieldErrors {
    validate_object_meta_with(meta, namespaced, &is_dns1123_subdomain, path)
}

/// [`validate_object_meta`] with the kind's own name rule (upstream's `ValidateNameFunc`: a DNS
/// label for services, a path segment for RBAC objects), which returns the messages for a bad
/// name.
pub fn validate_object_meta_with(
    meta: &ObjectMeta,
    namespaced: bool,
    name_rule: &dyn Fn(&str) -> Vec<String>,
    path: &Path,
) -> FieldErrors {
    let mut errs = Vec::new();
    let name = meta.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        if meta.generate_name.as_deref().unwrap_or_default().is_empty() {
            errs.push(FieldError::required(&path.child("name"), "name or generateName is required"));
        }
    } else {
        push_all(&mut errs, &path.child("name"), name, name_rule(name));
    }
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    if namespaced && namespace.is_empty() {
        errs.push(FieldError::required(&path.child("namespace"), ""));
    } else if namespaced {
        push_all(&mut errs, &path.child("namespace"), namespace, is_dns1123_label(namespace));
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(&path.child("namespace"), "not allowed on this type"));
    }
    if let Some(labels) = &meta.labels {
        errs.extend(validate_labels(labels, &path.child("labels")));
    }
    if let Some(annotations) = &meta.annotations {
        errs.extend(validate_annotations(annotations, &path.child("annotations")));
    }
    let refs = meta.owner_references.as_deref().unwrap_or_default();
    for (i, r) in refs.iter().enumerate() {
        let p = path.child("ownerReferences").index(i);
        for (field, value) in
            [("apiVersion", &r.api_version), ("kind", &r.kind), ("name", &r.name), ("uid", &r.uid)]
        {
            if value.is_empty() {
                errs.push(FieldError::invalid(&p.child(field), "", format!("{field} must not be empty")));
            }
        }
    }
    if refs.iter().filter(|r| r.controller == Some(true)).count() > 1 {
        errs.push(FieldError::invalid(
            &path.child("ownerReferences"),
            serde_json::to_value(refs).unwrap_or_default(),
            "Only one reference can have Controller set to true.",
        ));
    }
    for (i, f) in meta.finalizers.iter().flatten().enumerate() {
        push_all(&mut errs, &path.child("finalizers").index(i), f, is_qualified_name(f));
    }
    errs
}

fn validate_resources(c: &Container, path: &Path, errs: &mut FieldErrors) {
    let Some(resources) = &c.resources else { return };
    let mut parsed: [BTreeMap<&str, Quantity>; 2] = [BTreeMap::new(), BTreeMap::new()];
    for (slot, (field, list)) in
        [("limits", &resources.limits), ("requests", &resources.requests)].into_iter().enumerate()
    {
        for (name, q) in list.iter().flatten() {
            let p = path.child(field).key(name);
            match Quantity::parse(&q.0) {
                Ok(v) if v.is_negative() => {
                    errs.push(FieldError::invalid(&p, q.0.as_str(), "must be greater than or equal to 0"))
                }
                Ok(v) => {
                    parsed[slot].insert(name.as_str(), v);
                }
                Err(m) => errs.push(FieldError::invalid(&p, q.0.as_str(), m.to_string())),
            }
        }
    }
    let [limits, requests] = &parsed;
    for (name, request) in requests {
        if let Some(limit) = limits.get(name)
            && request > limit
        {
            let shown = resources
                .requests
                .as_ref()
                .and_then(|r| r.get(*name))
                .map(|q| q.0.clone())
                .unwrap_or_default();
            let limit_shown =
                resources.limits.as_ref().and_then(|l| l.get(*name)).map(|q| q.0.clone()).unwrap_or_default();
            errs.push(FieldError::invalid(
                &path.child("requests").key(name),
                shown,
                format!("must be less than or equal to {name} limit of {limit_shown}"),
            ));
        }
    }
}

fn validate_container(c: &Container, path: &Path, volumes: &BTreeSet<&str>, errs: &mut FieldErrors) {
    if c.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else {
        push_all(errs, &path.child("name"), &c.name, is_dns1123_label(&c.name));
    }
    if c.image.as_deref().unwrap_or_default().trim().is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    if let Some(policy) = c.image_pull_policy.as_deref()
        && !["Always", "IfNotPresent", "Never"].contains(&policy)
    {
        errs.push(FieldError::not_supported(
            &path.child("imagePullPolicy"),
            policy,
            &["Always", "IfNotPresent", "Never"],
        ));
    }
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let p = path.child("ports").index(i);
        if !(1..=65535).contains(&port.container_port) {
            errs.push(FieldError::invalid(
                &p.child("containerPort"),
                port.container_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(host_port) = port.host_port
            && !(0..=65535).contains(&host_port)
        {
            errs.push(FieldError::invalid(
                &p.child("hostPort"),
                host_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(proto) = port.protocol.as_deref()
            && !["TCP", "UDP", "SCTP"].contains(&proto)
        {
            errs.push(FieldError::not_supported(&p.child("protocol"), proto, &["SCTP", "TCP", "UDP"]));
        }
    }
    for (i, env) in c.env.iter().flatten().enumerate() {
        if env.name.is_empty() {
            errs.push(FieldError::required(&path.child("env").index(i).child("name"), ""));
        }
    }
    let mut mount_paths = BTreeSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let p = path.child("volumeMounts").index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else if !volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(&p.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        } else if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(&p.child("mountPath"), m.mount_path.as_str(), "must be unique"));
        }
    }
    validate_resources(c, &path.child("resources"), errs);
}

const VOLUME_SOURCES: usize = 12;

fn volume_source_count(v: &Volume) -> usize {
    let set: [bool; VOLUME_SOURCES] = [
        v.host_path.is_some(),
        v.empty_dir.is_some(),
        v.config_map.is_some(),
        v.secret.is_some(),
        v.persistent_volume_claim.is_some(),
        v.projected.is_some(),
        v.downward_api.is_some(),
        v.csi.is_some(),
        v.ephemeral.is_some(),
        v.nfs.is_some(),
        v.image.is_some(),
        v.git_repo.is_some(),
    ];
    set.iter().filter(|b| **b).count()
}

const HOST_PATH_TYPES: [&str; 8] =
    ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];

fn validate_volumes<'a>(volumes: &'a [Volume], path: &Path, errs: &mut FieldErrors) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        if v.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            push_all(errs, &p.child("name"), &v.name, is_dns1123_label(&v.name));
            if !names.insert(v.name.as_str()) {
                errs.push(FieldError::duplicate(&p.child("name"), v.name.as_str()));
            }
        }
        match volume_source_count(v) {
            0 => errs.push(FieldError::required(&p, "must specify a volume type")),
            1 => {}
            _ => errs.push(FieldError::forbidden(&p, "may not specify more than 1 volume type")),
        }
        if let Some(hp) = &v.host_path {
            if hp.path.is_empty() {
                errs.push(FieldError::required(&p.child("hostPath").child("path"), ""));
            }
            if let Some(t) = hp.type_.as_deref()
                && !HOST_PATH_TYPES.contains(&t)
            {
                errs.push(FieldError::not_supported(
                    &p.child("hostPath").child("type"),
                    t,
                    &HOST_PATH_TYPES[1..],
                ));
            }
        }
    }
    names
}

/// `validateTolerations`.
pub fn validate_tolerations(tolerations: &[Toleration], path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = t.key.as_deref().unwrap_or_default();
        let operator = t.operator.as_deref().unwrap_or("Equal");
        let value = t.value.as_deref().unwrap_or_default();
        if !key.is_empty() {
            push_all(&mut errs, &p.child("key"), key, is_qualified_name(key));
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && t.effect.as_deref() != Some("NoExecute") {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                t.effect.as_deref().unwrap_or_default(),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => push_all(&mut errs, &p.child("value"), value, is_valid_label_value(value)),
            "Exists" if !value.is_empty() => {
                errs.push(FieldError::invalid(
                    &p.child("operator"),
                    value,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
            "Exists" => {}
            other => errs.push(FieldError::not_supported(&p.child("operator"), other, &["Equal", "Exists"])),
        }
        if let Some(effect) = t.effect.as_deref()
            && !effect.is_empty()
            && !TAINT_EFFECTS.contains(&effect)
        {
            errs.push(FieldError::not_supported(&p.child("effect"), effect, &TAINT_EFFECTS));
        }
    }
    errs
}

fn validate_node_selector_requirement(r: &NodeSelectorRequirement, path: &Path, errs: &mut FieldErrors) {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
            &path.child("values"),
            "must be specified when `operator` is 'In' or 'NotIn'",
        )),
        "In" | "NotIn" => {}
        "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
            &path.child("values"),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        "Exists" | "DoesNotExist" => {}
        "Gt" | "Lt" if values.len() != 1 => errs.push(FieldError::required(
            &path.child("values"),
            "must be specified single value when `operator` is 'Lt' or 'Gt'",
        )),
        "Gt" | "Lt" => {}
        other => {
            errs.push(FieldError::invalid(&path.child("operator"), other, "not a valid selector operator"))
        }
    }
    push_all(errs, &path.child("key"), &r.key, is_qualified_name(&r.key));
}

fn validate_node_selector(selector: &NodeSelector, path: &Path, errs: &mut FieldErrors) {
    let terms_path = path.child("nodeSelectorTerms");
    if selector.node_selector_terms.is_empty() {
        errs.push(FieldError::required(&terms_path, "must have at least one node selector term"));
    }
    for (i, term) in selector.node_selector_terms.iter().enumerate() {
        let p = terms_path.index(i);
        for (j, r) in term.match_expressions.iter().flatten().enumerate() {
            validate_node_selector_requirement(r, &p.child("matchExpressions").index(j), errs);
        }
        for (j, r) in term.match_fields.iter().flatten().enumerate() {
            let rp = p.child("matchFields").index(j);
            if r.key != "metadata.name" {
                errs.push(FieldError::not_supported(&rp.child("key"), r.key.as_str(), &["metadata.name"]));
            }
            if !["In", "NotIn"].contains(&r.operator.as_str()) {
                errs.push(FieldError::invalid(
                    &rp.child("operator"),
                    r.operator.as_str(),
                    "not a valid selector operator",
                ));
            } else if r.values.as_ref().is_none_or(|v| v.len() != 1) {
                errs.push(FieldError::required(
                    &rp.child("values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        }
    }
}

/// `ValidatePodSpec`: containers, volumes and their mounts, policies, scheduling constraints.
pub fn validate_pod_spec(spec: &PodSpec, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let volumes =
        validate_volumes(spec.volumes.as_deref().unwrap_or_default(), &path.child("volumes"), &mut errs);
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&path.child("containers"), ""));
    }
    let mut names = BTreeSet::new();
    let all = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| ("initContainers", c))
        .chain(spec.containers.iter().map(|c| ("containers", c)));
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (list, c) in all {
        let i = index.entry(list).or_default();
        let p = path.child(list).index(*i);
        *i += 1;
        validate_container(c, &p, &volumes, &mut errs);
        if !c.name.is_empty() && !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        }
    }
    let policies = [
        ("restartPolicy", spec.restart_policy.as_deref(), &["Always", "OnFailure", "Never"][..]),
        (
            "dnsPolicy",
            spec.dns_policy.as_deref(),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"][..],
        ),
    ];
    for (field, value, supported) in policies {
        if let Some(v) = value
            && !supported.contains(&v)
        {
            errs.push(FieldError::not_supported(&path.child(field), v, supported));
        }
    }
    if let Some(g) = spec.termination_grace_period_seconds
        && g < 0
    {
        errs.push(FieldError::invalid(
            &path.child("terminationGracePeriodSeconds"),
            g,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(s) = spec.active_deadline_seconds
        && s <= 0
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            s,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(selector) = &spec.node_selector {
        errs.extend(validate_labels(selector, &path.child("nodeSelector")));
    }
    errs.extend(validate_tolerations(
        spec.tolerations.as_deref().unwrap_or_default(),
        &path.child("tolerations"),
    ));
    errs.extend(validate_scheduling_gates(spec, &path.child("schedulingGates")));
    if let Some(na) = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()) {
        let p = path.child("affinity").child("nodeAffinity");
        if let Some(required) = &na.required_during_scheduling_ignored_during_execution {
            validate_node_selector(
                required,
                &p.child("requiredDuringSchedulingIgnoredDuringExecution"),
                &mut errs,
            );
        }
        for (i, pref) in na.preferred_during_scheduling_ignored_during_execution.iter().flatten().enumerate()
        {
            let pp = p.child("preferredDuringSchedulingIgnoredDuringExecution").index(i);
            if !(1..=100).contains(&pref.weight) {
                errs.push(FieldError::invalid(
                    &pp.child("weight"),
                    pref.weight,
                    "must be in the range 1-100",
                ));
            }
            for (j, r) in pref.preference.match_expressions.iter().flatten().enumerate() {
                validate_node_selector_requirement(
                    r,
                    &pp.child("preference").child("matchExpressions").index(j),
                    &mut errs,
                );
            }
        }
    }
    errs
}

/// `ValidatePodTemplateSpec`: the template's labels and annotations, and its pod spec.
pub fn validate_pod_template_spec(template: &PodTemplateSpec, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    if let Some(meta) = &template.metadata {
        if let Some(labels) = &meta.labels {
            errs.extend(validate_labels(labels, &path.child("metadata").child("labels")));
        }
        if let Some(annotations) = &meta.annotations {
            errs.extend(validate_annotations(annotations, &path.child("metadata").child("annotations")));
        }
    }
    match &template.spec {
        Some(spec) => errs.extend(validate_pod_spec(spec, &path.child("spec"))),
        None => errs.push(FieldError::required(&path.child("spec").child("containers"), "")),
    }
    errs
}

/// `validateSchedulingGates`: each gate a qualified name, none twice.
fn validate_scheduling_gates(spec: &PodSpec, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, gate) in spec.scheduling_gates.iter().flatten().enumerate() {
        push_all(&mut errs, &path.index(i), &gate.name, is_qualified_name(&gate.name));
        if !seen.insert(gate.name.as_str()) {
            errs.push(FieldError::duplicate(&path.index(i), gate.name.as_str()));
        }
    }
    errs
}

/// Whether scheduling gates hold the pod: the scheduler leaves it alone until they are removed.
pub fn has_scheduling_gates(spec: &PodSpec) -> bool {
    spec.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty())
}

pub fn validate_pod(pod: &Pod) -> FieldErrors {
    match &pod.spec {
        Some(spec) => validate_pod_spec(spec, &Path::new("spec")),
        None => vec![FieldError::required(&Path::new("spec").child("containers"), "")],
    }
}

/// `ValidatePodCreate`: a pod's spec, and no node named while scheduling gates hold it.
pub fn validate_pod_create(pod: &Pod) -> FieldErrors {
    let mut errs = validate_pod(pod);
    if let Some(spec) = &pod.spec
        && has_scheduling_gates(spec)
        && spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
    {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}

const POD_UPDATE_MESSAGE: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `ValidatePodUpdate`: a pod's spec is immutable but for images, the active deadline and
/// added tolerations.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> FieldErrors {
    let mut errs = validate_pod(new);
    let (Some(new_spec), Some(old_spec)) = (&new.spec, &old.spec) else { return errs };
    let old_tolerations = old_spec.tolerations.clone().unwrap_or_default();
    let new_tolerations = new_spec.tolerations.clone().unwrap_or_default();
    if !old_tolerations.iter().all(|t| new_tolerations.contains(t)) {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    // Scheduling gates can only be removed.
    let old_gates: BTreeSet<&str> =
        old_spec.scheduling_gates.iter().flatten().map(|g| g.name.as_str()).collect();
    for gate in new_spec.scheduling_gates.iter().flatten() {
        if !old_gates.contains(gate.name.as_str()) {
            errs.push(FieldError::forbidden(
                &Path::new("spec").child("schedulingGates"),
                format!("only deletion is allowed, but found new scheduling gate '{}'", gate.name),
            ));
        }
    }
    let mut comparable = new_spec.clone();
    comparable.scheduling_gates = old_spec.scheduling_gates.clone();
    comparable.tolerations = old_spec.tolerations.clone();
    comparable.active_deadline_seconds = old_spec.active_deadline_seconds;
    for (c, o) in comparable.containers.iter_mut().zip(&old_spec.containers) {
        c.image = o.image.clone();
    }
    for (c, o) in
        comparable.init_containers.iter_mut().flatten().zip(old_spec.init_containers.iter().flatten())
    {
        c.image = o.image.clone();
    }
    if &comparable != old_spec {
        errs.push(FieldError::forbidden(&Path::new("spec"), POD_UPDATE_MESSAGE));
    }
    errs
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else { return false };
    match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
        _ => false,
    }
}

pub fn validate_node(node: &Node) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(spec) = &node.spec else { return errs };
    let mut seen = BTreeSet::new();
    for (i, t) in spec.taints.iter().flatten().enumerate() {
        let p = Path::new("spec").child("taints").index(i);
        push_all(&mut errs, &p.child("key"), &t.key, is_qualified_name(&t.key));
        if let Some(v) = t.value.as_deref() {
            push_all(&mut errs, &p.child("value"), v, is_valid_label_value(v));
        }
        if t.effect.is_empty() {
            errs.push(FieldError::required(&p.child("effect"), ""));
        } else if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
            errs.push(FieldError::not_supported(&p.child("effect"), t.effect.as_str(), &TAINT_EFFECTS));
        }
        if !seen.insert((t.key.as_str(), t.effect.as_str())) {
            errs.push(FieldError::duplicate(&p, json!({"key": t.key, "effect": t.effect})));
        }
    }
    if let Some(cidr) = spec.pod_cidr.as_deref()
        && !cidr.is_empty()
        && !is_cidr(cidr)
    {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("podCIDR"),
            cidr,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ));
    }
    for (i, cidr) in spec.pod_cidrs.iter().flatten().enumerate() {
        if !is_cidr(cidr) {
            errs.push(FieldError::invalid(
                &Path::new("spec").child("podCIDRs").index(i),
                cidr.as_str(),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

/// A namespace's name is a DNS label, not just a subdomain.
pub fn validate_namespace(ns: &Namespace) -> FieldErrors {
    let name = ns.metadata.name.as_deref().unwrap_or_default();
    let mut errs = Vec::new();
    if name.contains('.') {
        push_all(&mut errs, &Path::new("metadata").child("name"), name, is_dns1123_label(name));
    }
    errs
}

pub fn validate_configmap(cm: &ConfigMap) -> FieldErrors {
    let mut errs = Vec::new();
    let mut total = 0;
    let data = cm.data.iter().flatten().map(|(k, v)| ("data", k, v.len()));
    let binary = cm.binary_data.iter().flatten().map(|(k, v)| ("binaryData", k, v.0.len()));
    let mut keys = BTreeSet::new();
    for (field, key, len) in data.chain(binary) {
        let p = Path::new(field).key(key);
        let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if !valid {
            errs.push(FieldError::invalid(&p, key.as_str(), "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
        }
        if !keys.insert(key) {
            errs.push(FieldError::invalid(&p, key.as_str(), "duplicate of key present in data"));
        }
        total += len;
    }
    if total > CONFIG_MAP_SIZE_LIMIT {
        errs.push(FieldError::too_long(&Path::root(), CONFIG_MAP_SIZE_LIMIT));
    }
    errs
}

/// Upstream's `ValidateConfigMapUpdate`: an immutable ConfigMap keeps its data and stays
/// immutable.
pub fn validate_configmap_update(new: &ConfigMap, old: &ConfigMap) -> FieldErrors {
    let mut errs = Vec::new();
    if old.immutable == Some(true) {
        const DETAIL: &str = "field is immutable when `immutable` is set";
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(&Path::new("immutable"), DETAIL));
        }
        if new.data != old.data {
            errs.push(FieldError::forbidden(&Path::new("data"), DETAIL));
        }
        if new.binary_data != old.binary_data {
            errs.push(FieldError::forbidden(&Path::new("binaryData"), DETAIL));
        }
    }
    errs.extend(validate_configmap(new));
    errs
}

/// Upstream's `ValidatePodStatusUpdate`, the parts a status writer can get wrong: the
/// nominated node's name and the pod's and host's IPs (valid, at most one per family).
/// Upstream's `ValidatePodStatusUpdate`, of what it reads: the new status.
pub fn validate_pod_status_update(status: &PodStatus) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("status");
    if let Some(nominated) = status.nominated_node_name.as_deref().filter(|n| !n.is_empty()) {
        for msg in is_dns1123_subdomain(nominated) {
            errs.push(FieldError::invalid(&path.child("nominatedNodeName"), nominated, msg));
        }
    }
    let families = [
        ("podIPs", status.pod_ips.iter().flatten().map(|ip| ip.ip.as_str()).collect::<Vec<_>>()),
        ("hostIPs", status.host_ips.iter().flatten().map(|ip| ip.ip.as_str()).collect::<Vec<_>>()),
    ];
    for (field, ips) in families {
        let mut seen = BTreeSet::new();
        for (i, ip) in ips.iter().enumerate() {
            let p = path.child(field).index(i).child("ip");
            match ip.parse::<std::net::IpAddr>() {
                Err(_) => errs.push(FieldError::invalid(&p, *ip, "must be a valid IP address")),
                Ok(addr) => {
                    if !seen.insert(addr.is_ipv4()) {
                        errs.push(FieldError::invalid(
                            &path.child(field),
                            json!(ips),
                            "may specify no more than one IP for each IP family",
                        ));
                        break;
                    }
                }
            }
        }
    }
    errs
}

pub fn validate_priority_class(pc: &PriorityClass) -> FieldErrors {
    let mut errs = Vec::new();
    let name = pc.metadata.name.as_deref().unwrap_or_default();
    let builtin = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name);
    match builtin {
        Some((_, value)) if pc.value != *value => errs.push(FieldError::forbidden(
            &Path::new("metadata").child("name"),
            format!("priority class {name} has a reserved value {value}"),
        )),
        Some(_) => {}
        None if name.starts_with("system-") => errs.push(FieldError::forbidden(
            &Path::new("metadata").child("name"),
            "priority class names with 'system-' prefix are reserved.",
        )),
        None if pc.value > HIGHEST_USER_DEFINABLE_PRIORITY => errs.push(FieldError::forbidden(
            &Path::new("value"),
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
        )),
        None => {}
    }
    if let Some(p) = pc.preemption_policy.as_deref()
        && !["Never", "PreemptLowerPriority"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            &Path::new("preemptionPolicy"),
            p,
            &["Never", "PreemptLowerPriority"],
        ));
    }
    errs
}

pub fn validate_lease(lease: &Lease) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(spec) = &lease.spec else { return errs };
    if let Some(d) = spec.lease_duration_seconds
        && d <= 0
    {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("leaseDurationSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = spec.lease_transitions
        && t < 0
    {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("leaseTransitions"),
            t,
            "must be greater than or equal to 0",
        ));
    }
    errs
}

pub fn validate_event(event: &Event) -> FieldErrors {
    let mut errs = Vec::new();
    let involved = event.involved_object.namespace.as_deref().unwrap_or_default();
    let own = event.metadata.namespace.as_deref().unwrap_or_default();
    if !involved.is_empty() && involved != own {
        errs.push(FieldError::invalid(
            &Path::new("involvedObject").child("namespace"),
            involved,
            "does not match event.namespace",
        ));
    }
    errs
}

#[cfg(test)]
mod update_tests {
    use super::*;

    #[test]
    fn immutable_configmaps_keep_their_data() {
        let old: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}}))
                .unwrap();
        let mut new = old.clone();
        assert!(validate_configmap_update(&new, &old).is_empty());
        new.data = Some([("a".to_string(), "2".to_string())].into());
        new.immutable = None;
        let fields: Vec<String> =
            validate_configmap_update(&new, &old).iter().map(|e| e.field.clone()).collect();
        assert_eq!(fields, ["immutable", "data"]);
        let mutable = ConfigMap { immutable: None, ..old };
        assert!(validate_configmap_update(&new, &mutable).is_empty());
    }

    #[test]
    fn pod_status_ips_are_checked() {
        let status: PodStatus = serde_json::from_value(
            json!({"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "nominatedNodeName": "n1"}),
        )
        .unwrap();
        assert!(validate_pod_status_update(&status).is_empty());
        let bad: PodStatus = serde_json::from_value(
            json!({"podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "hostIPs": [{"ip": "nope"}]}),
        )
        .unwrap();
        let fields: Vec<String> = validate_pod_status_update(&bad).iter().map(|e| e.field.clone()).collect();
        assert_eq!(fields, ["status.podIPs", "status.hostIPs[0].ip"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::aggregate_message;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec}))
            .unwrap()
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn pod_without_containers_is_invalid() {
        assert_eq!(
            messages(&validate_pod(&pod(json!({"containers": []})))),
            vec!["spec.containers: Required value"]
        );
    }

    #[test]
    fn container_rules() {
        let errs = validate_pod(&pod(json!({"containers": [
            {"name": "a", "image": "i", "volumeMounts": [{"name": "missing", "mountPath": "/x"}],
             "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
            {"name": "a"}]})));
        assert_eq!(
            messages(&errs),
            vec![
                "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
                "spec.containers[1].image: Required value",
                "spec.containers[1].name: Duplicate value: \"a\"",
            ]
        );
    }

    #[test]
    fn toleration_rules() {
        let t: Vec<Toleration> = serde_json::from_value(json!([
            {"key": "a", "operator": "Exists", "value": "v"},
            {"operator": "Equal", "value": "v"},
            {"key": "b", "effect": "NoSchedule", "tolerationSeconds": 5},
            {"key": "c", "effect": "Sometimes"},
        ]))
        .unwrap();
        let errs = validate_tolerations(&t, &Path::new("spec").child("tolerations"));
        assert_eq!(
            messages(&errs),
            vec![
                "spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
                "spec.tolerations[1].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
                "spec.tolerations[3].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
            ]
        );
    }

    #[test]
    fn node_affinity_rules() {
        let errs = validate_pod(&pod(json!({"containers": [{"name": "a", "image": "i"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "k", "operator": "In"}, {"key": "k", "operator": "Near"}]}]}}}})));
        assert_eq!(
            aggregate_message(&errs),
            "[spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn', \
             spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].operator: Invalid value: \"Near\": not a valid selector operator]"
        );
    }

    #[test]
    fn pod_spec_is_immutable_but_for_images() {
        let old = pod(json!({"containers": [{"name": "a", "image": "i:1"}]}));
        let image = pod(json!({"containers": [{"name": "a", "image": "i:2"}]}));
        assert!(validate_pod_update(&image, &old).is_empty());
        let other = pod(json!({"containers": [{"name": "a", "image": "i:1"}], "nodeName": "n"}));
        assert_eq!(validate_pod_update(&other, &old)[0].field, "spec");
    }

    #[test]
    fn object_meta_rules() {
        let meta: ObjectMeta = serde_json::from_value(json!({"labels": {"a b": "c"}})).unwrap();
        let errs = validate_object_meta(&meta, true, &Path::new("metadata"));
        let m = messages(&errs);
        assert_eq!(m[0], "metadata.name: Required value: name or generateName is required");
        assert_eq!(m[1], "metadata.namespace: Required value");
        assert!(
            m[2].starts_with("metadata.labels: Invalid value: \"a b\": name part must consist of"),
            "{}",
            m[2]
        );
    }

    #[test]
    fn node_taints() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {"taints": [
            {"key": "a", "effect": "NoExecute"}, {"key": "a", "effect": "NoExecute"}, {"key": "b", "effect": "Never"}],
            "podCIDR": "10.244.1.0/24"}}))
        .unwrap();
        let m = messages(&validate_node(&node));
        assert_eq!(m.len(), 2);
        assert!(m[0].starts_with("spec.taints[1]: Duplicate value"));
        assert!(m[1].starts_with("spec.taints[2].effect: Unsupported value: \"Never\""));
    }

    #[test]
    fn priority_class_limits() {
        let pc: PriorityClass =
            serde_json::from_value(json!({"metadata": {"name": "x"}, "value": 2_000_000_000})).unwrap();
        assert_eq!(
            messages(&validate_priority_class(&pc)),
            vec!["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        let sys: PriorityClass = serde_json::from_value(
            json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000}),
        )
        .unwrap();
        assert!(validate_priority_class(&sys).is_empty());
    }
}
