//! core/v1 defaulting (upstream `pkg/apis/core/v1/defaults.go`) and validation (upstream
//! `pkg/apis/core/validation`), for the kinds everynode serves. Messages and field paths are
//! upstream's; the rules are the subset that matters for pods, pod templates, nodes,
//! namespaces, config maps, priority classes, leases and events.

mod defaults;
mod validation;

pub use defaults::*;
pub use validation::*;
