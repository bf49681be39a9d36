//! `everynode bench`: everynode measured at N simulated nodes, for each N asked, each in a
//! fresh process (so peak memory and CPU belong to that N alone) on a fresh cluster:
//!
//! 1. startup until all N+1 nodes are Ready, then the CPU the idle cluster (nodes, no pods)
//!    uses over ten seconds, in cores, and how many nodes are not Ready after it;
//! 2. the baseline: N pods created directly through the API, already bound, in parallel,
//!    until all are ready (then deleted);
//! 3. a DaemonSet created until it has N ready pods; divided by the baseline, the
//!    controller's overhead;
//! 4. a rolling update of all N at maxUnavailable 10%, then one at maxSurge 10% and
//!    maxUnavailable 0, with readiness at once; during the first, the latency of a single GET
//!    and of a full pod list;
//! 5. the peak RSS of the process and the CPU seconds of the DaemonSet controller's threads.
//!
//! It prints a table, and how each figure grew from one size to the next (the ratio of the
//! times beside the ratio of the node counts), and writes both into BENCHMARKS.md between two
//! markers. 20,000 and 50,000 nodes are sizes to ask for; the default list stops at 10,000.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::progress::Progress;
use crate::up::{self, UpArgs};

const MARK_START: &str = "<!-- everynode bench: start -->";
const MARK_END: &str = "<!-- everynode bench: end -->";
const BASELINE_NAMESPACE: &str = "everynode-baseline";
/// How long any one phase may take before the run fails.
const PHASE_LIMIT: Duration = Duration::from_secs(900);

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The cluster sizes (worker nodes) to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000,10000")]
    pub nodes: Vec<usize>,
    /// The file whose benchmark section receives the table.
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub output: PathBuf,
    /// Print the table only; write no file.
    #[arg(long)]
    pub no_write: bool,
    /// Measure one size in this process and print the result as JSON (what each child does).
    #[arg(long, hide = true)]
    pub single: Option<usize>,
}

/// The figures of one cluster size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Measurement {
    pub nodes: usize,
    pub startup_s: f64,
    /// CPU of the whole process over ten idle seconds (nodes, no pods), in cores.
    #[serde(default)]
    pub idle_cores: f64,
    /// Nodes not Ready at the end of the idle measurement.
    #[serde(default)]
    pub not_ready_after_idle: usize,
    /// Nodes not Ready once both rollouts are done.
    #[serde(default)]
    pub not_ready_after_rollouts: usize,
    pub baseline_s: f64,
    pub daemonset_s: f64,
    pub overhead: f64,
    pub rollout_max_unavailable_s: f64,
    pub rollout_max_surge_s: f64,
    pub get_p50_ms: f64,
    pub get_p99_ms: f64,
    pub list_p50_ms: f64,
    pub list_p99_ms: f64,
    pub peak_rss_mib: f64,
    pub controller_cpu_s: f64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(n) = args.single {
        let runtime = crate::runtime()?;
        let m = runtime.block_on(measure(n))?;
        println!("{}", serde_json::to_string(&m)?);
        // The cluster's tasks are not waited for.
        std::process::exit(0);
    }
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for &n in &args.nodes {
        eprintln!("== {n} nodes");
        let child = std::process::Command::new(&exe)
            .args(["bench", "--single", &n.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("the run at {n} nodes failed ({})", output.status);
        }
        let line = output.stdout.lines().map_while(Result::ok).last().unwrap_or_default();
        let m: Measurement = serde_json::from_str(&line)
            .with_context(|| format!("reading the result at {n} nodes: {line}"))?;
        results.push(m);
    }
    let table = table(&results);
    println!("{table}");
    if !args.no_write {
        let command = format!(
            "cargo run --release -- bench --nodes {}",
            args.nodes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        );
        write_section(&args.output, &section(&table, &machine(), &command))?;
        eprintln!("written to {}", args.output.display());
    }
    Ok(())
}

