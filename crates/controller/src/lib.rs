//! The DaemonSet controller: watches DaemonSets, Pods, Nodes and ControllerRevisions through
//! kube-rs and acts on the decisions of the `daemonset` crate.
#![forbid(unsafe_code)]
