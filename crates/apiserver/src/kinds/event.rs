//! `v1 Event`: validation, the `source` field selector, and `kubectl get events` columns.

use apimachinery::duration::{human_duration, parse_time};
use apimachinery::validation::FieldErrors;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event as Type;
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::{Kind, canonical, field_at, register, typed};
use crate::error::ApiResult;
use crate::printers::{ColumnDefinition, col, i, s};

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
}