/// The CPU the process uses over ten idle seconds, in cores, and the nodes not Ready after.
async fn idle(client: &kube::Client) -> anyhow::Result<(f64, usize)> {
    let cpu = || proc_self_cpu_seconds();
    let (before, started) = (cpu(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let cores = (cpu() - before) / started.elapsed().as_secs_f64();
    Ok((cores, not_ready_nodes(client).await?))
}

/// How many nodes are not Ready now.
async fn not_ready_nodes(client: &kube::Client) -> anyhow::Result<usize> {
    let nodes =
        Api::<k8s_openapi::api::core::v1::Node>::all(client.clone()).list(&ListParams::default()).await?;
    Ok(nodes.items.iter().filter(|n| !cluster::kubelet::node_ready(n)).count())
}

/// CPU seconds (user and system) of this whole process.
fn proc_self_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(") ") else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    (field(14) + field(15)) as f64 / 100.0
}

/// The results as a Markdown table, then how each figure grew from one size to the next.
pub fn table(results: &[Measurement]) -> String {
    let mut out = String::from(
        "| nodes | startup to all Ready | idle CPU (no pods) | baseline: N bound pods ready | DaemonSet: N pods ready | overhead (DS / baseline) | rollout maxUnavailable 10% | rollout maxSurge 10% | GET p50 / p99 | pod list p50 / p99 | peak RSS | controller CPU |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let not_ready = |k: usize| match k {
            0 => String::new(),
            k => format!(" ({k} NotReady)"),
        };
        let (after_idle, after_rollouts) =
            (not_ready(m.not_ready_after_idle), not_ready(m.not_ready_after_rollouts));
        out.push_str(&format!(
            "| {} | {:.1} s | {:.2} cores{after_idle} | {:.1} s | {:.1} s | {:.2} | {:.1} s | {:.1} s{after_rollouts} | {:.1} / {:.1} ms | {:.0} / {:.0} ms | {:.0} MiB | {:.1} s |\n",
            m.nodes,
            m.startup_s,
            m.idle_cores,
            m.baseline_s,
            m.daemonset_s,
            m.overhead,
            m.rollout_max_unavailable_s,
            m.rollout_max_surge_s,
            m.get_p50_ms,
            m.get_p99_ms,
            m.list_p50_ms,
            m.list_p99_ms,
            m.peak_rss_mib,
            m.controller_cpu_s,
        ));
    }
    if results.len() > 1 {
        out.push_str(&growth(results));
    }
    out
}

/// Each size against the one before: the node ratio, then each figure's ratio. Linear growth
/// is a figure's ratio equal to the node ratio.
pub fn growth(results: &[Measurement]) -> String {
    let mut out = String::from(
        "\n| growth | nodes | startup | idle CPU | baseline | DaemonSet | rollout maxUnavailable | rollout maxSurge | GET p99 | pod list p50 | peak RSS | controller CPU |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for pair in results.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let r = |x: f64, y: f64| if x > 0.0 { format!("×{:.2}", y / x) } else { "–".to_string() };
        out.push_str(&format!(
            "| {} → {} | ×{:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            a.nodes,
            b.nodes,
            b.nodes as f64 / a.nodes as f64,
            r(a.startup_s, b.startup_s),
            r(a.idle_cores, b.idle_cores),
            r(a.baseline_s, b.baseline_s),
            r(a.daemonset_s, b.daemonset_s),
            r(a.rollout_max_unavailable_s, b.rollout_max_unavailable_s),
            r(a.rollout_max_surge_s, b.rollout_max_surge_s),
            r(a.get_p99_ms, b.get_p99_ms),
            r(a.list_p50_ms, b.list_p50_ms),
            r(a.peak_rss_mib, b.peak_rss_mib),
            r(a.controller_cpu_s, b.controller_cpu_s),
        ));
    }
    out
}

fn section(table: &str, machine: &str, command: &str) -> String {
    format!(
        "{MARK_START}\nMeasured {} on {machine}, with `{command}`.\n\n{table}{MARK_END}",
        jiff::Timestamp::now().strftime("%Y-%m-%d")
    )
}

