//! The cluster runtime that runs beside the API server in `everynode up`. Every component here
//! talks to the API server only through its HTTP API with kube-rs, as upstream's components do,
//! so each could run against a real cluster too.

pub mod clusterrole_aggregation;
pub mod every_namespace;
mod garbage_collector;
pub mod kubelet;
mod node_lifecycle;
pub mod pod_gc;
mod preemption;
mod scheduler;
mod scheduler_cache;

pub use garbage_collector::GarbageCollector;
pub use kubelet::Kubelets;
pub use node_lifecycle::NodeLifecycle;
pub use pod_gc::PodGc;
pub use scheduler::Scheduler;
