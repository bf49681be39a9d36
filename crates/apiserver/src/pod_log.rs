//! `pods/log`: what `kubectl logs` reads. A simulated container writes nothing, so its log is
//! the story its status tells, line by line: started (with its image and node), what its
//! simulation rule says it prints (`log`), ready, exited (with its code). It is a pure function
//! of the stored pod and the rule's lines ([`lines`]); `follow` streams what the pod's later
//! versions add, readiness lost and regained included, until the container's run ends or the
//! pod goes.

use std::sync::Arc;

use apimachinery::duration::format_time;
use bytes::Bytes;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tokio::sync::{broadcast, mpsc};

use crate::error::{ApiError, ApiResult};
use crate::storage::{EventType, ObjectKey, WatchEvent};

/// One line of a container's log, and when it was written (RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub time: String,
    pub text: String,
}

/// The container a request names, or the pod's only one; upstream's message otherwise.
pub fn container_of(pod: &Pod, name: &str, asked: Option<&str>) -> ApiResult<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let all: Vec<String> =
        spec.init_containers.iter().flatten().chain(&spec.containers).map(|c| c.name.clone()).collect();
    match asked.filter(|c| !c.is_empty()) {
        Some(c) if all.iter().any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!("container {c} is not valid for pod {name}"))),
        None if spec.containers.len() == 1 => Ok(spec.containers[0].name.clone()),
        None => {
            let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
            Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )))
        }
    }
}

/// The lines of `container`'s current run (or, with `previous`, of the run before), and
/// whether that run has ended. `said` is what the container's simulation rule has it print
/// when it starts.
pub fn lines(pod: &Pod, container: &str, said: &[String], previous: bool) -> ApiResult<(Vec<LogLine>, bool)> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let found: Option<ContainerStatus> = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find(|s| s.name == container)
        .cloned();
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let waiting = |reason: &str| {
        let why = match reason {
            "ErrImagePull" | "ImagePullBackOff" => "trying and failing to pull image",
            "" => "ContainerCreating",
            other => other,
        };
        ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {why}"
        ))
    };
    let Some(s) = found else { return Err(waiting("")) };
    let started = |at: &str| LogLine {
        time: at.to_string(),
        text: format!("everynode: container {container} started (image {}, node {node})", s.image),
    };
    let exited = |at: &str, code: i32, reason: &str| LogLine {
        time: at.to_string(),
        text: format!("everynode: container {container} exited with code {code} ({reason})"),
    };
    let state = s.state.clone().unwrap_or_default();
    let last = s.last_state.as_ref().and_then(|l| l.terminated.clone());
    // A run that ended: the current one if it terminated, the last one when it waits to restart.
    let ended = if previous {
        Some(last.ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ))
        })?)
    } else if let Some(t) = state.terminated.clone() {
        Some(t)
    } else if state.running.is_none() {
        match last {
            Some(t) => Some(t),
            None => {
                return Err(waiting(state.waiting.and_then(|w| w.reason).as_deref().unwrap_or_default()));
            }
        }
    } else {
        None
    };
    if let Some(t) = ended {
        let text = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
            t.as_ref().map(|t| format_time(t.0)).unwrap_or_default()
        };
        let reason = t.reason.clone().unwrap_or_default();
        let since = text(&t.started_at);
        let mut out = vec![started(&since)];
        out.extend(said.iter().map(|l| LogLine { time: since.clone(), text: l.clone() }));
        out.push(exited(&text(&t.finished_at), t.exit_code, &reason));
        return Ok((out, true));
    }
    let since = state.running.and_then(|r| r.started_at).map(|t| format_time(t.0)).unwrap_or_default();
    let mut out = vec![started(&since)];
    out.extend(said.iter().map(|l| LogLine { time: since.clone(), text: l.clone() }));
    if s.ready {
        // Ready since the pod's Ready condition last changed (or its start, if later).
        let ready_at = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready" && c.status == "True")
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| format_time(t.0))
            .filter(|t| *t >= since)
            .unwrap_or_else(|| since.clone());
        out.push(LogLine { time: ready_at, text: readiness_text(container, true) });
    }
    Ok((out, false))
}

fn readiness_text(container: &str, ready: bool) -> String {
    format!("everynode: container {container} is {}", if ready { "ready" } else { "not ready" })
}

/// When the pod's Ready condition last changed, if it has.
fn ready_changed_at(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let ready = status.conditions.iter().flatten().find(|c| c.type_ == "Ready")?;
    ready.last_transition_time.as_ref().map(|t| format_time(t.0))
}

/// Whether `container` runs and is ready.
fn is_ready(pod: &Pod, container: &str) -> bool {
    let status = pod.status.as_ref();
    status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|all| all.iter().find(|s| s.name == container))
        .is_some_and(|s| s.ready)
}

