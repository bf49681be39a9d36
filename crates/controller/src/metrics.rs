//! The controller's metrics in Prometheus text format: queue depth, sync duration histogram,
//! pods created and deleted, errors, and node updates ignored as heartbeat-only.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the sync-duration buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Metrics {
    pub syncs: Counter,
    pub sync_errors: Counter,
    pub pods_created: Counter,
    pub pods_deleted: Counter,
    pub create_errors: Counter,
    pub delete_errors: Counter,
    pub node_updates_ignored: Counter,
    pub sync_duration: Histogram,
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self, queue_depth: usize, is_leader: bool) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter("everynode_daemonset_syncs_total", "DaemonSet syncs run.", self.syncs.get());
        counter(
            "everynode_daemonset_sync_errors_total",
            "DaemonSet syncs that failed and were retried.",
            self.sync_errors.get(),
        );
        counter("everynode_daemonset_pods_created_total", "Daemon pods created.", self.pods_created.get());
        counter("everynode_daemonset_pods_deleted_total", "Daemon pods deleted.", self.pods_deleted.get());
        counter(
            "everynode_daemonset_pod_create_errors_total",
            "Daemon pod creations that failed.",
            self.create_errors.get(),
        );
        counter(
            "everynode_daemonset_pod_delete_errors_total",
            "Daemon pod deletions that failed.",
            self.delete_errors.get(),
        );
        counter(
            "everynode_daemonset_node_updates_ignored_total",
            "Node updates that changed neither labels nor taints (heartbeats).",
            self.node_updates_ignored.get(),
        );
        let _ = writeln!(out, "# HELP everynode_daemonset_queue_depth DaemonSets waiting to be synced.");
        let _ = writeln!(
            out,
            "# TYPE everynode_daemonset_queue_depth gauge\neverynode_daemonset_queue_depth {queue_depth}"
        );
        let _ =
            writeln!(out, "# HELP everynode_daemonset_leader Whether this replica holds the leader lease.");
        let _ = writeln!(
            out,
            "# TYPE everynode_daemonset_leader gauge\neverynode_daemonset_leader {}",
            u8::from(is_leader)
        );
        let name = "everynode_daemonset_sync_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time one DaemonSet sync took.\n# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.sync_duration.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", count.load(Ordering::Relaxed));
        }
        let total = self.sync_duration.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sync_duration.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.pods_created.add(3);
        m.sync_duration.observe(Duration::from_millis(3));
        let text = m.render(7, true);
        assert!(text.contains("everynode_daemonset_pods_created_total 3\n"));
        assert!(text.contains("everynode_daemonset_queue_depth 7\n"));
        assert!(text.contains("everynode_daemonset_sync_duration_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("everynode_daemonset_sync_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("everynode_daemonset_sync_duration_seconds_count 1\n"));
    }
}