/// Replaces the marked section of `path` (or appends one).
fn write_section(path: &Path, section: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (text.find(MARK_START), text.find(MARK_END)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &text[..a], &text[b + MARK_END.len()..]),
        _ => format!("{text}\n{section}\n"),
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `2 × Intel(R) Xeon(R) …, 24 GiB`
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_kib: f64 = proc_field("/proc/meminfo", "MemTotal:").unwrap_or(0.0);
    format!("{cores} × {model}, {:.0} GiB", mem_kib / 1024.0 / 1024.0)
}

/// A `Name: value kB` field of a /proc file.
fn proc_field(path: &str, name: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse().ok())
}

/// CPU seconds of this process's threads whose name starts with `prefix`.
fn thread_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is the 3rd field, utime the 14th.
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        ticks += field(14) + field(15);
    }
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0
}

/// The `p`-th percentile of sorted durations, in milliseconds.
pub fn percentile(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs every phase at `n` nodes in this process.
async fn measure(n: usize) -> anyhow::Result<Measurement> {
    let dir = tempfile::tempdir()?;
    let args = UpArgs {
        data_dir: dir.path().to_path_buf(),
        port: 0,
        bind: std::net::IpAddr::from([127, 0, 0, 1]),
        workers: n,
        nodes_file: None,
        controllers: "*".into(),
        node_monitor_grace_period: 40,
        pod_gc_quarantine: 40,
        terminated_pod_gc_threshold: cluster::pod_gc::TERMINATED_POD_THRESHOLD,
        controller_workers: 2,
        event_ttl: 3600,
    };
    let started = Instant::now();
    let running = up::start(&args).await?;
    let client = running.client.clone();
    tokio::time::timeout(PHASE_LIMIT, up::wait_for_nodes_ready(client.clone(), n + 1))
        .await
        .context("nodes did not become Ready in time")??;
    let startup = started.elapsed();
    let (idle_cores, not_ready_after_idle) = idle(&client).await?;

    let baseline = baseline(&client, n).await?;

    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let started = Instant::now();
    daemonsets.create(&PostParams::default(), &daemonset("bench:1")).await?;
    daemonset_done(&daemonsets, n, "DaemonSet pods ready").await?;
    let daemonset_time = started.elapsed();

    // Rolling update at maxUnavailable 10%, with GET and list latency measured meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    // The probes have a client of their own, as a user would: the cluster components share
    // theirs, and their requests would queue ahead of the probes'.
    let probe_client = up::client_for(&running.server.kubeconfig()).await?;
    let probes = tokio::spawn(probe_latency(probe_client, stop.clone()));
    let started = Instant::now();
    let image =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "bench:2"}]}}}});
    daemonsets.patch("bench", &PatchParams::default(), &Patch::Strategic(image)).await?;
    daemonset_done(&daemonsets, n, "rollout, maxUnavailable 10%").await?;
    let rollout_unavailable = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (mut gets, mut lists) = probes.await?;
    gets.sort();
    lists.sort();

    let started = Instant::now();
    let surge = json!({"spec": {
        "updateStrategy": {"rollingUpdate": {"maxSurge": "10%", "maxUnavailable": 0}},
        "template": {"spec": {"containers": [{"name": "agent", "image": "bench:3"}]}},
    }});
    daemonsets.patch("bench", &PatchParams::default(), &Patch::Strategic(surge)).await?;
    daemonset_done(&daemonsets, n, "rollout, maxSurge 10%").await?;
    let rollout_surge = started.elapsed();
    let not_ready_after_rollouts = not_ready_nodes(&client).await?;

    let measurement = Measurement {
        nodes: n,
        startup_s: startup.as_secs_f64(),
        idle_cores,
        not_ready_after_idle,
        not_ready_after_rollouts,
        baseline_s: baseline.as_secs_f64(),
        daemonset_s: daemonset_time.as_secs_f64(),
        overhead: daemonset_time.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
        rollout_max_unavailable_s: rollout_unavailable.as_secs_f64(),
        rollout_max_surge_s: rollout_surge.as_secs_f64(),
        get_p50_ms: percentile(&gets, 50),
        get_p99_ms: percentile(&gets, 99),
        list_p50_ms: percentile(&lists, 50),
        list_p99_ms: percentile(&lists, 99),
        peak_rss_mib: proc_field("/proc/self/status", "VmHWM:").unwrap_or(0.0) / 1024.0,
        controller_cpu_s: thread_cpu_seconds(up::CONTROLLER_THREAD),
    };
    running.shutdown().await;
    drop(dir);
    Ok(measurement)
}

