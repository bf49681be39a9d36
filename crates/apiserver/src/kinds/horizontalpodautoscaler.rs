//! `autoscaling/v2 HorizontalPodAutoscaler`: upstream's defaults (one replica at least, 80%
//! CPU, the scaling behavior's rules filled in), validation of replicas, the target and the
//! metrics, status cleared on create, and `kubectl get hpa` columns. And `autoscaling/v1`,
//! kept in the same storage in the `v2` form: its CPU target is the `v2` CPU utilization metric,
//! and what `v1` cannot say (other metrics, the behavior, conditions, other current metrics)
//! travels in upstream's `autoscaling.alpha.kubernetes.io/…` annotations, so a `v1` client
//! that writes back what it read loses nothing. (Upstream writes the metrics annotations in
//! `v1`'s older metric shape; here they hold `v2` metrics.)

use apimachinery::validation::{FieldError, FieldErrors, Path, is_valid_path_segment_name};
use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler as Type, HorizontalPodAutoscalerStatus,
    MetricSpec, MetricTarget, ResourceMetricSource,
};
use serde_json::{Value, json};

use super::{Kind, defaulted, typed, typed_as};
use crate::error::ApiResult;
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, i, s};
use crate::resources::ResourceType;

#[derive(Debug)]
pub struct HorizontalPodAutoscaler;

const METRIC_TYPES: [&str; 5] = ["Object", "Pods", "Resource", "External", "ContainerResource"];
const TARGET_TYPES: [&str; 3] = ["AverageValue", "Utilization", "Value"];

fn policy(type_: &str, value: i32) -> HPAScalingPolicy {
    HPAScalingPolicy { type_: type_.to_string(), value, period_seconds: 15 }
}

/// The rules given, completed by `defaults` where they leave a field out.
fn complete(given: Option<HPAScalingRules>, mut defaults: HPAScalingRules) -> HPAScalingRules {
    if let Some(given) = given {
        if given.select_policy.is_some() {
            defaults.select_policy = given.select_policy;
        }
        if given.stabilization_window_seconds.is_some() {
            defaults.stabilization_window_seconds = given.stabilization_window_seconds;
        }
        if given.policies.is_some() {
            defaults.policies = given.policies;
        }
        if given.tolerance.is_some() {
            defaults.tolerance = given.tolerance;
        }
    }
    defaults
}

pub fn set_defaults_hpa(hpa: &mut Type) {
    let spec = hpa.spec.get_or_insert_with(Default::default);
    spec.min_replicas.get_or_insert(1);
    if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
        spec.metrics = Some(vec![MetricSpec {
            type_: "Resource".to_string(),
            resource: Some(ResourceMetricSource {
                name: "cpu".to_string(),
                target: MetricTarget {
                    type_: "Utilization".to_string(),
                    average_utilization: Some(80),
                    ..Default::default()
                },
            }),
            ..Default::default()
        }]);
    }
    if let Some(behavior) = spec.behavior.as_mut() {
        behavior.scale_up = Some(complete(
            behavior.scale_up.take(),
            HPAScalingRules {
                stabilization_window_seconds: Some(0),
                select_policy: Some("Max".to_string()),
                policies: Some(vec![policy("Pods", 4), policy("Percent", 100)]),
                tolerance: None,
            },
        ));
        behavior.scale_down = Some(complete(
            behavior.scale_down.take(),
            HPAScalingRules {
                stabilization_window_seconds: None,
                select_policy: Some("Max".to_string()),
                policies: Some(vec![policy("Percent", 100)]),
                tolerance: None,
            },
        ));
    }
}

