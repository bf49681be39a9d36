//! The UI's live state: watches of DaemonSets, their revisions and events (besides the
//! cluster's shared node and pod informers), and, a few times a second while anything
//! changes, every DaemonSet's picture with its recent events and the timeline of its
//! counters, published to the page streams.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use client::informer::{Change, SharedInformer};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::runtime::watcher;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::rollout_picture::Picture;

/// Changes this close together make one frame.
const FOLD: Duration = Duration::from_millis(200);
/// Without changes, a frame anyway this often (availability comes with time).
const TICK: Duration = Duration::from_secs(1);
/// Timeline points kept per DaemonSet.
const HISTORY: usize = 5_000;
/// Recent events shown per DaemonSet.
const EVENTS: usize = 8;

/// One point of a DaemonSet's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Seconds since the Unix epoch.
    pub t: f64,
    pub desired: i32,
    pub updated: i32,
    pub available: i32,
    pub ready: i32,
}

/// An event as the page lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventLine {
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    /// RFC 3339.
    pub last: String,
}

/// One DaemonSet as the page shows it.
pub struct DaemonSetFrame {
    pub picture: Picture,
    pub events: Vec<EventLine>,
    pub history: Arc<Vec<Point>>,
}

/// Everything the page can show, at one moment.
#[derive(Default)]
pub struct Frame {
    /// A number that changes whenever the set of nodes does (0: no frame yet).
    pub nodes_version: u64,
    pub daemonsets: BTreeMap<(String, String), Arc<DaemonSetFrame>>,
}

pub struct Live {
    frames: watch::Receiver<Arc<Frame>>,
    pub nodes: Arc<client::informer::Store<Node>>,
    pub pods: Arc<client::informer::Store<Pod>>,
    pub daemonsets: Arc<client::informer::Store<DaemonSet>>,
    pub revisions: Arc<client::informer::Store<ControllerRevision>>,
}

impl Live {
    /// Starts the watches and the frame loop.
    pub fn start(client: kube::Client, informers: &client::Informers) -> Live {
        let daemonsets =
            SharedInformer::start(Api::<DaemonSet>::all(client.clone()), watcher::Config::default());
        let revisions =
            SharedInformer::start(Api::<ControllerRevision>::all(client.clone()), watcher::Config::default());
        let events = SharedInformer::start(Api::<Event>::all(client), watcher::Config::default());
        let (tx, frames) = watch::channel(Arc::new(Frame::default()));
        let sources = Sources {
            nodes: informers.nodes.store(),
            pods: informers.pods.store(),
            daemonsets: daemonsets.store(),
            revisions: revisions.store(),
            events: events.store(),
        };
        let live = Live {
            frames,
            nodes: sources.nodes.clone(),
            pods: sources.pods.clone(),
            daemonsets: sources.daemonsets.clone(),
            revisions: sources.revisions.clone(),
        };
        let changes = Changes {
            nodes: informers.nodes.subscribe(),
            pods: informers.pods.subscribe(),
            daemonsets: daemonsets.subscribe(),
            revisions: revisions.subscribe(),
            events: events.subscribe(),
        };
        tokio::spawn(frame_loop(sources, changes, tx, (daemonsets, revisions, events)));
        live
    }

    pub fn frames(&self) -> watch::Receiver<Arc<Frame>> {
        self.frames.clone()
    }
}

struct Sources {
    nodes: Arc<client::informer::Store<Node>>,
    pods: Arc<client::informer::Store<Pod>>,
    daemonsets: Arc<client::informer::Store<DaemonSet>>,
    revisions: Arc<client::informer::Store<ControllerRevision>>,
    events: Arc<client::informer::Store<Event>>,
}

struct Changes {
    nodes: mpsc::UnboundedReceiver<Change<Node>>,
    pods: mpsc::UnboundedReceiver<Change<Pod>>,
    daemonsets: mpsc::UnboundedReceiver<Change<DaemonSet>>,
    revisions: mpsc::UnboundedReceiver<Change<ControllerRevision>>,
    events: mpsc::UnboundedReceiver<Change<Event>>,
}

impl Changes {
    /// Waits for a change that can alter a frame (a node's heartbeat cannot), up to `limit`;
    /// `false` once the watches are gone.
    async fn next(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let relevant = tokio::select! {
                c = self.nodes.recv() => match c {
                    Some(Change::Applied { old: Some(old), new }) => node_shown(&old) != node_shown(&new),
                    Some(_) => true,
                    None => return false,
                },
                c = self.pods.recv() => { if c.is_none() { return false; } true }
                c = self.daemonsets.recv() => { if c.is_none() { return false; } true }
                c = self.revisions.recv() => { if c.is_none() { return false; } true }
                c = self.events.recv() => { if c.is_none() { return false; } true }
                _ = tokio::time::sleep_until(deadline) => return true,
            };
            if relevant {
                return true;
            }
        }
    }

    /// Drops what has queued up meanwhile (the stores hold it).
    fn drain(&mut self) {
        while self.nodes.try_recv().is_ok() {}
        while self.pods.try_recv().is_ok() {}
        while self.daemonsets.try_recv().is_ok() {}
        while self.revisions.try_recv().is_ok() {}
        while self.events.try_recv().is_ok() {}
    }
}

