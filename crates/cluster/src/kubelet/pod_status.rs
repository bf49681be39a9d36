//! What a simulated kubelet reports for a pod: a pure function of the pod, where it runs, the
//! simulation's rules and the time. Every delay is measured from a timestamp stored in the pod
//! itself (its `startTime`, a container's `startedAt`, the `finishedAt` of its last exit), so a
//! kubelet that restarts, or sees a pod for the first time, picks up exactly where the last
//! one stopped. [`next`] says what the status should be now and when to look again.
//!
//! Init containers run one after another before the others, each to completion; a container
//! that exits is restarted as the pod's `restartPolicy` says, after the kubelet's back-off; a
//! readiness probe delays readiness by its `initialDelaySeconds` and `successThreshold`
//! periods, and a flapping container's changes show after `successThreshold` or
//! `failureThreshold` periods.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus, Probe,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use simulation::{Behaviour, Decision, SimulationRule, Subject, decide};

/// How long a crashing container runs before it exits (unless its rule says otherwise).
pub const CRASH_AFTER: SignedDuration = SignedDuration::from_secs(1);
/// How long an image pull fails (`ErrImagePull`) before the kubelet backs off
/// (`ImagePullBackOff`).
pub const PULL_BACK_OFF_AFTER: SignedDuration = SignedDuration::from_secs(1);
/// The kubelet's restart back-off: 10 s, doubling, at most 5 minutes.
const BACK_OFF_INITIAL_SECONDS: i64 = 10;
const BACK_OFF_MAX_SECONDS: i64 = 300;

/// Where a pod runs: what its status reports as its addresses, and what rules match.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub node: String,
    pub node_labels: BTreeMap<String, String>,
    /// The node's InternalIP, if it has reported one.
    pub host_ip: Option<String>,
    pub pod_ip: String,
}

/// What to do for a pod now.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// The status to write, when it differs from the pod's.
    pub status: Option<PodStatus>,
    /// When the status will change next without anything else changing.
    pub wake: Option<Timestamp>,
}

/// The back-off before the restart that follows the `restarts`-th exit.
pub fn back_off(restarts: i32) -> SignedDuration {
    let doublings = (restarts.max(1) - 1).min(16) as u32;
    SignedDuration::from_secs((BACK_OFF_INITIAL_SECONDS << doublings).min(BACK_OFF_MAX_SECONDS))
}

/// What one container's status says, once advanced.
struct Advanced {
    status: ContainerStatus,
    wake: Option<Timestamp>,
    /// Exited and not to be restarted (its exit code).
    done: Option<i32>,
}