/// The simulation rule's lines for `container` of `pod` on a node with `node_labels`: what the
/// first rule that matches it says the container prints when it starts.
pub fn said(
    rules: &[simulation::SimulationRule],
    pod: &Pod,
    container: &str,
    node_labels: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<String> {
    let spec = pod.spec.as_ref();
    let image = spec
        .into_iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        .find(|c| c.name == container)
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default();
    let node = spec.and_then(|s| s.node_name.as_deref()).unwrap_or_default();
    let subject = simulation::Subject::of(pod, image, node, node_labels);
    simulation::rule_for(rules, &subject)
        .and_then(|r| r.log.as_deref())
        .map(|text| text.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The lines as `kubectl logs` prints them: the last `tail` of them, each with its time in
/// front when `timestamps`.
pub fn render(lines: &[LogLine], tail: Option<usize>, timestamps: bool) -> String {
    let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
    lines[skip..]
        .iter()
        .map(|l| if timestamps { format!("{} {}\n", l.time, l.text) } else { format!("{}\n", l.text) })
        .collect()
}

/// A `follow` in progress: the container whose log it streams, and the lines sent so far.
pub struct Following {
    /// The storage key of pods.
    pub resource: &'static str,
    pub key: ObjectKey,
    pub uid: Option<String>,
    pub container: String,
    /// What the container's rule has it print when it starts.
    pub said: Vec<String>,
    pub timestamps: bool,
    /// The lines sent so far, the first the run's start.
    pub sent: Vec<LogLine>,
    /// Whether the container was ready when last seen.
    pub ready: bool,
}

impl Following {
    /// Sends the lines each later version of the pod adds, until the container's run ends,
    /// the pod goes or the client does.
    pub async fn run(mut self, mut live: broadcast::Receiver<Arc<WatchEvent>>, tx: mpsc::Sender<Bytes>) {
        loop {
            let event = tokio::select! {
                _ = tx.closed() => return,
                event = live.recv() => match event {
                    Ok(event) => event,
                    Err(_) => return,
                },
            };
            if event.resource.storage_key() != self.resource || event.object.key() != &self.key {
                continue;
            }
            if event.event_type == EventType::Deleted {
                return;
            }
            let Ok(pod) = pod_of(event.object.json()) else { return };
            if pod.metadata.uid != self.uid {
                return;
            }
            let (new, over) = self.next(&pod);
            if !new.is_empty() && tx.send(Bytes::from(render(&new, None, self.timestamps))).await.is_err() {
                return;
            }
            if over {
                return;
            }
        }
    }

    /// The lines a later version of the pod adds, and whether the run they belong to is over.
    pub fn next(&mut self, pod: &Pod) -> (Vec<LogLine>, bool) {
        let Ok((now, ended)) = lines(pod, &self.container, &self.said, false) else {
            return (Vec::new(), false);
        };
        if now.first() != self.sent.first() {
            // Another run: this one's log ends with its exit, if the pod still tells it.
            let last = lines(pod, &self.container, &self.said, true).ok().map(|(l, _)| l);
            let exit = last.filter(|l| l.first() == self.sent.first()).and_then(|l| l.last().cloned());
            return (exit.into_iter().filter(|l| !self.sent.contains(l)).collect(), true);
        }
        let mut new = Vec::new();
        let ready = is_ready(pod, &self.container);
        if self.ready && !ready && !ended {
            let at = ready_changed_at(pod).unwrap_or_default();
            new.push(LogLine { time: at, text: readiness_text(&self.container, false) });
        }
        self.ready = ready;
        for line in now {
            // A line is new unless it is the last of its text sent (readiness may come back).
            let last_same = self.sent.iter().rev().find(|l| l.text == line.text);
            if last_same != Some(&line) {
                new.push(line);
            }
        }
        self.sent.extend(new.iter().cloned());
        (new, ended)
    }
}

/// Reads a stored pod from its JSON.
pub fn pod_of(json: &[u8]) -> ApiResult<Pod> {
    stored(json)
}

/// Reads a stored object of a known kind from its JSON, for reading only.
pub fn stored<T: serde::de::DeserializeOwned>(json: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(json).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "app:1"}]},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_running_container_tells_its_start_and_readiness() {
        let p = pod(json!({
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:02Z"}],
            "containerStatuses": [{"name": "c", "image": "app:1", "imageID": "", "ready": true, "restartCount": 0,
                                   "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}));
        let (told, ended) = lines(&p, "c", &[], false).unwrap();
        assert!(!ended);
        assert_eq!(
            render(&told, None, true),
            "2026-01-01T00:00:00Z everynode: container c started (image app:1, node n1)\n2026-01-01T00:00:02Z everynode: container c is ready\n"
        );
        assert_eq!(render(&told, Some(1), false), "everynode: container c is ready\n");
        assert_eq!(
            lines(&p, "c", &[], true).unwrap_err().message,
            "previous terminated container \"c\" in pod \"p\" not found"
        );
    }

    #[test]
    fn a_crash_looping_container_shows_its_last_run() {
        let p = pod(
            json!({"containerStatuses": [{"name": "c", "image": "app:1", "imageID": "", "ready": false, "restartCount": 2,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-01-01T00:00:11Z", "finishedAt": "2026-01-01T00:00:12Z"}}}]}),
        );
        let (told, ended) = lines(&p, "c", &[], false).unwrap();
        assert!(ended);
        assert_eq!(told[1].text, "everynode: container c exited with code 1 (Error)");
        assert_eq!(lines(&p, "c", &[], true).unwrap().0, told);
    }

    #[test]
    fn waiting_and_unknown_containers_are_refused_as_upstream_refuses_them() {
        let p = pod(
            json!({"containerStatuses": [{"name": "c", "image": "app:1", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
        );
        assert_eq!(
            lines(&p, "c", &[], false).unwrap_err().message,
            "container \"c\" in pod \"p\" is waiting to start: trying and failing to pull image"
        );
        assert_eq!(
            container_of(&p, "p", Some("x")).unwrap_err().message,
            "container x is not valid for pod p"
        );
        assert_eq!(container_of(&p, "p", None).unwrap(), "c");
        let mut two = p.clone();
        two.spec.as_mut().unwrap().containers.push(serde_json::from_value(json!({"name": "d"})).unwrap());
        assert_eq!(
            container_of(&two, "p", None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [c d]"
        );
        let pending = pod(json!({}));
        assert_eq!(
            lines(&pending, "c", &[], false).unwrap_err().message,
            "container \"c\" in pod \"p\" is waiting to start: ContainerCreating"
        );
    }

    fn running(ready: bool, ready_at: &str, started: &str) -> Pod {
        pod(json!({
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": ready_at}],
            "containerStatuses": [{"name": "c", "image": "app:1", "imageID": "", "ready": ready, "restartCount": 0,
                                   "state": {"running": {"startedAt": started}}}]}))
    }

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    /// A follow of container `c` that has sent `sent`.
    fn following(sent: Vec<LogLine>, ready: bool) -> Following {
        Following {
            resource: "pods",
            key: ObjectKey::default(),
            uid: None,
            container: "c".into(),
            said: Vec::new(),
            timestamps: false,
            sent,
            ready,
        }
    }

    #[test]
    fn a_follow_tells_readiness_lost_and_regained() {
        let start = "2026-01-01T00:00:00Z";
        let first = running(true, "2026-01-01T00:00:02Z", start);
        let (sent, _) = lines(&first, "c", &[], false).unwrap();
        let mut f = following(sent, true);
        let (off, over) = f.next(&running(false, "2026-01-01T00:00:05Z", start));
        assert!(!over);
        assert_eq!(
            off,
            [LogLine {
                time: "2026-01-01T00:00:05Z".into(),
                text: "everynode: container c is not ready".into()
            }]
        );
        assert!(
            f.next(&running(false, "2026-01-01T00:00:05Z", start)).0.is_empty(),
            "nothing new, nothing sent"
        );
        let (on, _) = f.next(&running(true, "2026-01-01T00:00:07Z", start));
        assert_eq!(
            on,
            [LogLine { time: "2026-01-01T00:00:07Z".into(), text: "everynode: container c is ready".into() }]
        );
    }

    #[test]
    fn a_follow_ends_with_the_exit_of_its_run_even_when_the_next_run_has_begun() {
        let start = "2026-01-01T00:00:00Z";
        let (sent, _) = lines(&running(false, start, start), "c", &[], false).unwrap();
        let mut f = following(sent, false);
        // Restarted already: running again, the last run terminated.
        let again = pod(
            json!({"containerStatuses": [{"name": "c", "image": "app:1", "imageID": "", "ready": false, "restartCount": 1,
            "state": {"running": {"startedAt": "2026-01-01T00:00:20Z"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": start, "finishedAt": "2026-01-01T00:00:01Z"}}}]}),
        );
        let (told, over) = f.next(&again);
        assert!(over);
        assert_eq!(texts(&told), ["everynode: container c exited with code 1 (Error)"]);
    }

    #[test]
    fn the_rules_lines_follow_the_start_of_the_container_they_match() {
        let rules: Vec<simulation::SimulationRule> = serde_yaml::from_str(
            "- image: 'other:*'\n  log: not this\n- image: 'app:*'\n  nodeLabels: {zone: a}\n  log: |\n    listening on :8080\n    serving\n",
        )
        .unwrap();
        let p = running(false, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z");
        assert!(said(&rules, &p, "c", None).is_empty(), "the node's labels decide");
        let zone_a: std::collections::BTreeMap<String, String> =
            [("zone".to_string(), "a".to_string())].into();
        let told = said(&rules, &p, "c", Some(&zone_a));
        assert_eq!(told, ["listening on :8080", "serving"]);
        let (all, _) = lines(&p, "c", &told, false).unwrap();
        assert_eq!(
            texts(&all),
            ["everynode: container c started (image app:1, node n1)", "listening on :8080", "serving"]
        );
    }
}
