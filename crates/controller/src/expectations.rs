//! Expectations (upstream `ControllerExpectations`): how many pod creations and deletions a
//! DaemonSet is still waiting to see in its watch. While any are outstanding the controller
//! only writes status, so a lagging watch never causes a duplicate create or a double delete.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Expectations older than this are considered satisfied (a lost watch event must not wedge
/// a DaemonSet forever).
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Copy, Debug)]
struct Expectation {
    adds: i64,
    dels: i64,
    set_at: Instant,
    /// Whether a sync has already been scheduled for when this record expires.
    recheck_scheduled: bool,
}

#[derive(Default)]
pub struct Expectations {
    map: Mutex<HashMap<String, Expectation>>,
}

impl Expectations {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Expectation>) -> T) -> T {
        f(&mut self.map.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records what a sync is about to do.
    pub fn set(&self, key: &str, adds: usize, dels: usize) {
        self.with(|m| {
            m.insert(
                key.to_string(),
                Expectation {
                    adds: adds as i64,
                    dels: dels as i64,
                    set_at: Instant::now(),
                    recheck_scheduled: false,
                },
            )
        });
    }

    /// Satisfied when nothing is outstanding, nothing was recorded, or the record expired.
    pub fn satisfied(&self, key: &str) -> bool {
        self.with(|m| match m.get(key) {
            None => true,
            Some(e) => (e.adds <= 0 && e.dels <= 0) || e.set_at.elapsed() > EXPECTATIONS_TTL,
        })
    }

    /// How long until the outstanding record of `key` expires, the first time it is asked for
    /// that record (so one sync per record is scheduled for then); `None` afterwards, or when
    /// nothing is outstanding.
    pub fn recheck_after(&self, key: &str) -> Option<Duration> {
        self.with(|m| {
            let e = m.get_mut(key)?;
            if e.recheck_scheduled || (e.adds <= 0 && e.dels <= 0) {
                return None;
            }
            e.recheck_scheduled = true;
            Some(EXPECTATIONS_TTL.saturating_sub(e.set_at.elapsed()) + Duration::from_secs(1))
        })
    }

    pub fn creation_observed(&self, key: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.adds -= 1;
            }
        });
    }

    pub fn deletion_observed(&self, key: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.dels -= 1;
            }
        });
    }

    /// Lowers expectations for actions that were skipped or failed.
    pub fn lower(&self, key: &str, adds: usize, dels: usize) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.adds -= adds as i64;
                e.dels -= dels as i64;
            }
        });
    }

    pub fn delete(&self, key: &str) {
        self.with(|m| m.remove(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let e = Expectations::default();
        assert!(e.satisfied("k"), "no record");
        e.set("k", 2, 1);
        assert!(!e.satisfied("k"));
        e.creation_observed("k");
        e.creation_observed("k");
        assert!(!e.satisfied("k"));
        e.deletion_observed("k");
        assert!(e.satisfied("k"));
        e.set("k", 3, 0);
        e.lower("k", 3, 0);
        assert!(e.satisfied("k"), "failed creates are not waited for");
        e.set("k", 1, 0);
        e.delete("k");
        assert!(e.satisfied("k"), "a deleted DaemonSet starts clean");
    }

    #[test]
    fn one_recheck_per_outstanding_record() {
        let e = Expectations::default();
        assert_eq!(e.recheck_after("k"), None, "no record");
        e.set("k", 1, 0);
        let after = e.recheck_after("k").expect("outstanding");
        assert!(
            after > EXPECTATIONS_TTL - Duration::from_secs(5)
                && after <= EXPECTATIONS_TTL + Duration::from_secs(1)
        );
        assert_eq!(e.recheck_after("k"), None, "already scheduled");
        e.set("k", 0, 1);
        assert!(e.recheck_after("k").is_some(), "a new record gets its own");
        e.deletion_observed("k");
        e.set("k", 0, 0);
        assert_eq!(e.recheck_after("k"), None, "nothing outstanding");
    }
}
