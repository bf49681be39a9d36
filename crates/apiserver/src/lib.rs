//! An embedded, Kubernetes-compatible API server: HTTPS with bearer-token authentication, the
//! resources a DaemonSet workflow needs, watch, patch, discovery, OpenAPI and server-side
//! printing, over a crash-safe embedded store.

mod authentication;
mod authorization;
mod discovery;
mod error;
mod field_manager;
mod handlers;
mod kinds;
mod loopback;
mod openapi;
mod openapi_v2;
pub mod pki;
mod pod_log;
mod printers;
mod protobuf;
mod registry;
mod request;
mod resources;
mod scale;
mod server;
mod service_account_token;
mod service_network;
mod storage;
mod strategy;
mod table;
mod token_request;
mod unread_body;
mod watch;
mod wire;

pub use handlers::{KUBERNETES_MINOR, git_version};
pub use loopback::LoopbackService;
pub use server::{RunningServer, ServerConfig, StartError, start};
pub use storage::StorageError;

/// Applies a JSON patch (its operations as JSON) to a copy of `doc` as the server applies
/// `application/json-patch+json`, for the fuzz targets.
pub fn json_patch(
    doc: &serde_json::Value,
    operations: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let operations: json_patch::Patch =
        serde_json::from_value(operations.clone()).map_err(|e| e.to_string())?;
    registry::apply_json_patch(doc, &operations).map_err(|e| e.to_string())
}

/// Decodes a create or update body of this Content-Type as the server does (JSON, YAML or
/// Kubernetes protobuf), for the fuzz targets; a `Status` message when it cannot.
pub fn decode_request_body(content_type: &str, body: &[u8]) -> Result<serde_json::Value, String> {
    request::decode_body(content_type, body).map_err(|e| e.to_status()["message"].to_string())
}
