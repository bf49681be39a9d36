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
/// (BENCHMARKS.md has the before and after).
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
    /// Measure everynode at 100 to 10,000 simulated nodes and write the table to
    /// BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match cli.command {
        Command::Up(args) => runtime()?.block_on(up::run(args)),
        Command::Controller(args) => runtime()?.block_on(controller_cmd::run(args)),
        // Runs its own runtime, in a child process per cluster size.
        Command::Bench(args) => bench::run(args),
    }
}
