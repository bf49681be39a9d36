//! `--controllers`, in kube-controller-manager's syntax: a comma-separated list where `*`
//! turns on every controller that is on by default, `name` turns one on and `-name` turns one
//! off.

use std::collections::BTreeSet;

/// The in-process controllers `everynode up` can run, each with the names
/// kube-controller-manager accepts for it.
pub const KNOWN: &[(&str, &[&str])] = &[
    ("daemonset", &["daemonset", "daemonset-controller"]),
    ("clusterrole-aggregation", &["clusterrole-aggregation", "clusterrole-aggregation-controller"]),
    ("garbagecollector", &["garbagecollector", "garbage-collector-controller"]),
    ("nodelifecycle", &["nodelifecycle", "node-lifecycle-controller"]),
    ("podgc", &["podgc", "pod-garbage-collector-controller"]),
    ("serviceaccount", &["serviceaccount", "serviceaccount-controller"]),
    ("root-ca-cert-publisher", &["root-ca-cert-publisher", "root-ca-certificate-publisher-controller"]),
    ("scheduler", &["scheduler"]),
    ("kubelet", &["kubelet"]),
];

fn canonical(name: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(_, aliases)| aliases.contains(&name)).map(|(c, _)| *c)
}

/// The set of controllers `list` turns on.
pub fn parse(list: &str) -> Result<BTreeSet<&'static str>, String> {
    let mut on = BTreeSet::new();
    let mut off = BTreeSet::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item == "*" {
            on.extend(KNOWN.iter().map(|(c, _)| *c));
        } else if let Some(name) = item.strip_prefix('-') {
            off.insert(
                canonical(name).ok_or_else(|| format!("{name:?} is not in the list of known controllers"))?,
            );
        } else {
            on.insert(
                canonical(item).ok_or_else(|| format!("{item:?} is not in the list of known controllers"))?,
            );
        }
    }
    Ok(on.difference(&off).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_minus_one() {
        let set = parse("*,-daemonset").unwrap();
        assert!(!set.contains("daemonset"));
        assert!(set.contains("garbagecollector"));
        let aliased = parse("*,-daemonset-controller").unwrap();
        assert_eq!(set, aliased);
    }

    #[test]
    fn explicit_list_and_unknown_names() {
        assert_eq!(parse("daemonset").unwrap().into_iter().collect::<Vec<_>>(), vec!["daemonset"]);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("*,-bogus").unwrap_err().contains("bogus"));
    }
}
