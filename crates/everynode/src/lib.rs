//! What the `everynode` binary and the `kubectl everynode` plugin share: reaching a cluster as
//! kubectl does, reading a DaemonSet with everything its controller decides from, and a
//! rollout's forecast (`plan`), the picture of a rollout (`rollout_picture`) and the web UI
//! that shows it live (`ui`).

pub mod cluster_access;
pub mod daemonset_state;
pub mod plan;
pub mod rollout_picture;
pub mod ui;
