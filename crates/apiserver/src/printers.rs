//! Server-side printing: the columns `kubectl get` shows for each served resource, and each
//! object's cells, as upstream's `pkg/printers/internalversion/printers.go` defines them.
//! Wide columns (priority 1) are always filled; kubectl shows them with `-o wide`.

use std::collections::BTreeSet;

use apimachinery::duration::{age, human_duration, parse_time};
use apimachinery::labels::{format_label_selector, format_labels};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

/// One `columnDefinitions` entry of a Table.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnDefinition {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

const fn col(
    name: &'static str,
    type_: &'static str,
    priority: i32,
    description: &'static str,
) -> ColumnDefinition {
    let format = if matches!(name.as_bytes(), b"Name") { "name" } else { "" };
    ColumnDefinition { name, type_, format, description, priority }
}

const NAME: ColumnDefinition = col("Name", "string", 0, "Name must be unique within a namespace.");
const AGE: ColumnDefinition = col("Age", "string", 0, "Time since the object was created.");

/// The columns of a resource's Table.
pub fn column_definitions(group: &str, plural: &str) -> Vec<ColumnDefinition> {
    match (group, plural) {
        ("", "namespaces") => vec![NAME, col("Status", "string", 0, "The phase of the namespace."), AGE],
        ("", "nodes") => vec![
            NAME,
            col("Status", "string", 0, "The status of the node."),
            col("Roles", "string", 0, "The roles of the node."),
            AGE,
            col("Version", "string", 0, "Kubelet version reported by the node."),
            col("Internal-IP", "string", 1, "The node's internal IP address."),
            col("External-IP", "string", 1, "The node's external IP address."),
            col("OS-Image", "string", 1, "OS image reported by the node."),
            col("Kernel-Version", "string", 1, "Kernel version reported by the node."),
            col("Container-Runtime", "string", 1, "Container runtime reported by the node."),
        ],
        ("", "pods") => vec![
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
        ],
        ("", "events") => vec![
            col("Last Seen", "string", 0, "Time since the most recent occurrence of this event."),
            col("Type", "string", 0, "Type of this event (Normal, Warning)."),
            col("Reason", "string", 0, "Why the action was taken."),
            col("Object", "string", 0, "The object this event is about."),
            col("Subobject", "string", 1, "The part of the object this event is about."),
            col("Source", "string", 1, "The component reporting this event."),
            col("Message", "string", 0, "A human-readable description of the status of this operation."),
            col("First Seen", "string", 1, "Time since the first occurrence of this event."),
            col("Count", "string", 1, "The number of times this event has occurred."),
            col("Name", "string", 1, "The name of the event."),
        ],
        ("", "configmaps") => vec![NAME, col("Data", "string", 0, "Number of keys in the config map."), AGE],
        ("apps", "daemonsets") => vec![
            NAME,
            col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod."),
            col(
                "Current",
                "integer",
                0,
                "The number of nodes running at least one daemon pod that are supposed to.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more ready.",
            ),
            col("Up-to-date", "integer", 0, "The total number of nodes running the updated daemon pod."),
            col(
                "Available",
                "integer",
                0,
                "The number of nodes running the daemon pod that have one or more available.",
            ),
            col("Node Selector", "string", 0, "The node selector of the pod template."),
            AGE,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "A label query over pods that are managed by the daemon set."),
        ],
        ("apps", "controllerrevisions") => vec![
            NAME,
            col("Controller", "string", 0, "The controller of this revision."),
            col("Revision", "integer", 0, "The revision number."),
            AGE,
        ],
        ("scheduling.k8s.io", "priorityclasses") => vec![
            NAME,
            col("Value", "integer", 0, "The priority value of the class."),
            col("Global-Default", "boolean", 0, "Whether this class applies to pods that name none."),
            AGE,
            col("PreemptionPolicy", "string", 0, "The policy for preempting pods with lower priority."),
        ],
        ("coordination.k8s.io", "leases") => {
            vec![NAME, col("Holder", "string", 0, "The holder of the lease."), AGE]
        }
        _ => vec![NAME, AGE],
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str).unwrap_or_default()
}

fn i(v: &Value, path: &[&str]) -> i64 {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: &str) -> String {
    if s.is_empty() { "<none>".to_string() } else { s.to_string() }
}

fn created(obj: &Value, now: Timestamp) -> String {
    age(parse_time(s(obj, &["metadata", "creationTimestamp"])), now)
}

