//! The client-side machinery every component shares, as client-go's `tools` and kubert are:
//! watch-fed informers (`informer`), objects decoded without their managed fields
//! (`stripped`), a rate-limited work queue (`queue`), events recorded as client-go's
//! broadcaster and correlator record them (`events`, `event_correlator`), Lease-based leader
//! election (`leader`), deleting exactly the pod instance judged (`pod_deletion`) and a client
//! from a kubeconfig (`kubeconfig`).
//!
//! None of it knows about DaemonSets; the DaemonSet controller and the cluster components in
//! `everynode up` both build on it.

mod event_correlator;
pub mod events;
pub mod informer;
pub mod kubeconfig;
mod leader;
pub mod pod_deletion;
pub mod queue;
pub mod stripped;

pub use events::EventRecorder;
pub use informer::Informers;
pub use leader::LeaderElection;
pub use queue::WorkQueue;
pub use stripped::Stripped;
