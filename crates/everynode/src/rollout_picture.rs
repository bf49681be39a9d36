//! A DaemonSet's rollout as a picture: one cell per node that has or should have its daemon
//! pod, coloured by the pod's revision and readiness, with the DaemonSet's counters and
//! conditions. The web UI of `everynode up` and `kubectl everynode status -w` draw the same
//! picture; both read each node the way the controller decides its rollout
//! (`SyncContext::rollout_standing`, `rollout_controls::waiting`).

use std::collections::BTreeMap;

use apimachinery::core::pod::is_ready;
use daemonset::SyncContext;
use daemonset::pod::revision_hash;
use daemonset::revision::{plan_history, revision_label_hash};
use daemonset::rollout_controls::{RolloutControls, Waiting, waiting};
use daemonset::sync::PodState;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;

/// What a node's cell shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CellState {
    /// No daemon pod.
    None,
    /// A pod that is not Ready.
    NotReady,
    /// Ready, not yet available (minReadySeconds).
    Ready,
    /// Available.
    Available,
    /// An old pod and its replacement side by side (maxSurge).
    Replacing,
}

impl CellState {
    fn code(self) -> u32 {
        match self {
            CellState::None => 0,
            CellState::NotReady => 1,
            CellState::Ready => 2,
            CellState::Available => 3,
            CellState::Replacing => 4,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cell {
    pub node: String,
    /// The revision number of the pod it shows (the new one while replacing); `None`: no pod.
    pub revision: Option<i64>,
    pub state: CellState,
    /// What it waits for in the rollout (`-` for nothing).
    pub waiting: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// The counters of a DaemonSet's status, as `kubectl get ds` shows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counters {
    pub desired: i32,
    pub current: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Picture {
    pub namespace: String,
    pub name: String,
    /// The current revision's number.
    pub revision: i64,
    pub counters: Counters,
    pub conditions: Vec<Condition>,
    pub cells: Vec<Cell>,
}

impl Picture {
    /// The picture of `ds` over `nodes` with the pods and revisions it controls, at `now`.
    pub fn of(
        ds: &DaemonSet,
        nodes: &[&Node],
        pods: &[&Pod],
        revisions: &[&ControllerRevision],
        now: Timestamp,
    ) -> Picture {
        let hash = plan_history(ds, revisions, pods).hash;
        let numbers: BTreeMap<&str, i64> =
            revisions.iter().map(|r| (revision_label_hash(r), r.revision)).collect();
        let number_of = |pod: &Pod| revision_hash(pod).and_then(|h| numbers.get(h).copied());
        let controls = RolloutControls::of(ds)
            .unwrap_or_else(|_| RolloutControls { paused: true, ..Default::default() });
        let facts = daemonset::pod_facts::of_each(pods.iter().copied());
        let ctx = SyncContext::new(ds, &hash, nodes.iter().copied(), pods.iter().copied().zip(&facts), now);
        let standing = ctx.rollout_standing(&controls);
        let (_, _, desired) = ctx.rollout_budget();
        let waits = waiting(&controls, &standing, desired);
        let cells = standing
            .iter()
            .zip(&waits)
            .map(|(s, wait)| {
                let shown = s.pod.or_else(|| ctx.pods_on(s.node).first().copied());
                let state = match (s.state, shown) {
                    (_, None) | (PodState::Missing, _) => CellState::None,
                    (PodState::Both { .. }, _) => CellState::Replacing,
                    (PodState::Updated | PodState::Old(_), Some(_)) if s.available => CellState::Available,
                    (_, Some(p)) if is_ready(p) => CellState::Ready,
                    _ => CellState::NotReady,
                };
                Cell {
                    node: s.node.to_string(),
                    revision: shown.and_then(number_of),
                    state,
                    waiting: if *wait == Waiting::Nothing { "-".into() } else { wait.to_string() },
                }
            })
            .collect();
        let status = ds.status.clone().unwrap_or_default();
        Picture {
            namespace: ds.metadata.namespace.clone().unwrap_or_default(),
            name: ds.metadata.name.clone().unwrap_or_default(),
            revision: numbers.get(hash.as_str()).copied().unwrap_or(0),
            counters: Counters {
                desired: status.desired_number_scheduled,
                current: status.current_number_scheduled,
                ready: status.number_ready,
                updated: status.updated_number_scheduled.unwrap_or(0),
                available: status.number_available.unwrap_or(0),
            },
            conditions: status
                .conditions
                .iter()
                .flatten()
                .map(|c| Condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone().unwrap_or_default(),
                    message: c.message.clone().unwrap_or_default(),
                })
                .collect(),
            cells,
        }
    }

    /// Each cell as one number, `revision * 8 + state` (0 for no pod), for the web page.
    pub fn cell_codes(&self) -> Vec<u32> {
        self.cells.iter().map(|c| c.revision.unwrap_or(0).max(0) as u32 * 8 + c.state.code()).collect()
    }

    /// The picture for a terminal: counters, a legend, one block per node (`width` blocks a
    /// row, in the controller's node order), what the nodes wait for, then the conditions.
    /// Without colour, pods of an older revision are drawn as `○` so the picture still tells
    /// the revisions apart.
    pub fn render_terminal(&self, width: usize, colour: bool) -> String {
        let c = &self.counters;
        let mut out = format!(
            "daemonset.apps/{} in {}: revision {}\nDESIRED {}  CURRENT {}  READY {}  UP-TO-DATE {}  AVAILABLE {}\n",
            self.name, self.namespace, self.revision, c.desired, c.current, c.ready, c.updated, c.available
        );
        let mut legend = Vec::new();
        if colour {
            let mut revisions: Vec<i64> = self.cells.iter().filter_map(|c| c.revision).collect();
            revisions.push(self.revision);
            revisions.sort_unstable();
            revisions.dedup();
            for r in revisions.iter().rev() {
                let current = if *r == self.revision { " (current)" } else { "" };
                legend.push(format!(
                    "{} revision {r}{current}",
                    self.block(Some(*r), CellState::Available, true)
                ));
            }
        } else {
            legend
                .push(format!("{} available", self.block(Some(self.revision), CellState::Available, false)));
            legend.push(format!("{} ready", self.block(Some(self.revision), CellState::Ready, false)));
            legend.push(format!(
                "{} older revision",
                self.block(Some(self.revision - 1), CellState::Available, false)
            ));
        }
        legend.push(format!("{} not ready", self.block(Some(self.revision), CellState::NotReady, colour)));
        legend.push(format!("{} replacing", self.block(Some(self.revision), CellState::Replacing, colour)));
        legend.push(format!("{} no pod", self.block(None, CellState::None, colour)));
        out.push_str(&legend.join("   "));
        out.push('\n');
        for row in self.cells.chunks(width.max(1)) {
            for cell in row {
                out.push_str(&self.block(cell.revision, cell.state, colour));
            }
            out.push('\n');
        }
        for line in self.waiting_summary(3) {
            out.push_str(&line);
            out.push('\n');
        }
        for cond in &self.conditions {
            out.push_str(&format!("{}={} ({}): {}\n", cond.type_, cond.status, cond.reason, cond.message));
        }
        out
    }

    /// One line per thing nodes wait for, most nodes first: how many, and the first `names`
    /// of them.
    pub fn waiting_summary(&self, names: usize) -> Vec<String> {
        let mut by_wait: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for cell in self.cells.iter().filter(|c| c.waiting != "-") {
            by_wait.entry(&cell.waiting).or_default().push(&cell.node);
        }
        let mut groups: Vec<(&str, Vec<&str>)> = by_wait.into_iter().collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        groups
            .into_iter()
            .map(|(wait, nodes)| {
                let shown = nodes.iter().take(names).copied().collect::<Vec<_>>().join(", ");
                let more = if nodes.len() > names {
                    format!(", +{} more", nodes.len() - names)
                } else {
                    String::new()
                };
                let noun = if nodes.len() == 1 { "node waits" } else { "nodes wait" };
                format!("{} {noun} for {wait}: {shown}{more}", nodes.len())
            })
            .collect()
    }

    /// One cell: `█` available, `▓` ready, `░` not ready, `▚` replacing, `·` none; coloured
    /// green for the current revision and by number for the others.
    fn block(&self, revision: Option<i64>, state: CellState, colour: bool) -> String {
        let glyph = match state {
            CellState::None => '·',
            CellState::NotReady => '░',
            CellState::Ready => '▓',
            CellState::Available => '█',
            CellState::Replacing => '▚',
        };
        if !colour {
            let older = revision.is_some_and(|r| r != self.revision) && state != CellState::Replacing;
            return if older { '○'.to_string() } else { glyph.to_string() };
        }
        let code = match revision {
            None => 90,
            Some(r) if r == self.revision => 32,
            Some(r) => [33, 34, 35, 36][(r.rem_euclid(4)) as usize],
        };
        format!("\x1b[{code}m{glyph}\x1b[0m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(node: &str, revision: Option<i64>, state: CellState, waiting: &str) -> Cell {
        Cell { node: node.into(), revision, state, waiting: waiting.into() }
    }

    fn picture() -> Picture {
        Picture {
            namespace: "default".into(),
            name: "agent".into(),
            revision: 2,
            counters: Counters { desired: 5, current: 5, ready: 4, updated: 2, available: 3 },
            conditions: vec![],
            cells: vec![
                cell("a", Some(2), CellState::Available, "-"),
                cell("b", Some(2), CellState::NotReady, "new pod available"),
                cell("c", Some(1), CellState::Available, "its turn (budget)"),
                cell("d", Some(1), CellState::Available, "its turn (budget)"),
                cell("e", None, CellState::None, "pod creation"),
            ],
        }
    }

    #[test]
    fn a_terminal_grid_has_one_block_per_node_in_rows_of_the_width() {
        let text = picture().render_terminal(2, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "daemonset.apps/agent in default: revision 2");
        assert_eq!(lines[1], "DESIRED 5  CURRENT 5  READY 4  UP-TO-DATE 2  AVAILABLE 3");
        assert_eq!(&lines[3..6], ["█░", "○○", "·"]);
        assert_eq!(lines[6], "2 nodes wait for its turn (budget): c, d");
        assert_eq!(lines[7], "1 node waits for new pod available: b");
    }

    #[test]
    fn colour_tells_the_current_revision_from_older_ones() {
        let text = picture().render_terminal(10, true);
        let grid = text.lines().nth(3).unwrap();
        assert_eq!(grid.matches("\x1b[32m█").count(), 1, "{grid:?}");
        assert_eq!(grid.matches("\x1b[32m░").count(), 1, "{grid:?}");
        assert_eq!(grid.matches("\x1b[34m█").count(), 2, "revision 1 by its own colour: {grid:?}");
        assert!(text.lines().nth(2).unwrap().contains("revision 2 (current)"));
    }

    #[test]
    fn a_long_wait_list_is_cut_to_its_first_names() {
        let mut p = picture();
        p.cells = (0..10).map(|i| cell(&format!("n{i}"), Some(1), CellState::Available, "resume")).collect();
        assert_eq!(p.waiting_summary(3), ["10 nodes wait for resume: n0, n1, n2, +7 more"]);
    }
}
