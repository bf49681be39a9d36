//! `v1 Pod`: upstream's defaults and validation, the QoS class set on create, graceful
//! deletion of bound pods, and `kubectl get pods` as upstream's `printPod` shows it.

use std::collections::BTreeSet;

use apimachinery::duration::{format_time, human_duration, parse_time};
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::FieldErrors;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Deletion, Kind, canonical, defaulted, field_at, register, typed};
use crate::error::{ApiError, ApiResult};
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, i, or_none, s};
use crate::resources::{self, ResourceType};
use crate::storage::Snapshot;

#[derive(Debug)]
pub struct Pod;

impl Kind for Pod {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_pod_create(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_pod_update(&typed(new)?, &typed(old)?))
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        // What upstream's status validation reads is the status: only it is decoded.
        match new.get("status") {
            Some(status) => Ok(apimachinery::core::validate_pod_status_update(&typed(status)?)),
            None => Ok(Vec::new()),
        }
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, apimachinery::core::set_defaults_pod)
    }

    /// A pod's defaults are its spec's (`SetDefaults_PodSpec`, containers, volumes, requests
    /// from limits).
    fn defaults_read_status(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(obj);
        obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        // Upstream's `applySchedulingGatedCondition`: a gated pod says so from the start.
        if obj["spec"]["schedulingGates"].as_array().is_some_and(|g| !g.is_empty()) {
            obj["status"]["conditions"] = json!([{
                "type": "PodScheduled",
                "status": "False",
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "lastProbeTime": null,
                "lastTransitionTime": format_time(Timestamp::now()),
            }]);
        }
    }

    /// Upstream's `ServiceAccount` and `Priority` admission, on create.
    fn admit(
        &self,
        rt: &ResourceType,
        cluster: &Snapshot<'_>,
        pod: &mut Value,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        if old.is_some() {
            return Ok(());
        }
        let ns = s(pod, &["metadata", "namespace"]).to_string();
        admit_service_account(cluster, rt, &ns, pod)?;
        admit_priority(cluster, rt, pod)
    }

    fn field_value(&self, obj: &Value, label: &str) -> Option<String> {
        field_at(obj, label).or_else(|| (label == "spec.hostNetwork").then(|| "false".to_string()))
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            col("Status", "string", 0, "The aggregate status of the containers in this pod."),
            col(
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            col("IP", "string", 1, "IP address allocated to the pod."),
            col("Node", "string", 1, "Name of the node this pod is assigned to."),
            col("Nominated Node", "string", 1, "Name of the node where the pod is nominated to run."),
            col("Readiness Gates", "string", 1, "The readiness gates of the pod."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        pod_cells(obj, now)
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::POD
    }

    /// Pods bound to a node and not finished get a grace period for their kubelet; the rest,
    /// and a zero grace period, go at once.
    fn deletion(&self, pod: &Value, grace_period_seconds: Option<i64>) -> Deletion {
        let bound = pod["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
        let terminal = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
        if !bound || terminal {
            return Deletion::Immediate;
        }
        let grace = grace_period_seconds
            .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30);
        if grace > 0 { Deletion::Graceful(grace) } else { Deletion::Immediate }
    }

    fn awaits_removal(&self, pod: &Value) -> bool {
        pod["metadata"]["deletionGracePeriodSeconds"].as_i64().is_some_and(|g| g > 0)
    }
}

/// Defaults a pod's `serviceAccountName` to `default`, mirrors it into the deprecated
/// `serviceAccount`, refuses a pod whose ServiceAccount does not exist, and mounts the
/// account's token (upstream `ServiceAccount` admission).
fn admit_service_account(snap: &Snapshot<'_>, rt: &ResourceType, ns: &str, pod: &mut Value) -> ApiResult<()> {
    if pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string() {
        return Ok(());
    }
    let spec = &mut pod["spec"];
    let account = match spec["serviceAccountName"].as_str().filter(|s| !s.is_empty()) {
        Some(name) => name.to_string(),
        None => spec["serviceAccount"].as_str().filter(|s| !s.is_empty()).unwrap_or("default").to_string(),
    };
    spec["serviceAccountName"] = json!(account);
    spec["serviceAccount"] = json!(account);
    let Some(service_account) = snap.get(resources::builtin("", "v1", "serviceaccounts"), ns, &account)
    else {
        return Err(ApiError::forbidden(
            rt,
            s(pod, &["metadata", "name"]),
            &format!(
                "error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found"
            ),
        ));
    };
    let automount = pod["spec"]["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| {
            // Most accounts say nothing; only those that do are decoded, under the writer lock.
            const FIELD: &[u8] = b"automountServiceAccountToken";
            let says = service_account.json().windows(FIELD.len()).any(|w| w == FIELD);
            says.then(|| service_account.value()["automountServiceAccountToken"].as_bool()).flatten()
        })
        .unwrap_or(true);
    if automount {
        mount_service_account_token(&mut pod["spec"]);
    }
    Ok(())
}

