//! Events, in both versions upstream serves: `v1 Event` (validation, the `source` field
//! selector, `kubectl get events` columns) and `events.k8s.io/v1 Event`, kept in the same
//! storage in the core form and converted field by field both ways, with the stricter checks
//! upstream gives events created through the new API.

use apimachinery::duration::{human_duration, parse_time};
use apimachinery::validation::{FieldError, FieldErrors, Path, is_qualified_name};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, field_at, register, typed};
use crate::error::ApiResult;
use crate::printers::{ColumnDefinition, col, i, s};
use crate::resources::ResourceType;

#[derive(Debug)]
pub struct Event;

impl Kind for Event {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_event(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(apimachinery::core::validate_event(&typed(new)?))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    /// `source` selects on the reporting component.
    fn field_value(&self, obj: &Value, label: &str) -> Option<String> {
        field_at(obj, if label == "source" { "source.component" } else { label })
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
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
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        event_cells(obj, now)
    }
}

/// `events.k8s.io/v1 Event`, kept as a core Event.
#[derive(Debug)]
pub struct EventV1;

/// The fields the two versions name differently: `events.k8s.io/v1` first, core second.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Upstream's field label conversions for `events.k8s.io/v1` Events.
const FIELD_LABELS: [(&str, &str); 10] = [
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    ("regarding.resourceVersion", "involvedObject.resourceVersion"),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("reason", "reason"),
    ("type", "type"),
];

/// The `events.k8s.io/v1` field labels (as served in the resource table).
pub const V1_FIELD_LABELS: [&str; 10] = {
    let mut labels = [""; 10];
    let mut i = 0;
    while i < FIELD_LABELS.len() {
        labels[i] = FIELD_LABELS[i].0;
        i += 1;
    }
    labels
};

fn renamed(obj: &Value, api_version: &str, from_new: bool) -> Value {
    let mut out = obj.clone();
    if let Some(map) = out.as_object_mut() {
        for (new, core) in RENAMED {
            let (from, to) = if from_new { (new, core) } else { (core, new) };
            match map.remove(from) {
                Some(v) => {
                    map.insert(to.to_string(), v);
                }
                None => {
                    map.remove(to);
                }
            }
        }
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!("Event"));
    }
    out
}

/// The core form of an `events.k8s.io/v1` Event.
pub fn to_core(event: &Value) -> Value {
    let mut core = renamed(event, "v1", true);
    if core.get("involvedObject").is_none() {
        core["involvedObject"] = json!({});
    }
    core
}

/// An `events.k8s.io/v1` Event from its core form.
pub fn from_core(core: &Value) -> Value {
    renamed(core, "events.k8s.io/v1", false)
}

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_i64() != Some(0),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

/// Upstream `ValidateEventCreate` for `events.k8s.io/v1` (on the core form, so the paths are
/// the core names upstream reports): the legacy checks of an event with an `eventTime`, then
/// the strict ones.
fn validate_v1(core: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let own_ns = s(core, &["metadata", "namespace"]);
    if s(core, &["involvedObject", "namespace"]).is_empty() && !["default", "kube-system"].contains(&own_ns) {
        errs.push(FieldError::invalid(
            &Path::new("involvedObject").child("namespace"),
            "",
            "does not match event.namespace",
        ));
    }
    let controller = s(core, &["reportingComponent"]);
    let controller_path = Path::new("reportingController");
    if controller.is_empty() {
        errs.push(FieldError::required(&controller_path, ""));
    }
    errs.extend(
        is_qualified_name(controller)
            .into_iter()
            .map(|m| FieldError::invalid(&controller_path, controller, m)),
    );
    let instance = s(core, &["reportingInstance"]);
    if instance.is_empty() {
        errs.push(FieldError::required(&Path::new("reportingInstance"), ""));
    } else if instance.len() > 128 {
        errs.push(FieldError::invalid(
            &Path::new("reportingInstance"),
            "",
            "can have at most 128 characters",
        ));
    }
    let action = s(core, &["action"]);
    if action.is_empty() {
        errs.push(FieldError::required(&Path::new("action"), ""));
    } else if action.len() > 128 {
        errs.push(FieldError::invalid(&Path::new("action"), "", "can have at most 128 characters"));
    }
    if s(core, &["reason"]).is_empty() {
        errs.push(FieldError::required(&Path::new("reason"), ""));
    } else if s(core, &["reason"]).len() > 128 {
        errs.push(FieldError::invalid(&Path::new("reason"), "", "can have at most 128 characters"));
    }
    if s(core, &["message"]).len() > 1024 {
        errs.push(FieldError::invalid(&Path::new("message"), "", "can have at most 1024 characters"));
    }
    errs.extend(validate_series(core));
    if s(core, &["eventTime"]).is_empty() {
        errs.push(FieldError::required(&Path::new("eventTime"), ""));
    }
    let type_ = s(core, &["type"]);
    if type_ != "Normal" && type_ != "Warning" {
        errs.push(FieldError::invalid(&Path::new("type"), "", format!("has invalid value: {type_}")));
    }
    for field in ["firstTimestamp", "lastTimestamp", "count", "source"] {
        if is_set(&core[field]) {
            errs.push(FieldError::invalid(&Path::new(field), "", "needs to be unset"));
        }
    }
    errs
}

