//! A pod's lifecycle as upstream's `pkg/api/v1/pod` reads it: terminating, terminal, ready,
//! available.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, PodCondition};

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Failed" | "Succeeded")
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Ready, and (with `min_ready_seconds`) Ready since strictly more than that long before `now`
/// (upstream `IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    readiness(pod, min_ready_seconds, now).available
}

/// Whether a pod is ready and whether it is available, from one look at its Ready condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub available: bool,
}

/// [`is_ready`] and [`is_available`] at once.
pub fn readiness(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Readiness {
    Readiness::since(ready_since(pod), min_ready_seconds, now)
}

/// The pod's Ready condition is True: `Some`, with its `lastTransitionTime` if it has one.
/// All that readiness and availability are read from.
pub fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    let c = ready_condition(pod).filter(|c| c.status == "True")?;
    Some(c.last_transition_time.as_ref().map(|t| t.0))
}

impl Readiness {
    /// Readiness from what [`ready_since`] read.
    pub fn since(
        ready_since: Option<Option<Timestamp>>,
        min_ready_seconds: i32,
        now: Timestamp,
    ) -> Readiness {
        let Some(since) = ready_since else { return Readiness { ready: false, available: false } };
        let available = min_ready_seconds <= 0
            || since.is_some_and(|t| t + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now);
        Readiness { ready: true, available }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn availability_needs_min_ready_seconds_strictly_passed() {
        let now: Timestamp = "2026-01-01T00:00:20Z".parse().unwrap();
        let p = pod(
            json!({"metadata": {"name": "p"}, "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:10Z"}]}}),
        );
        assert!(is_ready(&p));
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 9, now));
        assert!(!is_available(&p, 10, now), "exactly minReadySeconds is not enough");
        let unready = pod(
            json!({"metadata": {"name": "p"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
        );
        assert!(!is_available(&unready, 0, now));
        assert_eq!(readiness(&p, 10, now), Readiness { ready: true, available: false });
        assert_eq!(readiness(&unready, 0, now), Readiness { ready: false, available: false });
    }
}
