//! `everynode plan` (also `kubectl everynode plan`): a DaemonSet's rollout forecast before it
//! runs. It reads the DaemonSet, its nodes, pods and revisions from any cluster, applies the
//! proposed change (a manifest, `--image`, or none: the change already stored), estimates each
//! node's time from pod creation to Ready from what its pods show (or takes `--ready-time`),
//! and runs the controller's own decisions forward on a virtual clock
//! (`daemonset::forecast`). Each what-if (`--max-unavailable`, `--max-surge`,
//! `--min-ready-seconds`, `--control`) is a forecast of its own, compared on one line.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use apimachinery::validation::aggregate_message;
use daemonset::forecast::{
    Forecast, ReadyTime, Start, Timing, forecast, observed_ready_times, timing_from_observed,
};
use daemonset::rollout_controls::{PREFIX, RolloutControls};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use serde::{Deserialize, Serialize};

use crate::cluster_access::daemonset_name;
use crate::daemonset_state::DaemonSetState;

/// Waves listed by name up to this many nodes each.
const NAMES_PER_WAVE: usize = 6;

#[derive(clap::Args, Clone, Debug)]
pub struct PlanArgs {
    /// The DaemonSet: NAME or ds/NAME.
    pub daemonset: String,
    /// The proposed DaemonSet, as a manifest (YAML or JSON); without it and without --image,
    /// the change already stored but not yet rolled out.
    #[arg(short = 'f', long)]
    pub filename: Option<PathBuf>,
    /// A container's new image, as CONTAINER=IMAGE (repeatable).
    #[arg(long, value_name = "CONTAINER=IMAGE")]
    pub image: Vec<String>,
    /// A new pod's time from creation to Ready: a duration (30s, 2m) or a range spread over
    /// the nodes (20s-40s). Default: estimated from the pods the cluster runs.
    #[arg(long, value_name = "DURATION")]
    pub ready_time: Option<String>,
    /// How long a deleted pod takes to go.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub stop_time: String,
    /// What if maxUnavailable were this (repeatable: one forecast each).
    #[arg(long, value_name = "N|N%")]
    pub max_unavailable: Vec<String>,
    /// What if maxSurge were this (maxUnavailable then 0; repeatable).
    #[arg(long, value_name = "N|N%")]
    pub max_surge: Vec<String>,
    /// What if minReadySeconds were this (repeatable).
    #[arg(long, value_name = "SECONDS")]
    pub min_ready_seconds: Vec<i32>,
    /// What if a rollout control were set: NAME=VALUE for the annotation
    /// rollout.everynode.io/NAME (e.g. partition=10%, wave-label=topology.kubernetes.io/zone;
    /// repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub control: Vec<String>,
    /// Output format: json for tools.
    #[arg(short, long, value_name = "FORMAT")]
    pub output: Option<String>,
}

impl PlanArgs {
    /// A plan of the change stored in `daemonset`, every flag at its default.
    pub fn for_daemonset(daemonset: &str) -> Self {
        PlanArgs {
            daemonset: daemonset.to_string(),
            filename: None,
            image: Vec::new(),
            ready_time: None,
            stop_time: "0s".into(),
            max_unavailable: Vec::new(),
            max_surge: Vec::new(),
            min_ready_seconds: Vec::new(),
            control: Vec::new(),
            output: None,
        }
    }
}

/// A forecast of the change, and of each what-if.
#[derive(Serialize)]
pub struct Plan {
    pub daemonset: String,
    pub namespace: String,
    /// What each new pod was assumed to take.
    pub assumptions: Assumptions,
    pub forecast: Forecast,
    pub what_ifs: Vec<WhatIf>,
}

#[derive(Serialize)]
pub struct Assumptions {
    /// Seconds from creation to Ready on most nodes (a range when spread).
    pub ready_seconds: ReadySeconds,
    /// Nodes with their own time, in seconds.
    pub ready_seconds_on: std::collections::BTreeMap<String, f64>,
    pub stop_seconds: f64,
    /// Where the times come from.
    pub source: String,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum ReadySeconds {
    Fixed(f64),
    Range { min: f64, max: f64 },
}

#[derive(Serialize)]
pub struct WhatIf {
    /// The setting changed, as `maxUnavailable=25%`.
    pub what: String,
    pub forecast: Forecast,
}

pub async fn run(client: &Client, namespace: &str, args: &PlanArgs) -> anyhow::Result<()> {
    let name = daemonset_name(&args.daemonset)?;
    let state = DaemonSetState::read(client, namespace, name).await?;
    let plan = plan(&state, args, Timestamp::now())?;
    match args.output.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&plan)?),
        None | Some("") => print!("{}", render(&plan, &state.ds)),
        Some(other) => bail!(
            "error: unable to match a printer suitable for the output format \"{other}\", allowed formats are: json"
        ),
    }
    Ok(())
}

