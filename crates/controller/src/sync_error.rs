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

    /// The server's refusals (403) among the failed requests: who may not do what.
    pub fn forbidden(&self) -> Vec<&str> {
        match self {
            SyncError::Request { source: kube::Error::Api(s), .. } if s.code == 403 => {
                vec![s.message.as_str()]
            }
            SyncError::Several(errors) => errors.iter().flat_map(SyncError::forbidden).collect(),
            _ => Vec::new(),
        }
    }
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
