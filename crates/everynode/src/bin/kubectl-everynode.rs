//! `kubectl everynode`: the rollout controls of everynode's DaemonSet controller from kubectl
//! (an executable named `kubectl-everynode` on the PATH is a kubectl plugin). It writes the
//! `rollout.everynode.io/` annotations and reads the rollout the way the controller decides
//! it, against any cluster that runs everynode's controller.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::anyhow;
use apimachinery::core::pod::is_ready;
use clap::{Parser, Subcommand};
use daemonset::SyncContext;
use daemonset::pod::revision_hash;
use daemonset::revision::{plan_history, revision_matches};
use daemonset::rollout_controls::{
    self, COMPLETE_CONDITION, HALTED, NODE_SELECTOR, PARTITION, PAUSED, RolloutControls, Waiting,
};
use everynode::cluster_access::{Connection, daemonset_name, status_error};
use everynode::daemonset_state::{DaemonSetState, revisions};
use everynode::rollout_picture::Picture;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};

#[derive(Parser)]
#[command(
    name = "kubectl everynode",
    version,
    about = "Rollout controls of everynode's DaemonSet controller"
)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pause the rollout: no pod is replaced for the update.
    Pause { daemonset: String },
    /// Resume a paused rollout.
    Resume { daemonset: String },
    /// Keep N (or N%) of the nodes on the old revision.
    Partition { daemonset: String, partition: String },
    /// Roll out everywhere: no pause, partition or node selector.
    Promote { daemonset: String },
    /// Roll back to the previous revision (or --to-revision), as `kubectl rollout undo`.
    Undo {
        daemonset: String,
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
    },
    /// Forecast the rollout of a change: waves, total time, what blocks it, and what-ifs.
    Plan(everynode::plan::PlanArgs),
    /// Each node's daemon pod: its revision, readiness, and what it waits for.
    Status {
        daemonset: String,
        /// Follow: print again whenever it changes (a grid is redrawn in place on a terminal).
        #[arg(short, long)]
        watch: bool,
        /// `table`: a row per node; `grid`: a coloured block per node, as the live view draws
        /// it. Default: grid on a terminal, table otherwise.
        #[arg(short, long, value_enum)]
        output: Option<StatusOutput>,
        /// Colour the grid: auto (on a terminal, unless NO_COLOR is set), always or never.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusOutput {
    Table,
    Grid,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

async fn annotate(api: &Api<DaemonSet>, name: &str, annotations: Value) -> anyhow::Result<()> {
    let patch = json!({"metadata": {"annotations": annotations}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(status_error)?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli).await {
        eprintln!("{e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let (client, namespace) = cli.connection.client().await?;
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), &namespace);
    match &cli.command {
        Command::Pause { daemonset } => {
            let name = daemonset_name(daemonset)?;
            annotate(&api, name, json!({PAUSED: "true"})).await?;
            println!("daemonset.apps/{name} paused");
        }
        Command::Resume { daemonset } => {
            let name = daemonset_name(daemonset)?;
            annotate(&api, name, json!({PAUSED: "false", HALTED: null})).await?;
            println!("daemonset.apps/{name} resumed");
        }
        Command::Partition { daemonset, partition } => {
            let name = daemonset_name(daemonset)?;
            annotate(&api, name, json!({PARTITION: partition})).await?;
            println!("daemonset.apps/{name} partitioned: {partition} nodes stay on the old revision");
        }
        Command::Promote { daemonset } => {
            let name = daemonset_name(daemonset)?;
            annotate(
                &api,
                name,
                json!({PAUSED: "false", HALTED: null, PARTITION: null, NODE_SELECTOR: null}),
            )
            .await?;
            println!("daemonset.apps/{name} promoted");
        }
        Command::Undo { daemonset, to_revision } => {
            let name = daemonset_name(daemonset)?;
            undo(&client, &api, &namespace, name, *to_revision).await?;
        }
        Command::Plan(args) => everynode::plan::run(&client, &namespace, args).await?,
        Command::Status { daemonset, watch, output, color } => {
            let name = daemonset_name(daemonset)?;
            let terminal = std::io::stdout().is_terminal();
            let grid = output.map_or(terminal, |o| o == StatusOutput::Grid);
            let colour = match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            };
            let mut last = String::new();
            loop {
                let state = DaemonSetState::read(&client, &namespace, name).await?;
                let now = if grid { grid_of(&state, colour) } else { status(&state) };
                if now != last {
                    if *watch && grid && terminal {
                        // Redrawn in place: home, clear, the new frame.
                        print!("\x1b[H\x1b[2J{now}");
                    } else if *watch {
                        // Each frame ends with an empty line, so a reader knows it is whole.
                        println!("{now}");
                    } else {
                        print!("{now}");
                    }
                    std::io::stdout().flush()?;
                    last = now;
                }
                if !watch {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(())
}

/// As `kubectl rollout undo`: the revision before the current one (or the one named) is
/// patched back into the DaemonSet's template.
async fn undo(
    client: &Client,
    api: &Api<DaemonSet>,
    namespace: &str,
    name: &str,
    to: i64,
) -> anyhow::Result<()> {
    let ds = api.get(name).await.map_err(status_error)?;
    let revs = revisions(client, namespace, &ds).await?;
    let target = if to > 0 {
        revs.iter()
            .find(|r| r.revision == to)
            .ok_or_else(|| anyhow!("error: unable to find specified revision {to} in history"))?
    } else {
        let older: Vec<&ControllerRevision> = revs.iter().rev().skip(1).collect();
        older
            .first()
            .copied()
            .ok_or_else(|| anyhow!("error: no rollout history found for daemonset \"{name}\""))?
    };
    if revision_matches(&ds, target) {
        println!(
            "daemonset.apps/{name} skipped rollback (current template already matches revision {})",
            target.revision
        );
        return Ok(());
    }
    let data = target.data.as_ref().map(|d| d.0.clone()).unwrap_or(Value::Null);
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&data)).await.map_err(status_error)?;
    println!("daemonset.apps/{name} rolled back");
    Ok(())
}

/// The grid of `everynode up`'s live view, as wide as the terminal (or `COLUMNS`, or 100).
fn grid_of(state: &DaemonSetState, colour: bool) -> String {
    let nodes: Vec<&Node> = state.nodes.iter().collect();
    let pods: Vec<&Pod> = state.pods.iter().collect();
    let revisions: Vec<&ControllerRevision> = state.revisions.iter().collect();
    let picture = Picture::of(&state.ds, &nodes, &pods, &revisions, jiff::Timestamp::now());
    let width = terminal_size::terminal_size()
        .map(|(w, _)| w.0 as usize)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(100);
    picture.render_terminal(width, colour)
}

/// The per-node table and its summary line.
fn status(state: &DaemonSetState) -> String {
    let DaemonSetState { ds, nodes, pods, revisions: revs } = state;
    let rev_refs: Vec<&ControllerRevision> = revs.iter().collect();
    let pod_refs: Vec<&Pod> = pods.iter().collect();
    let hash = plan_history(ds, &rev_refs, &pod_refs).hash;
    let numbers: BTreeMap<String, i64> =
        revs.iter().map(|r| (daemonset::revision::revision_label_hash(r).to_string(), r.revision)).collect();
    let controls =
        RolloutControls::of(ds).unwrap_or_else(|_| RolloutControls { paused: true, ..Default::default() });
    let now = jiff::Timestamp::now();
    let facts = daemonset::pod_facts::of_each(pod_refs.iter().copied());
    let ctx = SyncContext::new(ds, &hash, nodes.iter(), pod_refs.iter().copied().zip(&facts), now);
    let standing = ctx.rollout_standing(&controls);
    let (_, _, desired) = ctx.rollout_budget();
    let waits = rollout_controls::waiting(&controls, &standing, desired);
    let mut rows = vec![[
        "NODE".to_string(),
        "REVISION".into(),
        "READY".into(),
        "AVAILABLE".into(),
        "WAITING FOR".into(),
    ]];
    for (s, wait) in standing.iter().zip(&waits) {
        let pods = ctx.pods_on(s.node);
        let revision = pods
            .iter()
            .filter_map(|p| revision_hash(p))
            .map(|h| numbers.get(h).map_or_else(|| h.to_string(), |n| n.to_string()))
            .collect::<Vec<_>>()
            .join(",");
        let ready = pods.first().is_some_and(|p| is_ready(p));
        let available = s.available && !matches!(wait, Waiting::Creation);
        rows.push([
            s.node.to_string(),
            if revision.is_empty() { "<none>".into() } else { revision },
            ready.to_string(),
            available.to_string(),
            wait.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    let status = ds.status.clone().unwrap_or_default();
    let current = numbers.get(&hash).map_or_else(|| hash.clone(), |n| n.to_string());
    out.push_str(&format!(
        "revision {current}: {} of {} nodes updated, {} available",
        status.updated_number_scheduled.unwrap_or(0),
        status.desired_number_scheduled,
        status.number_available.unwrap_or(0),
    ));
    if let Some(c) = status.conditions.iter().flatten().find(|c| c.type_ == COMPLETE_CONDITION) {
        out.push_str(&format!(
            "; {}={} ({}): {}",
            c.type_,
            c.status,
            c.reason.as_deref().unwrap_or_default(),
            c.message.as_deref().unwrap_or_default()
        ));
    }
    out.push('\n');
    out
}
