//! `everynode`: Kubernetes DaemonSets in Rust.
//!
//! `everynode up` runs a local, Kubernetes-compatible control plane in one process.

mod bench;
mod controller_cmd;
mod controllers;
mod nodes;
mod progress;
mod up;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: the API server's many short-lived JSON values
/// fragmented glibc's per-thread arenas, and allocation was a quarter of the CPU profile
/// (BENCHMARKS.md has the before and after). Built without transparent huge pages (`no_thp`):
/// with them, memory was committed 2 MiB at a time, and peak RSS at 5,000 nodes was 90 MiB
/// higher for no measurable speed. Off without the `mimalloc` feature, to profile the heap
/// with tools that hook the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "everynode", version, about = "Kubernetes DaemonSets in Rust")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local Kubernetes-compatible control plane (API server and simulated nodes)
    /// in the foreground.
    Up(up::UpArgs),
    /// Run the DaemonSet controller against a Kubernetes API server (a real cluster whose own
    /// DaemonSet controller is off: kube-controller-manager `--controllers=*,-daemonset`).
    Controller(controller_cmd::ControllerArgs),
    /// Forecast a DaemonSet's rollout on any cluster: its waves, total time and what blocks
    /// it, by running the controller's decisions forward on a virtual clock.
    Plan {
        #[command(flatten)]
        connection: everynode::cluster_access::Connection,
        #[command(flatten)]
        args: everynode::plan::PlanArgs,
    },
    /// Measure everynode at 100 to 10,000 simulated nodes and write the table to
    /// BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty()).map_or_else(
                || tracing_subscriber::EnvFilter::new("info"),
                tracing_subscriber::EnvFilter::new,
            ),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => runtime()?.block_on(up::run(args)),
        Command::Controller(args) => runtime()?.block_on(controller_cmd::run(args)),
        Command::Plan { connection, args } => runtime()?.block_on(async move {
            let (client, namespace) = connection.client().await?;
            everynode::plan::run(&client, &namespace, &args).await
        }),
        // Runs its own runtime, in a child process per cluster size.
        Command::Bench(args) => bench::run(args),
    }
}

/// The process's runtime, whose blocking pool serves every write the API server hands off,
/// the loopback's included. A blocking thread only waits for the store's writer and decides one
/// write (the group commit is awaited without a thread), so on two cores sixteen keep the writer
/// busy; more (tokio's default limit is 512) only cost memory, each thread its own stack and
/// allocator heap: at 5,000 nodes, 64 of them cost 75 MiB of peak RSS against 16.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().max_blocking_threads(16).enable_all().build()
}