/// Upstream `ValidateCrossVersionObjectReference` and the replica bounds and metric kinds of
/// `validateHorizontalPodAutoscalerSpec`.
fn validate_hpa(hpa: &Type) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    let spec = hpa.spec.clone().unwrap_or_default();
    if let Some(min) = spec.min_replicas
        && min < 1
    {
        errs.push(FieldError::invalid(&path.child("minReplicas"), min, "must be greater than or equal to 1"));
    }
    if spec.max_replicas < 1 {
        errs.push(FieldError::invalid(
            &path.child("maxReplicas"),
            spec.max_replicas,
            "must be greater than 0",
        ));
    }
    if let Some(min) = spec.min_replicas
        && spec.max_replicas < min
    {
        errs.push(FieldError::invalid(
            &path.child("maxReplicas"),
            spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    let target = path.child("scaleTargetRef");
    for (field, value) in [("kind", &spec.scale_target_ref.kind), ("name", &spec.scale_target_ref.name)] {
        if value.is_empty() {
            errs.push(FieldError::required(&target.child(field), ""));
        } else {
            for m in is_valid_path_segment_name(value) {
                errs.push(FieldError::invalid(&target.child(field), value.as_str(), m));
            }
        }
    }
    for (n, metric) in spec.metrics.iter().flatten().enumerate() {
        let p = path.child("metrics").index(n);
        let t = metric.type_.as_str();
        if t.is_empty() {
            errs.push(FieldError::required(&p.child("type"), "must specify a metric source type"));
            continue;
        }
        if !METRIC_TYPES.contains(&t) {
            errs.push(FieldError::not_supported(&p.child("type"), t, &METRIC_TYPES));
            continue;
        }
        let (field, target) = match t {
            "Resource" => ("resource", metric.resource.as_ref().map(|r| &r.target)),
            "ContainerResource" => {
                ("containerResource", metric.container_resource.as_ref().map(|r| &r.target))
            }
            "Pods" => ("pods", metric.pods.as_ref().map(|r| &r.target)),
            "Object" => ("object", metric.object.as_ref().map(|r| &r.target)),
            _ => ("external", metric.external.as_ref().map(|r| &r.target)),
        };
        let target_type = p.child(field).child("target").child("type");
        match target.map(|t| t.type_.as_str()) {
            None => errs.push(FieldError::required(
                &p.child(field),
                "must populate information for the given metric source",
            )),
            Some("") => errs.push(FieldError::required(&target_type, "must specify a metric target type")),
            Some(tt) if !TARGET_TYPES.contains(&tt) => errs.push(FieldError::invalid(
                &target_type,
                tt,
                "must be either Utilization, Value, or AverageValue",
            )),
            Some(_) => {}
        }
    }
    errs
}

/// A quantity as JSON holds it, `<nil>` where Go would print a nil quantity.
fn quantity(v: &Value) -> String {
    v.as_str().unwrap_or("<nil>").to_string()
}

/// Upstream's `formatHPAMetrics`: each metric as `current/target`, two at most.
fn targets(obj: &Value) -> String {
    let specs = obj["spec"]["metrics"].as_array().map(Vec::as_slice).unwrap_or_default();
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = obj["status"]["currentMetrics"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut list = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let status = statuses.get(n);
        let current = |field: &str| status.map(|st| &st[field]).filter(|c| c.is_object());
        let entry = match s(spec, &["type"]) {
            t @ ("External" | "Object") => {
                let field = if t == "External" { "external" } else { "object" };
                let target = &spec[field]["target"];
                if target.get("averageValue").is_some() {
                    let cur = current(field)
                        .and_then(|c| c["current"]["averageValue"].as_str())
                        .unwrap_or("<unknown>");
                    format!("{cur}/{} (avg)", quantity(&target["averageValue"]))
                } else {
                    let cur =
                        current(field).map_or("<unknown>".to_string(), |c| quantity(&c["current"]["value"]));
                    format!("{cur}/{}", quantity(&target["value"]))
                }
            }
            "Pods" => {
                let cur = current("pods")
                    .map_or("<unknown>".to_string(), |c| quantity(&c["current"]["averageValue"]));
                format!("{cur}/{}", quantity(&spec["pods"]["target"]["averageValue"]))
            }
            t @ ("Resource" | "ContainerResource") => {
                let field = if t == "Resource" { "resource" } else { "containerResource" };
                let source = &spec[field];
                let name = s(source, &["name"]);
                let target = &source["target"];
                if target.get("averageValue").is_some() {
                    let cur = current(field)
                        .map_or("<unknown>".to_string(), |c| quantity(&c["current"]["averageValue"]));
                    format!("{name}: {cur}/{}", quantity(&target["averageValue"]))
                } else {
                    let cur = current(field)
                        .and_then(|c| c["current"]["averageUtilization"].as_i64())
                        .map_or("<unknown>".to_string(), |u| format!("{u}%"));
                    let goal = target["averageUtilization"]
                        .as_i64()
                        .map_or("<auto>".to_string(), |u| format!("{u}%"));
                    format!("{name}: {cur}/{goal}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    const MAX: usize = 2;
    let count = list.len();
    list.truncate(MAX);
    let joined = list.join(", ");
    if count > MAX { format!("{joined} + {} more...", count - MAX) } else { joined }
}

impl Kind for HorizontalPodAutoscaler {
    typed_as!(Type);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_hpa(&typed(obj)?))
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(validate_hpa(&typed(new)?))
    }

    /// Replica counts in the status are never negative.
    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        let mut errs = Vec::new();
        for field in ["currentReplicas", "desiredReplicas"] {
            let n = i(new, &["status", field]);
            if n < 0 {
                errs.push(FieldError::invalid(
                    &Path::new("status").child(field),
                    n,
                    "must be greater than or equal to 0",
                ));
            }
        }
        Ok(errs)
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_hpa)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = serde_json::to_value(HorizontalPodAutoscalerStatus::default()).unwrap_or_default();
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Reference", "string", 0, "The object whose replicas are scaled, as kind/name."),
            col("Targets", "string", 0, "The metrics' current and target values."),
            col("MinPods", "string", 0, "The lower limit of replicas."),
            col("MaxPods", "string", 0, "The upper limit of replicas."),
            col("Replicas", "string", 0, "The current number of replicas."),
            AGE,
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let spec = &obj["spec"];
        let reference =
            format!("{}/{}", s(spec, &["scaleTargetRef", "kind"]), s(spec, &["scaleTargetRef", "name"]));
        let min = spec["minReplicas"].as_i64().map_or("<unset>".to_string(), |m| m.to_string());
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(reference),
            json!(targets(obj)),
            json!(min),
            json!(i(spec, &["maxReplicas"])),
            json!(i(obj, &["status", "currentReplicas"])),
            json!(created(obj, now)),
        ]
    }
}

/// `autoscaling/v1 HorizontalPodAutoscaler`, kept as `v2`.
#[derive(Debug)]
pub struct HorizontalPodAutoscalerV1;

const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";

fn is_cpu_utilization(metric: &Value, value: &str) -> bool {
    metric["type"] == "Resource"
        && metric["resource"]["name"] == "cpu"
        && metric["resource"][value]["averageUtilization"].is_i64()
}

/// Moves `field` of `from` into the annotation `key` as JSON (when present and not empty).
fn to_annotation(obj: &mut Value, key: &str, value: Option<Value>) {
    let Some(value) = value.filter(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty())) else {
        return;
    };
    obj["metadata"]["annotations"][key] = json!(value.to_string());
}

/// Takes the annotation `key` out of `obj`, parsed.
fn from_annotation(obj: &mut Value, key: &str) -> Option<Value> {
    let annotations = obj.get_mut("metadata")?.get_mut("annotations")?.as_object_mut()?;
    let text = annotations.remove(key)?;
    if annotations.is_empty() {
        obj["metadata"].as_object_mut()?.remove("annotations");
    }
    serde_json::from_str(text.as_str()?).ok()
}

fn take(obj: &mut Value, field: &str) -> Option<Value> {
    obj.as_object_mut()?.remove(field)
}

/// The `v2` form of an `autoscaling/v1` autoscaler (not yet defaulted).
pub fn v1_to_v2(v1: &Value) -> Value {
    let mut v2 = v1.clone();
    v2["apiVersion"] = json!("autoscaling/v2");
    let others = from_annotation(&mut v2, METRICS);
    let behavior = from_annotation(&mut v2, BEHAVIOR);
    let conditions = from_annotation(&mut v2, CONDITIONS);
    let current_others = from_annotation(&mut v2, CURRENT_METRICS);
    let mut metrics = Vec::new();
    if let Some(cpu) = take(&mut v2["spec"], "targetCPUUtilizationPercentage").filter(Value::is_i64) {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}));
    }
    metrics.extend(others.and_then(|m| m.as_array().cloned()).unwrap_or_default());
    if !metrics.is_empty() {
        v2["spec"]["metrics"] = json!(metrics);
    }
    if let Some(behavior) = behavior {
        v2["spec"]["behavior"] = behavior;
    }
    if v2["status"].is_object() {
        let mut current = Vec::new();
        if let Some(cpu) = take(&mut v2["status"], "currentCPUUtilizationPercentage").filter(Value::is_i64) {
            current.push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}));
        }
        current.extend(current_others.and_then(|m| m.as_array().cloned()).unwrap_or_default());
        if !current.is_empty() {
            v2["status"]["currentMetrics"] = json!(current);
        }
        if let Some(conditions) = conditions {
            v2["status"]["conditions"] = conditions;
        }
    }
    v2
}

