//! `batch/v1 Job`: upstream's defaults, the selector and pod labels generated from the Job's
//! uid on create (unless `manualSelector`), validation of its spec (pods that do not restart
//! `Always`), what an update may not change, a generation that follows the spec,
//! `status.successful` as a field selector, and `kubectl get jobs` columns.

use std::collections::BTreeMap;

use apimachinery::duration::{human_duration, parse_time};
use apimachinery::labels::{Selector, format_label_selector};
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::validate_label_selector;
use apimachinery::validation::{FieldError, FieldErrors, Path, is_dns1123_label};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job as Type, JobSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::generate::SchemaGenerator;
use serde_json::{Map, Value, json};

use super::workload;
use super::{Kind, canonical, defaulted, field_at, register, typed};
use crate::error::ApiResult;
use crate::printers::{AGE, CONTAINERS, ColumnDefinition, IMAGES, NAME, col, container_cells, created, s};

/// The pod label holding the Job's uid, and the one selectors generated for Jobs match.
pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
/// The pod label holding the Job's name.
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
/// [`CONTROLLER_UID`] without its prefix, as older Jobs label their pods.
pub const LEGACY_CONTROLLER_UID: &str = "controller-uid";
/// [`JOB_NAME`] without its prefix.
pub const LEGACY_JOB_NAME: &str = "job-name";

/// The most pods an Indexed Job may run at once.
const MAX_PARALLELISM_FOR_INDEXED_JOB: i32 = 100_000;
/// The most failed indexes an Indexed Job may tolerate.
const MAX_FAILED_INDEXES_FOR_INDEXED_JOB: i32 = 100_000;

#[derive(Debug)]
pub struct Job;

/// Upstream `SetDefaults_Job` and the pod template's defaults.
pub fn set_defaults_job(job: &mut Type) {
    let Some(spec) = job.spec.as_mut() else { return };
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    if spec.backoff_limit.is_none() {
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() { i32::MAX } else { 6 });
    }
    if let Some(labels) = spec.template.metadata.as_ref().and_then(|m| m.labels.clone())
        && job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
    {
        job.metadata.labels = Some(labels);
    }
    spec.completion_mode.get_or_insert_with(|| "NonIndexed".to_string());
    spec.suspend.get_or_insert(false);
    if let Some(policy) = spec.pod_failure_policy.as_mut() {
        for pattern in policy.rules.iter_mut().flat_map(|r| r.on_pod_conditions.iter_mut().flatten()) {
            if pattern.status.is_empty() {
                pattern.status = "True".to_string();
            }
        }
    }
    if spec.pod_replacement_policy.is_none() {
        let policy = if spec.pod_failure_policy.is_some() { "Failed" } else { "TerminatingOrFailed" };
        spec.pod_replacement_policy = Some(policy.to_string());
    }
    spec.manual_selector.get_or_insert(false);
    if let Some(pod_spec) = spec.template.spec.as_mut() {
        apimachinery::core::set_defaults_pod_spec(pod_spec);
    }
}

/// What create does unless `manualSelector` is true: labels the pod template with the Job's
/// name and uid (under both label names, where the user has not set them) and selects the
/// uid label.
fn generate_selector(obj: &mut Value) {
    if obj["spec"]["manualSelector"] == json!(true) {
        return;
    }
    let name = json!(s(obj, &["metadata", "name"]));
    let uid = json!(s(obj, &["metadata", "uid"]));
    let object = |v: &mut Value| {
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
    };
    let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
    object(labels);
    for (key, value) in
        [(LEGACY_JOB_NAME, &name), (JOB_NAME, &name), (LEGACY_CONTROLLER_UID, &uid), (CONTROLLER_UID, &uid)]
    {
        labels.as_object_mut().into_iter().for_each(|l| {
            l.entry(key).or_insert_with(|| value.clone());
        });
    }
    let match_labels = &mut obj["spec"]["selector"]["matchLabels"];
    object(match_labels);
    if let Some(m) = match_labels.as_object_mut() {
        m.entry(CONTROLLER_UID).or_insert(uid);
    }
}

/// Upstream's `ValidateHasLabel`: the template carries `key` with the value `expected`.
fn validate_has_label(meta: Option<&ObjectMeta>, path: &Path, key: &str, expected: &str) -> FieldErrors {
    let labels = meta.and_then(|m| m.labels.as_ref());
    let p = path.child("labels").key(key);
    match labels.and_then(|l| l.get(key)) {
        None => vec![FieldError::required(&p, format!("must be '{expected}'"))],
        Some(v) if v != expected => vec![FieldError::invalid(
            &p,
            serde_json::to_value(labels).unwrap_or_default(),
            format!("must be '{expected}'"),
        )],
        Some(_) => Vec::new(),
    }
}

