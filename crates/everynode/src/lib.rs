//! What the `everynode` binary and the `kubectl everynode` plugin share: reaching a cluster as
//! kubectl does, and reading a DaemonSet with everything its controller decides from.

pub mod cluster_access;
pub mod daemonset_state;
