//! Watch streams: the backlog since the client's resourceVersion, then live events, filtered
//! by namespace and selectors (an object that stops matching is sent as DELETED, as upstream
//! does), with bookmarks and a server-side timeout.

use std::sync::Arc;
use std::time::Duration;

use apimachinery::fields::FieldSelector;
use apimachinery::labels::Selector;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::resources::ResourceType;
use crate::storage::{EventType, Selectable, Store, WatchEvent};
use crate::table::{self, IncludeObject};

/// What a watch request asked for.
pub struct WatchRequest {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub labels: Selector,
    pub fields: FieldSelector,
    pub table: Option<IncludeObject>,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub bookmark_interval: Duration,
}

impl WatchRequest {
    fn matches(&self, obj: &Selectable) -> bool {
        if let Some(ns) = &self.namespace
            && obj.namespace() != Some(ns)
        {
            return false;
        }
        self.labels.matches(&obj.labels) && self.fields.matches(|label| obj.field(label))
    }

    /// The event this watcher sees for a change, if any.
    fn translate(&self, event: &WatchEvent) -> Option<EventType> {
        let now = self.matches(event.selectable());
        let before = event.previous.as_ref().map(|p| self.matches(p));
        match (event.event_type, before, now) {
            (EventType::Added, _, true) => Some(EventType::Added),
            (EventType::Modified, Some(true), true) => Some(EventType::Modified),
            (EventType::Modified, _, true) => Some(EventType::Added),
            (EventType::Modified, Some(true), false) => Some(EventType::Deleted),
            (EventType::Deleted, Some(true), _) => Some(EventType::Deleted),
            (EventType::Deleted, None, true) => Some(EventType::Deleted),
            _ => None,
        }
    }

    fn encode(&self, event: &WatchEvent, event_type: EventType, first: &mut bool) -> Bytes {
        match self.table {
            None if self.resource.rules.converts() => {
                let object = self.resource.rules.served_form(self.resource, &event.object());
                line(event_type.as_str(), &object)
            }
            None => event.json_line_as(event_type),
            Some(include) => {
                let object = event.object();
                let t = table::table(
                    self.resource,
                    [&object],
                    None,
                    jiff::Timestamp::now(),
                    include,
                    std::mem::take(first),
                );
                line(event_type.as_str(), &t)
            }
        }
    }

    fn bookmark(&self, resource_version: u64) -> Bytes {
        line(
            "BOOKMARK",
            &json!({
                "kind": self.resource.kind,
                "apiVersion": self.resource.api_version(),
                "metadata": {"resourceVersion": resource_version.to_string()},
            }),
        )
    }
}

fn line(event_type: &str, object: &Value) -> Bytes {
    let mut v = crate::wire::to_vec(&json!({"type": event_type, "object": object}));
    v.push(b'\n');
    Bytes::from(v)
}

/// Streams a watch into `tx` until the client goes, the timeout passes, or the watcher falls
/// too far behind (then the stream ends and the client resumes or relists).
pub async fn run(
    store: Arc<Store>,
    req: WatchRequest,
    backlog: Vec<Arc<WatchEvent>>,
    mut live: broadcast::Receiver<Arc<WatchEvent>>,
    tx: mpsc::Sender<Bytes>,
) {
    let mut first = true;
    for event in &backlog {
        if let Some(t) = req.translate(event)
            && tx.send(req.encode(event, t, &mut first)).await.is_err()
        {
            return;
        }
    }
    let deadline = tokio::time::sleep(req.timeout);
    tokio::pin!(deadline);
    let mut bookmarks = tokio::time::interval(req.bookmark_interval);
    bookmarks.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            received = live.recv() => match received {
                Ok(event) => {
                    if event.resource.storage_key() != req.resource.key {
                        continue;
                    }
                    if let Some(t) = req.translate(&event)
                        && tx.send(req.encode(&event, t, &mut first)).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = bookmarks.tick(), if req.bookmarks => {
                // Every event at or below this resourceVersion is already in our receiver
                // (publishers send before they advance it), so send those first.
                let rv = store.resource_version();
                loop {
                    match live.try_recv() {
                        Ok(event) => {
                            if event.resource.storage_key() == req.resource.key
                                && let Some(t) = req.translate(&event)
                                && tx.send(req.encode(&event, t, &mut first)).await.is_err()
                            {
                                return;
                            }
                        }
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(_) => return,
                    }
                }
                if tx.send(req.bookmark(rv)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The ERROR event that ends a watch whose resourceVersion is too old.
pub fn error_event(status: &Value) -> Bytes {
    line("ERROR", status)
}
