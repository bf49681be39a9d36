//! Upstream's DaemonSet semantics as pure, synchronous functions over k8s-openapi types.
//!
//! Nothing here does I/O, spawns tasks or reads the clock: time is a parameter. The API server
//! calls [`defaults`] and [`validation`]; the controller calls the rest:
//! - [`eligibility`]: which nodes should run a daemon pod;
//! - [`pod`]: building daemon pods, and reading their node, readiness and revision;
//! - [`pod_facts`]: what a sync reads of a pod, taken once per version of it;
//! - [`revision`]: ControllerRevisions, the template hash, history and its truncation;
//! - [`ownership`]: adoption and release by selector;
//! - [`sync`]: one sync's decisions — per-node reconciliation, the rolling update, status;
//! - [`rollout_controls`]: everynode's opt-in rollout controls (pause, partition, node scope,
//!   NotReady nodes, strict budget), read from annotations;
//! - [`forecast`]: a rollout run forward on a virtual clock with the same decisions.

pub mod defaults;
pub mod eligibility;
pub mod forecast;
pub mod generation;
pub mod in_place;
pub mod ownership;
pub mod pod;
pub mod pod_facts;
pub mod revision;
pub mod rollout_controls;
pub mod routing;
pub mod sync;
pub mod validation;

pub use eligibility::{Eligibility, Placement, node_should_run_daemon_pod};
pub use sync::{Decision, FailedPodBackoff, SyncContext};