/// The status a pod of a simulated node should have at `now`, and when to look again. Pods
/// being deleted, or finished, are not this function's business.
pub fn next(pod: &Pod, placement: &Placement, rules: &[SimulationRule], now: Timestamp) -> Step {
    // Statuses carry whole seconds; so does every decision.
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let current = pod.status.clone().unwrap_or_default();
    if matches!(current.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return Step::default();
    }
    let Some(spec) = pod.spec.as_ref() else { return Step::default() };
    let start = current.start_time.as_ref().map_or(now, |t| t.0);
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let decide_for =
        |image: &str| decide(rules, &Subject::of(pod, image, &placement.node, Some(&placement.node_labels)));
    let mut wake: Option<Timestamp> = None;

    // Init containers, in order: each runs once the one before has completed.
    let mut init_statuses = Vec::new();
    let mut initialized = true;
    let mut init_failed = false;
    let mut incomplete = Vec::new();
    for container in spec.init_containers.iter().flatten() {
        let was = current.init_container_statuses.iter().flatten().find(|s| s.name == container.name);
        if !initialized {
            init_statuses.push(waiting_status(container, uid, was, "PodInitializing", None, now));
            incomplete.push(container.name.as_str());
            continue;
        }
        let mut decision = decide_for(container.image.as_deref().unwrap_or_default());
        // An init container that just runs, completes.
        if matches!(decision.behaviour, Behaviour::Ready | Behaviour::NeverReady | Behaviour::Flapping) {
            decision.behaviour = Behaviour::Exit;
        }
        // An init container is restarted unless the pod never restarts anything.
        let policy = if restart_policy == "Never" { "Never" } else { "OnFailure" };
        let a = advance(container, uid, was, decision, policy, start, now);
        wake = earliest(wake, a.wake);
        match a.done {
            Some(0) => {}
            Some(_) => {
                init_failed = true;
                initialized = false;
                incomplete.push(container.name.as_str());
            }
            None => {
                initialized = false;
                incomplete.push(container.name.as_str());
            }
        }
        init_statuses.push(a.status);
    }

    let mut statuses = Vec::with_capacity(spec.containers.len());
    let mut exits = Vec::new();
    for container in &spec.containers {
        let was = current.container_statuses.iter().flatten().find(|s| s.name == container.name);
        if !initialized {
            statuses.push(waiting_status(container, uid, was, "PodInitializing", None, now));
            continue;
        }
        let decision = decide_for(container.image.as_deref().unwrap_or_default());
        let a = advance(container, uid, was, decision, restart_policy, start, now);
        wake = earliest(wake, a.wake);
        exits.push(a.done);
        statuses.push(a.status);
    }

    let mut desired = current.clone();
    if desired.start_time.is_none() {
        desired.start_time = Some(Time(now));
    }
    match &placement.host_ip {
        Some(ip) => {
            desired.host_ip = Some(ip.clone());
            desired.host_ips = Some(vec![HostIP { ip: ip.clone() }]);
        }
        None => {
            desired.host_ip = None;
            desired.host_ips = None;
        }
    }
    let host_network = spec.host_network.unwrap_or(false);
    let pod_ip = match &placement.host_ip {
        Some(ip) if host_network => ip.clone(),
        _ => current.pod_ip.clone().unwrap_or_else(|| placement.pod_ip.clone()),
    };
    desired.pod_ip = Some(pod_ip.clone());
    desired.pod_ips = Some(vec![PodIP { ip: pod_ip }]);

    // The phase: finished once every container has exited for good; Pending until each has
    // started once; Running otherwise.
    let finished = !exits.is_empty() && exits.iter().all(Option::is_some);
    let phase = if init_failed && restart_policy == "Never" {
        "Failed"
    } else if finished {
        if exits.iter().flatten().all(|c| *c == 0) { "Succeeded" } else { "Failed" }
    } else if !initialized
        || statuses
            .iter()
            .any(|s| s.restart_count == 0 && s.state.as_ref().is_some_and(|s| s.waiting.is_some()))
    {
        "Pending"
    } else {
        "Running"
    };
    desired.phase = Some(phase.to_string());
    let completed = matches!(phase, "Succeeded" | "Failed");
    let unready: Vec<&str> = statuses.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
    let ready = unready.is_empty();
    let not_ready = if completed {
        ("PodCompleted", String::new())
    } else {
        ("ContainersNotReady", format!("containers with unready status: [{}]", unready.join(" ")))
    };
    let not_initialized = (
        "ContainersNotInitialized",
        format!("containers with incomplete status: [{}]", incomplete.join(" ")),
    );
    let conditions = [
        ("PodReadyToStartContainers", true, None),
        ("Initialized", initialized || completed, Some(&not_initialized)),
        ("Ready", ready, Some(&not_ready)),
        ("ContainersReady", ready, Some(&not_ready)),
        ("PodScheduled", true, None),
    ]
    .into_iter()
    .map(|(type_, ok, why)| condition(&current, type_, ok, why, now));
    // Conditions others set (DisruptionTarget) stay.
    let others =
        current.conditions.iter().flatten().filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()));
    desired.conditions = Some(conditions.chain(others.cloned()).collect());
    desired.init_container_statuses = (!init_statuses.is_empty()).then_some(init_statuses);
    desired.container_statuses = Some(statuses);
    Step { status: (desired != current).then_some(desired), wake: if completed { None } else { wake } }
}

/// The pod conditions the kubelet sets.
const KUBELET_CONDITIONS: [&str; 5] =
    ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];

