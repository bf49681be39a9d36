//! `batch/v1 CronJob`: upstream's defaults (concurrency `Allow`, not suspended, three
//! successful and one failed Job kept, the job template's pod template defaults), validation of
//! its schedule (upstream's cron syntax and messages), time zone, policies and job template, a
//! generation that follows the spec, and `kubectl get cronjobs` columns.

use apimachinery::duration::{age, parse_time};
use apimachinery::labels::format_label_selector;
use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob as Type, CronJobSpec};
use schemars::generate::SchemaGenerator;
use serde_json::{Value, json};

use super::job::validate_job_spec;
use super::workload;
use super::{Kind, canonical, defaulted, register, typed};
use crate::error::ApiResult;
use crate::printers::{
    AGE, CONTAINERS, ColumnDefinition, IMAGES, NAME, bool_ptr, col, container_cells, created, s,
};

/// The longest CronJob name: its Jobs append an 11-character suffix to it.
const MAX_NAME_LENGTH: usize = 52;

#[derive(Debug)]
pub struct CronJob;

/// Upstream `SetDefaults_CronJob` and the defaults of its job template's pod template (the
/// Job's own defaults apply when the Job is created).
pub fn set_defaults_cronjob(cj: &mut Type) {
    let Some(spec) = cj.spec.as_mut() else { return };
    if spec.concurrency_policy.as_deref().unwrap_or_default().is_empty() {
        spec.concurrency_policy = Some("Allow".to_string());
    }
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    if let Some(pod_spec) = spec.job_template.spec.as_mut().and_then(|j| j.template.spec.as_mut()) {
        apimachinery::core::set_defaults_pod_spec(pod_spec);
    }
}

/// The fields of a standard cron schedule: their bounds and the names they accept.
struct Bounds {
    min: i64,
    max: i64,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Bounds; 5] = [
    Bounds { min: 0, max: 59, names: &[] },
    Bounds { min: 0, max: 23, names: &[] },
    Bounds { min: 1, max: 31, names: &[] },
    Bounds { min: 1, max: 12, names: &MONTHS },
    Bounds { min: 0, max: 6, names: &DAYS },
];

/// A number as Go's `strconv.Atoi` reads it in the cron parser, with its messages.
fn parse_int(expr: &str) -> Result<i64, String> {
    let n = expr.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: {why}")
    })?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    Ok(n)
}

fn parse_int_or_name(expr: &str, bounds: &Bounds) -> Result<i64, String> {
    let lower = expr.to_lowercase();
    match bounds.names.iter().position(|n| *n == lower) {
        // Months count from one, days from zero, as their bounds do.
        Some(i) => Ok(i as i64 + bounds.min),
        None => parse_int(expr),
    }
}

/// One `a-b/step` range of a field.
fn parse_range(expr: &str, bounds: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (bounds.min, bounds.max)
    } else {
        let start = parse_int_or_name(low_and_high[0], bounds)?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, parse_int_or_name(low_and_high[1], bounds)?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            // `N/step` means `N-max/step`.
            if low_and_high.len() == 1 {
                end = bounds.max;
            }
            parse_int(range_and_step[1])?
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < bounds.min {
        return Err(format!("beginning of range ({start}) below minimum ({}): {expr}", bounds.min));
    }
    if end > bounds.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", bounds.max));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

/// Whether Go's `time.ParseDuration` reads `s`, with its messages.
fn parse_go_duration(s: &str) -> Result<(), String> {
    let invalid = || Err(format!("time: invalid duration {s:?}"));
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return invalid();
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return invalid();
        }
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {s:?}"));
        }
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(format!("time: unknown unit {unit:?} in duration {s:?}"));
        }
        rest = &rest[unit_len..];
    }
    Ok(())
}

/// Whether the server knows the time zone; `None` when it has no time zone database.
fn known_time_zone(name: &str) -> Option<bool> {
    let db = jiff::tz::db();
    if name == "UTC" || db.is_definitively_empty() {
        return (name == "UTC").then_some(true);
    }
    Some(db.get(name).is_ok())
}

