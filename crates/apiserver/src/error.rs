//! API errors, returned to clients as `meta/v1 Status` objects with upstream's reasons, codes
//! and message forms (`k8s.io/apimachinery/pkg/api/errors`).

use apimachinery::validation::{FieldError, aggregate_message};
use serde_json::{Value, json};

use crate::resources::ResourceType;

/// An error that becomes a `Status` reply.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

fn details(rt: &ResourceType, name: &str) -> Value {
    json!({"name": name, "group": rt.group, "kind": rt.plural})
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None }
    }

    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `daemonsets.apps "x" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{} \"{name}\" not found", rt.qualified_resource()))
            .with_details(details(rt, name))
    }

    /// `namespaces "logging" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", rt.qualified_resource()))
            .with_details(details(rt, name))
    }

    /// The optimistic-concurrency failure of a stale `resourceVersion`.
    pub fn conflict(rt: &ResourceType, name: &str, cause: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} \"{name}\": {cause}", rt.qualified_resource()),
        )
        .with_details(details(rt, name))
    }

    pub fn stale(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `DaemonSet.apps "x" is invalid: …`, with one cause per field error.
    pub fn invalid(rt: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_kind(&rt.qualified_kind(), rt.group, rt.kind, name, errors)
    }

    /// Upstream's `NewInvalid` for any kind, served or not (`TokenRequest.authentication.k8s.io
    /// "" is invalid: …`).
    pub fn invalid_kind(
        qualified_kind: &str,
        group: &str,
        kind: &str,
        name: &str,
        errors: &[FieldError],
    ) -> Self {
        let name = &*apimachinery::validation::shown(name);
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.error_type.cause_reason(), "message": e.body(), "field": e.field}))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {}", aggregate_message(errors)),
        )
        .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
    }

    /// `pods "x" is forbidden: …`.
    pub fn forbidden(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(403, "Forbidden", format!("{} \"{name}\" is forbidden: {why}", rt.qualified_resource()))
            .with_details(details(rt, name))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn not_found_path() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource")
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// A bad request option (`PatchOptions.meta.k8s.io "" is invalid: fieldManager: …`).
    pub fn invalid_options(options_kind: &str, detail: &str) -> Self {
        Self::new(422, "Invalid", format!("{options_kind}.meta.k8s.io \"\" is invalid: {detail}"))
    }

    /// Upstream's apply conflict: 409 with a `FieldManagerConflict` cause per field.
    pub fn apply_conflict(message: String, causes: Vec<Value>) -> Self {
        Self::new(409, "Conflict", message).with_details(json!({"causes": causes}))
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                if content_type.contains("patch") {
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
                } else {
                    "application/json, application/yaml, application/vnd.kubernetes.protobuf"
                }
            ),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(413, "RequestEntityTooLarge", format!("Request entity too large: limit is {limit}"))
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {message}"))
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            status["details"] = d.clone();
        }
        status
    }
}

/// The `Status` upstream returns for a completed delete.
pub fn success_status(rt: &ResourceType, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": uid},
    })
}