/// A pod condition, keeping its transition time while its status stays.
fn condition(
    current: &PodStatus,
    type_: &str,
    ok: bool,
    why_not: Option<&(&str, String)>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let was = current.conditions.iter().flatten().find(|c| c.type_ == type_);
    let last_transition_time = match was {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    let (reason, message) = match why_not {
        Some((reason, message)) if !ok => {
            (Some(reason.to_string()), (!message.is_empty()).then(|| message.clone()))
        }
        _ => (None, None),
    };
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        last_transition_time,
        reason,
        message,
        ..Default::default()
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a container is doing now.
enum Doing {
    /// Running since then.
    Running(Timestamp),
    /// Waiting for the restart after its last exit (then), `CrashLoopBackOff`.
    BackingOff(Timestamp),
    /// Exited for good, with this code.
    Exited(i32),
    /// Waiting for its image.
    Pulling,
    /// Anything else: not started yet, or in a state this behaviour does not continue.
    Other,
}

fn doing(status: Option<&ContainerStatus>, image: &str) -> Doing {
    let Some(status) = status.filter(|s| s.image == image) else { return Doing::Other };
    let state = status.state.clone().unwrap_or_default();
    if let Some(started) = state.running.and_then(|r| r.started_at) {
        return Doing::Running(started.0);
    }
    if let Some(t) = state.terminated {
        return Doing::Exited(t.exit_code);
    }
    let reason = state.waiting.and_then(|w| w.reason).unwrap_or_default();
    match reason.as_str() {
        "CrashLoopBackOff" => status
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
            .map_or(Doing::Other, |f| Doing::BackingOff(f.0)),
        "ErrImagePull" | "ImagePullBackOff" => Doing::Pulling,
        _ => Doing::Other,
    }
}

/// The fields every status of a container shares.
fn base_status(
    container: &Container,
    pod_uid: &str,
    was: Option<&ContainerStatus>,
    now: Timestamp,
) -> ContainerStatus {
    let image = container.image.clone().unwrap_or_default();
    let same = was.filter(|s| s.image == image);
    // The image changed in place (the pod kept, its container's image patched): the kubelet
    // stops the container and starts the new image, a restart like any other.
    let (restart_count, last_state) = match (same, was) {
        (Some(s), _) => (s.restart_count, s.last_state.clone()),
        (None, Some(old)) => match old.state.as_ref().and_then(|s| s.running.as_ref()) {
            Some(running) => (
                old.restart_count + 1,
                Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 0,
                        reason: Some("Completed".to_string()),
                        started_at: running.started_at.clone(),
                        finished_at: Some(Time(now)),
                        container_id: old.container_id.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            ),
            None => (old.restart_count, old.last_state.clone()),
        },
        (None, None) => (0, None),
    };
    ContainerStatus {
        name: container.name.clone(),
        image: image.clone(),
        image_id: format!("docker.io/library/{image}@sha256:{:064x}", super::fnv(&image)),
        container_id: Some(format!(
            "everynode://{:016x}",
            super::fnv(&format!("{pod_uid}/{}", container.name))
        )),
        restart_count,
        last_state,
        ..Default::default()
    }
}

fn waiting_status(
    container: &Container,
    pod_uid: &str,
    was: Option<&ContainerStatus>,
    reason: &str,
    message: Option<String>,
    now: Timestamp,
) -> ContainerStatus {
    let base = base_status(container, pod_uid, was, now);
    ContainerStatus {
        ready: false,
        started: Some(false),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.to_string()), message }),
            ..Default::default()
        }),
        image_id: String::new(),
        container_id: None,
        ..base
    }
}

/// When a readiness probe first succeeds `successThreshold` times, and how many periods its
/// failures take to show, from a container's start.
struct Readiness {
    first: SignedDuration,
    on_delay: i64,
    off_delay: i64,
}

fn readiness(probe: Option<&Probe>, ready_seconds: u64) -> Readiness {
    let initial = probe.and_then(|p| p.initial_delay_seconds).unwrap_or(0).max(0) as i64;
    let period = probe.and_then(|p| p.period_seconds).unwrap_or(10).max(1) as i64;
    let (successes, failures) = match probe {
        Some(p) => {
            (p.success_threshold.unwrap_or(1).max(1) as i64, p.failure_threshold.unwrap_or(3).max(1) as i64)
        }
        None => (1, 1),
    };
    let on_delay = (successes - 1) * period;
    Readiness {
        first: SignedDuration::from_secs(initial + ready_seconds as i64 + on_delay),
        on_delay,
        off_delay: (failures - 1) * period,
    }
}

/// Whether a flapping container shows ready `elapsed` seconds after its first probe, and when
/// that may change next. Its readiness turns on and off every `flap` seconds; a change shows
/// once the probe has seen it `successThreshold` or `failureThreshold` times.
fn flapping(elapsed: i64, flap: i64, on_delay: i64, off_delay: i64) -> (bool, i64) {
    if on_delay >= flap {
        return (false, i64::MAX);
    }
    let k = elapsed / flap;
    let into = elapsed % flap;
    let on = k % 2 == 0;
    let delay = if on { on_delay } else { off_delay };
    if into >= delay {
        return (on, (k + 1) * flap + if on { off_delay } else { on_delay });
    }
    // Not shown yet: what the phase before showed.
    let before = if k == 0 {
        false
    } else if off_delay >= flap {
        true
    } else {
        !on
    };
    (before, k * flap + delay)
}

