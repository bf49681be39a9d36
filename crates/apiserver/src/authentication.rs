//! Who a request is. The cluster has one credential, the admin's bearer token from the
//! kubeconfig `up` writes, which is the user `kubernetes-admin` in `system:masters` (what
//! kubeadm's `admin.conf` was). Authorization is upstream's `AlwaysAllow` mode: whoever
//! authenticates may do everything; reviews answer accordingly.

use axum::http::{HeaderMap, header};

/// An authenticated user (upstream `user.Info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub username: &'static str,
    pub groups: &'static [&'static str],
}

/// The admin the cluster's token stands for.
pub const ADMIN: UserInfo =
    UserInfo { username: "kubernetes-admin", groups: &["system:masters", "system:authenticated"] };

/// Checks bearer tokens against the cluster's.
#[derive(Debug)]
pub struct Authenticator {
    token: String,
}

impl Authenticator {
    pub fn new(token: impl Into<String>) -> Self {
        Authenticator { token: token.into() }
    }

    /// The user a bearer token stands for, if any.
    pub fn user_for_token(&self, token: &str) -> Option<UserInfo> {
        token_matches(token.trim().as_bytes(), self.token.as_bytes()).then_some(ADMIN)
    }

    /// The user a request's `Authorization: Bearer` header stands for, if any.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<UserInfo> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        self.user_for_token(value.strip_prefix("Bearer ")?)
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_clusters_token_authenticates() {
        let auth = Authenticator::new("secret-token");
        assert_eq!(auth.user_for_token("secret-token"), Some(ADMIN));
        assert_eq!(auth.user_for_token("secret-tokem"), None);
        assert_eq!(auth.user_for_token(""), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer secret-token".parse().unwrap());
        assert_eq!(auth.authenticate(&headers), Some(ADMIN));
        headers.insert(header::AUTHORIZATION, "Basic secret-token".parse().unwrap());
        assert_eq!(auth.authenticate(&headers), None);
    }
}
