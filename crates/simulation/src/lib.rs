//! The rules simulated nodes follow: the ConfigMap `kube-system/everynode-simulation`, key
//! `rules.yaml`, holds an ordered list of rules; the first that matches a container decides how
//! it behaves. The kubelets read them to run containers, the API server to tell their logs; both
//! match them here, without I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use serde::Deserialize;

/// How a simulated container behaves.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs; Ready after `readySeconds` (and its readiness probe's delays).
    #[default]
    Ready,
    /// Its image cannot be pulled: `ErrImagePull`, then `ImagePullBackOff`.
    ImagePullBackOff,
    /// Runs a second, exits with `exitCode` (1 by default), and is restarted on the kubelet's
    /// back-off.
    CrashLoopBackOff,
    /// Runs, never Ready.
    NeverReady,
    /// Runs `exitAfterSeconds`, then exits with `exitCode` (0 by default); the pod's
    /// `restartPolicy` says whether it is restarted.
    Exit,
    /// Ready and not Ready in turn, every `flapSeconds` (10 by default).
    Flapping,
}

/// One rule of `rules.yaml`: the first whose conditions all hold for a container decides how it
/// behaves. Every condition is optional: `image`, `node` and `namespace` are globs, `nodeLabels`
/// and `podLabels` labels that must be there with those values.
///
/// A rule that says `nodeConditions` is a node's rule instead: the first of those whose `node`
/// and `nodeLabels` match a node says which of its conditions hold (`MemoryPressure`,
/// `DiskPressure`, `PIDPressure`, `NetworkUnavailable`). Containers skip such rules.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SimulationRule {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub pod_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub behaviour: Behaviour,
    #[serde(default)]
    pub ready_seconds: Option<u64>,
    #[serde(default)]
    pub exit_after_seconds: Option<u64>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub flap_seconds: Option<u64>,
    /// What the container prints when it starts, one log line per line.
    #[serde(default)]
    pub log: Option<String>,
    /// A node's rule: the conditions that hold on the nodes it matches.
    #[serde(default)]
    pub node_conditions: Option<Vec<String>>,
}

/// What a rule is matched against: one container of a pod on a node.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub image: &'a str,
    pub node: &'a str,
    pub namespace: &'a str,
    pub node_labels: Option<&'a BTreeMap<String, String>>,
    pub pod_labels: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Subject<'a> {
    /// A container of `pod` running `image` on the node `node` with `node_labels`.
    pub fn of(
        pod: &'a Pod,
        image: &'a str,
        node: &'a str,
        node_labels: Option<&'a BTreeMap<String, String>>,
    ) -> Self {
        Subject {
            image,
            node,
            namespace: pod.metadata.namespace.as_deref().unwrap_or_default(),
            node_labels,
            pod_labels: pod.metadata.labels.as_ref(),
        }
    }
}

/// What the first matching rule says of a container (defaults where it says nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub behaviour: Behaviour,
    pub ready_seconds: u64,
    pub exit_after_seconds: u64,
    /// `None`: the behaviour's own (1 for a crash, 0 for an exit).
    pub exit_code: Option<i32>,
    pub flap_seconds: u64,
}

impl SimulationRule {
    fn matches(&self, s: &Subject<'_>) -> bool {
        self.node_conditions.is_none()
            && self.image.as_deref().is_none_or(|g| glob_matches(g, s.image))
            && self.matches_node(s.node, s.node_labels)
            && self.namespace.as_deref().is_none_or(|g| glob_matches(g, s.namespace))
            && has(&self.pod_labels, s.pod_labels)
    }

    fn matches_node(&self, node: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.node.as_deref().is_none_or(|g| glob_matches(g, node)) && has(&self.node_labels, labels)
    }
}

/// Whether `labels` has every label `wanted` names, with its value.
fn has(wanted: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    wanted.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The conditions that hold on a node by the first node's rule that matches it, if one does.
pub fn node_conditions<'r>(
    rules: &'r [SimulationRule],
    node: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<&'r [String]> {
    rules
        .iter()
        .find(|r| r.node_conditions.is_some() && r.matches_node(node, labels))?
        .node_conditions
        .as_deref()
}

/// Shell-style glob with `*` and `?`.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The first rule that matches a container, if one does.
pub fn rule_for<'r>(rules: &'r [SimulationRule], subject: &Subject<'_>) -> Option<&'r SimulationRule> {
    rules.iter().find(|r| r.matches(subject))
}

/// How a container behaves: what the first rule that matches it says.
pub fn decide(rules: &[SimulationRule], subject: &Subject<'_>) -> Decision {
    let rule = rule_for(rules, subject);
    Decision {
        behaviour: rule.map_or(Behaviour::Ready, |r| r.behaviour),
        ready_seconds: rule.and_then(|r| r.ready_seconds).unwrap_or(0),
        exit_after_seconds: rule.and_then(|r| r.exit_after_seconds).unwrap_or(0),
        exit_code: rule.and_then(|r| r.exit_code),
        flap_seconds: rule.and_then(|r| r.flap_seconds).unwrap_or(10).max(1),
    }
}

