//! Upstream's DaemonSet semantics as pure, synchronous functions over k8s-openapi types.
//!
//! Nothing here does I/O, spawns tasks or reads the clock: time is a parameter. The API server
//! calls [`defaults`] and [`validation`]; the controller calls the rest.
#![forbid(unsafe_code)]

pub mod defaults;
pub mod validation;