/// The forecasts of a DaemonSet read from a cluster at `now`.
pub fn plan(state: &DaemonSetState, args: &PlanArgs, now: Timestamp) -> anyhow::Result<Plan> {
    let proposed = propose(&state.ds, args)?;
    if !daemonset::sync::is_rolling_update(&proposed) {
        bail!(
            "error: daemonset \"{}\" uses the OnDelete strategy: its pods are replaced only as they are deleted",
            proposed.metadata.name.as_deref().unwrap_or_default()
        );
    }
    let stop = parse_duration(&args.stop_time).context("--stop-time")?;
    let (mut timing, source) = match args.ready_time.as_deref() {
        Some(t) => (
            Timing { ready: parse_ready_time(t)?, ..Timing::fixed(SignedDuration::ZERO) },
            "--ready-time".to_string(),
        ),
        None => {
            let observed = observed_ready_times(&state.pods);
            match timing_from_observed(&observed) {
                Some(timing) => (timing, format!("observed on {} Ready pods", observed.len())),
                None => (
                    Timing::fixed(SignedDuration::from_secs(10)),
                    "assumed: no pod's readiness observed (set --ready-time)".to_string(),
                ),
            }
        }
    };
    timing.stop = stop;
    let run = |ds: &DaemonSet| -> anyhow::Result<Forecast> {
        RolloutControls::of(ds).map_err(|e| anyhow!("error: {}", aggregate_message(&e)))?;
        Ok(forecast(
            &Start { ds, nodes: &state.nodes, pods: &state.pods, revisions: &state.revisions, now },
            &timing,
        ))
    };
    let main = run(&proposed)?;
    let mut what_ifs = Vec::new();
    for (what, ds) in what_ifs_of(&proposed, args)? {
        what_ifs.push(WhatIf { what, forecast: run(&ds)? });
    }
    let secs = |d: SignedDuration| d.as_secs_f64();
    Ok(Plan {
        daemonset: proposed.metadata.name.clone().unwrap_or_default(),
        namespace: proposed.metadata.namespace.clone().unwrap_or_default(),
        assumptions: Assumptions {
            ready_seconds: match timing.ready {
                ReadyTime::Fixed(t) => ReadySeconds::Fixed(secs(t)),
                ReadyTime::Uniform { min, max } => ReadySeconds::Range { min: secs(min), max: secs(max) },
            },
            ready_seconds_on: timing.ready_on.iter().map(|(n, t)| (n.clone(), secs(*t))).collect(),
            stop_seconds: secs(timing.stop),
            source,
        },
        forecast: main,
        what_ifs,
    })
}

/// The DaemonSet as the change would store it.
fn propose(live: &DaemonSet, args: &PlanArgs) -> anyhow::Result<DaemonSet> {
    let mut changed = live.clone();
    if let Some(path) = &args.filename {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let manifest = manifest_daemonset(&text, live.metadata.name.as_deref().unwrap_or_default())
            .with_context(|| format!("error: {}", path.display()))?;
        changed.spec = manifest.spec;
        let annotations = changed.metadata.annotations.get_or_insert_with(Default::default);
        annotations.retain(|k, _| !k.starts_with(PREFIX));
        annotations.extend(manifest.metadata.annotations.unwrap_or_default());
    }
    for image in &args.image {
        let (container, image) = image
            .split_once('=')
            .ok_or_else(|| anyhow!("error: --image takes CONTAINER=IMAGE, not {image:?}"))?;
        let spec = changed
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .ok_or_else(|| anyhow!("no template"))?;
        let target = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
            .find(|c| c.name == container)
            .ok_or_else(|| anyhow!("error: unable to find container named \"{container}\""))?;
        target.image = Some(image.to_string());
    }
    daemonset::defaults::set_defaults_daemonset(&mut changed);
    Ok(daemonset::generation::updated(live, changed))
}

