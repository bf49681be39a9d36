//! Why a sync failed. The work queue retries every failure with backoff; what the error says
//! is logged, and a refusal for lack of permission (403) is told apart, since retrying will not
//! cure it: someone must grant the missing rule.

/// A failed sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("bad key {0}")]
    BadKey(String),
    #[error("invalid selector: {0}")]
    Selector(String),
    /// A request to the API server failed.
    #[error("{action}: {source}")]
    Request {
        /// What the request was for.
        action: String,
        #[source]
        source: kube::Error,
    },
    /// Several requests of one step failed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<SyncError>),
    /// The DaemonSet changed under the sync (recreated, deleted, a hash collision); the next
    /// sync works from the new state.
    #[error("{0}")]
    Changed(String),
}

impl SyncError {
    /// `Ok` when `errors` is empty, else one error holding them all.
    pub fn all(errors: Vec<SyncError>) -> Result<(), SyncError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.into_iter().next().expect("one error")),
            _ => Err(SyncError::Several(errors)),
        }
    }

    /// The authorizer's refusals among the failed requests: who may not do what. A 403 from
    /// admission (a quota, a namespace being terminated) is not one: no grant cures it.
    pub fn forbidden(&self) -> Vec<&str> {
        match self {
            SyncError::Request { source: kube::Error::Api(s), .. } if is_authorization_refusal(s) => {
                vec![s.message.as_str()]
            }
            SyncError::Several(errors) => errors.iter().flat_map(SyncError::forbidden).collect(),
            _ => Vec::new(),
        }
    }
}

/// Upstream's authorizer refuses in one form: `… is forbidden: User "…" cannot <verb> resource
/// "…" …`.
fn is_authorization_refusal(s: &kube::core::Status) -> bool {
    s.code == 403 && s.message.contains(" is forbidden: User \"") && s.message.contains("\" cannot ")
}

/// Names what a failed request was for.
pub trait Doing<T> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, SyncError>;
}

impl<T> Doing<T> for Result<T, kube::Error> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, SyncError> {
        self.map_err(|source| SyncError::Request { action: action(), source })
    }
}

/// A failed request, named.
pub fn request(action: impl Into<String>, source: kube::Error) -> SyncError {
    SyncError::Request { action: action.into(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(message: &str) -> SyncError {
        request(
            "creating pod",
            kube::Error::Api(kube::core::Status::failure(message, "Forbidden").with_code(403).boxed()),
        )
    }

    #[test]
    fn only_the_authorizers_refusals_are_told_as_missing_permissions() {
        let rbac = r#"pods is forbidden: User "system:serviceaccount:kube-system:ds" cannot create resource "pods" in API group "" in the namespace "default""#;
        let quota = r#"pods "agent-x" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10"#;
        assert_eq!(refused(rbac).forbidden(), [rbac]);
        assert!(refused(quota).forbidden().is_empty());
        assert_eq!(SyncError::Several(vec![refused(quota), refused(rbac)]).forbidden(), [rbac]);
    }
}