/// Where the rules live.
pub const RULES_NAMESPACE: &str = "kube-system";
pub const RULES_CONFIG_MAP: &str = "everynode-simulation";
pub const RULES_KEY: &str = "rules.yaml";

/// The rules a ConfigMap holds (none without its key), or why they cannot be read.
pub fn rules_of(cm: &ConfigMap) -> Result<Vec<SimulationRule>, serde_yaml::Error> {
    match cm.data.as_ref().and_then(|d| d.get(RULES_KEY)) {
        Some(text) => serde_yaml::from_str(text),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("*", "nginx:1.25"));
        assert!(glob_matches("nginx:*", "nginx:1.25"));
        assert!(glob_matches("*fluentd*", "quay.io/fluentd_elasticsearch/fluentd:v2.5.2"));
        assert!(glob_matches("k8s-worker-?", "k8s-worker-1"));
        assert!(!glob_matches("nginx:*", "busybox:1"));
        assert!(!glob_matches("k8s-worker-?", "k8s-worker-10"));
    }

    fn subject<'a>(image: &'a str, node: &'a str) -> Subject<'a> {
        Subject { image, node, namespace: "default", node_labels: None, pod_labels: None }
    }

    #[test]
    fn first_matching_rule_decides() {
        let rules: Vec<SimulationRule> = serde_yaml::from_str(
            "- image: 'broken:*'\n  behaviour: ImagePullBackOff\n- image: '*'\n  node: 'k8s-worker-2'\n  behaviour: NeverReady\n- image: 'slow:*'\n  readySeconds: 5\n",
        )
        .unwrap();
        let behaviour = |image, node| decide(&rules, &subject(image, node)).behaviour;
        assert_eq!(behaviour("broken:1", "k8s-worker-2"), Behaviour::ImagePullBackOff);
        assert_eq!(behaviour("nginx", "k8s-worker-2"), Behaviour::NeverReady);
        assert_eq!(decide(&rules, &subject("slow:1", "k8s-worker-1")).ready_seconds, 5);
        assert_eq!(decide(&rules, &subject("nginx", "k8s-worker-1")).behaviour, Behaviour::Ready);
    }

    #[test]
    fn rules_match_on_namespaces_and_labels_of_pods_and_nodes() {
        let rules: Vec<SimulationRule> = serde_yaml::from_str(
            "- namespace: 'batch-*'\n  behaviour: Exit\n  exitAfterSeconds: 3\n  exitCode: 2\n- nodeLabels: {zone: east}\n  podLabels: {app: web}\n  behaviour: Flapping\n  flapSeconds: 4\n",
        )
        .unwrap();
        let east: BTreeMap<String, String> = [("zone".to_string(), "east".to_string())].into();
        let web: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let mut s = subject("any:1", "n1");
        assert_eq!(decide(&rules, &s).behaviour, Behaviour::Ready, "nothing matches");
        s.namespace = "batch-7";
        let exit = decide(&rules, &s);
        assert_eq!((exit.behaviour, exit.exit_after_seconds, exit.exit_code), (Behaviour::Exit, 3, Some(2)));
        s.namespace = "default";
        s.node_labels = Some(&east);
        assert_eq!(decide(&rules, &s).behaviour, Behaviour::Ready, "the pod's labels are missing");
        s.pod_labels = Some(&web);
        let flapping = decide(&rules, &s);
        assert_eq!((flapping.behaviour, flapping.flap_seconds), (Behaviour::Flapping, 4));
    }

    #[test]
    fn node_rules_set_conditions_and_containers_skip_them() {
        let rules: Vec<SimulationRule> = serde_yaml::from_str(
            "- node: 'k8s-worker-1'\n  nodeConditions: [DiskPressure]\n- nodeLabels: {disk: small}\n  nodeConditions: [DiskPressure, PIDPressure]\n- image: '*'\n  behaviour: NeverReady\n",
        )
        .unwrap();
        let small: BTreeMap<String, String> = [("disk".to_string(), "small".to_string())].into();
        assert_eq!(
            node_conditions(&rules, "k8s-worker-1", Some(&small)),
            Some(&["DiskPressure".to_string()][..])
        );
        assert_eq!(node_conditions(&rules, "k8s-worker-2", Some(&small)).map(<[String]>::len), Some(2));
        assert_eq!(node_conditions(&rules, "k8s-worker-2", None), None);
        assert_eq!(decide(&rules, &subject("nginx", "k8s-worker-1")).behaviour, Behaviour::NeverReady);
    }
}