fn daemonset(image: &str) -> DaemonSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "bench"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {"containers": [{"name": "agent", "image": image}]},
            },
        },
    }))
    .expect("a valid DaemonSet")
}

/// Creates `n` pods bound to the workers, in parallel, and times them until all are ready;
/// then deletes them and waits until they are gone.
async fn baseline(client: &kube::Client, n: usize) -> anyhow::Result<Duration> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": BASELINE_NAMESPACE}}))?;
    namespaces.create(&PostParams::default(), &ns).await?;
    // Pods are admitted once their namespace's `default` ServiceAccount exists (the
    // serviceaccount controller creates it; timing starts after it has).
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), BASELINE_NAMESPACE);
    while accounts.get_opt("default").await?.is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), BASELINE_NAMESPACE);
    let mut events = watcher(pods.clone(), watcher::Config::default()).boxed();
    // The watch is established before the first pod exists.
    let first = events.next().await.context("pod watch")??;
    anyhow::ensure!(matches!(first, watcher::Event::Init), "unexpected first watch event");
    let started = Instant::now();
    let creates = futures::stream::iter(1..=n)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("baseline-{i}")},
                    "spec": {"nodeName": format!("k8s-worker-{i}"), "containers": [{"name": "agent", "image": "bench:1"}]},
                }))?;
                pods.create(&PostParams::default(), &pod).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>();
    let mut progress = Progress::new("baseline pods ready", n);
    let wait_ready = async {
        let mut ready = HashSet::new();
        while let Some(event) = events.next().await {
            if let watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) = event?
                && apimachinery::core::pod::is_ready(&pod)
            {
                ready.insert(pod.metadata.name.clone().unwrap_or_default());
                progress.set(ready.len());
                if ready.len() >= n {
                    return anyhow::Ok(());
                }
            }
        }
        bail!("the pod watch ended")
    };
    let (created, ready) = tokio::time::timeout(PHASE_LIMIT, futures::future::join(creates, wait_ready))
        .await
        .context("baseline pods did not become ready in time")?;
    created.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    ready?;
    let elapsed = started.elapsed();
    progress.finish();
    pods.delete_collection(&DeleteParams::default().grace_period(0), &ListParams::default()).await?;
    tokio::time::timeout(PHASE_LIMIT, async {
        while !pods.list_metadata(&ListParams::default().limit(1)).await?.items.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        anyhow::Ok(())
    })
    .await
    .context("baseline pods were not deleted in time")??;
    Ok(elapsed)
}

/// Waits until the DaemonSet's rollout is complete at `n` nodes, as `kubectl rollout status`
/// decides it: the current generation observed, every pod updated, scheduled, ready and
/// available, and no more pods than nodes.
async fn daemonset_done(api: &Api<DaemonSet>, n: usize, label: &str) -> anyhow::Result<()> {
    let mut progress = Progress::new(label, n);
    let config = watcher::Config::default().fields("metadata.name=bench");
    let mut events = watcher(api.clone(), config).boxed();
    tokio::time::timeout(PHASE_LIMIT, async {
        while let Some(event) = events.next().await {
            let (watcher::Event::Apply(ds) | watcher::Event::InitApply(ds)) = event? else { continue };
            let Some(status) = ds.status.as_ref() else { continue };
            let n32 = n as i32;
            let observed = status.observed_generation >= ds.metadata.generation;
            let updated = status.updated_number_scheduled.unwrap_or(0);
            let available = status.number_available.unwrap_or(0);
            if observed {
                progress.set(updated.min(available).max(0) as usize);
            }
            if observed
                && status.desired_number_scheduled == n32
                && status.current_number_scheduled == n32
                && status.number_ready == n32
                && updated == n32
                && available == n32
            {
                progress.finish();
                return Ok(());
            }
        }
        bail!("the DaemonSet watch ended")
    })
    .await
    .with_context(|| format!("{label}: not done in time"))?
}

