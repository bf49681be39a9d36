//! An embedded, Kubernetes-compatible API server: HTTPS with bearer-token authentication, the
//! resources a DaemonSet workflow needs, watch, patch, discovery, OpenAPI and server-side
//! printing, over a crash-safe embedded store.
#![forbid(unsafe_code)]

pub mod discovery;
pub mod error;
pub mod handlers;
pub mod kinds;
pub mod openapi;
pub mod pki;
pub mod printers;
pub mod protobuf;
pub mod registry;
pub mod request;
pub mod resources;
pub mod server;
pub mod storage;
pub mod strategy;
pub mod table;
pub mod watch;

pub use server::{RunningServer, ServerConfig, start};