/// The cells of one object's row, in [`column_definitions`] order.
pub fn row_cells(group: &str, plural: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(s(obj, &["metadata", "name"]));
    match (group, plural) {
        ("", "namespaces") => vec![name, json!(s(obj, &["status", "phase"])), json!(created(obj, now))],
        ("", "nodes") => node_cells(obj, now),
        ("", "pods") => pod_cells(obj, now),
        ("", "events") => event_cells(obj, now),
        ("", "configmaps") => {
            let count = |f: &str| obj.get(f).and_then(Value::as_object).map_or(0, |m| m.len());
            vec![name, json!(count("data") + count("binaryData")), json!(created(obj, now))]
        }
        ("apps", "daemonsets") => daemonset_cells(obj, now),
        ("apps", "controllerrevisions") => {
            let controller = obj["metadata"]["ownerReferences"]
                .as_array()
                .and_then(|refs| refs.iter().find(|r| r["controller"] == json!(true)))
                .map(|r| {
                    let group = s(r, &["apiVersion"]).rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
                    let kind = if group.is_empty() {
                        s(r, &["kind"]).to_string()
                    } else {
                        format!("{}.{group}", s(r, &["kind"]))
                    };
                    format!("{}/{}", kind.to_lowercase(), s(r, &["name"]))
                })
                .unwrap_or_else(|| "<none>".to_string());
            vec![name, json!(controller), json!(i(obj, &["revision"])), json!(created(obj, now))]
        }
        ("scheduling.k8s.io", "priorityclasses") => vec![
            name,
            json!(i(obj, &["value"])),
            json!(obj["globalDefault"].as_bool().unwrap_or(false)),
            json!(created(obj, now)),
            json!(s(obj, &["preemptionPolicy"])),
        ],
        ("coordination.k8s.io", "leases") => {
            vec![name, json!(s(obj, &["spec", "holderIdentity"])), json!(created(obj, now))]
        }
        _ => vec![name, json!(created(obj, now))],
    }
}

fn daemonset_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let status = |f: &str| json!(i(obj, &["status", f]));
    let pod_spec = &obj["spec"]["template"]["spec"];
    let node_selector = serde_json::from_value(pod_spec["nodeSelector"].clone()).ok();
    let containers = pod_spec["containers"].as_array().cloned().unwrap_or_default();
    let join = |field: &str| containers.iter().map(|c| s(c, &[field])).collect::<Vec<_>>().join(",");
    let selector = serde_json::from_value(obj["spec"]["selector"].clone()).ok();
    vec![
        json!(s(obj, &["metadata", "name"])),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        json!(format_labels(node_selector.as_ref())),
        json!(created(obj, now)),
        json!(join("name")),
        json!(join("image")),
        json!(format_label_selector(selector.as_ref())),
    ]
}