/// The DaemonSet named `name` in a manifest of one or more documents (else its only one).
fn manifest_daemonset(text: &str, name: &str) -> anyhow::Result<DaemonSet> {
    let mut found = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(doc)?;
        if value["kind"] == "DaemonSet" {
            found.push(value);
        }
    }
    let chosen = match found.iter().position(|d| d["metadata"]["name"] == name) {
        Some(i) => found.swap_remove(i),
        None if found.len() == 1 => found.remove(0),
        None => bail!("no DaemonSet named {name:?} in the manifest"),
    };
    Ok(serde_json::from_value(chosen)?)
}

/// Each what-if: its label and the DaemonSet it forecasts.
fn what_ifs_of(ds: &DaemonSet, args: &PlanArgs) -> anyhow::Result<Vec<(String, DaemonSet)>> {
    let mut out = Vec::new();
    let with_strategy = |unavailable: &str, surge: &str| -> anyhow::Result<DaemonSet> {
        let mut d = ds.clone();
        let spec = d.spec.as_mut().ok_or_else(|| anyhow!("no spec"))?;
        spec.update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_unavailable: Some(int_or_percent(unavailable)?),
                max_surge: Some(int_or_percent(surge)?),
            }),
        });
        Ok(d)
    };
    for v in &args.max_unavailable {
        out.push((format!("maxUnavailable={v}"), with_strategy(v, "0")?));
    }
    for v in &args.max_surge {
        out.push((format!("maxSurge={v}"), with_strategy("0", v)?));
    }
    for v in &args.min_ready_seconds {
        let mut d = ds.clone();
        d.spec.as_mut().ok_or_else(|| anyhow!("no spec"))?.min_ready_seconds = Some(*v);
        out.push((format!("minReadySeconds={v}"), d));
    }
    for c in &args.control {
        let (key, value) =
            c.split_once('=').ok_or_else(|| anyhow!("error: --control takes NAME=VALUE, not {c:?}"))?;
        let key = if key.starts_with(PREFIX) { key.to_string() } else { format!("{PREFIX}{key}") };
        let mut d = ds.clone();
        d.metadata.annotations.get_or_insert_with(Default::default).insert(key.clone(), value.to_string());
        out.push((format!("{key}={value}"), d));
    }
    Ok(out)
}

fn int_or_percent(v: &str) -> anyhow::Result<IntOrString> {
    if let Some(p) = v.strip_suffix('%') {
        p.parse::<u32>().map_err(|_| anyhow!("error: invalid value {v:?}: a number or a percentage"))?;
        return Ok(IntOrString::String(v.to_string()));
    }
    Ok(IntOrString::Int(
        v.parse().map_err(|_| anyhow!("error: invalid value {v:?}: a number or a percentage"))?,
    ))
}

