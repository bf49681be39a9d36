//! Preemption, as upstream's DefaultPreemption plugin decides it: a pod that fits on no node may
//! evict pods of lower priority from one node. For every node where removing pods could help
//! (not one filtered out by affinity, taints or cordoning, nor one too small for the pod even
//! when empty), all lower-priority pods are removed
//! in simulation; if the pod then fits, the most important of them are reprieved one by one
//! while it still fits, and the rest are the victims. Among the candidate nodes the one whose
//! most important victim matters least wins, then the smallest sum of victim priorities, then
//! the fewest victims.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::scheduler::{NodeUsage, filter};

/// A node filtered out for a reason no eviction can change, in upstream's wording.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// A node with no pod of lower priority.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// The pod's priority (`spec.priority`, set by admission from its PriorityClass).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Whether a filter failure could be resolved by removing pods from the node: lack of
/// resources, of pod slots or of host ports. Affinity, taints and cordoning cannot.
pub fn resolvable(reasons: &[String]) -> bool {
    reasons.iter().all(|r| {
        r.starts_with("Insufficient ")
            || r == "Too many pods"
            || r == "node(s) didn't have free ports for the requested pod ports"
    })
}

/// Why a pod may not preempt at all, in upstream's words.
pub fn not_eligible(pod: &Pod, terminating_victim_on_nominated_node: bool) -> Option<&'static str> {
    let policy = pod.spec.as_ref().and_then(|s| s.preemption_policy.as_deref());
    if policy == Some("Never") {
        return Some("not eligible due to preemptionPolicy=Never.");
    }
    if terminating_victim_on_nominated_node {
        return Some("not eligible due to a terminating pod on the nominated node.");
    }
    None
}

/// The pods to evict from `node` so that `pod` fits, or why there are none. Pods of lower
/// priority that are already terminating count as gone and are never victims again.
pub fn select_victims(pod: &Pod, node: &Node, on_node: &[Arc<Pod>]) -> Result<Vec<Arc<Pod>>, String> {
    let preemptor = priority(pod);
    let lower = |p: &Arc<Pod>| priority(p) < preemptor;
    let leaving = |p: &Arc<Pod>| p.metadata.deletion_timestamp.is_some();
    if !on_node.iter().any(lower) {
        return Err(NO_VICTIMS.to_string());
    }
    let mut usage = NodeUsage::default();
    for p in on_node.iter().filter(|p| !lower(p)) {
        usage.add(p);
    }
    if let Err(reasons) = filter(pod, node, &usage) {
        return Err(reasons.into_iter().next().unwrap_or_else(|| NO_VICTIMS.to_string()));
    }
    // Most important first, then the longest running: those are reprieved first.
    let mut potential: Vec<Arc<Pod>> = on_node.iter().filter(|p| lower(p) && !leaving(p)).cloned().collect();
    potential.sort_by_key(|p| {
        (Reverse(priority(p)), p.status.as_ref().and_then(|s| s.start_time.clone()).map(|t| t.0))
    });
    let mut victims = Vec::new();
    for candidate in potential {
        let mut with = usage.clone();
        with.add(&candidate);
        if filter(pod, node, &with).is_ok() {
            usage = with;
        } else {
            victims.push(candidate);
        }
    }
    Ok(victims)
}

/// One node where preemption makes the pod fit, with the pods it evicts.
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<Pod>>,
}

impl Candidate {
    /// Lower is better: the most important victim's priority, the sum of victim priorities
    /// (each shifted to be positive, as upstream does), the number of victims, the node name.
    fn rank(&self) -> (i32, i64, usize, &str) {
        let highest = self.victims.iter().map(|p| priority(p)).max().unwrap_or(i32::MIN);
        let sum = self.victims.iter().map(|p| i64::from(priority(p)) + i64::from(i32::MAX) + 1).sum();
        (highest, sum, self.victims.len(), &self.node)
    }
}

/// The result of trying to preempt for a pod.
pub enum Outcome {
    /// Evict these pods and nominate this node.
    Preempt(Candidate),
    /// No node works; the message's `preemption: …` part, per node reason.
    Impossible(BTreeMap<String, usize>),
}