/// What of a node a picture depends on: its readiness, labels, taints and schedulability.
fn node_shown(node: &Node) -> (Option<String>, Option<&BTreeMap<String, String>>, String) {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    let spec = node.spec.as_ref().map(|s| format!("{:?}{:?}", s.taints, s.unschedulable)).unwrap_or_default();
    (ready, node.metadata.labels.as_ref(), spec)
}

async fn frame_loop<Keep>(
    sources: Sources,
    mut changes: Changes,
    tx: watch::Sender<Arc<Frame>>,
    _keep: Keep,
) {
    let mut histories: HashMap<(String, String), Arc<Vec<Point>>> = HashMap::new();
    let mut names: Arc<Vec<String>> = Arc::default();
    let mut nodes_version = 0;
    loop {
        if !changes.next(TICK).await {
            return;
        }
        tokio::time::sleep(FOLD).await;
        changes.drain();
        let frame = frame(&sources, &mut histories, &mut names, &mut nodes_version);
        if tx.send(Arc::new(frame)).is_err() {
            return;
        }
    }
}

fn frame(
    sources: &Sources,
    histories: &mut HashMap<(String, String), Arc<Vec<Point>>>,
    names: &mut Arc<Vec<String>>,
    nodes_version: &mut u64,
) -> Frame {
    let now = Timestamp::now();
    let mut nodes = sources.nodes.list();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let node_names: Vec<String> = nodes.iter().map(|n| n.metadata.name.clone().unwrap_or_default()).collect();
    if node_names != **names || *nodes_version == 0 {
        *names = Arc::new(node_names);
        *nodes_version += 1;
    }
    let node_refs: Vec<&Node> = nodes.iter().map(Arc::as_ref).collect();
    let pods = sources.pods.list();
    let revisions = sources.revisions.list();
    let events = sources.events.list();
    let by_owner = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        daemonset::ownership::controller_of(meta).filter(|c| c.kind == "DaemonSet").map(|c| c.uid.clone())
    };
    let mut pods_of: HashMap<String, Vec<&Pod>> = HashMap::new();
    for p in &pods {
        if let Some(uid) = by_owner(&p.metadata) {
            pods_of.entry(uid).or_default().push(p);
        }
    }
    let mut revisions_of: HashMap<String, Vec<&ControllerRevision>> = HashMap::new();
    for r in &revisions {
        if let Some(uid) = by_owner(&r.metadata) {
            revisions_of.entry(uid).or_default().push(r);
        }
    }
    let mut events_of: HashMap<String, Vec<&Event>> = HashMap::new();
    for e in &events {
        if e.involved_object.kind.as_deref() == Some("DaemonSet")
            && let Some(uid) = &e.involved_object.uid
        {
            events_of.entry(uid.clone()).or_default().push(e);
        }
    }
    let mut daemonsets = BTreeMap::new();
    for ds in sources.daemonsets.list() {
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let picture = Picture::of(
            &ds,
            &node_refs,
            pods_of.get(&uid).map_or(&[], Vec::as_slice),
            revisions_of.get(&uid).map_or(&[], Vec::as_slice),
            now,
        );
        let key = (picture.namespace.clone(), picture.name.clone());
        let c = &picture.counters;
        let point = Point {
            t: now.as_millisecond() as f64 / 1000.0,
            desired: c.desired,
            updated: c.updated,
            available: c.available,
            ready: c.ready,
        };
        let history = histories.entry(key.clone()).or_default();
        let same = history.last().is_some_and(|p| {
            (p.desired, p.updated, p.available, p.ready)
                == (point.desired, point.updated, point.available, point.ready)
        });
        if !same {
            let h = Arc::make_mut(history);
            if h.len() >= HISTORY {
                h.drain(..HISTORY / 10);
            }
            h.push(point);
        }
        let mut recent = events_of.get(&uid).cloned().unwrap_or_default();
        recent.sort_by_key(|e| std::cmp::Reverse(last_seen(e)));
        let events = recent
            .iter()
            .take(EVENTS)
            .map(|e| EventLine {
                type_: e.type_.clone().unwrap_or_default(),
                reason: e.reason.clone().unwrap_or_default(),
                message: e.message.clone().unwrap_or_default(),
                count: e.count.unwrap_or(1),
                last: last_seen(e).map(|t| t.to_string()).unwrap_or_default(),
            })
            .collect();
        daemonsets.insert(key, Arc::new(DaemonSetFrame { picture, events, history: history.clone() }));
    }
    let known: std::collections::HashSet<&(String, String)> = daemonsets.keys().collect();
    histories.retain(|k, _| known.contains(k));
    Frame { nodes_version: *nodes_version, daemonsets }
}

fn last_seen(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}
