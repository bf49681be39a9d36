//! A DaemonSet selector's verdict on a pod, remembered with the pod's cached version.
//!
//! A sync claims over every pod of its namespace, and at 50,000 nodes a rollout runs hundreds
//! of syncs. The labels of one version of a pod never change, nor does a DaemonSet's selector
//! while its uid and selector stay the same, so each verdict is taken once per pod version and
//! selector: a selector gets a token, and a pod remembers the token it was last judged against.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A DaemonSet's uid and selector, and the token they were given.
type Issued = (Option<String>, LabelSelector, u64);

/// The tokens of the DaemonSets' current selectors.
#[derive(Default)]
pub struct Selections {
    by_daemonset: Mutex<HashMap<String, Issued>>,
    issued: AtomicU64,
}

impl Selections {
    /// The token of the selector `ds` (at `key`) has now: the same as long as its uid and its
    /// selector stay the same, a new one otherwise.
    pub fn token(&self, key: &str, ds: &DaemonSet) -> u64 {
        let selector = ds.spec.as_ref().map(|s| &s.selector);
        let mut map = self.by_daemonset.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((uid, known, token)) = map.get(key)
            && *uid == ds.metadata.uid
            && Some(known) == selector
        {
            return *token;
        }
        let token = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        map.insert(key.to_string(), (ds.metadata.uid.clone(), selector.cloned().unwrap_or_default(), token));
        token
    }

    /// Forgets a DaemonSet that is gone.
    pub fn forget(&self, key: &str) {
        self.by_daemonset.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// The verdict last taken on a pod version: the selector's token and whether it matched.
#[derive(Debug, Default)]
pub struct Verdict(AtomicU64);

impl Verdict {
    /// Whether the selector with `token` matches, from memory when it was the last one asked.
    pub fn matches(&self, token: u64, judge: impl FnOnce() -> bool) -> bool {
        let last = self.0.load(Ordering::Relaxed);
        if last != 0 && last >> 1 == token {
            return last & 1 == 1;
        }
        let matched = judge();
        self.0.store(token << 1 | u64::from(matched), Ordering::Relaxed);
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(uid: &str, app: &str) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d", "uid": uid},
            "spec": {"selector": {"matchLabels": {"app": app}}, "template": {}}}))
        .unwrap()
    }

    #[test]
    fn a_token_lasts_while_the_uid_and_selector_do() {
        let s = Selections::default();
        let first = s.token("ns/d", &ds("u1", "a"));
        assert_eq!(s.token("ns/d", &ds("u1", "a")), first);
        let reselected = s.token("ns/d", &ds("u1", "b"));
        assert_ne!(reselected, first);
        let recreated = s.token("ns/d", &ds("u2", "b"));
        assert_ne!(recreated, reselected);
        assert_ne!(s.token("ns/other", &ds("u2", "b")), recreated, "each DaemonSet has its own");
        s.forget("ns/d");
        assert_ne!(s.token("ns/d", &ds("u2", "b")), recreated);
    }

    #[test]
    fn a_verdict_is_judged_once_per_token() {
        let v = Verdict::default();
        let mut asked = 0;
        for _ in 0..3 {
            assert!(v.matches(7, || {
                asked += 1;
                true
            }));
        }
        assert_eq!(asked, 1);
        assert!(!v.matches(8, || false), "another selector is judged anew");
        assert!(!v.matches(8, || panic!("remembered")));
        assert!(v.matches(7, || true), "and the first one again");
    }
}