/// One container's status at `now`, and when it changes next.
fn advance(
    container: &Container,
    pod_uid: &str,
    was: Option<&ContainerStatus>,
    decision: Decision,
    restart_policy: &str,
    pod_start: Timestamp,
    now: Timestamp,
) -> Advanced {
    let image = container.image.clone().unwrap_or_default();
    let base = base_status(container, pod_uid, was, now);
    let restarts = base.restart_count;
    let running = |since: Timestamp, ready: bool| ContainerStatus {
        ready,
        started: Some(true),
        state: Some(ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(Time(since)) }),
            ..Default::default()
        }),
        ..base.clone()
    };
    let waiting = |reason: &str, message: String| ContainerStatus {
        ready: false,
        started: Some(false),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.to_string()), message: Some(message) }),
            ..Default::default()
        }),
        ..base.clone()
    };
    let back_off_message = |restarts: i32| {
        format!(
            "back-off {} restarting failed container={} pod=",
            format_seconds(back_off(restarts)),
            container.name
        )
    };
    let now_doing = doing(was, &image);
    let going = |status, wake| Advanced { status, wake, done: None };
    match decision.behaviour {
        Behaviour::Ready | Behaviour::NeverReady | Behaviour::Flapping => {
            let since = match now_doing {
                Doing::Running(since) => since,
                _ => now,
            };
            let r = readiness(container.readiness_probe.as_ref(), decision.ready_seconds);
            match decision.behaviour {
                Behaviour::NeverReady => going(running(since, false), None),
                Behaviour::Flapping => {
                    let first_probe = since + r.first - SignedDuration::from_secs(r.on_delay);
                    if now < first_probe {
                        return going(running(since, false), Some(first_probe));
                    }
                    let elapsed = now.duration_since(first_probe).as_secs();
                    let (ready, next) =
                        flapping(elapsed, decision.flap_seconds as i64, r.on_delay, r.off_delay);
                    let wake = (next != i64::MAX).then(|| first_probe + SignedDuration::from_secs(next));
                    going(running(since, ready), wake)
                }
                _ => {
                    let ready_at = since + r.first;
                    going(running(since, now >= ready_at), (now < ready_at).then_some(ready_at))
                }
            }
        }
        Behaviour::ImagePullBackOff => {
            let backing_off_at = pod_start + PULL_BACK_OFF_AFTER;
            let (reason, message) = if now >= backing_off_at {
                ("ImagePullBackOff", format!("Back-off pulling image \"{image}\""))
            } else {
                ("ErrImagePull", format!("failed to pull and unpack image \"{image}\": not found"))
            };
            let status = waiting_status(container, pod_uid, was, reason, Some(message), now);
            going(status, (now < backing_off_at).then_some(backing_off_at))
        }
        Behaviour::CrashLoopBackOff | Behaviour::Exit => {
            let crash = decision.behaviour == Behaviour::CrashLoopBackOff;
            let runs = if crash && decision.exit_after_seconds == 0 {
                CRASH_AFTER
            } else {
                SignedDuration::from_secs(decision.exit_after_seconds as i64)
            };
            let code = decision.exit_code.unwrap_or(if crash { 1 } else { 0 });
            let restarts_after = |code: i32| match restart_policy {
                "Never" => false,
                "OnFailure" => code != 0,
                _ => true,
            };
            match now_doing {
                Doing::Running(since) if now < since + runs => {
                    going(running(since, false), Some(since + runs))
                }
                Doing::Running(since) => {
                    let exited = ContainerStateTerminated {
                        exit_code: code,
                        reason: Some(if code == 0 { "Completed" } else { "Error" }.to_string()),
                        started_at: Some(Time(since)),
                        finished_at: Some(Time(now)),
                        container_id: base.container_id.clone(),
                        ..Default::default()
                    };
                    if !restarts_after(code) {
                        let status = ContainerStatus {
                            ready: false,
                            started: Some(false),
                            state: Some(ContainerState { terminated: Some(exited), ..Default::default() }),
                            ..base.clone()
                        };
                        return Advanced { status, wake: None, done: Some(code) };
                    }
                    // Counted, and restarted after the back-off.
                    let restarts = restarts + 1;
                    let status = ContainerStatus {
                        restart_count: restarts,
                        last_state: Some(ContainerState { terminated: Some(exited), ..Default::default() }),
                        ..waiting("CrashLoopBackOff", back_off_message(restarts))
                    };
                    going(status, Some(now + back_off(restarts)))
                }
                Doing::BackingOff(exited) => {
                    let restart_at = exited + back_off(restarts);
                    if now >= restart_at {
                        going(running(now, false), Some(now + runs))
                    } else {
                        going(waiting("CrashLoopBackOff", back_off_message(restarts)), Some(restart_at))
                    }
                }
                Doing::Exited(code) if !restarts_after(code) => {
                    Advanced { status: was.cloned().unwrap_or(base), wake: None, done: Some(code) }
                }
                Doing::Exited(_) | Doing::Pulling | Doing::Other => {
                    if runs.is_zero() {
                        // Exits at once: started and finished in the same look.
                        let started = running(now, false);
                        return advance(
                            container,
                            pod_uid,
                            Some(&started),
                            decision,
                            restart_policy,
                            pod_start,
                            now,
                        );
                    }
                    going(running(now, false), Some(now + runs))
                }
            }
        }
    }
}

