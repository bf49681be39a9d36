//! core/v1 defaulting (upstream `pkg/apis/core/v1/defaults.go`) and validation (upstream
//! `pkg/apis/core/validation`), for the kinds everynode serves. Messages and field paths are
//! upstream's; the rules are the subset that matters for pods, pod templates, nodes,
//! namespaces, config maps, priority classes, leases and events.

mod defaults;
pub mod node_affinity;
pub mod pod;
pub mod taints;
mod validation;

pub use defaults::*;
pub use validation::*;

/// The description upstream's `root-ca-cert-publisher` gives the `kube-root-ca.crt` ConfigMap
/// it keeps in every namespace.
pub const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