/// Where a pod's containers find their ServiceAccount token, namespace and cluster CA.
pub const SERVICE_ACCOUNT_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const API_ACCESS_VOLUME_PREFIX: &str = "kube-api-access-";

/// Upstream's projected token volume (`kube-api-access-xxxxx`: a token renewed by the kubelet,
/// the cluster CA and the namespace), mounted read-only into every init container and container
/// that mounts nothing at that path yet. The volume is added only if some container mounts it.
fn mount_service_account_token(spec: &mut Value) {
    let existing = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .find(|n| n.starts_with(API_ACCESS_VOLUME_PREFIX))
        .map(str::to_string);
    let volume = existing.clone().unwrap_or_else(|| {
        use rand::Rng;
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut rng = rand::rng();
        let suffix: String = (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
        format!("{API_ACCESS_VOLUME_PREFIX}{suffix}")
    });
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec[list].as_array_mut() else { continue };
        for c in containers {
            let has_mount = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"] == SERVICE_ACCOUNT_MOUNT_PATH);
            if has_mount {
                continue;
            }
            let mount = json!({"name": volume, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH});
            match c["volumeMounts"].as_array_mut() {
                Some(mounts) => mounts.push(mount),
                None => c["volumeMounts"] = json!([mount]),
            }
            mounted = true;
        }
    }
    if !mounted || existing.is_some() {
        return;
    }
    let projected = json!({
        "name": volume,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 420,
        },
    });
    match spec["volumes"].as_array_mut() {
        Some(volumes) => volumes.push(projected),
        None => spec["volumes"] = json!([projected]),
    }
}

/// Resolves a pod's `priorityClassName` to `spec.priority` (upstream `Priority` admission).
fn admit_priority(snap: &Snapshot<'_>, rt: &ResourceType, pod: &mut Value) -> ApiResult<()> {
    let classes = resources::builtin("scheduling.k8s.io", "v1", "priorityclasses");
    let name = s(pod, &["metadata", "name"]).to_string();
    let class_name = pod["spec"]["priorityClassName"].as_str().unwrap_or_default().to_string();
    let class = if class_name.is_empty() {
        snap.list(classes, None)
            .iter()
            .map(|c| c.value())
            .filter(|c| c["globalDefault"].as_bool() == Some(true))
            .max_by_key(|c| c["value"].as_i64().unwrap_or(0))
    } else {
        Some(snap.get(classes, "", &class_name).map(|c| c.value()).ok_or_else(|| {
            ApiError::forbidden(rt, &name, &format!("no PriorityClass with name {class_name} was found"))
        })?)
    };
    let priority = class.as_ref().and_then(|c| c["value"].as_i64()).unwrap_or(0);
    if let Some(given) = pod["spec"]["priority"].as_i64()
        && given != priority
    {
        return Err(ApiError::forbidden(
            rt,
            &name,
            &format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            ),
        ));
    }
    pod["spec"]["priority"] = json!(priority);
    if let Some(class) = class {
        pod["spec"]["priorityClassName"] = class["metadata"]["name"].clone();
        if pod["spec"].get("preemptionPolicy").is_none() {
            pod["spec"]["preemptionPolicy"] =
                class.get("preemptionPolicy").cloned().unwrap_or(json!("PreemptLowerPriority"));
        }
    }
    Ok(())
}

/// Upstream's QoS class of a pod: Guaranteed, Burstable or BestEffort.
fn qos_class(pod: &Value) -> &'static str {
    let containers = pod["spec"]["containers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let requests = c["resources"]["requests"].as_object();
        let limits = c["resources"]["limits"].as_object();
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(res));
            let request = requests.and_then(|r| r.get(res)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn terminated_reason(t: &Value) -> String {
    let reason = s(t, &["reason"]);
    if !reason.is_empty() {
        reason.to_string()
    } else if i(t, &["signal"]) != 0 {
        format!("Signal:{}", i(t, &["signal"]))
    } else {
        format!("ExitCode:{}", i(t, &["exitCode"]))
    }
}

fn condition_true(obj: &Value, type_: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == type_ && c["status"] == "True")
}