/// `10s`, `1m20s`, `5m0s`: Go's duration form, as the kubelet's messages print it.
fn format_seconds(d: SignedDuration) -> String {
    let s = d.as_secs();
    if s < 60 { format!("{s}s") } else { format!("{}m{}s", s / 60, s % 60) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(yaml: &str) -> Vec<SimulationRule> {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn pod(image: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u-1"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": image}]},
        }))
        .unwrap()
    }

    fn placement() -> Placement {
        Placement {
            node: "n1".into(),
            host_ip: Some("172.18.0.2".into()),
            pod_ip: "10.244.1.7".into(),
            ..Default::default()
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    /// Runs the kubelet over `pod` from `from` to `to`, waking when it asks to (and every
    /// `poll` seconds besides, as events might wake it), writing each status it returns.
    fn run(pod: &mut Pod, rules: &[SimulationRule], from: i64, to: i64) -> Vec<(i64, PodStatus)> {
        let mut writes = Vec::new();
        let mut t = from;
        while t <= to {
            let step = next(pod, &placement(), rules, at(t));
            if let Some(status) = step.status {
                pod.status = Some(status.clone());
                writes.push((t, status));
            }
            t = match step.wake {
                Some(w) if w.as_second() - at(0).as_second() <= to => {
                    (w.as_second() - at(0).as_second()).max(t + 1)
                }
                _ => break,
            };
        }
        writes
    }

    fn container(pod: &Pod) -> ContainerStatus {
        pod.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0].clone()
    }

    fn condition_of(pod: &Pod, type_: &str) -> PodCondition {
        pod.status.as_ref().unwrap().conditions.iter().flatten().find(|c| c.type_ == type_).unwrap().clone()
    }

    #[test]
    fn a_plain_container_runs_and_is_ready_at_once() {
        let mut p = pod("nginx:1");
        let step = next(&p, &placement(), &[], at(0));
        let status = step.status.unwrap();
        assert_eq!(step.wake, None);
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.pod_ip.as_deref(), Some("10.244.1.7"));
        assert_eq!(status.host_ip.as_deref(), Some("172.18.0.2"));
        assert_eq!(status.start_time, Some(Time(at(0))));
        p.status = Some(status);
        assert!(container(&p).ready);
        assert_eq!(condition_of(&p, "Ready").status, "True");
        assert_eq!(next(&p, &placement(), &[], at(30)), Step::default(), "nothing changes later");
    }

    #[test]
    fn ready_seconds_count_from_the_containers_start_and_survive_a_restart() {
        let rules = rules("- image: 'slow:*'\n  readySeconds: 2\n");
        let mut p = pod("slow:2");
        let first = next(&p, &placement(), &rules, at(0));
        assert_eq!(first.wake, Some(at(2)));
        p.status = first.status;
        assert!(!container(&p).ready);
        assert_eq!(condition_of(&p, "Ready").reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(condition_of(&p, "Ready").message.as_deref(), Some("containers with unready status: [c]"));
        // A kubelet that looks early changes nothing and wakes at the same time.
        assert_eq!(next(&p, &placement(), &rules, at(1)), Step { status: None, wake: Some(at(2)) });
        // One that starts long after (a restart) makes it ready at once, from the stored start.
        let later = next(&p, &placement(), &rules, at(60)).status.unwrap();
        p.status = Some(later);
        assert!(container(&p).ready);
        assert_eq!(condition_of(&p, "Ready").last_transition_time, Some(Time(at(60))));
        assert_eq!(condition_of(&p, "PodScheduled").last_transition_time, Some(Time(at(0))), "kept");
    }

    #[test]
    fn a_readiness_probe_delays_readiness_by_its_initial_delay() {
        let mut p = pod("nginx:1");
        p.spec.as_mut().unwrap().containers[0].readiness_probe =
            Some(serde_json::from_value(json!({"initialDelaySeconds": 5})).unwrap());
        assert_eq!(next(&p, &placement(), &[], at(0)).wake, Some(at(5)));
    }

    #[test]
    fn never_ready_runs_unready_for_ever() {
        let mut p = pod("lazy:1");
        let rules = rules("- image: 'lazy:*'\n  behaviour: NeverReady\n");
        run(&mut p, &rules, 0, 600);
        assert!(!container(&p).ready);
        assert!(container(&p).state.unwrap().running.is_some());
        assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
    }

    #[test]
    fn an_image_that_cannot_be_pulled_backs_off_and_the_pod_stays_pending() {
        let mut p = pod("broken:1");
        let rules = rules("- image: 'broken:*'\n  behaviour: ImagePullBackOff\n");
        let writes = run(&mut p, &rules, 0, 60);
        let reasons: Vec<String> = writes
            .iter()
            .map(|(_, s)| {
                s.container_statuses.as_ref().unwrap()[0]
                    .state
                    .clone()
                    .unwrap()
                    .waiting
                    .unwrap()
                    .reason
                    .unwrap()
            })
            .collect();
        assert_eq!(reasons, ["ErrImagePull", "ImagePullBackOff"]);
        assert_eq!(writes[1].0, 1);
        assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Pending"));
    }

    #[test]
    fn a_crashing_container_restarts_on_the_kubelets_back_off() {
        let mut p = pod("crashy:1");
        let rules = rules("- image: 'crashy:*'\n  behaviour: CrashLoopBackOff\n");
        let writes = run(&mut p, &rules, 0, 200);
        // Runs 1 s, exits, waits 10 s; runs, exits, waits 20 s; then 40 s, 80 s...
        let exits: Vec<(i64, i32)> = writes
            .iter()
            .filter(|(_, s)| {
                s.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().waiting.is_some()
            })
            .map(|(t, s)| (*t, s.container_statuses.as_ref().unwrap()[0].restart_count))
            .collect();
        assert_eq!(exits, [(1, 1), (12, 2), (33, 3), (74, 4), (155, 5)]);
        let c = container(&p);
        let waiting = c.state.unwrap().waiting.unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(waiting.message.as_deref(), Some("back-off 2m40s restarting failed container=c pod="));
        let last = c.last_state.unwrap().terminated.unwrap();
        assert_eq!((last.exit_code, last.finished_at), (1, Some(Time(at(155)))));
        assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"), "it has started before");
    }

    #[test]
    fn a_crash_loop_resumes_from_its_stored_exit_after_a_restart() {
        let mut p = pod("crashy:1");
        let rules = rules("- image: 'crashy:*'\n  behaviour: CrashLoopBackOff\n");
        run(&mut p, &rules, 0, 40);
        assert_eq!(container(&p).restart_count, 3, "exited at 1, 12 and 33; backing off 40 s");
        // Nobody looks until 50 s: still backing off, until 33 + 40.
        assert_eq!(next(&p, &placement(), &rules, at(50)), Step { status: None, wake: Some(at(73)) });
        // Nobody looks until 500 s: it restarts then, and the count goes on from 3.
        let step = next(&p, &placement(), &rules, at(500));
        p.status = step.status;
        assert!(container(&p).state.unwrap().running.is_some());
        assert_eq!(container(&p).restart_count, 3);
        let step = next(&p, &placement(), &rules, at(501));
        p.status = step.status;
        assert_eq!(container(&p).restart_count, 4);
        assert_eq!(step.wake, Some(at(501 + 80)));
        assert_eq!(back_off(20), SignedDuration::from_secs(300), "at most five minutes");
    }

    #[test]
    fn a_rule_edit_applies_to_a_running_pod_at_its_next_evaluation() {
        let mut p = pod("app:1");
        p.status = next(&p, &placement(), &[], at(0)).status;
        assert!(container(&p).ready);
        let never = rules("- image: 'app:*'\n  behaviour: NeverReady\n");
        p.status = next(&p, &placement(), &never, at(10)).status;
        assert!(!container(&p).ready);
        assert_eq!(condition_of(&p, "Ready").status, "False");
        let crashing = rules("- image: 'app:*'\n  behaviour: CrashLoopBackOff\n");
        p.status = next(&p, &placement(), &crashing, at(20)).status;
        assert_eq!(container(&p).restart_count, 1, "the running container exits");
    }

    fn phase(pod: &Pod) -> &str {
        pod.status.as_ref().unwrap().phase.as_deref().unwrap()
    }

    #[test]
    fn a_container_that_exits_finishes_the_pod_as_its_restart_policy_says() {
        let exits = |code: i32| {
            rules(&format!(
                "- image: 'job:*'\n  behaviour: Exit\n  exitAfterSeconds: 3\n  exitCode: {code}\n"
            ))
        };
        for (policy, code, outcome) in
            [("Never", 0, "Succeeded"), ("Never", 2, "Failed"), ("OnFailure", 0, "Succeeded")]
        {
            let mut p = pod("job:1");
            p.spec.as_mut().unwrap().restart_policy = Some(policy.into());
            let writes = run(&mut p, &exits(code), 0, 100);
            assert_eq!(writes.last().unwrap().0, 3, "exits after three seconds");
            assert_eq!(phase(&p), outcome, "{policy} {code}");
            let terminated = container(&p).state.unwrap().terminated.unwrap();
            assert_eq!(terminated.exit_code, code);
            assert_eq!(terminated.reason.as_deref(), Some(if code == 0 { "Completed" } else { "Error" }));
            assert_eq!(condition_of(&p, "Ready").reason.as_deref(), Some("PodCompleted"));
            assert_eq!(next(&p, &placement(), &exits(code), at(500)), Step::default(), "finished for good");
        }
        // Restarted as any container is under Always (and OnFailure when it fails).
        let mut p = pod("job:1");
        p.spec.as_mut().unwrap().restart_policy = Some("OnFailure".into());
        run(&mut p, &exits(3), 0, 10);
        assert_eq!(container(&p).restart_count, 1, "exited at 3, back at 13");
        assert_eq!(phase(&p), "Running");
    }

    #[test]
    fn init_containers_run_in_order_before_the_others() {
        let mut p = pod("app:1");
        p.spec.as_mut().unwrap().init_containers = Some(vec![
            serde_json::from_value(json!({"name": "fetch", "image": "fetch:1"})).unwrap(),
            serde_json::from_value(json!({"name": "migrate", "image": "migrate:1"})).unwrap(),
        ]);
        let rules = rules(
            "- image: 'fetch:*'\n  exitAfterSeconds: 2\n- image: 'migrate:*'\n  behaviour: Exit\n  exitAfterSeconds: 3\n",
        );
        let first = next(&p, &placement(), &rules, at(0));
        p.status = first.status;
        assert_eq!(phase(&p), "Pending");
        let inits = p.status.as_ref().unwrap().init_container_statuses.clone().unwrap();
        assert!(inits[0].state.as_ref().unwrap().running.is_some());
        assert_eq!(
            inits[1].state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(),
            Some("PodInitializing")
        );
        assert_eq!(container(&p).state.unwrap().waiting.unwrap().reason.as_deref(), Some("PodInitializing"));
        let init = condition_of(&p, "Initialized");
        assert_eq!(
            (init.status.as_str(), init.message.as_deref()),
            ("False", Some("containers with incomplete status: [fetch migrate]"))
        );
        assert_eq!(first.wake, Some(at(2)));
        let writes = run(&mut p, &rules, 2, 60);
        assert_eq!(
            writes.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            [2, 5],
            "fetch ends at 2, migrate at 5"
        );
        assert_eq!(phase(&p), "Running");
        assert_eq!(condition_of(&p, "Initialized").status, "True");
        assert!(container(&p).ready);
        assert_eq!(container(&p).state.unwrap().running.unwrap().started_at, Some(Time(at(5))));
        let inits = p.status.as_ref().unwrap().init_container_statuses.clone().unwrap();
        assert!(inits.iter().all(|s| s.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code == 0));
    }

    #[test]
    fn a_failing_init_container_loops_or_fails_the_pod() {
        let mut p = pod("app:1");
        p.spec.as_mut().unwrap().init_containers =
            Some(vec![serde_json::from_value(json!({"name": "setup", "image": "bad:1"})).unwrap()]);
        let rules = rules("- image: 'bad:*'\n  behaviour: CrashLoopBackOff\n");
        run(&mut p, &rules, 0, 30);
        let init = p.status.as_ref().unwrap().init_container_statuses.clone().unwrap()[0].clone();
        assert_eq!(init.state.unwrap().waiting.unwrap().reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(init.restart_count, 2);
        assert_eq!(phase(&p), "Pending");
        let mut p = pod("app:1");
        p.spec.as_mut().unwrap().restart_policy = Some("Never".into());
        p.spec.as_mut().unwrap().init_containers =
            Some(vec![serde_json::from_value(json!({"name": "setup", "image": "bad:1"})).unwrap()]);
        run(&mut p, &rules, 0, 30);
        assert_eq!(phase(&p), "Failed");
    }

    #[test]
    fn a_probe_needs_its_successes_and_a_flapping_container_shows_changes_after_its_thresholds() {
        let mut p = pod("web:1");
        p.spec.as_mut().unwrap().containers[0].readiness_probe = Some(
            serde_json::from_value(json!({"initialDelaySeconds": 5, "periodSeconds": 2, "successThreshold": 3, "failureThreshold": 2}))
                .unwrap(),
        );
        assert_eq!(
            next(&p, &placement(), &[], at(0)).wake,
            Some(at(9)),
            "5 s, then three successes 2 s apart"
        );
        let flap = rules("- image: 'web:*'\n  behaviour: Flapping\n  flapSeconds: 10\n");
        let writes = run(&mut p, &flap, 0, 60);
        let ready: Vec<(i64, bool)> =
            writes.iter().map(|(t, s)| (*t, s.container_statuses.as_ref().unwrap()[0].ready)).collect();
        // First probe at 5: ready from 5 + 4 to 15 + 2, then every ten seconds in turn.
        assert_eq!(
            ready,
            [(0, false), (9, true), (17, false), (29, true), (37, false), (49, true), (57, false)]
        );
    }

    #[test]
    fn a_pull_and_an_init_container_resume_from_what_the_pod_stores() {
        // A kubelet first looking at 30 s sees the pull failing since the pod's start: backing off.
        let rules = rules(
            "- image: 'broken:*'\n  behaviour: ImagePullBackOff\n- image: 'fetch:*'\n  exitAfterSeconds: 20\n",
        );
        let mut p = pod("broken:1");
        p.status = next(&p, &placement(), &rules, at(0)).status;
        let resumed = next(&p, &placement(), &rules, at(30));
        p.status = resumed.status;
        assert_eq!(container(&p).state.unwrap().waiting.unwrap().reason.as_deref(), Some("ImagePullBackOff"));
        assert_eq!(resumed.wake, None);
        // An init container running since 0 and due at 20, first looked at again at 60:
        // it completes then, and the main container starts then.
        let mut p = pod("app:1");
        p.spec.as_mut().unwrap().init_containers =
            Some(vec![serde_json::from_value(json!({"name": "fetch", "image": "fetch:1"})).unwrap()]);
        let first = next(&p, &placement(), &rules, at(0));
        assert_eq!(first.wake, Some(at(20)));
        p.status = first.status;
        p.status = next(&p, &placement(), &rules, at(60)).status;
        let init = p.status.as_ref().unwrap().init_container_statuses.clone().unwrap()[0].clone();
        let done = init.state.unwrap().terminated.unwrap();
        assert_eq!((done.started_at, done.finished_at), (Some(Time(at(0))), Some(Time(at(60)))));
        assert_eq!(container(&p).state.unwrap().running.unwrap().started_at, Some(Time(at(60))));
        assert_eq!(phase(&p), "Running");
    }

    #[test]
    fn conditions_others_set_stay() {
        let mut p = pod("nginx:1");
        p.status = next(&p, &placement(), &[], at(0)).status;
        let disruption: PodCondition = serde_json::from_value(
            json!({"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}),
        )
        .unwrap();
        p.status.as_mut().unwrap().conditions.as_mut().unwrap().push(disruption.clone());
        assert_eq!(next(&p, &placement(), &[], at(5)).status, None);
        let never = rules("- image: 'nginx:*'\n  behaviour: NeverReady\n");
        p.status = next(&p, &placement(), &never, at(6)).status;
        assert_eq!(condition_of(&p, "DisruptionTarget"), disruption);
    }

    #[test]
    fn a_host_network_pod_takes_the_nodes_address_and_ips_stay_put() {
        let mut p = pod("nginx:1");
        p.spec.as_mut().unwrap().host_network = Some(true);
        let status = next(&p, &placement(), &[], at(0)).status.unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some("172.18.0.2"));
        let mut p = pod("nginx:1");
        p.status = next(&p, &placement(), &[], at(0)).status;
        let moved = Placement { pod_ip: "10.244.1.99".into(), ..placement() };
        assert_eq!(next(&p, &moved, &[], at(5)).status, None, "an assigned pod IP is kept");
        let no_address = Placement { host_ip: None, ..placement() };
        let status = next(&pod("nginx:1"), &no_address, &[], at(0)).status.unwrap();
        assert_eq!(status.host_ip, None, "no host IP rather than an empty one");
    }

    #[test]
    fn an_image_changed_in_place_restarts_the_container() {
        let rules = rules("- image: 'app:2'\n  readySeconds: 3\n");
        let mut p = pod("app:1");
        p.status = next(&p, &placement(), &rules, at(0)).status;
        assert!(container(&p).ready);
        p.spec.as_mut().unwrap().containers[0].image = Some("app:2".into());
        let step = next(&p, &placement(), &rules, at(50));
        p.status = step.status;
        let c = container(&p);
        assert_eq!((c.image.as_str(), c.restart_count, c.ready), ("app:2", 1, false));
        assert_eq!(c.state.unwrap().running.unwrap().started_at, Some(Time(at(50))));
        let last = c.last_state.unwrap().terminated.unwrap();
        assert_eq!(
            (last.exit_code, last.started_at, last.finished_at),
            (0, Some(Time(at(0))), Some(Time(at(50))))
        );
        assert_eq!(step.wake, Some(at(53)), "ready as its rule says, from the new start");
        p.status = next(&p, &placement(), &rules, at(53)).status;
        assert!(container(&p).ready);
        assert_eq!(container(&p).restart_count, 1, "counted once");
    }
}