/// Upstream `validateV1EventSeries`.
fn validate_series(core: &Value) -> FieldErrors {
    let series = &core["series"];
    if !series.is_object() {
        return Vec::new();
    }
    let mut errs = Vec::new();
    if series["count"].as_i64().unwrap_or(0) < 2 {
        errs.push(FieldError::invalid(&Path::new("series").child("count"), "", "should be at least 2"));
    }
    if s(series, &["lastObservedTime"]).is_empty() {
        errs.push(FieldError::required(&Path::new("series").child("lastObservedTime"), ""));
    }
    errs
}

/// Upstream `ValidateEventUpdate` for `events.k8s.io/v1`: a changed series is checked again,
/// and what says what happened may not change.
fn validate_v1_update(new: &Value, old: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    if new["series"] != old["series"] {
        errs.extend(validate_series(new));
    }
    for field in [
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "type",
        "eventTime",
        "action",
        "related",
        "reportingComponent",
        "reportingInstance",
    ] {
        if new.get(field) != old.get(field) {
            let path = if field == "reportingComponent" { "reportingController" } else { field };
            errs.push(FieldError::invalid(&Path::new(path), new[field].clone(), "field is immutable"));
        }
    }
    errs
}

impl Kind for EventV1 {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<k8s_openapi::api::events::v1::Event>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<k8s_openapi::api::events::v1::Event>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_v1(&to_core(obj)))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_v1_update(&to_core(new), &to_core(old)))
    }

    /// No status subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn converts(&self) -> bool {
        true
    }

    fn served_form(&self, _rt: &ResourceType, stored: &Value) -> Value {
        from_core(stored)
    }

    fn stored_form(&self, obj: Value) -> Value {
        to_core(&obj)
    }

    fn storage_field_label(&self, label: &str) -> String {
        FIELD_LABELS.iter().find(|(new, _)| *new == label).map_or(label, |(_, core)| core).to_string()
    }

    /// Selection happens on the stored (core) form.
    fn field_value(&self, obj: &Value, label: &str) -> Option<String> {
        Event.field_value(obj, label)
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        Event.columns()
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        event_cells(obj, now)
    }
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
    use crate::printers::tests::{headers, now};

    #[test]
    fn headers_are_upstreams() {
        assert_eq!(headers(&Event, false), "LAST SEEN TYPE REASON OBJECT MESSAGE");
    }

    #[test]
    fn row() {
        let e = json!({"metadata": {"name": "fluentd.1"}, "type": "Normal", "reason": "SuccessfulCreate",
            "involvedObject": {"kind": "DaemonSet", "name": "fluentd"}, "source": {"component": "daemonset-controller"},
            "message": "Created pod: fluentd-abcde", "firstTimestamp": "2026-01-01T00:59:00Z", "lastTimestamp": "2026-01-01T00:59:50Z", "count": 2});
        let cells = Event.cells(&e, now());
        assert_eq!(
            cells[..4],
            [json!("10s"), json!("Normal"), json!("SuccessfulCreate"), json!("daemonset/fluentd")]
        );
        assert_eq!(cells[5], json!("daemonset-controller"));
        assert_eq!(cells[8], json!(2));
        assert_eq!(Event.field_value(&e, "source").as_deref(), Some("daemonset-controller"));
    }

    fn v1_event() -> Value {
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
               "metadata": {"name": "web.1", "namespace": "default"},
               "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.io/operator",
               "reportingInstance": "operator-0", "action": "Reconcile", "reason": "Synced", "type": "Normal",
               "regarding": {"kind": "DaemonSet", "namespace": "default", "name": "web"}, "note": "synced"})
    }

    #[test]
    fn the_versions_convert_both_ways() {
        let v1 = v1_event();
        let core = to_core(&v1);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["message"], "synced");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["reportingComponent"], "example.io/operator");
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
        assert_eq!(from_core(&core), v1);
        assert_eq!(EventV1.storage_field_label("regarding.name"), "involvedObject.name");
        assert_eq!(EventV1.storage_field_label("metadata.name"), "metadata.name");
    }

    #[test]
    fn new_api_events_are_checked_strictly() {
        use apimachinery::validation::aggregate_message;
        assert_eq!(aggregate_message(&EventV1.validate(&v1_event()).unwrap()), "[]");
        let mut bad = v1_event();
        for field in ["eventTime", "action", "reportingInstance"] {
            bad.as_object_mut().unwrap().remove(field);
        }
        bad["type"] = json!("Odd");
        bad["deprecatedCount"] = json!(3);
        assert_eq!(
            aggregate_message(&EventV1.validate(&bad).unwrap()),
            "[reportingInstance: Required value, action: Required value, eventTime: Required value, type: Invalid value: \"\": has invalid value: Odd, count: Invalid value: \"\": needs to be unset]"
        );
        let mut changed = v1_event();
        changed["note"] = json!("other");
        assert_eq!(
            aggregate_message(&EventV1.validate_update(&changed, &v1_event()).unwrap()),
            "message: Invalid value: \"other\": field is immutable"
        );
    }
}