/// The `autoscaling/v1` view of a `v2` autoscaler.
pub fn v2_to_v1(v2: &Value) -> Value {
    let mut v1 = v2.clone();
    v1["apiVersion"] = json!("autoscaling/v1");
    let metrics = take(&mut v1["spec"], "metrics").and_then(|m| m.as_array().cloned()).unwrap_or_default();
    let (cpu, others): (Vec<Value>, Vec<Value>) =
        metrics.into_iter().partition(|m| is_cpu_utilization(m, "target"));
    if let Some(cpu) = cpu.first() {
        v1["spec"]["targetCPUUtilizationPercentage"] =
            cpu["resource"]["target"]["averageUtilization"].clone();
    }
    to_annotation(&mut v1, METRICS, Some(json!(others)));
    let behavior = take(&mut v1["spec"], "behavior");
    to_annotation(&mut v1, BEHAVIOR, behavior);
    if v1["status"].is_object() {
        let current =
            take(&mut v1["status"], "currentMetrics").and_then(|m| m.as_array().cloned()).unwrap_or_default();
        let (cpu, others): (Vec<Value>, Vec<Value>) =
            current.into_iter().partition(|m| is_cpu_utilization(m, "current"));
        if let Some(cpu) = cpu.first() {
            v1["status"]["currentCPUUtilizationPercentage"] =
                cpu["resource"]["current"]["averageUtilization"].clone();
        }
        to_annotation(&mut v1, CURRENT_METRICS, Some(json!(others)));
        let conditions = take(&mut v1["status"], "conditions");
        to_annotation(&mut v1, CONDITIONS, conditions);
    }
    v1
}

