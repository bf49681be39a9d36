//! A rate-limited work queue keyed by object (`namespace/name`), with client-go's
//! workqueue guarantees: a key waiting is queued once however often it is added, a key is
//! never processed by two workers at once, and a key added while it is processed is processed
//! again afterwards. Failed keys come back after a per-key exponential delay.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default)]
struct Inner {
    queue: VecDeque<String>,
    queued: HashSet<String>,
    processing: HashSet<String>,
    /// Added while processing: requeue when done.
    dirty: HashSet<String>,
    failures: HashMap<String, u32>,
    shut_down: bool,
}

/// The queue; cheap to clone.
#[derive(Clone, Default)]
pub struct WorkQueue {
    inner: Arc<Mutex<Inner>>,
    ready: Arc<Notify>,
}

/// Per-key retry delay: 5 ms doubling up to 1000 s (client-go's default controller limiter).
pub fn retry_delay(failures: u32) -> Duration {
    let millis = 5u64.saturating_mul(1u64 << failures.min(20));
    Duration::from_millis(millis).min(Duration::from_secs(1000))
}

impl WorkQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: &str) {
        let mut q = self.lock();
        if q.shut_down {
            return;
        }
        if q.processing.contains(key) {
            q.dirty.insert(key.to_string());
            return;
        }
        if q.queued.insert(key.to_string()) {
            q.queue.push_back(key.to_string());
            drop(q);
            self.ready.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn add_after(&self, key: &str, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let this = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            this.add(&key);
        });
    }

    /// Queues `key` after its next retry delay.
    pub fn add_rate_limited(&self, key: &str) {
        let delay = {
            let mut q = self.lock();
            let n = q.failures.entry(key.to_string()).or_default();
            *n += 1;
            retry_delay(*n - 1)
        };
        self.add_after(key, delay);
    }

    /// Resets the retry delay of `key` (after a successful sync).
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    /// Waits for a key; `None` once the queue is shut down.
    pub async fn get(&self) -> Option<String> {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.lock();
                if q.shut_down {
                    return None;
                }
                if let Some(key) = q.queue.pop_front() {
                    q.queued.remove(&key);
                    q.processing.insert(key.clone());
                    if !q.queue.is_empty() {
                        self.ready.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; requeues it if it was added meanwhile.
    pub fn done(&self, key: &str) {
        let again = {
            let mut q = self.lock();
            q.processing.remove(key);
            q.dirty.remove(key)
        };
        if again {
            self.add(key);
        }
    }

    /// Keys waiting.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.ready.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_never_runs_a_key_twice_at_once() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let a = q.get().await.unwrap();
        assert_eq!(a, "a");
        q.add("a");
        assert_eq!(q.len(), 1, "a is processing: it waits as dirty, not queued");
        assert_eq!(q.get().await.unwrap(), "b");
        q.done("b");
        q.done("a");
        assert_eq!(q.get().await.unwrap(), "a", "re-added while processing, so processed again");
    }

    #[test]
    fn retry_delays_grow_and_cap() {
        assert_eq!(retry_delay(0), Duration::from_millis(5));
        assert_eq!(retry_delay(3), Duration::from_millis(40));
        assert_eq!(retry_delay(40), Duration::from_secs(1000));
    }

    #[tokio::test]
    async fn shut_down_wakes_getters() {
        let q = WorkQueue::new();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(waiter.await.unwrap(), None);
    }
}
