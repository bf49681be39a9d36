//! A DaemonSet's verdicts on objects, remembered with each object's cached version: its claim
//! on a pod (by its selector and the pod's controller), whether its placement lets a node run
//! its pod.
//!
//! A sync claims over every pod of its namespace and judges every node, and at 50,000 nodes a
//! rollout runs hundreds of syncs. One version of an object never changes, nor does what a
//! DaemonSet judges with (its selector, its placement) while its uid and that stay the same.
//! So what it judges with gets a token, and an object's version remembers the token it was last
//! judged against and the verdict: each verdict is taken once per version and token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::apps::v1::DaemonSet;

/// The tokens of what each DaemonSet now judges with (`J`: a selector, a placement).
pub struct Tokens<J> {
    by_daemonset: Mutex<HashMap<String, Issued<J>>>,
    issued: AtomicU64,
}

/// A DaemonSet's uid, what it judged with, and the token that was given.
struct Issued<J> {
    uid: Option<String>,
    judge: J,
    token: u64,
}

impl<J> Default for Tokens<J> {
    fn default() -> Self {
        Tokens { by_daemonset: Mutex::default(), issued: AtomicU64::new(0) }
    }
}

impl<J: PartialEq + Clone> Tokens<J> {
    /// The token of `judge` for `ds` (at `key`): the same as long as its uid and `judge` stay
    /// the same, a new one otherwise.
    pub fn token(&self, key: &str, ds: &DaemonSet, judge: &J) -> u64 {
        let mut map = self.by_daemonset.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(issued) = map.get(key)
            && issued.uid == ds.metadata.uid
            && issued.judge == *judge
        {
            return issued.token;
        }
        let token = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        map.insert(key.to_string(), Issued { uid: ds.metadata.uid.clone(), judge: judge.clone(), token });
        token
    }

    /// Forgets a DaemonSet that is gone.
    pub fn forget(&self, key: &str) {
        self.by_daemonset.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// The verdict last taken on an object's version: the token and two bits of verdict.
#[derive(Debug, Default)]
pub struct Verdict(AtomicU64);

impl Verdict {
    /// The verdict of `token`, from memory when it was the last one asked; `judge` gives it
    /// otherwise (only its two low bits are kept).
    pub fn of(&self, token: u64, judge: impl FnOnce() -> u8) -> u8 {
        let last = self.0.load(Ordering::Relaxed);
        if last != 0 && last >> 2 == token {
            return (last & 3) as u8;
        }
        let verdict = judge() & 3;
        self.0.store(token << 2 | u64::from(verdict), Ordering::Relaxed);
        verdict
    }

    /// A yes-or-no verdict.
    pub fn holds(&self, token: u64, judge: impl FnOnce() -> bool) -> bool {
        self.of(token, || u8::from(judge())) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(uid: &str) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d", "uid": uid}})).unwrap()
    }

    #[test]
    fn a_token_lasts_while_the_uid_and_judge_do() {
        let s: Tokens<&str> = Tokens::default();
        let first = s.token("ns/d", &ds("u1"), &"app=a");
        assert_eq!(s.token("ns/d", &ds("u1"), &"app=a"), first);
        let reselected = s.token("ns/d", &ds("u1"), &"app=b");
        assert_ne!(reselected, first);
        let recreated = s.token("ns/d", &ds("u2"), &"app=b");
        assert_ne!(recreated, reselected);
        assert_ne!(s.token("ns/other", &ds("u2"), &"app=b"), recreated, "each DaemonSet has its own");
        s.forget("ns/d");
        assert_ne!(s.token("ns/d", &ds("u2"), &"app=b"), recreated);
    }

    #[test]
    fn a_verdict_is_judged_once_per_token() {
        let v = Verdict::default();
        let mut asked = 0;
        for _ in 0..3 {
            assert!(v.holds(7, || {
                asked += 1;
                true
            }));
        }
        assert_eq!(asked, 1);
        assert!(!v.holds(8, || false), "another token is judged anew");
        assert!(!v.holds(8, || panic!("remembered")));
        assert!(v.holds(7, || true), "and the first one again");
        assert_eq!(v.of(9, || 2), 2);
        assert_eq!(v.of(9, || panic!("remembered")), 2);
    }
}
