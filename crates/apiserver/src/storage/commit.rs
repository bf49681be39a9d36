//! The group-commit pipeline: writers stage their writes and wait ([`Pending`]) while one
//! committer thread makes everything staged durable in one backend transaction (one fsync for
//! the group), publishes it to reads and watches, and tells the writers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;

use super::backend::Write;
use super::watch_cache::{EventType, WatchEvent};
use super::{Change, Latest, Shared, StagedWrite, StorageError, db_key, objects_of};
use crate::error::{ApiError, ApiResult};

/// Told once the writes staged before it are durable and published, or why they never will be.
pub(super) type Waiter = oneshot::Sender<Result<(), String>>;

impl Latest {
    pub(super) fn waiter(&mut self) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        rx
    }
}

/// The outcome of a write, to be answered once the write is durable: from then on reads and
/// watches see it, and it survives a crash. Waiting holds no thread, so a server under load
/// does not run out of them while commits are on their way to disk.
#[must_use = "a write may be acknowledged only once it is durable"]
pub struct Pending<T> {
    pub(super) value: T,
    pub(super) durable: Option<oneshot::Receiver<Result<(), String>>>,
}

impl<T> Pending<T> {
    /// Transforms the outcome; the write stays the same.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> ApiResult<U>) -> ApiResult<Pending<U>> {
        Ok(Pending { value: f(self.value)?, durable: self.durable })
    }

    /// The outcome, once the write is durable.
    pub async fn durable(self) -> ApiResult<T> {
        match self.durable {
            None => Ok(self.value),
            Some(rx) => settle(rx.await).map(|()| self.value),
        }
    }

    /// The same, blocking the calling thread (not for async workers).
    pub fn durable_blocking(self) -> ApiResult<T> {
        match self.durable {
            None => Ok(self.value),
            Some(rx) => settle(rx.blocking_recv()).map(|()| self.value),
        }
    }
}

fn settle(outcome: Result<Result<(), String>, oneshot::error::RecvError>) -> ApiResult<()> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ApiError::internal(format!("the write was not committed: {e}"))),
        Err(_) => Err(ApiError::internal("the store closed before the write was committed")),
    }
}

/// Should the committer thread panic (a bug), fails every write waiting
/// for it and every later one, rather than leave their requests hanging.
pub(super) struct StopsWrites<'a>(pub(super) &'a Shared);

impl Drop for StopsWrites<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        tracing::error!("the storage committer stopped; the API server refuses writes from now on");
        let mut latest = self.0.lock_writer();
        latest.stopped = true;
        latest.queue.clear();
        for waiter in latest.waiters.drain(..) {
            let _ = waiter.send(Err("the committer stopped".to_string()));
        }
    }
}

impl Shared {
    /// The committer: takes everything staged, commits it in one transaction with one fsync,
    /// publishes it, and tells the waiting writers, over and over. Writes staged meanwhile form
    /// the next group, so the busier the server, the more each fsync carries.
    pub(super) fn run_committer(&self) {
        loop {
            let (group, waiters) = {
                let mut latest = self.lock_writer();
                while latest.queue.is_empty() && latest.waiters.is_empty() && !latest.closing {
                    latest = self.staged.wait(latest).unwrap_or_else(|e| e.into_inner());
                }
                if latest.queue.is_empty() && latest.waiters.is_empty() {
                    return;
                }
                (std::mem::take(&mut latest.queue), std::mem::take(&mut latest.waiters))
            };
            let outcome = match group.last().map(|w| w.rv) {
                None => Ok(()),
                Some(last) => self.commit(&group, last).map(|()| self.publish(group, last)),
            };
            match outcome {
                Ok(()) => {
                    for waiter in waiters {
                        let _ = waiter.send(Ok(()));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "committing staged writes failed; they are discarded");
                    // Nothing of the group is durable: forget every staged write, the group's
                    // and those staged since (they were decided against it).
                    let since = {
                        let mut latest = self.lock_writer();
                        let state = self.read();
                        latest.objects = state.objects.clone();
                        latest.resource_version = state.resource_version;
                        latest.queue.clear();
                        std::mem::take(&mut latest.waiters)
                    };
                    for waiter in waiters.into_iter().chain(since) {
                        let _ = waiter.send(Err(e.to_string()));
                    }
                }
            }
        }
    }

    fn commit(&self, staged: &[StagedWrite], rv: u64) -> Result<(), StorageError> {
        #[cfg(test)]
        if staged.iter().any(|w| w.key.1 == super::tests::PANICS_IN_COMMIT) {
            panic!("injected failure");
        }
        let keys: Vec<String> = staged.iter().map(|w| db_key(w.resource, &w.key)).collect();
        let writes: Vec<Write<'_>> = staged
            .iter()
            .zip(&keys)
            .map(|(w, key)| match &w.change {
                Change::Put(object) => (key.as_str(), Some(object.json())),
                Change::Delete(_) => (key.as_str(), None),
            })
            .collect();
        self.backend.commit(&writes, rv)
    }

    fn publish(&self, staged: Vec<StagedWrite>, rv: u64) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for StagedWrite { resource, key, change, .. } in staged {
            let map = objects_of(&mut state.objects, resource);
            let event = match change {
                Change::Put(object) => {
                    let previous = map.insert(key, object.clone());
                    let event_type = if previous.is_some() { EventType::Modified } else { EventType::Added };
                    let previous = previous.map(|p| p.selectable(resource).clone());
                    WatchEvent { resource, event_type, object, previous }
                }
                Change::Delete(last) => {
                    let removed = map.remove(&key);
                    let (Some(_), Some(object)) = (removed, last) else { continue };
                    // The last state is the state before: one Selectable says both.
                    WatchEvent { resource, event_type: EventType::Deleted, object, previous: None }
                }
            };
            let event = Arc::new(event);
            state.history.push_back(event.clone());
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(event);
        }
        state.resource_version = rv;
        while state.history.len() > self.history_limit {
            if let Some(old) = state.history.pop_front() {
                state.compacted_through = old.resource_version();
            }
        }
        self.durable.store(rv, Ordering::Release);
    }
}