/// The defaulted `v2` form, as storage keeps it.
fn stored_v2(v1: &Value) -> Value {
    let mut v2 = v1_to_v2(v1);
    // Upstream defaults what it decodes from storage; here what it stores.
    let _ = HorizontalPodAutoscaler.set_defaults(&mut v2);
    v2
}

impl Kind for HorizontalPodAutoscalerV1 {
    typed_as!(k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler);

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        HorizontalPodAutoscaler.validate(&stored_v2(obj))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        HorizontalPodAutoscaler.validate_update(&stored_v2(new), &stored_v2(old))
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        HorizontalPodAutoscaler.validate_status_update(&stored_v2(new), &stored_v2(old))
    }

    /// `v1`'s only default: one replica at least.
    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        if obj["spec"].is_object() && obj["spec"].get("minReplicas").is_none_or(Value::is_null) {
            obj["spec"]["minReplicas"] = json!(1);
        }
        Ok(())
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"currentReplicas": 0, "desiredReplicas": 0});
    }

    fn converts(&self) -> bool {
        true
    }

    fn served_form(&self, _rt: &ResourceType, stored: &Value) -> Value {
        v2_to_v1(stored)
    }

    fn stored_form(&self, obj: Value) -> Value {
        stored_v2(&obj)
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        HorizontalPodAutoscaler.columns()
    }

    /// From the stored `v2` form.
    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        HorizontalPodAutoscaler.cells(obj, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn hpa(v: Value) -> Value {
        let mut v = HorizontalPodAutoscaler.canonical(&v).unwrap();
        HorizontalPodAutoscaler.set_defaults(&mut v).unwrap();
        v
    }

    #[test]
    fn defaults_and_row() {
        let h = hpa(
            json!({"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}),
        );
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(
            h["spec"]["metrics"][0]["resource"],
            json!({"name": "cpu", "target": {"averageUtilization": 80, "type": "Utilization"}})
        );
        assert_eq!(h["spec"]["behavior"]["scaleUp"]["policies"].as_array().map(Vec::len), Some(2));
        assert_eq!(h["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 60);
        assert_eq!(h["spec"]["behavior"]["scaleDown"]["selectPolicy"], "Max");
        assert_eq!(
            headers(&HorizontalPodAutoscaler, false),
            "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE"
        );
        assert_eq!(
            HorizontalPodAutoscaler.cells(&h, now())[1..6],
            [json!("Deployment/web"), json!("cpu: <unknown>/80%"), json!("1"), json!(5), json!(0)]
        );
        let mut measured = h.clone();
        measured["spec"]["metrics"] = json!([
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
            {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}}]);
        measured["status"] = json!({"currentReplicas": 3, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45}}}]});
        assert_eq!(
            HorizontalPodAutoscaler.cells(&measured, now())[2],
            json!("cpu: 45%/80%, <unknown>/1k + 1 more...")
        );
    }

    #[test]
    fn replicas_are_validated() {
        let h = hpa(
            json!({"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 3, "maxReplicas": 2}}),
        );
        assert_eq!(
            aggregate_message(&HorizontalPodAutoscaler.validate(&h).unwrap()),
            "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"
        );
    }

    #[test]
    fn v1_converts_to_v2_and_back() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60},
            "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 75}});
        let v2 = stored_v2(&v1);
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"],
            json!({"type": "Utilization", "averageUtilization": 60})
        );
        assert_eq!(v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 75);
        assert_eq!(v2_to_v1(&v2), v1);

        // What v1 cannot say travels in annotations and comes back.
        let mut rich = v2.clone();
        rich["spec"]["metrics"].as_array_mut().unwrap().push(json!({"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}));
        rich["spec"]["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 60}});
        rich["status"]["conditions"] = json!([{"type": "AbleToScale", "status": "True"}]);
        let seen = v2_to_v1(&rich);
        assert_eq!(seen["spec"]["targetCPUUtilizationPercentage"], 60);
        assert!(seen["metadata"]["annotations"][METRICS].as_str().unwrap().contains("qps"));
        assert!(seen["spec"].get("metrics").is_none() && seen["status"].get("conditions").is_none());
        assert_eq!(v1_to_v2(&seen), rich);

        // A v1 autoscaler without a target gets v2's 80% CPU, which v1 then shows.
        let mut bare = v1.clone();
        bare["spec"].as_object_mut().unwrap().remove("targetCPUUtilizationPercentage");
        assert_eq!(v2_to_v1(&stored_v2(&bare))["spec"]["targetCPUUtilizationPercentage"], 80);
    }
}