/// Upstream's cron parser (the standard one): an optional `TZ=`/`CRON_TZ=` zone, then a
/// descriptor (`@daily`, `@every 1h`) or five fields.
pub fn parse_schedule(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or_default();
        let end = spec.find(' ').unwrap_or(spec.len());
        let zone = &spec[eq + 1..end];
        if known_time_zone(zone) == Some(false) {
            return Err(format!("provided bad location {zone}: unknown time zone {zone}"));
        }
        spec = spec[end..].trim();
    }
    if spec.starts_with('@') {
        return match spec {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => Ok(()),
            _ => match spec.strip_prefix("@every ") {
                Some(d) => parse_go_duration(d).map_err(|e| format!("failed to parse duration {spec}: {e}")),
                None => Err(format!("unrecognized descriptor: {spec}")),
            },
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    for (field, bounds) in fields.iter().zip(&FIELDS) {
        for expr in field.split(',').filter(|e| !e.is_empty()) {
            parse_range(expr, bounds)?;
        }
    }
    Ok(())
}

/// Upstream's `validateTimeZone`.
fn validate_time_zone(zone: &str, path: &Path) -> FieldErrors {
    if zone.is_empty() {
        return vec![FieldError::invalid(path, zone, "timeZone must be nil or non-empty string")];
    }
    let valid_part = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || ".-_+".contains(c))
    };
    if !zone.split('/').all(valid_part) {
        return vec![FieldError::invalid(path, zone, format!("unknown time zone {zone}"))];
    }
    let mut errs = Vec::new();
    if zone.eq_ignore_ascii_case("Local") {
        errs.push(FieldError::invalid(
            path,
            zone,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    } else if known_time_zone(zone) == Some(false) {
        errs.push(FieldError::invalid(path, zone, format!("unknown time zone {zone}")));
    }
    errs
}

/// Upstream's `validateCronJobSpec` (`old` on update: a schedule that had a `TZ` may keep it).
fn validate_spec(spec: &CronJobSpec, old: Option<&CronJobSpec>) -> FieldErrors {
    let path = Path::new("spec");
    let mut errs = Vec::new();
    let schedule_path = path.child("schedule");
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&schedule_path, ""));
    } else {
        if let Err(e) = parse_schedule(&spec.schedule) {
            errs.push(FieldError::invalid(&schedule_path, spec.schedule.as_str(), e));
        }
        let allow_tz = old.is_some_and(|o| o.schedule.contains("TZ"));
        let has_tz = spec.schedule.contains("TZ");
        if allow_tz && has_tz && spec.time_zone.is_some() {
            errs.push(FieldError::invalid(
                &schedule_path,
                spec.schedule.as_str(),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && has_tz {
            errs.push(FieldError::invalid(
                &schedule_path,
                spec.schedule.as_str(),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    errs.extend(workload::non_negative(
        spec.starting_deadline_seconds,
        &path.child("startingDeadlineSeconds"),
    ));
    if old.is_none_or(|o| o.time_zone != spec.time_zone)
        && let Some(zone) = &spec.time_zone
    {
        errs.extend(validate_time_zone(zone, &path.child("timeZone")));
    }
    let policy_path = path.child("concurrencyPolicy");
    match spec.concurrency_policy.as_deref().unwrap_or_default() {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(&policy_path, "")),
        other => errs.push(FieldError::not_supported(&policy_path, other, &["Allow", "Forbid", "Replace"])),
    }
    let job_path = path.child("jobTemplate").child("spec");
    let job = spec.job_template.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec(&job, &job_path));
    if let Some(selector) = &job.selector {
        errs.push(FieldError::invalid(
            &job_path.child("selector"),
            serde_json::to_value(selector).unwrap_or_default(),
            "`selector` will be auto-generated",
        ));
    }
    if job.manual_selector == Some(true) {
        errs.push(FieldError::not_supported(&job_path.child("manualSelector"), true, &["nil", "false"]));
    }
    let limits = [
        ("successfulJobsHistoryLimit", spec.successful_jobs_history_limit),
        ("failedJobsHistoryLimit", spec.failed_jobs_history_limit),
    ];
    for (field, value) in limits {
        errs.extend(workload::non_negative(value, &path.child(field)));
    }
    errs
}

impl Kind for CronJob {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<Type>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<Type>(generator)
    }

    /// The spec, and a name short enough for the Jobs named after it.
    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
        let cj: Type = typed(obj)?;
        let mut errs = validate_spec(&cj.spec.unwrap_or_default(), None);
        let name = cj.metadata.name.unwrap_or_default();
        if name.len() > MAX_NAME_LENGTH {
            errs.push(FieldError::invalid(
                &Path::new("metadata").child("name"),
                name,
                format!("must be no more than {MAX_NAME_LENGTH} characters"),
            ));
        }
        Ok(errs)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors> {
        let (new, old): (Type, Type) = (typed(new)?, typed(old)?);
        Ok(validate_spec(&new.spec.unwrap_or_default(), Some(&old.spec.unwrap_or_default())))
    }

    /// A CronJob's status holds references and times only; upstream checks none of them.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
        Ok(Vec::new())
    }

    fn set_defaults(&self, obj: &mut Value) -> ApiResult<()> {
        defaulted(obj, set_defaults_cronjob)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        workload::reset_for_create(obj, Some(json!({})));
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let changed = workload::spec_changed(self, new, old);
        workload::next_generation(new, old, changed);
    }

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            col(
                "Schedule",
                "string",
                0,
                "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
            ),
            col(
                "Timezone",
                "string",
                0,
                "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
            ),
            col(
                "Suspend",
                "boolean",
                0,
                "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
            ),
            col("Active", "integer", 0, "A list of pointers to currently running jobs."),
            col(
                "Last Schedule",
                "string",
                0,
                "Information when was the last time the job was successfully scheduled.",
            ),
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
        let job = &obj["spec"]["jobTemplate"]["spec"];
        let (names, images) = container_cells(&job["template"]["spec"]);
        let selector = serde_json::from_value(job["selector"].clone()).ok();
        let time_zone = obj["spec"]["timeZone"].as_str().unwrap_or("<none>");
        let last = match parse_time(s(obj, &["status", "lastScheduleTime"])) {
            Some(t) => age(Some(t), now),
            None => "<none>".to_string(),
        };
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(s(obj, &["spec", "schedule"])),
            json!(time_zone),
            json!(bool_ptr(&obj["spec"]["suspend"])),
            json!(obj["status"]["active"].as_array().map_or(0, Vec::len)),
            json!(last),
            json!(created(obj, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(selector.as_ref())),
        ]
    }

    fn merge_schema(&self) -> Schema {
        strategic_merge::CRONJOB
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};
    use apimachinery::validation::aggregate_message;

    fn cronjob(spec: Value) -> Value {
        let mut obj =
            canonical::<Type>(&json!({"metadata": {"name": "hello", "namespace": "default"}, "spec": spec}))
                .unwrap();
        CronJob.set_defaults(&mut obj).unwrap();
        obj
    }

    fn valid_spec() -> Value {
        json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox:1.36"}]}}}}})
    }

    fn errors(spec: Value) -> String {
        aggregate_message(&CronJob.validate(&cronjob(spec)).unwrap())
    }

    #[test]
    fn defaults() {
        let cj = cronjob(valid_spec());
        let spec = &cj["spec"];
        assert_eq!(spec["concurrencyPolicy"], "Allow");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["successfulJobsHistoryLimit"], 3);
        assert_eq!(spec["failedJobsHistoryLimit"], 1);
        let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["schedulerName"], "default-scheduler");
        assert_eq!(pod["containers"][0]["terminationMessagePolicy"], "File");
        assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none(), "Job defaults wait for the Job");
        assert!(CronJob.validate(&cj).unwrap().is_empty());
    }

    #[test]
    fn schedules() {
        for ok in [
            "0 0 * * *",
            "*/15 9-17 * JAN-jun mon-FRI",
            "5 4 1,15 * ?",
            "@daily",
            "@every 1h30m",
            "30 2 * * 0/2",
        ] {
            assert_eq!(parse_schedule(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("5-2 * * * *", "beginning of range (5) beyond end of range (2): 5-2"),
            ("*/0 * * * *", "step of range should be a positive number: */0"),
            ("x * * * *", "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("@fortnightly", "unrecognized descriptor: @fortnightly"),
            ("@every 5", "failed to parse duration @every 5: time: missing unit in duration \"5\""),
        ];
        for (schedule, message) in cases {
            assert_eq!(parse_schedule(schedule), Err(message.to_string()), "{schedule}");
        }
    }

    #[test]
    fn validation() {
        let mut spec = valid_spec();
        spec["schedule"] = json!("");
        assert_eq!(errors(spec), "spec.schedule: Required value");
        let mut spec = valid_spec();
        spec["schedule"] = json!("TZ=UTC 0 * * * *");
        assert_eq!(
            errors(spec),
            "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        );
        let mut spec = valid_spec();
        spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        spec["jobTemplate"]["spec"]["selector"] = json!({"matchLabels": {"a": "b"}});
        spec["timeZone"] = json!("Local");
        assert_eq!(
            errors(spec),
            "[spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones, \
             spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\", \
             spec.jobTemplate.spec.selector: Invalid value: {\"matchLabels\":{\"a\":\"b\"}}: `selector` will be auto-generated]"
        );
        let mut long = cronjob(valid_spec());
        long["metadata"]["name"] = json!("x".repeat(53));
        assert!(
            aggregate_message(&CronJob.validate(&long).unwrap())
                .ends_with("must be no more than 52 characters")
        );
    }

    #[test]
    fn generation() {
        let mut old = cronjob(valid_spec());
        CronJob.prepare_for_create(&mut old);
        assert_eq!((old["metadata"]["generation"].clone(), old["status"].clone()), (json!(1), json!({})));
        let mut new = old.clone();
        new["spec"]["suspend"] = json!(true);
        CronJob.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
    }

    #[test]
    fn row() {
        assert_eq!(headers(&CronJob, false), "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE");
        let mut cj = cronjob(valid_spec());
        cj["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            CronJob.cells(&cj, now()),
            vec![
                json!("hello"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(0),
                json!("<none>"),
                json!("60m"),
                json!("hello"),
                json!("busybox:1.36"),
                json!("<none>")
            ]
        );
        cj["spec"]["timeZone"] = json!("Etc/UTC");
        cj["status"] = json!({"active": [{"name": "hello-1"}], "lastScheduleTime": "2026-01-01T00:55:00Z"});
        let cells = CronJob.cells(&cj, now());
        assert_eq!(
            (cells[2].clone(), cells[4].clone(), cells[5].clone()),
            (json!("Etc/UTC"), json!(1), json!("5m"))
        );
    }
}