/// GETs the DaemonSet ten times a second and lists every pod once a second, until told to
/// stop. (A full list of thousands of pods is itself heavy work: any faster, and the probe
/// would be what slows the rollout.)
async fn probe_latency(client: kube::Client, stop: Arc<AtomicBool>) -> (Vec<Duration>, Vec<Duration>) {
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let gets = async {
        let mut gets = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            if daemonsets.get("bench").await.is_ok() {
                gets.push(t.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        gets
    };
    let lists = async {
        let mut lists = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            // Until the whole body has arrived; decoding 5,000 pods in this client would be
            // neither the server's latency nor the server's memory.
            let Ok(request) = kube::core::Request::new("/api/v1/pods").list(&ListParams::default()) else {
                break;
            };
            let t = Instant::now();
            if client.request_text(request).await.is_ok() {
                lists.push(t.elapsed());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        lists
    };
    futures::future::join(gets, lists).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(nodes: usize, seconds: f64) -> Measurement {
        Measurement {
            nodes,
            startup_s: seconds,
            idle_cores: 0.1,
            not_ready_after_idle: 0,
            not_ready_after_rollouts: 0,
            baseline_s: seconds,
            daemonset_s: seconds,
            overhead: 1.0,
            rollout_max_unavailable_s: seconds * 1.5,
            rollout_max_surge_s: seconds,
            get_p50_ms: 1.0,
            get_p99_ms: 2.0,
            list_p50_ms: 3.0,
            list_p99_ms: 4.0,
            peak_rss_mib: 100.0,
            controller_cpu_s: seconds,
        }
    }

    #[test]
    fn growth_is_each_figure_against_the_size_before() {
        let t = table(&[measurement(10_000, 2.0), measurement(20_000, 5.0)]);
        let row = t.lines().find(|l| l.starts_with("| 10000 → 20000")).expect("a growth row");
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(&cells[2..6], ["×2.00", "×2.50", "×1.00", "×2.50"]);
        assert!(t.contains("| 0.10 cores |"), "{t}");
        assert!(!table(&[measurement(100, 1.0)]).contains("growth"));
    }

    #[test]
    fn nodes_not_ready_are_told_after_idle_and_after_the_rollouts() {
        let mut m = measurement(100, 1.0);
        assert!(!table(std::slice::from_ref(&m)).contains("NotReady"));
        m.not_ready_after_idle = 2;
        m.not_ready_after_rollouts = 7;
        let t = table(&[m]);
        assert!(t.contains("| 0.10 cores (2 NotReady) |"), "{t}");
        assert!(t.contains("| 1.0 s (7 NotReady) |"), "{t}");
    }

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50), 51.0);
        assert_eq!(percentile(&v, 99), 100.0);
        assert_eq!(percentile(&[], 99), 0.0);
    }

    #[test]
    fn the_section_is_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("B.md");
        std::fs::write(&path, format!("# B\n\nbefore\n{MARK_START}\nold\n{MARK_END}\nafter\n")).unwrap();
        write_section(&path, &format!("{MARK_START}\nnew\n{MARK_END}")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("# B\n\nbefore\n{MARK_START}\nnew\n{MARK_END}\nafter\n")
        );
    }

    #[test]
    fn this_threads_cpu_is_found_by_name() {
        let t = std::thread::Builder::new()
            .name("bench-cpu-test".into())
            .spawn(|| {
                let start = Instant::now();
                let mut x = 0u64;
                while start.elapsed() < Duration::from_millis(300) {
                    x = x.wrapping_add(1);
                }
                // Still alive while measured.
                let cpu = thread_cpu_seconds("bench-cpu-test");
                (x, cpu)
            })
            .unwrap();
        let (_, cpu) = t.join().unwrap();
        assert!(cpu > 0.1, "{cpu}");
    }
}