fn node_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = obj["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = conditions.iter().find(|c| c["type"] == "Ready") {
        status.push(if ready["status"] == "True" { "Ready" } else { "NotReady" });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if obj["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in obj["metadata"]["labels"].as_object().into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v.to_string());
        }
    }
    let roles =
        if roles.is_empty() { "<none>".to_string() } else { roles.into_iter().collect::<Vec<_>>().join(",") };
    let address = |t: &str| {
        obj["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["type"] == t))
            .map(|x| s(x, &["address"]).to_string())
            .unwrap_or_else(|| "<none>".to_string())
    };
    let info = |f: &str| {
        let v = s(obj, &["status", "nodeInfo", f]);
        if v.is_empty() { "<unknown>".to_string() } else { v.to_string() }
    };
    vec![
        json!(s(obj, &["metadata", "name"])),
        json!(status.join(",")),
        json!(roles),
        json!(created(obj, now)),
        json!(s(obj, &["status", "nodeInfo", "kubeletVersion"])),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
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

fn event_cells(e: &Value, now: Timestamp) -> Vec<Value> {
    let since = |t: &str| parse_time(t).map(|t| human_duration(now.as_second() - t.as_second()));
    let first = since(s(e, &["firstTimestamp"]))
        .or_else(|| since(s(e, &["eventTime"])))
        .unwrap_or_else(|| "<unknown>".to_string());
    let mut last = since(s(e, &["lastTimestamp"])).unwrap_or_else(|| first.clone());
    let mut count = i(e, &["count"]);
    if e["series"].is_object() {
        last = since(s(e, &["series", "lastObservedTime"])).unwrap_or_else(|| "<unknown>".to_string());
        count = i(e, &["series", "count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = s(e, &["involvedObject", "kind"]).to_lowercase();
    let involved_name = s(e, &["involvedObject", "name"]);
    let target = if involved_name.is_empty() { kind } else { format!("{kind}/{involved_name}") };
    let component = s(e, &["source", "component"]);
    let host = s(e, &["source", "host"]);
    let source = match (component, host) {
        ("", _) => [s(e, &["reportingComponent"]), s(e, &["reportingInstance"])]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        (c, "") => c.to_string(),
        (c, h) => format!("{c}, {h}"),
    };
    vec![
        json!(last),
        json!(s(e, &["type"])),
        json!(s(e, &["reason"])),
        json!(target),
        json!(s(e, &["involvedObject", "fieldPath"])),
        json!(source),
        json!(s(e, &["message"]).trim()),
        json!(first),
        json!(count),
        json!(s(e, &["metadata", "name"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-01T01:00:00Z".parse().unwrap()
    }

    fn headers(group: &str, plural: &str, wide: bool) -> String {
        column_definitions(group, plural)
            .iter()
            .filter(|c| wide || c.priority == 0)
            .map(|c| c.name.to_uppercase())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn upstream_headers() {
        assert_eq!(
            headers("apps", "daemonsets", false),
            "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"
        );
        assert_eq!(
            headers("", "pods", true),
            "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
        );
        assert_eq!(headers("", "events", false), "LAST SEEN TYPE REASON OBJECT MESSAGE");
        assert_eq!(
            headers("scheduling.k8s.io", "priorityclasses", false),
            "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY"
        );
        assert_eq!(headers("", "nodes", false), "NAME STATUS ROLES AGE VERSION");
        for (g, p) in [
            ("", "namespaces"),
            ("", "nodes"),
            ("", "pods"),
            ("", "events"),
            ("", "configmaps"),
            ("apps", "daemonsets"),
            ("apps", "controllerrevisions"),
            ("scheduling.k8s.io", "priorityclasses"),
            ("coordination.k8s.io", "leases"),
        ] {
            assert_eq!(column_definitions(g, p).len(), row_cells(g, p, &json!({}), now()).len(), "{p}");
        }
    }

    #[test]
    fn daemonset_row() {
        let ds = json!({"metadata": {"name": "fluentd", "creationTimestamp": "2026-01-01T00:58:00Z"},
            "spec": {"selector": {"matchLabels": {"name": "fluentd"}},
                     "template": {"spec": {"nodeSelector": {"type": "x", "a": "b"}, "containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}]}}},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert_eq!(
            row_cells("apps", "daemonsets", &ds, now()),
            vec![
                json!("fluentd"),
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("a=b,type=x"),
                json!("2m"),
                json!("c1,c2"),
                json!("i1,i2"),
                json!("name=fluentd")
            ]
        );
    }

    #[test]
    fn pod_statuses() {
        let base = json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:59:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.2"}],
                "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        let cells = row_cells("", "pods", &base, now());
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
        assert_eq!(row_cells("", "pods", &pulling, now())[1..3], [json!("0/1"), json!("ImagePullBackOff")]);

        let mut crashing = base.clone();
        crashing["status"]["containerStatuses"] = json!([{"name": "c", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:59:30Z"}}}]);
        assert_eq!(
            row_cells("", "pods", &crashing, now())[2..4],
            [json!("CrashLoopBackOff"), json!("3 (30s ago)")]
        );

        let mut terminating = base.clone();
        terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T01:00:30Z");
        assert_eq!(row_cells("", "pods", &terminating, now())[2], json!("Terminating"));

        let mut failed = base;
        failed["status"]["phase"] = json!("Failed");
        failed["status"]["containerStatuses"] = json!([{"name": "c", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]);
        assert_eq!(row_cells("", "pods", &failed, now())[2], json!("ExitCode:2"));
    }

    #[test]
    fn node_row() {
        let node = json!({"metadata": {"name": "k8s-control-plane", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}], "nodeInfo": {"kubeletVersion": "v1.33.0"},
                       "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}});
        let cells = row_cells("", "nodes", &node, now());
        assert_eq!(cells[1], json!("NotReady,SchedulingDisabled"));
        assert_eq!(cells[2], json!("control-plane"));
        assert_eq!(cells[4], json!("v1.33.0"));
        assert_eq!(cells[5], json!("172.18.0.2"));
        assert_eq!(cells[6], json!("<none>"));
        assert_eq!(cells[7], json!("<unknown>"));
    }

    #[test]
    fn event_and_revision_rows() {
        let e = json!({"metadata": {"name": "fluentd.1"}, "type": "Normal", "reason": "SuccessfulCreate",
            "involvedObject": {"kind": "DaemonSet", "name": "fluentd"}, "source": {"component": "daemonset-controller"},
            "message": "Created pod: fluentd-abcde", "firstTimestamp": "2026-01-01T00:59:00Z", "lastTimestamp": "2026-01-01T00:59:50Z", "count": 2});
        let cells = row_cells("", "events", &e, now());
        assert_eq!(
            cells[..4],
            [json!("10s"), json!("Normal"), json!("SuccessfulCreate"), json!("daemonset/fluentd")]
        );
        assert_eq!(cells[5], json!("daemonset-controller"));
        assert_eq!(cells[8], json!(2));
        let cr = json!({"metadata": {"name": "fluentd-6d8f", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd", "controller": true}]}, "revision": 3});
        assert_eq!(
            row_cells("apps", "controllerrevisions", &cr, now())[1..3],
            [json!("daemonset.apps/fluentd"), json!(3)]
        );
    }
}