/// What upstream's `printPod` shows: READY, STATUS and RESTARTS derived from the container
/// statuses, then the wide columns.
fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let phase = s(pod, &["status", "phase"]);
    let mut reason = if s(status, &["reason"]).is_empty() {
        phase.to_string()
    } else {
        s(status, &["reason"]).to_string()
    };
    let init_specs = spec["initContainers"].as_array().cloned().unwrap_or_default();
    let sidecars: BTreeSet<&str> = init_specs
        .iter()
        .filter(|c| c["restartPolicy"] == "Always")
        .filter_map(|c| c["name"].as_str())
        .collect();
    let mut total = spec["containers"].as_array().map_or(0, Vec::len) + sidecars.len();
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut note_restart = |c: &Value, restarts: &mut i64| {
        *restarts += i(c, &["restartCount"]);
        if let Some(t) = parse_time(s(c, &["lastState", "terminated", "finishedAt"])) {
            last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
        }
    };
    if status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }
    let mut initializing = false;
    let init_statuses = status["initContainerStatuses"].as_array().cloned().unwrap_or_default();
    let mut sidecar_restarts = 0;
    for (idx, c) in init_statuses.iter().enumerate() {
        note_restart(c, &mut restarts);
        let is_sidecar = sidecars.contains(s(c, &["name"]));
        if is_sidecar {
            sidecar_restarts += i(c, &["restartCount"]);
            if c["ready"] == json!(true) && c["state"].get("running").is_some() {
                ready += 1;
            }
        }
        let terminated = &c["state"]["terminated"];
        let waiting_reason = s(c, &["state", "waiting", "reason"]);
        if terminated.is_object() && i(terminated, &["exitCode"]) == 0 {
            continue;
        }
        if is_sidecar && c["started"] == json!(true) {
            continue;
        }
        initializing = true;
        reason = if terminated.is_object() {
            format!("Init:{}", terminated_reason(terminated))
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{idx}/{}", init_specs.len())
        };
        break;
    }
    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        let mut has_running = false;
        let statuses = status["containerStatuses"].as_array().cloned().unwrap_or_default();
        for c in statuses.iter().rev() {
            note_restart(c, &mut restarts);
            let waiting_reason = s(c, &["state", "waiting", "reason"]);
            let terminated = &c["state"]["terminated"];
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if terminated.is_object() {
                reason = terminated_reason(terminated);
            } else if c["ready"] == json!(true) && c["state"].get("running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason =
                if condition_true(pod, "Ready") { "Running".to_string() } else { "NotReady".to_string() };
        }
    }
    let deleting = pod["metadata"].get("deletionTimestamp").is_some_and(|d| !d.is_null());
    if deleting && s(status, &["reason"]) == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", human_duration(now.as_second() - t.as_second()))
        }
        _ => restarts.to_string(),
    };
    total = total.max(ready);
    let ip =
        status["podIPs"].as_array().and_then(|ips| ips.first()).map(|ip| s(ip, &["ip"])).unwrap_or_default();
    let gates = spec["readinessGates"].as_array().cloned().unwrap_or_default();
    let gates_cell = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let met = gates.iter().filter(|g| condition_true(pod, s(g, &["conditionType"]))).count();
        format!("{met}/{}", gates.len())
    };
    vec![
        json!(s(pod, &["metadata", "name"])),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        json!(created(pod, now)),
        json!(or_none(ip)),
        json!(or_none(s(spec, &["nodeName"]))),
        json!(or_none(s(status, &["nominatedNodeName"]))),
        json!(gates_cell),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};

    fn row_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
        Pod.cells(obj, now)
    }

    #[test]
    fn qos_classes() {
        let best = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(qos_class(&best), "BestEffort");
        let g = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn pod_statuses() {
        let base = json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:59:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.2"}],
                "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        let cells = row_cells(&base, now());
        assert_eq!(
            cells,
            vec![
                json!("p"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("60s"),
                json!("10.244.1.2"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );

        let mut pulling = base.clone();
        pulling["status"]["phase"] = json!("Pending");
        pulling["status"]["containerStatuses"] = json!([{"name": "c", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]);
        assert_eq!(row_cells(&pulling, now())[1..3], [json!("0/1"), json!("ImagePullBackOff")]);

        let mut crashing = base.clone();
        crashing["status"]["containerStatuses"] = json!([{"name": "c", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:59:30Z"}}}]);
        assert_eq!(row_cells(&crashing, now())[2..4], [json!("CrashLoopBackOff"), json!("3 (30s ago)")]);

        let mut terminating = base.clone();
        terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T01:00:30Z");
        assert_eq!(row_cells(&terminating, now())[2], json!("Terminating"));

        let mut failed = base;
        failed["status"]["phase"] = json!("Failed");
        failed["status"]["containerStatuses"] = json!([{"name": "c", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]);
        assert_eq!(row_cells(&failed, now())[2], json!("ExitCode:2"));
    }

    #[test]
    fn headers_are_upstreams() {
        assert_eq!(
            headers(&Pod, true),
            "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
        );
    }

    #[test]
    fn bound_pods_are_deleted_gracefully() {
        let pod = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10}, "status": {"phase": "Running"}});
        assert_eq!(Pod.deletion(&pod, None), Deletion::Graceful(10));
        assert_eq!(Pod.deletion(&pod, Some(0)), Deletion::Immediate);
        assert_eq!(Pod.deletion(&json!({"spec": {}}), None), Deletion::Immediate);
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(Pod.deletion(&done, None), Deletion::Immediate);
    }
}
