//! Upstream's ordering of API versions (`CompareKubeAwareVersionStrings`): GA before beta
//! before alpha, higher numbers first within each, and versions that are not Kubernetes-like
//! last, in lexical order. Discovery lists a group's versions this way; the first is preferred.

use std::cmp::Ordering;

/// `(major, stability, minor)`: stability 3 for GA, 2 for beta, 1 for alpha.
fn parse(v: &str) -> Option<(u64, u8, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let major: u64 = rest[..digits].parse().ok().filter(|m| *m > 0)?;
    let rest = &rest[digits..];
    if rest.is_empty() {
        return Some((major, 3, 0));
    }
    let (stability, minor) =
        if let Some(m) = rest.strip_prefix("beta") { (2, m) } else { (1, rest.strip_prefix("alpha")?) };
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) || minor.starts_with('0') {
        return None;
    }
    Some((major, stability, minor.parse().ok()?))
}

/// How two versions sort in discovery: `Less` when `a` comes first (has the higher priority).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => sb.cmp(&sa).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_order() {
        let mut versions = vec![
            "foo1",
            "v1alpha1",
            "v10",
            "v11alpha2",
            "v1beta2",
            "v1",
            "v2beta1",
            "v12alpha1",
            "foo10",
            "v2",
        ];
        versions.sort_by(|a, b| compare(a, b));
        assert_eq!(
            versions,
            ["v10", "v2", "v1", "v2beta1", "v1beta2", "v12alpha1", "v11alpha2", "v1alpha1", "foo1", "foo10"]
        );
    }
}