/// Upstream's `validateGeneratedSelector`: unless the selector is manual, the template carries
/// the generated labels and the selector matches them.
fn validate_generated_selector(job: &Type, require_prefixed: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(spec) = &job.spec else { return errs };
    if spec.manual_selector == Some(true) {
        return errs;
    }
    let Some(selector) = &spec.selector else { return errs };
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let name = job.metadata.name.as_deref().unwrap_or_default();
    if uid.is_empty() {
        errs.push(FieldError::required(&Path::new("metadata").child("uid"), ""));
    }
    let meta = spec.template.metadata.as_ref();
    let meta_path = Path::new("spec").child("template").child("metadata");
    let mut expected = BTreeMap::new();
    let mut labels = vec![(LEGACY_CONTROLLER_UID, uid), (LEGACY_JOB_NAME, name)];
    if require_prefixed {
        labels.extend([(CONTROLLER_UID, uid), (JOB_NAME, name)]);
    }
    for (key, value) in labels {
        errs.extend(validate_has_label(meta, &meta_path, key, value));
        expected.insert(key.to_string(), value.to_string());
    }
    if let Ok(s) = Selector::from_label_selector(Some(selector))
        && !s.matches(&expected)
    {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("selector"),
            serde_json::to_value(selector).unwrap_or_default(),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// Upstream's `validateJobSpec`: what a Job and a CronJob's job template share (the counts,
/// completion mode, replacement policy and the pod template, whose pods restart `OnFailure`
/// or `Never`).
pub fn validate_job_spec(spec: &JobSpec, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let counts = [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        ("ttlSecondsAfterFinished", spec.ttl_seconds_after_finished.map(i64::from)),
        ("backoffLimitPerIndex", spec.backoff_limit_per_index.map(i64::from)),
        ("maxFailedIndexes", spec.max_failed_indexes.map(i64::from)),
    ];
    for (field, value) in counts {
        errs.extend(workload::non_negative(value, &path.child(field)));
    }
    if spec.max_failed_indexes.is_some() && spec.backoff_limit_per_index.is_none() {
        errs.push(FieldError::required(
            &path.child("backoffLimitPerIndex"),
            "when maxFailedIndexes is specified",
        ));
    }
    let mode = spec.completion_mode.as_deref();
    match mode {
        None | Some("NonIndexed") => {
            let fields = [
                ("backoffLimitPerIndex", spec.backoff_limit_per_index),
                ("maxFailedIndexes", spec.max_failed_indexes),
            ];
            for (field, value) in fields {
                if let Some(v) = value {
                    errs.push(FieldError::invalid(&path.child(field), v, "requires indexed completion mode"));
                }
            }
        }
        Some("Indexed") => {
            if spec.completions.is_none() {
                errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = spec.parallelism
                && p > MAX_PARALLELISM_FOR_INDEXED_JOB
            {
                errs.push(FieldError::invalid(
                    &path.child("parallelism"),
                    p,
                    format!("must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed"),
                ));
            }
            if let Some(max) = spec.max_failed_indexes {
                if spec.completions.is_some_and(|c| max > c) {
                    errs.push(FieldError::invalid(
                        &path.child("maxFailedIndexes"),
                        max,
                        "must be less than or equal to completions",
                    ));
                }
                if max > MAX_FAILED_INDEXES_FOR_INDEXED_JOB {
                    errs.push(FieldError::invalid(
                        &path.child("maxFailedIndexes"),
                        max,
                        format!("must be less than or equal to {MAX_FAILED_INDEXES_FOR_INDEXED_JOB}"),
                    ));
                }
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            &path.child("completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    if let Some(policy) = &spec.success_policy
        && mode != Some("Indexed")
    {
        errs.push(FieldError::invalid(
            &path.child("successPolicy"),
            serde_json::to_value(policy).unwrap_or_default(),
            "requires indexed completion mode",
        ));
    }
    if let Some(replacement) = spec.pod_replacement_policy.as_deref() {
        let supported: &[&str] =
            if spec.pod_failure_policy.is_some() { &["Failed"] } else { &["Failed", "TerminatingOrFailed"] };
        if !supported.contains(&replacement) {
            errs.push(FieldError::not_supported(&path.child("podReplacementPolicy"), replacement, supported));
        }
    }
    let template_path = path.child("template");
    errs.extend(apimachinery::core::validate_pod_template_spec(&spec.template, &template_path));
    let policy_path = template_path.child("spec").child("restartPolicy");
    let policy = spec.template.spec.as_ref().and_then(|p| p.restart_policy.as_deref()).unwrap_or_default();
    match policy {
        "" | "Always" => {
            errs.push(FieldError::required(&policy_path, "valid values: \"OnFailure\", \"Never\""))
        }
        "OnFailure" | "Never" => {
            if spec.pod_failure_policy.is_some() && policy != "Never" {
                errs.push(FieldError::invalid(
                    &policy_path,
                    policy,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(&policy_path, other, &["OnFailure", "Never"])),
    }
    errs
}

/// Upstream's `ValidateJob`: the generated selector, the spec, its selector (required and
/// matching the template), and a name that leaves room for an Indexed Job's pod hostnames.
fn validate(job: &Type, require_prefixed: bool) -> FieldErrors {
    let mut errs = validate_generated_selector(job, require_prefixed);
    let path = Path::new("spec");
    let spec = job.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec(&spec, &path));
    match &spec.selector {
        None => errs.push(FieldError::required(&path.child("selector"), "")),
        Some(selector) => errs.extend(validate_label_selector(selector, &path.child("selector"))),
    }
    if let Ok(selector) = Selector::from_label_selector(spec.selector.as_ref()) {
        errs.extend(workload::validate_selector_matches(&selector, &spec.template, &path.child("template")));
    }
    if spec.completion_mode.as_deref() == Some("Indexed")
        && let Some(completions) = spec.completions.filter(|c| *c > 0)
    {
        let name = job.metadata.name.as_deref().unwrap_or_default();
        let hostname = format!("{name}-{}", completions - 1);
        if !is_dns1123_label(&hostname).is_empty() {
            errs.push(FieldError::invalid(
                &Path::new("metadata").child("name"),
                name,
                format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    errs
}

/// The template of a suspended Job that never started may change its scheduling directives
/// (node affinity, node selector, tolerations, scheduling gates) and its labels and
/// annotations: the old template with those taken from the new one.
fn with_scheduling_directives(old: &PodTemplateSpec, new: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = old.clone();
    let labels = new.metadata.as_ref().and_then(|m| m.labels.clone());
    let annotations = new.metadata.as_ref().and_then(|m| m.annotations.clone());
    if t.metadata.is_some() || labels.is_some() || annotations.is_some() {
        let meta = t.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels = labels;
        meta.annotations = annotations;
    }
    if let (Some(spec), Some(new_spec)) = (t.spec.as_mut(), new.spec.as_ref()) {
        let new_node_affinity = new_spec.affinity.as_ref().and_then(|a| a.node_affinity.clone());
        match (&mut spec.affinity, &new_spec.affinity) {
            (Some(a), None) => {
                a.node_affinity = None;
                if *a == Default::default() {
                    spec.affinity = None;
                }
            }
            (None, Some(_)) => {
                spec.affinity = Some(k8s_openapi::api::core::v1::Affinity {
                    node_affinity: new_node_affinity,
                    ..Default::default()
                })
            }
            (Some(a), Some(_)) => a.node_affinity = new_node_affinity,
            (None, None) => {}
        }
        spec.node_selector = new_spec.node_selector.clone();
        spec.tolerations = new_spec.tolerations.clone();
        spec.scheduling_gates = new_spec.scheduling_gates.clone();
    }
    t
}

/// Upstream's `ValidateJobSpecUpdate` beside the spec's own validation: the selector, the
/// template (but for a suspended, never started Job's scheduling directives), the completion
/// mode, failure and success policies, per-index backoff and `managedBy` never change, and
/// completions only in tandem with parallelism in an Indexed Job.
fn validate_spec_update(new: &JobSpec, old: &JobSpec, mutable_scheduling: bool) -> FieldErrors {
    let path = Path::new("spec");
    let mut errs = Vec::new();
    let indexed = new.completion_mode.as_deref() == Some("Indexed");
    if !indexed {
        errs.extend(workload::immutable(&new.completions, &old.completions, &path.child("completions")));
    } else if new.completions != old.completions
        && let Some(c) = new.completions
        && Some(c) != new.parallelism
    {
        errs.push(FieldError::invalid(
            &path.child("completions"),
            c,
            "can only be modified in tandem with spec.parallelism",
        ));
    }
    errs.extend(workload::immutable_selector(
        new.selector.as_ref(),
        old.selector.as_ref(),
        &path.child("selector"),
    ));
    let old_template = if mutable_scheduling {
        with_scheduling_directives(&old.template, &new.template)
    } else {
        old.template.clone()
    };
    errs.extend(workload::immutable(&new.template, &old_template, &path.child("template")));
    errs.extend(workload::immutable(
        &new.completion_mode,
        &old.completion_mode,
        &path.child("completionMode"),
    ));
    errs.extend(workload::immutable(
        &new.pod_failure_policy,
        &old.pod_failure_policy,
        &path.child("podFailurePolicy"),
    ));
    errs.extend(workload::immutable(
        &new.backoff_limit_per_index,
        &old.backoff_limit_per_index,
        &path.child("backoffLimitPerIndex"),
    ));
    errs.extend(workload::immutable(&new.managed_by, &old.managed_by, &path.child("managedBy")));
    errs.extend(workload::immutable(&new.success_policy, &old.success_policy, &path.child("successPolicy")));
    errs
}

/// Whether a Job's condition of this type is the first of its type and true.
fn has_condition(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .is_some_and(|c| c["status"] == "True")
}

fn job_status(obj: &Value) -> &'static str {
    if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if obj["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null()) {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn completions(obj: &Value) -> String {
    let succeeded = obj["status"]["succeeded"].as_i64().unwrap_or(0);
    match (obj["spec"]["completions"].as_i64(), obj["spec"]["parallelism"].as_i64().unwrap_or(0)) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, p) if p > 1 => format!("{succeeded}/1 of {p}"),
        (None, _) => format!("{succeeded}/1"),
    }
}

fn duration(obj: &Value, now: Timestamp) -> String {
    let Some(start) = parse_time(s(obj, &["status", "startTime"])) else { return String::new() };
    let end = parse_time(s(obj, &["status", "completionTime"])).unwrap_or(now);
    human_duration(end.as_second() - start.as_second())
}

impl Kind for Job {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        Ok(validate(&typed(obj)?, true))
    }

    /// The Job as on create (its pods' prefixed labels required only when the old Job had
    /// them), and what an update may not change.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old): (Type, Type) = (typed(new)?, typed(old)?);
        let old_spec = old.spec.clone().unwrap_or_default();
        let had_prefixed = old_spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .is_some_and(|l| l.contains_key(CONTROLLER_UID));
        let mut errs = validate(&new, had_prefixed);
        let never_started = old.status.as_ref().and_then(|s| s.start_time.as_ref()).is_none();
        let mutable_scheduling = old_spec.suspend == Some(true) && never_started;
        errs.extend(validate_spec_update(&new.spec.unwrap_or_default(), &old_spec, mutable_scheduling));
        Ok(errs)
    }

    /// Counts are non-negative.
    fn validate_status_update(&self, new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        let path = Path::new("status");
        Ok(["active", "succeeded", "failed", "ready", "terminating"]
            .into_iter()
            .flat_map(|f| workload::non_negative(new["status"][f].as_i64(), &path.child(f)))
            .collect())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_job)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        generate_selector(obj);
        workload::reset_for_create(obj, Some(json!({})));
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = workload::spec_changed(self, new, old);
        workload::next_generation(new, old, changed);
    }

    fn field_value(&self, obj: &Value, label: &str) -> Option<String> {
        match label {
            "status.successful" => Some(obj["status"]["succeeded"].as_i64().unwrap_or(0).to_string()),
            _ => field_at(obj, label),
        }
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col("Status", "string", 0, "Status of the job."),
            col(
                "Completions",
                "string",
                0,
                "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
            ),
            col("Duration", "string", 0, "Time required to complete the job."),
            AGE,
            CONTAINERS,
            IMAGES,
            col(
                "Selector",
                "string",
                1,
                "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
            ),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let (names, images) = container_cells(&obj["spec"]["template"]["spec"]);
        let selector = serde_json::from_value(obj["spec"]["selector"].clone()).ok();
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(job_status(obj)),
            json!(completions(obj)),
            json!(duration(obj, now)),
            json!(created(obj, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(selector.as_ref())),
        ]
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::WORKLOAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    /// A Job as create makes it: decoded, selector generated, defaulted.
    fn created_job(spec: Value) -> Value {
        let mut obj = canonical::<Type>(
            &json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u-1"}, "spec": spec}),
        )
        .unwrap();
        Job.prepare_for_create(&mut obj);
        Job.set_defaults(&mut obj).unwrap();
        obj
    }

    fn valid_spec() -> Value {
        json!({"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5"}]}}})
    }

    fn errors(obj: &Value) -> String {
        aggregate_message(&Job.validate(obj).unwrap())
    }

    #[test]
    fn create_generates_the_selector_and_labels() {
        let job = created_job(valid_spec());
        let labels = json!({"batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi",
            "controller-uid": "u-1", "job-name": "pi"});
        assert_eq!(job["spec"]["template"]["metadata"]["labels"], labels);
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(job["metadata"]["labels"], labels, "the job's labels default to its template's");
        assert_eq!(job["metadata"]["generation"], 1);
        assert_eq!(job["status"], json!({}));
        assert!(Job.validate(&job).unwrap().is_empty(), "{}", errors(&job));
    }

    #[test]
    fn defaults() {
        let spec = &created_job(valid_spec())["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(spec["manualSelector"], false);
        assert_eq!(spec["template"]["spec"]["terminationGracePeriodSeconds"], 30);
        let mut parallel = valid_spec();
        parallel["parallelism"] = json!(3);
        parallel["backoffLimitPerIndex"] = json!(1);
        let spec = &created_job(parallel)["spec"];
        assert!(spec.get("completions").is_none());
        assert_eq!(spec["backoffLimit"], i32::MAX);
    }

    #[test]
    fn restart_policy_and_manual_selectors() {
        let mut spec = valid_spec();
        spec["template"]["spec"].as_object_mut().unwrap().remove("restartPolicy");
        assert_eq!(
            errors(&created_job(spec)),
            "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
        );
        let mut spec = valid_spec();
        spec["manualSelector"] = json!(true);
        assert_eq!(
            errors(&created_job(spec)),
            "[spec.selector: Required value, spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`]"
        );
        let mut spec = valid_spec();
        spec["selector"] = json!({"matchLabels": {"a": "b"}});
        spec["template"]["metadata"] = json!({"labels": {"a": "b"}});
        assert_eq!(
            errors(&created_job(spec)),
            "spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\",\"batch.kubernetes.io/controller-uid\":\"u-1\"}}: `selector` not auto-generated"
        );
    }

    #[test]
    fn template_and_selector_are_immutable() {
        let old = created_job(valid_spec());
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:6");
        let e = aggregate_message(&Job.validate_update(&new, &old).unwrap());
        assert!(e.starts_with("spec.template: Invalid value: {"), "{e}");
        assert!(e.ends_with("}: field is immutable"), "{e}");
        let mut new = old.clone();
        new["spec"]["parallelism"] = json!(2);
        assert!(Job.validate_update(&new, &old).unwrap().is_empty());
        let mut new = old.clone();
        new["spec"]["completions"] = json!(2);
        assert_eq!(
            aggregate_message(&Job.validate_update(&new, &old).unwrap()),
            "spec.completions: Invalid value: 2: field is immutable"
        );
    }

    #[test]
    fn a_suspended_job_may_move() {
        let mut spec = valid_spec();
        spec["suspend"] = json!(true);
        let old = created_job(spec);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
        assert!(Job.validate_update(&new, &old).unwrap().is_empty());
    }

    #[test]
    fn generation_and_status() {
        let old = created_job(valid_spec());
        let mut new = old.clone();
        new["spec"]["suspend"] = json!(true);
        Job.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
        let mut status = old.clone();
        status["status"] = json!({"active": -1});
        assert_eq!(
            aggregate_message(&Job.validate_status_update(&status, &old).unwrap()),
            "status.active: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(Job.field_value(&old, "status.successful").as_deref(), Some("0"));
    }

    #[test]
    fn row() {
        assert_eq!(headers(&Job, false), "NAME STATUS COMPLETIONS DURATION AGE");
        let mut job = created_job(valid_spec());
        job["metadata"]["creationTimestamp"] = json!("2026-01-01T00:58:00Z");
        assert_eq!(
            Job.cells(&job, now()),
            vec![
                json!("pi"),
                json!("Running"),
                json!("0/1"),
                json!(""),
                json!("2m"),
                json!("pi"),
                json!("perl:5"),
                json!("batch.kubernetes.io/controller-uid=u-1")
            ]
        );
        job["status"] = json!({"succeeded": 1, "startTime": "2026-01-01T00:58:10Z", "completionTime": "2026-01-01T00:58:40Z",
            "conditions": [{"type": "Complete", "status": "True"}]});
        let cells = Job.cells(&job, now());
        assert_eq!(
            (cells[1].clone(), cells[2].clone(), cells[3].clone()),
            (json!("Complete"), json!("1/1"), json!("30s"))
        );
        job["spec"].as_object_mut().unwrap().remove("completions");
        job["spec"]["parallelism"] = json!(3);
        job["status"] = json!({"startTime": "2026-01-01T00:59:00Z", "conditions": [{"type": "Suspended", "status": "True"}]});
        let cells = Job.cells(&job, now());
        assert_eq!(
            (cells[1].clone(), cells[2].clone(), cells[3].clone()),
            (json!("Suspended"), json!("0/1 of 3"), json!("60s"))
        );
    }
}
