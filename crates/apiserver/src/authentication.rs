//! Who a request is (upstream's authenticator chain, in kube-apiserver's order):
//! - the admin's bearer token from the kubeconfig `up` writes: the user `kubernetes-admin` in
//!   `system:masters` (what kubeadm's `admin.conf` was), for whom authorization always allows;
//! - a ServiceAccount token this server issued (TokenRequest, `kubectl create token`, the
//!   projected token in every pod), valid while it has not expired and its account (and the
//!   pod it is bound to) still exist with the uids it names;
//! - no credentials at all: `system:anonymous` in `system:unauthenticated`.
//!
//! A bearer token that is none of these is refused (401), never taken as anonymous.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};

use crate::resources;
use crate::service_account_token::{Claims, ISSUER, LEEWAY_SECONDS, TokenSigner};
use crate::storage::Store;

/// An authenticated user (upstream `user.Info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

pub const MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS: &str = "system:anonymous";

impl UserInfo {
    /// The admin the cluster's token stands for.
    pub fn admin() -> UserInfo {
        UserInfo {
            username: "kubernetes-admin".into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            ..Default::default()
        }
    }

    /// A request without credentials.
    pub fn anonymous() -> UserInfo {
        UserInfo { username: ANONYMOUS.into(), groups: vec![UNAUTHENTICATED.into()], ..Default::default() }
    }

    /// The user a ServiceAccount token stands for.
    pub fn service_account(claims: &Claims) -> UserInfo {
        let k = &claims.kubernetes;
        let mut extra = BTreeMap::new();
        if let Some(pod) = &k.pod {
            extra.insert("authentication.kubernetes.io/pod-name".to_string(), vec![pod.name.clone()]);
            extra.insert("authentication.kubernetes.io/pod-uid".to_string(), vec![pod.uid.clone()]);
        }
        if let Some(node) = &k.node {
            extra.insert("authentication.kubernetes.io/node-name".to_string(), vec![node.name.clone()]);
            extra.insert("authentication.kubernetes.io/node-uid".to_string(), vec![node.uid.clone()]);
        }
        if !claims.jti.is_empty() {
            extra.insert(
                "authentication.kubernetes.io/credential-id".to_string(),
                vec![format!("JTI={}", claims.jti)],
            );
        }
        UserInfo {
            username: claims.username(),
            uid: k.serviceaccount.uid.clone(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{}", k.namespace),
                AUTHENTICATED.into(),
            ],
            extra,
        }
    }

    /// In `system:masters`, which upstream's privileged-group authorizer lets do anything.
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// Checks bearer tokens: the admin's, and ServiceAccount tokens.
#[derive(Debug)]
pub struct Authenticator {
    admin_token: String,
    pub signer: TokenSigner,
}

impl Authenticator {
    pub fn new(admin_token: impl Into<String>, signer: TokenSigner) -> Self {
        let admin_token = admin_token.into();
        // An empty admin token would let an empty bearer token in as admin.
        assert!(!admin_token.trim().is_empty(), "the admin token is empty");
        Authenticator { admin_token, signer }
    }

    /// The user a bearer token stands for, if any, at `now` (Unix seconds), for the API server.
    pub fn user_for_token(&self, token: &str, store: &Store, now: i64) -> Option<UserInfo> {
        self.review(token, store, now, &[ISSUER.to_string()]).map(|(user, _)| user)
    }

    /// TokenReview: the user a token stands for and the audiences, among `audiences`, it is
    /// valid for. The admin token is the API server's own, valid for its audience only.
    pub fn review(
        &self,
        token: &str,
        store: &Store,
        now: i64,
        audiences: &[String],
    ) -> Option<(UserInfo, Vec<String>)> {
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        if token_matches(token.as_bytes(), self.admin_token.as_bytes()) {
            let valid: Vec<String> = audiences.iter().filter(|a| *a == ISSUER).cloned().collect();
            return (!valid.is_empty()).then(|| (UserInfo::admin(), valid));
        }
        let (claims, valid) = self.signer.verify_for(token, now, audiences).ok()?;
        still_bound(&claims, store, now).then(|| (UserInfo::service_account(&claims), valid))
    }

    /// Who sent a request: `Some` user (anonymous without credentials), `None` for a bearer
    /// token that stands for no one (401).
    pub fn authenticate(&self, headers: &HeaderMap, store: &Store, now: i64) -> Option<UserInfo> {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return Some(UserInfo::anonymous()) };
        let value = value.to_str().ok()?;
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                self.user_for_token(token, store, now)
            }
            // No authenticator of this server takes other schemes: the request is anonymous,
            // as upstream's is when no authenticator recognises its credentials.
            _ => Some(UserInfo::anonymous()),
        }
    }
}

/// The token's account, and the pod or secret it is bound to, still exist as the objects it
/// was issued for, and were not deleted more than a minute ago (upstream: `service account
/// token has been invalidated` otherwise). A pod's deletion timestamp is the end of its grace
/// period, so its token lasts while it terminates.
fn still_bound(claims: &Claims, store: &Store, now: i64) -> bool {
    let k = &claims.kubernetes;
    let uid_is = |group: &str, plural: &str, name: &str, uid: &str| {
        store.get(resources::builtin(group, "v1", plural), &k.namespace, name).is_some_and(|o| {
            let deleted_long_ago = o.deletion_timestamp().is_some_and(|t| {
                t.parse::<jiff::Timestamp>().ok().is_none_or(|t| t.as_second() + LEEWAY_SECONDS < now)
            });
            o.uid() == uid && !deleted_long_ago
        })
    };
    uid_is("", "serviceaccounts", &k.serviceaccount.name, &k.serviceaccount.uid)
        && k.pod.as_ref().is_none_or(|p| uid_is("", "pods", &p.name, &p.uid))
        && k.secret.as_ref().is_none_or(|s| uid_is("", "secrets", &s.name, &s.uid))
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