/// Finds the best node on which to preempt for `pod`. `rejected` holds each node's filter
/// reasons from the scheduling attempt; nodes that passed are not in it.
pub fn preempt<'a>(
    pod: &Pod,
    nodes: impl IntoIterator<Item = &'a Arc<Node>>,
    rejected: &BTreeMap<String, Vec<String>>,
    pods_on: impl Fn(&str) -> Vec<Arc<Pod>>,
) -> Outcome {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut best: Option<Candidate> = None;
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        // Removing pods helps only where the pod was rejected for want of room, and would fit
        // the node were it empty (a request beyond allocatable is as unresolvable as a taint).
        let helpful = rejected.get(&name).is_some_and(|r| resolvable(r))
            && filter(pod, node, &NodeUsage::default()).is_ok();
        if !helpful {
            *reasons.entry(NOT_HELPFUL.to_string()).or_default() += 1;
            continue;
        }
        match select_victims(pod, node, &pods_on(&name)) {
            Ok(victims) => {
                let candidate = Candidate { node: name, victims };
                if best.as_ref().is_none_or(|b| candidate.rank() < b.rank()) {
                    best = Some(candidate);
                }
            }
            Err(reason) => *reasons.entry(reason).or_default() += 1,
        }
    }
    match best {
        Some(c) => Outcome::Preempt(c),
        None => Outcome::Impossible(reasons),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name},
                "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}))
            .unwrap(),
        )
    }

    fn pod(name: &str, cpu: &str, prio: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
                "spec": {"priority": prio, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
            .unwrap(),
        )
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect()
    }

    fn insufficient(nodes: &[&str]) -> BTreeMap<String, Vec<String>> {
        nodes.iter().map(|n| (n.to_string(), vec!["Insufficient cpu".to_string()])).collect()
    }

    #[test]
    fn evicts_only_as_many_lower_priority_pods_as_needed() {
        let on_node = vec![pod("low-a", "500m", 1), pod("low-b", "500m", 5), pod("high", "1", 100)];
        let victims = select_victims(&pod("new", "500m", 10), &node("n"), &on_node).unwrap();
        // Removing one 500m pod is enough; the more important low-b is reprieved.
        assert_eq!(names(&victims), ["low-a"]);
    }

    #[test]
    fn never_evicts_equal_or_higher_priority() {
        let on_node = vec![pod("same", "1", 10), pod("higher", "1", 20)];
        assert_eq!(select_victims(&pod("new", "1", 10), &node("n"), &on_node).unwrap_err(), NO_VICTIMS);
        let on_node = vec![pod("higher", "1500m", 20), pod("low", "500m", 1)];
        assert_eq!(
            select_victims(&pod("new", "1", 10), &node("n"), &on_node).unwrap_err(),
            "Insufficient cpu"
        );
    }

    #[test]
    fn terminating_pods_are_not_victims_twice() {
        let mut going = (*pod("going", "2", 1)).clone();
        going.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
        let victims = select_victims(&pod("new", "2", 10), &node("n"), &[Arc::new(going)]).unwrap();
        assert!(victims.is_empty(), "the room is already being freed");
    }

    #[test]
    fn picks_the_node_whose_victims_matter_least() {
        let nodes = [node("a"), node("b"), node("c")];
        let on = |n: &str| match n {
            "a" => vec![pod("a1", "2", 50)],
            "b" => vec![pod("b1", "1", 5), pod("b2", "1", 5)],
            _ => vec![pod("c1", "2", 5)],
        };
        let Outcome::Preempt(c) = preempt(&pod("new", "2", 100), &nodes, &insufficient(&["a", "b", "c"]), on)
        else {
            panic!("preemption expected")
        };
        // b and c both have victims of priority 5; c evicts fewer pods' worth of priority.
        assert_eq!(c.node, "c");
        assert_eq!(names(&c.victims), ["c1"]);
    }

    #[test]
    fn unresolvable_nodes_are_not_helpful() {
        let nodes = [node("a"), node("b")];
        let mut rejected = insufficient(&["a"]);
        rejected.insert("b".into(), vec!["node(s) didn't match Pod's node affinity/selector".into()]);
        let Outcome::Impossible(reasons) =
            preempt(&pod("new", "1", 100), &nodes, &rejected, |_| vec![pod("x", "2", 100)])
        else {
            panic!("no preemption expected")
        };
        assert_eq!(reasons.get(NOT_HELPFUL), Some(&1));
        assert_eq!(reasons.get(NO_VICTIMS), Some(&1));
    }

    #[test]
    fn a_node_too_small_even_when_empty_is_not_helpful() {
        let Outcome::Impossible(reasons) =
            preempt(&pod("new", "3", 100), &[node("a")], &insufficient(&["a"]), |_| vec![pod("x", "1", 1)])
        else {
            panic!("no preemption expected")
        };
        assert_eq!(reasons.get(NOT_HELPFUL), Some(&1));
    }

    #[test]
    fn preemption_policy_never_is_not_eligible() {
        let mut p = (*pod("new", "1", 100)).clone();
        p.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        assert_eq!(not_eligible(&p, false), Some("not eligible due to preemptionPolicy=Never."));
        assert_eq!(not_eligible(&pod("new", "1", 100), false), None);
    }
}