/// `30s`, `2m`, `1h30m`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<SignedDuration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(SignedDuration::from_secs_f64(secs));
    }
    let (mut total, mut number) = (0f64, String::new());
    for ch in s.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => bail!("invalid duration {s:?}: use a number and h, m or s, e.g. 30s or 2m"),
        };
        let n: f64 = number.parse().map_err(|_| anyhow!("invalid duration {s:?}"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() || s.is_empty() {
        bail!("invalid duration {s:?}: use a number and h, m or s, e.g. 30s or 2m");
    }
    Ok(SignedDuration::from_secs_f64(total))
}

fn parse_ready_time(s: &str) -> anyhow::Result<ReadyTime> {
    match s.split_once('-') {
        Some((min, max)) => {
            let (min, max) = (parse_duration(min)?, parse_duration(max)?);
            if max < min {
                bail!("invalid --ready-time {s:?}: the range ends before it starts");
            }
            Ok(ReadyTime::Uniform { min, max })
        }
        None => Ok(ReadyTime::Fixed(parse_duration(s)?)),
    }
}

/// Seconds as people read them: `12.5s`, `5m8s`, `1h40m`.
pub fn human(secs: f64) -> String {
    if secs < 60.0 {
        let rounded = (secs * 10.0).round() / 10.0;
        return if rounded.fract() == 0.0 { format!("{rounded:.0}s") } else { format!("{rounded:.1}s") };
    }
    let whole = secs.round() as i64;
    let (h, m, s) = (whole / 3600, whole % 3600 / 60, whole % 60);
    match (h, m, s) {
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

fn strategy_line(ds: &DaemonSet) -> String {
    let spec = ds.spec.as_ref();
    let rolling = spec.and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
    let show = |v: Option<&IntOrString>| match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "0".into(),
    };
    format!(
        "maxUnavailable {}, maxSurge {}, minReadySeconds {}",
        show(rolling.and_then(|r| r.max_unavailable.as_ref())),
        show(rolling.and_then(|r| r.max_surge.as_ref())),
        spec.and_then(|s| s.min_ready_seconds).unwrap_or(0)
    )
}

fn outcome(f: &Forecast) -> String {
    match f.duration {
        Some(d) if f.waves.is_empty() => format!("nothing to roll out ({})", human(d)),
        Some(d) => {
            format!("{} in {} wave{}", human(d), f.waves.len(), if f.waves.len() == 1 { "" } else { "s" })
        }
        None => format!(
            "never completes: {} node{} block{} it",
            f.blocked.len(),
            if f.blocked.len() == 1 { "" } else { "s" },
            if f.blocked.len() == 1 { "s" } else { "" }
        ),
    }
}

/// The plan as a person reads it.
pub fn render(plan: &Plan, proposed_from: &DaemonSet) -> String {
    let f = &plan.forecast;
    let mut out = String::new();
    let a = &plan.assumptions;
    let ready = match a.ready_seconds {
        ReadySeconds::Fixed(s) => human(s),
        ReadySeconds::Range { min, max } => format!("{} to {}", human(min), human(max)),
    };
    out.push_str(&format!(
        "Rollout of daemonset.apps/{} in {}: {} nodes; {}\n",
        plan.daemonset,
        plan.namespace,
        f.desired,
        strategy_line(proposed_from)
    ));
    out.push_str(&format!(
        "Assumed: a new pod is Ready {ready} after its creation ({}), a deleted pod goes in {}\n",
        a.source,
        human(a.stop_seconds)
    ));
    if !a.ready_seconds_on.is_empty() {
        let slow: Vec<String> =
            a.ready_seconds_on.iter().map(|(n, s)| format!("{n} ({})", human(*s))).collect();
        out.push_str(&format!("  slower nodes, planned with their own time: {}\n", list(&slow)));
    }
    out.push('\n');
    if !f.waves.is_empty() {
        let mut rows = vec![["WAVE".to_string(), "START".into(), "DONE".into(), "NODES".into(), "".into()]];
        for (i, w) in f.waves.iter().enumerate() {
            rows.push([
                (i + 1).to_string(),
                human(w.start),
                w.end.map_or_else(|| "never".into(), human),
                w.nodes.len().to_string(),
                list(&w.nodes),
            ]);
        }
        out.push_str(&table(&rows));
        out.push('\n');
    }
    out.push_str(&format!("Total: {}\n", outcome(f)));
    if !f.risks.is_empty() {
        out.push_str("\nAt the start:\n");
        for r in &f.risks {
            out.push_str(&format!("  {}: {}\n", r.node, r.reason));
        }
    }
    if !f.blocked.is_empty() {
        out.push_str("\nBlocked:\n");
        for b in f.blocked.iter().take(20) {
            out.push_str(&format!("  {}: {}\n", b.node, b.reason));
        }
        if f.blocked.len() > 20 {
            out.push_str(&format!("  … and {} more\n", f.blocked.len() - 20));
        }
    }
    if !plan.what_ifs.is_empty() {
        out.push_str("\nWhat if:\n");
        let width = plan.what_ifs.iter().map(|w| w.what.len()).max().unwrap_or(0);
        for w in &plan.what_ifs {
            let ratio = match (w.forecast.duration, f.duration) {
                (Some(a), Some(b)) if b > 0.0 => format!("  (×{:.2})", a / b),
                _ => String::new(),
            };
            out.push_str(&format!("  {:<width$}  {}{ratio}\n", w.what, outcome(&w.forecast)));
        }
    }
    out
}

fn list(names: &[String]) -> String {
    if names.len() <= NAMES_PER_WAVE {
        return names.join(", ");
    }
    format!("{}, … and {} more", names[..NAMES_PER_WAVE - 1].join(", "), names.len() - (NAMES_PER_WAVE - 1))
}

fn table(rows: &[[String; 5]]) -> String {
    let widths: Vec<usize> =
        (0..5).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30s").unwrap(), SignedDuration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), SignedDuration::from_secs(90));
        assert_eq!(parse_duration("1.5").unwrap(), SignedDuration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
        assert_eq!(
            parse_ready_time("20s-40s").unwrap(),
            ReadyTime::Uniform { min: SignedDuration::from_secs(20), max: SignedDuration::from_secs(40) }
        );
        assert!(parse_ready_time("40s-20s").is_err());
        assert_eq!(human(5.25), "5.3s");
        assert_eq!(human(12.0), "12s");
        assert_eq!(human(308.0), "5m8s");
        assert_eq!(human(6000.0), "1h40m");
    }
}
