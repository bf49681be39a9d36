//! The HTTP surface: authentication, the non-resource endpoints (version, health, discovery,
//! OpenAPI), and the resource verbs, answered in JSON — or as Tables or watch streams where the
//! client asks.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::authentication::{Authenticator, UserInfo};
use crate::authorization::{self, Authorizer};
use crate::discovery;
use crate::error::{ApiError, ApiResult, success_status};
use crate::field_manager;
use crate::kinds::review::ReviewContext;
use crate::openapi::OpenApi;
use crate::registry::{
    Applied, DeleteOptions, DeleteOutcome, Patch, PatchType, Registry, Writer, parse_dry_run,
};
use crate::request::{self, MAX_BODY, Query, ResourcePath};
use crate::resources::{Catalog, ResourceType};
use crate::scale::SCALE;
use crate::storage::{Object, Store};
use crate::strategy::{self, FieldValidation};
use crate::table::{self, IncludeObject};
use crate::watch::{self, WatchRequest};

/// The Kubernetes version whose API this server serves (k8s-openapi's `v1_33`).
pub const KUBERNETES_MINOR: &str = "33";

/// The version everynode reports for itself and its components (`/version`'s `gitVersion`,
/// a node's `kubeletVersion`, the components' User-Agents): `v1.33.0+everynode`.
pub fn git_version() -> String {
    format!("v1.{KUBERNETES_MINOR}.0+everynode")
}

/// Everything a request handler needs.
pub struct ApiState {
    pub registry: Registry,
    pub openapi: OpenApi,
    pub authenticator: Authenticator,
    pub authorizer: Authorizer,
    /// `host:port` clients reach the server on, for legacy discovery.
    pub server_address: String,
    pub bookmark_interval: Duration,
    /// Services mounted beside the API under a path prefix (`everynode up`'s web UI), which
    /// do their own authentication.
    pub mounts: std::sync::RwLock<Vec<(String, axum::Router)>>,
}

impl ApiState {
    fn store(&self) -> &Arc<Store> {
        &self.registry.store
    }

    fn catalog(&self) -> &Catalog {
        &self.registry.catalog
    }
}

const JSON: &str = "application/json";

/// An object (or any JSON holding objects) as clients see it.
fn json_response(status: StatusCode, body: &Value) -> Response {
    serialized_response(status, &crate::wire::Wire(body))
}

fn serialized_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, JSON)], bytes).into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &e.to_status())
}

fn text(body: &'static str) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// The single entry point: every request comes here.
pub async fn handle(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    // The path as Go's server hands it to upstream's handlers: percent-decoded (`my%2Dcm` is
    // `my-cm`).
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy().into_owned();
    // Upstream lets anyone read health and version (system:public-info-viewer).
    match path.as_str() {
        "/healthz" | "/livez" | "/readyz" => return text("ok"),
        "/version" | "/version/" => return json_response(StatusCode::OK, &version()),
        _ => {}
    }
    let mounted = {
        let mounts = state.mounts.read().unwrap_or_else(|e| e.into_inner());
        mounts
            .iter()
            .find(|(prefix, _)| path == prefix.trim_end_matches('/') || path.starts_with(prefix.as_str()))
            .map(|(_, router)| router.clone())
    };
    if let Some(router) = mounted {
        use tower::ServiceExt;
        return router.oneshot(req).await.unwrap_or_else(|never| match never {});
    }
    let user = if req.extensions().get::<crate::loopback::Loopback>().is_some() {
        crate::loopback::user()
    } else {
        match state.authenticator.authenticate(req.headers(), state.store(), Timestamp::now().as_second()) {
            Some(user) => user,
            None => return error_response(&ApiError::unauthorized()),
        }
    };
    let user = match authorization::impersonation::acting_user(
        &state.authorizer,
        state.store(),
        user,
        req.headers(),
    ) {
        Ok(user) => user,
        Err(e) => return error_response(&e),
    };
    // Members of system:masters (the admin, every in-process component) pass without a look at
    // the policy.
    if !user.is_privileged() {
        let query = Query::parse(req.uri().query());
        let attrs =
            authorization::request_info::attributes(user.clone(), req.method().as_str(), &path, &query);
        let decision = state.authorizer.authorize(state.store(), &attrs);
        if !decision.allowed {
            return error_response(&authorization::forbidden(&attrs, &decision.reason));
        }
    }
    match dispatch(state, req, &path, user).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": git_version(),
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}

async fn dispatch(state: Arc<ApiState>, req: Request, path: &str, user: UserInfo) -> ApiResult<Response> {
    let accept = header_str(req.headers(), header::ACCEPT).to_string();
    match path.trim_end_matches('/') {
        "/api" => {
            return Ok(if discovery::accepts_aggregated(&accept) {
                aggregated(discovery::aggregated_core(state.catalog()))
            } else {
                json_response(StatusCode::OK, &discovery::api_versions(&state.server_address))
            });
        }
        "/apis" => {
            return Ok(if discovery::accepts_aggregated(&accept) {
                aggregated(discovery::aggregated_groups(state.catalog()))
            } else {
                json_response(StatusCode::OK, &discovery::api_group_list(state.catalog()))
            });
        }
        "/openapi/v2" => {
            let documents = state.openapi.current(state.catalog());
            return Ok(if accept.contains("protobuf") {
                let content_type = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
                let bytes = documents.v2_protobuf().to_vec();
                (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
            } else {
                raw_json(documents.v2_json().to_vec())
            });
        }
        "/openapi/v3" => return Ok(raw_json(state.openapi.current(state.catalog()).index().to_vec())),
        p if p.starts_with("/openapi/v3/") => {
            return state
                .openapi
                .current(state.catalog())
                .document(&p["/openapi/v3/".len()..])
                .map(|d| raw_json(d.to_vec()))
                .ok_or_else(ApiError::not_found_path);
        }
        _ => {}
    }
    if let Some(list) = legacy_resource_list(state.catalog(), path) {
        return Ok(json_response(StatusCode::OK, &list));
    }
    let Some(target) = request::parse_resource_path(state.catalog(), path) else {
        return Err(ApiError::not_found_path());
    };
    let target = target?;
    resource_request(state, req, target, &accept, user).await
}

/// The verb a request on a resource (not a subresource) is, as discovery names verbs.
fn verb_of(method: &Method, named: bool, watch: bool) -> Option<&'static str> {
    Some(match (method, named) {
        (&Method::GET, false) if watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => return None,
    })
}

/// Answers a review (a create of a kind that is never stored): its request, defaulted and
/// validated, with the status the kind's answer gives.
async fn review(
    state: Arc<ApiState>,
    req: Request,
    rt: &'static ResourceType,
    ns: Option<String>,
    user: UserInfo,
    answer: crate::kinds::review::Answer,
) -> ApiResult<Response> {
    let query = Query::parse(req.uri().query());
    let validation = FieldValidation::parse(query.get("fieldValidation"))?;
    let (headers, body) = read_body(req).await?;
    let (value, duplicates) = decode_object_body(&headers, body, validation).await?;
    let (mut obj, warnings) = strategy::decode(rt, &value, validation, duplicates)?;
    if let Some(ns) = ns {
        obj["metadata"]["namespace"] = json!(ns);
    }
    strategy::set_defaults(rt, &mut obj)?;
    let errors = rt.rules.validate(&obj)?;
    if !errors.is_empty() {
        return Err(ApiError::invalid(rt, obj["metadata"]["name"].as_str().unwrap_or_default(), &errors));
    }
    let context = ReviewContext {
        user: &user,
        authenticator: &state.authenticator,
        authorizer: &state.authorizer,
        store: state.store(),
        now: Timestamp::now().as_second(),
    };
    obj["status"] = answer(&obj, &context);
    Ok(with_warnings(json_response(StatusCode::CREATED, &obj), &warnings))
}

fn legacy_resource_list(catalog: &Catalog, path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", version] => discovery::api_resource_list(catalog, "", version),
        ["apis", group, version] => discovery::api_resource_list(catalog, group, version),
        ["apis", group] => {
            let list = discovery::api_group_list(catalog);
            list["groups"].as_array()?.iter().find(|g| g["name"] == *group).cloned().map(|mut g| {
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                g
            })
        }
        _ => None,
    }
}

fn aggregated(body: Value) -> Response {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (StatusCode::OK, [(header::CONTENT_TYPE, discovery::AGGREGATED_CONTENT_TYPE)], bytes).into_response()
}

fn raw_json(bytes: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, JSON)], bytes).into_response()
}

async fn read_body(req: Request) -> ApiResult<(HeaderMap, Bytes)> {
    let headers = req.headers().clone();
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && len > MAX_BODY
    {
        return Err(ApiError::too_large(MAX_BODY));
    }
    let bytes = to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| ApiError::too_large(MAX_BODY))?;
    Ok((headers, bytes))
}

/// Runs store work (decoding, validation, waiting for the writer lock) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// Request bodies up to this size are small writes: deciding one (a Lease renewal's, a pod
/// status's) takes tens of microseconds, less than handing it to a blocking thread and back.
const SMALL_WRITE_BYTES: usize = 16 * 1024;

/// Whether a write with a body of `len` bytes runs on the async worker that received it:
/// when it is small and no other write holds the store's writer, so it will not wait.
fn inline_write(state: &ApiState, len: usize) -> bool {
    len <= SMALL_WRITE_BYTES && state.store().writer_is_free()
}

/// Runs one write (off the async workers unless `inline`), then awaits its commit without a
/// thread ([`crate::storage::Pending`]): the outcome, once durable.
async fn write<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce() -> ApiResult<crate::storage::Pending<T>> + Send + 'static,
) -> ApiResult<T> {
    let pending = if inline { f()? } else { blocking(f).await? };
    pending.durable().await
}

async fn resource_request(
    state: Arc<ApiState>,
    req: Request,
    target: ResourcePath,
    accept: &str,
    user: UserInfo,
) -> ApiResult<Response> {
    let query = Query::parse(req.uri().query());
    let rt = target.resource;
    let method = req.method().clone();
    let user_agent = header_str(req.headers(), header::USER_AGENT).to_string();
    let manager =
        |options_kind: &str| field_manager::manager_of(query.get("fieldManager"), &user_agent, options_kind);
    if target.subresource.is_none()
        && let Some(verb) = verb_of(&method, target.name.is_some(), query.flag("watch"))
        && !rt.supports(verb)
    {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {method}"
        )));
    }
    if let Some(answer) = rt.rules.review() {
        return review(state, req, rt, target.namespace, user, answer).await;
    }
    let guard = authorization::escalation::guard(
        || state.authorizer.policy(state.store()),
        &user,
        rt,
        target.namespace.as_deref().unwrap_or_default(),
        target.name.as_deref(),
    );
    let table = request::wants_table(accept).then(|| IncludeObject::parse(query.get("includeObject")));
    let ns = target.namespace.clone();
    // A write to a CustomResourceDefinition changes what is served once it is durable.
    let definitions = (method != Method::GET && rt.key == DEFINITIONS).then(|| state.clone());
    let response = match (&method, target.name.as_deref(), target.subresource.as_deref()) {
        (&Method::GET, None, None) if query.flag("watch") => watch(state, rt, ns, &query, table),
        (&Method::GET, None, None) => list(&state, rt, ns.as_deref(), &query, table),
        (&Method::GET, Some(name), Some("log")) => pod_log(state, rt, ns_for(rt, &ns), name, &query),
        (&Method::GET, Some(name), Some("scale")) => {
            let obj =
                state.store().get(rt, ns_for(rt, &ns), name).ok_or_else(|| ApiError::not_found(rt, name))?;
            scale_response(rt, &obj)
        }
        (&Method::PUT, Some(name), Some("scale")) => {
            let dry_run = dry_run(&query, "UpdateOptions")?;
            let (headers, body) = read_body(req).await?;
            let scale = decode_body(&headers, body).await?;
            let (scale, _) = strategy::decode(&SCALE, &scale, FieldValidation::Ignore, Vec::new())?;
            let name = name.to_string();
            let manager = manager("UpdateOptions")?;
            let updated = write(false, move || {
                state.registry.update_scale(
                    rt,
                    ns_for(rt, &ns),
                    &name,
                    |_| Ok(scale),
                    Writer { manager: &manager, dry_run, guard: guard.as_ref() },
                )
            })
            .await?;
            scale_response(rt, &updated)
        }
        (&Method::PATCH, Some(name), Some("scale")) => {
            let dry_run = dry_run(&query, "PatchOptions")?;
            let manager = manager("PatchOptions")?;
            let (patch_type, body, _) = read_patch(req).await?;
            let name = name.to_string();
            let updated = write(false, move || {
                state.registry.update_scale(
                    rt,
                    ns_for(rt, &ns),
                    &name,
                    |current| crate::registry::apply_patch(&SCALE, current, patch_type, &body),
                    Writer { manager: &manager, dry_run, guard: guard.as_ref() },
                )
            })
            .await?;
            scale_response(rt, &updated)
        }
        (&Method::GET, Some(name), sub) => {
            if sub.is_some_and(|s| s != "status") {
                return Err(ApiError::method_not_allowed(format!(
                    "GET is not supported on {}",
                    sub.unwrap_or("")
                )));
            }
            resource_version(&query)?;
            let obj =
                state.store().get(rt, ns_for(rt, &ns), name).ok_or_else(|| ApiError::not_found(rt, name))?;
            Ok(match table {
                Some(include) => json_response(
                    StatusCode::OK,
                    &table::table(rt, [&obj.value()], None, Timestamp::now(), include, true),
                ),
                None => object_response(StatusCode::OK, rt, &obj),
            })
        }
        (&Method::POST, None, None) => {
            let validation = FieldValidation::parse(query.get("fieldValidation"))?;
            let dry_run = dry_run(&query, "CreateOptions")?;
            let (headers, body) = read_body(req).await?;
            let inline = inline_write(&state, body.len());
            let (value, duplicates) = decode_object_body(&headers, body, validation).await?;
            let (obj, warnings) = strategy::decode(rt, &value, validation, duplicates)?;
            let manager = manager("CreateOptions")?;
            let created = write(inline, move || {
                state.registry.create(
                    rt,
                    ns.as_deref(),
                    obj,
                    Timestamp::now(),
                    Writer { manager: &manager, dry_run, guard: guard.as_ref() },
                )
            })
            .await?;
            Ok(with_warnings(object_response(StatusCode::CREATED, rt, &created), &warnings))
        }
        (&Method::POST, Some(name), Some("binding")) => {
            let dry_run = dry_run(&query, "CreateOptions")?;
            let (headers, body) = read_body(req).await?;
            let inline = inline_write(&state, body.len());
            let binding = decode_body(&headers, body).await?;
            let name = name.to_string();
            write(inline, move || {
                bind(&state, rt, ns.as_deref().unwrap_or_default(), &name, &binding, dry_run)
            })
            .await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (&Method::POST, Some(name), Some("token")) => {
            let (headers, body) = read_body(req).await?;
            let request = decode_body(&headers, body).await?;
            let name = name.to_string();
            let issued = blocking(move || {
                crate::token_request::issue(
                    &state.authenticator.signer,
                    state.store(),
                    ns.as_deref().unwrap_or_default(),
                    &name,
                    request,
                    Timestamp::now(),
                )
            })
            .await?;
            Ok(json_response(StatusCode::CREATED, &issued))
        }
        (&Method::POST, Some(name), Some("eviction")) => {
            let query_dry_run = dry_run(&query, "CreateOptions")?;
            let (headers, body) = read_body(req).await?;
            let eviction = decode_body(&headers, body).await?;
            let mut options =
                DeleteOptions::from_json(eviction.get("deleteOptions").unwrap_or(&Value::Null))?;
            options.dry_run |= query_dry_run;
            let name = name.to_string();
            write(false, move || {
                state.registry.delete(
                    rt,
                    ns.as_deref().unwrap_or_default(),
                    &name,
                    &options,
                    Timestamp::now(),
                )
            })
            .await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (&Method::PUT, Some(name), sub @ (None | Some("status") | Some("finalize"))) => {
            let validation = FieldValidation::parse(query.get("fieldValidation"))?;
            let dry_run = dry_run(&query, "UpdateOptions")?;
            let (headers, body) = read_body(req).await?;
            let inline = inline_write(&state, body.len());
            let (value, duplicates) = decode_object_body(&headers, body, validation).await?;
            let (obj, warnings) = strategy::decode(rt, &value, validation, duplicates)?;
            let status_only = sub == Some("status");
            let name = name.to_string();
            let manager = manager("UpdateOptions")?;
            let updated = write(inline, move || {
                state.registry.update(
                    rt,
                    ns_for(rt, &ns),
                    &name,
                    obj,
                    status_only,
                    Writer { manager: &manager, dry_run, guard: guard.as_ref() },
                )
            })
            .await?;
            Ok(with_warnings(object_response(StatusCode::OK, rt, &updated), &warnings))
        }
        (&Method::PATCH, Some(name), sub @ (None | Some("status"))) => {
            let validation = FieldValidation::parse(query.get("fieldValidation"))?;
            let dry_run = dry_run(&query, "PatchOptions")?;
            let (patch_type, body, len) = read_patch(req).await?;
            let inline = inline_write(&state, len);
            let status_only = sub == Some("status");
            let name = name.to_string();
            let force = query.flag("force");
            if patch_type != PatchType::Apply {
                if query.get("force").is_some() {
                    return Err(ApiError::invalid_options(
                        "PatchOptions",
                        "force: Forbidden: may not be specified for non-apply patch",
                    ));
                }
                let manager = manager("PatchOptions")?;
                let patch = Patch { patch_type, body, field_validation: validation };
                let patched = write(inline, move || {
                    state.registry.patch(
                        rt,
                        ns_for(rt, &ns),
                        &name,
                        &patch,
                        status_only,
                        Writer { manager: &manager, dry_run, guard: guard.as_ref() },
                    )
                })
                .await?;
                return Ok(object_response(StatusCode::OK, rt, &patched));
            }
            if query.get("fieldManager").is_none_or(str::is_empty) {
                return Err(ApiError::invalid_options(
                    "PatchOptions",
                    "fieldManager: Required value: is required for apply requests",
                ));
            }
            let manager = manager("PatchOptions")?;
            let (config, warnings) = strategy::decode(rt, &body, validation, Vec::new())?;
            let (applied, created) = write(inline, move || {
                state.registry.apply(
                    rt,
                    ns_for(rt, &ns),
                    &name,
                    Applied { config: &config, force },
                    status_only,
                    Writer { manager: &manager, dry_run, guard: guard.as_ref() },
                )
            })
            .await?;
            let code = if created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(with_warnings(object_response(code, rt, &applied), &warnings))
        }
        (&Method::DELETE, Some(name), None) => {
            let options = delete_options(&query, req).await?;
            let name = name.to_string();
            let outcome = write(false, move || {
                state.registry.delete(rt, ns_for(rt, &ns), &name, &options, Timestamp::now())
            })
            .await?;
            Ok(match outcome {
                DeleteOutcome::Deleted(last) => {
                    json_response(StatusCode::OK, &success_status(rt, &last.key().1, last.uid()))
                }
                DeleteOutcome::Pending(obj) => object_response(StatusCode::OK, rt, &obj),
            })
        }
        (&Method::DELETE, None, None) if rt.supports("deletecollection") => {
            let labels = query.label_selector()?;
            let fields = query.field_selector(rt)?;
            let options = delete_options(&query, req).await?;
            let (objects, _) = state.store().list(rt, ns.as_deref());
            let doomed: Vec<(String, String)> = objects
                .iter()
                .filter(|o| selected(rt, o, &labels, &fields))
                .map(|o| o.key().clone())
                .collect();
            let pending = blocking(move || {
                let mut pending = Vec::new();
                for (ns, name) in doomed {
                    match state.registry.delete(rt, &ns, &name, &options, Timestamp::now()) {
                        Ok(outcome) => pending.push(outcome),
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(pending)
            })
            .await?;
            let mut deleted = Vec::with_capacity(pending.len());
            for outcome in pending {
                let (DeleteOutcome::Deleted(o) | DeleteOutcome::Pending(o)) = outcome.durable().await?;
                deleted.push(as_served(rt, &o.value()).into_owned());
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": {}, "items": deleted}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {method}"
        ))),
    };
    if let Some(state) = definitions {
        blocking(move || {
            state.registry.serve_definitions();
            Ok(())
        })
        .await?;
    }
    response
}

fn scale_response(rt: &ResourceType, obj: &Object) -> ApiResult<Response> {
    let paths = rt.rules.scale().ok_or_else(|| ApiError::internal("a scaled kind has no scale"))?;
    Ok(json_response(StatusCode::OK, &paths.scale_of(&obj.value())))
}

/// Where CustomResourceDefinitions are stored.
const DEFINITIONS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// `obj` as the requested version shows it (converted from the stored form where versions
/// share storage).
fn as_served<'a>(rt: &ResourceType, obj: &'a Value) -> Cow<'a, Value> {
    if rt.rules.converts() { Cow::Owned(rt.rules.served_form(rt, obj)) } else { Cow::Borrowed(obj) }
}

/// A stored object, answered with its bytes unless the version asked for converts it.
fn object_response(status: StatusCode, rt: &ResourceType, obj: &Object) -> Response {
    if rt.rules.converts() {
        return json_response(status, &rt.rules.served_form(rt, &obj.value()));
    }
    (status, [(header::CONTENT_TYPE, JSON)], obj.json_bytes()).into_response()
}

/// A PATCH body, its type (from the request's content type) and its length in bytes.
async fn read_patch(req: Request) -> ApiResult<(PatchType, Value, usize)> {
    let (headers, body) = read_body(req).await?;
    let len = body.len();
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let patch_type = PatchType::from_content_type(content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
    if patch_type == PatchType::Apply {
        // An applied configuration, in YAML or JSON (YAML's subset), decoded off the workers.
        let body = blocking(move || request::decode_body("application/yaml", &body)).await?;
        return Ok((patch_type, body, len));
    }
    let body = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    Ok((patch_type, body, len))
}

fn ns_for<'a>(rt: &ResourceType, ns: &'a Option<String>) -> &'a str {
    if rt.namespaced { ns.as_deref().unwrap_or_default() } else { "" }
}

fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "'"))) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

async fn delete_options(query: &Query, req: Request) -> ApiResult<DeleteOptions> {
    let (_, body) = read_body(req).await?;
    let mut options = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
        DeleteOptions::from_json(&v)?
    };
    if let Some(g) = query.i64("gracePeriodSeconds")? {
        options.grace_period_seconds = Some(g);
    }
    if let Some(p) = query.get("propagationPolicy") {
        options = DeleteOptions { propagation_policy: Some(p.to_string()), ..options };
        DeleteOptions::from_json(&json!({"propagationPolicy": p}))?;
    }
    options.dry_run |= dry_run(query, "DeleteOptions")?;
    Ok(options)
}

/// The `dryRun` query parameter, refused unless `All` (as upstream validates it).
fn dry_run(query: &Query, options_kind: &str) -> ApiResult<bool> {
    parse_dry_run(options_kind, &query.all("dryRun"))
}

/// Decodes a create or update body. JSON (what controllers send, the write path's hot case)
/// is decoded in place: serde_json is linear and stops at its recursion limit. YAML and
/// protobuf are decoded off the async workers, so a hostile body never stalls other requests
/// while it is refused.
async fn decode_body(headers: &HeaderMap, body: Bytes) -> ApiResult<Value> {
    let content_type = header_str(headers, header::CONTENT_TYPE);
    if request::is_json(content_type) {
        return request::decode_body(content_type, &body);
    }
    let content_type = content_type.to_string();
    blocking(move || request::decode_body(&content_type, &body)).await
}

/// Decodes an object's create or update body, finding in the same pass the keys a JSON body
/// gives twice (unless `fieldValidation=Ignore`; YAML bodies are refused for them by the
/// decoder).
async fn decode_object_body(
    headers: &HeaderMap,
    body: Bytes,
    validation: FieldValidation,
) -> ApiResult<(Value, Vec<String>)> {
    if validation != FieldValidation::Ignore && request::is_json(header_str(headers, header::CONTENT_TYPE)) {
        return request::decode_json_with_duplicates(&body);
    }
    Ok((decode_body(headers, body).await?, Vec::new()))
}

fn selected(
    rt: &ResourceType,
    obj: &Object,
    labels: &apimachinery::labels::Selector,
    fields: &apimachinery::fields::FieldSelector,
) -> bool {
    if labels.is_everything() && fields.is_everything() {
        return true;
    }
    // Field selectors are in the stored form's terms (see `Query::field_selector`), as
    // what the object's resource says selectors read of it.
    let selectable = obj.selectable(rt);
    labels.matches(&selectable.labels) && fields.matches(|label| selectable.field(label))
}

fn list(
    state: &ApiState,
    rt: &'static ResourceType,
    ns: Option<&str>,
    query: &Query,
    table: Option<IncludeObject>,
) -> ApiResult<Response> {
    let labels = query.label_selector()?;
    let fields = query.field_selector(rt)?;
    let requested = resource_version(query)?;
    let exact = list_options(query, requested)?;
    let current = state.store().resource_version();
    if let Some(at) = requested
        && at > current
    {
        return Err(too_large_resource_version(at, current));
    }
    let (objects, rv) = match requested.filter(|_| exact) {
        Some(at) => (state.store().list_at(rt, ns, at)?, at),
        None => state.store().list(rt, ns),
    };
    let mut items: Vec<&Object> = objects.iter().filter(|o| selected(rt, o, &labels, &fields)).collect();
    // Pagination: `continue` carries the first page's resourceVersion and time, and the key
    // after which to start. Every page reports the first page's resourceVersion, so a client
    // that watches from it (as informers do after a paginated list) replays whatever changed
    // on earlier pages meanwhile instead of missing it, or is told 410 to list again if the
    // watch history no longer reaches back to it. The later pages are read from the latest
    // state, so a token stays good as long as upstream's does (until etcd compacts its
    // revision, every five minutes), however many writes the history has dropped meanwhile:
    // at 50,000 nodes the history holds five seconds of Lease renewals, less than a long
    // `kubectl get nodes` takes.
    let mut list_rv = rv;
    let now = Timestamp::now().as_second();
    let mut first_page_at = now;
    if let Some(token) = query.get("continue").filter(|t| !t.is_empty()) {
        let first = decode_continue(token)?;
        if now.saturating_sub(first.at) > CONTINUE_LIFETIME_SECONDS {
            return Err(ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ));
        }
        (list_rv, first_page_at) = (first.rv, first.at);
        items.retain(|o| *o.key() > first.after);
    }
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if let Some(limit) = query.i64("limit")?.filter(|l| *l > 0)
        && items.len() > limit as usize
    {
        let remaining = items.len() - limit as usize;
        items.truncate(limit as usize);
        if let Some(last) = items.last() {
            metadata["continue"] = json!(encode_continue(list_rv, first_page_at, last.key()));
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    if let Some(include) = table {
        let values: Vec<Value> = items.iter().map(|o| o.value()).collect();
        let mut t = table::table(rt, &values, Some(rv), Timestamp::now(), include, true);
        t["metadata"] = metadata;
        return Ok(json_response(StatusCode::OK, &t));
    }
    if rt.rules.converts() {
        let served: Vec<Value> = items.iter().map(|o| rt.rules.served_form(rt, &o.value())).collect();
        let list = json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": metadata, "items": served});
        return Ok(json_response(StatusCode::OK, &list));
    }
    // The stored objects' bytes, as they are: a list of thousands of pods is a concatenation.
    let mut body = Vec::with_capacity(128 + items.iter().map(|o| o.json().len() + 1).sum::<usize>());
    let _ = serde_json::to_writer(
        &mut body,
        &json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": metadata}),
    );
    // `{"apiVersion":…,"kind":…,"metadata":{…}}` becomes `{…,"items":[…]}`.
    body.pop();
    body.extend_from_slice(br#","items":["#);
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(o.json());
    }
    body.extend_from_slice(b"]}");
    Ok(raw_json(body))
}

/// The `resourceVersion` parameter of a get, list or watch: empty or an unsigned integer
/// (upstream's etcd versioner), else `400 BadRequest` for all three alike.
fn resource_version(query: &Query) -> ApiResult<Option<u64>> {
    match query.get("resourceVersion") {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: \"{v}\": strconv.ParseUint: parsing \"{v}\": invalid syntax"
            ))
        }),
    }
}

/// Upstream's `ValidateListOptions` for `resourceVersionMatch`; whether the list is to be
/// exactly at the requested resourceVersion (`Exact`, or a first page with a limit, as
/// upstream's list semantics have it).
fn list_options(query: &Query, requested: Option<u64>) -> ApiResult<bool> {
    let continued = query.get("continue").is_some_and(|c| !c.is_empty());
    let limited = query.i64("limit")?.is_some_and(|l| l > 0);
    let Some(rv_match) = query.get("resourceVersionMatch").filter(|m| !m.is_empty()) else {
        return Ok(limited && !continued && requested.is_some_and(|rv| rv != 0));
    };
    let forbidden = |why: &str| {
        ApiError::invalid_options("ListOptions", &format!("resourceVersionMatch: Forbidden: {why}"))
    };
    if requested.is_none() {
        return Err(forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided"));
    }
    if continued {
        return Err(forbidden("resourceVersionMatch is forbidden when continue is provided"));
    }
    match rv_match {
        "Exact" if requested == Some(0) => {
            Err(forbidden("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""))
        }
        "Exact" => Ok(true),
        "NotOlderThan" => Ok(false),
        other => Err(ApiError::invalid_options(
            "ListOptions",
            &format!(
                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
            ),
        )),
    }
}

/// A resourceVersion the store has not reached (upstream waits up to 3 s for it, then
/// answers this).
fn too_large_resource_version(requested: u64, current: u64) -> ApiError {
    ApiError::new(
        504,
        "Timeout",
        format!("Timeout: Too large resource version: {requested}, current: {current}"),
    )
    .with_details(json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}))
}

/// How long after its first page a paginated list may be continued (upstream: until etcd
/// compacts the first page's revision, every five minutes by default).
const CONTINUE_LIFETIME_SECONDS: i64 = 300;

/// Where a paginated list goes on: its first page's resourceVersion and time (Unix seconds),
/// and the key of the last object sent.
struct Continue {
    rv: u64,
    at: i64,
    after: (String, String),
}

fn encode_continue(rv: u64, at: i64, key: &(String, String)) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!([rv, key.0, key.1, at])).unwrap_or_default())
}

fn decode_continue(token: &str) -> ApiResult<Continue> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let (rv, ns, name, at): (u64, String, String, i64) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok(Continue { rv, at, after: (ns, name) })
}

fn watch(
    state: Arc<ApiState>,
    rt: &'static ResourceType,
    ns: Option<String>,
    query: &Query,
    table: Option<IncludeObject>,
) -> ApiResult<Response> {
    let labels = query.label_selector()?;
    let fields = query.field_selector(rt)?;
    if query.get("resourceVersionMatch").is_some_and(|m| !m.is_empty()) {
        return Err(ApiError::invalid_options(
            "ListOptions",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch",
        ));
    }
    let from = resource_version(query)?.filter(|rv| *rv != 0);
    let timeout = match query.i64("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        // A negative timeout has passed already: the watch ends at once, as upstream's timer
        // does.
        Some(s) if s < 0 => Duration::ZERO,
        // Upstream keeps watches without a timeout open for 30 to 60 minutes.
        _ => Duration::from_secs(1800 + rand::random::<u64>() % 1800),
    };
    let content_type = if table.is_some() { "application/json;as=Table;v=v1;g=meta.k8s.io" } else { JSON };
    let req = WatchRequest {
        resource: rt,
        namespace: ns.clone(),
        labels,
        fields,
        table,
        bookmarks: query.flag("allowWatchBookmarks"),
        timeout,
        bookmark_interval: state.bookmark_interval,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    match state.store().watch(rt, ns.as_deref(), from) {
        Ok(start) => {
            tokio::spawn(watch::run(state.store().clone(), req, start.backlog, start.live, tx));
        }
        Err(e) => {
            // Upstream answers a too-old resourceVersion with an ERROR event in a 200 stream.
            let _ = tx.try_send(watch::error_event(&e.to_status()));
        }
    }
    let mut response = streamed(content_type, rx);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(response)
}

/// A 200 whose body is what `rx` yields, as it comes, until its sender goes.
fn streamed(content_type: &'static str, rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `pods/log`: the simulated container's log, streamed with `follow` until the container's
/// run ends, the pod goes or the client does.
fn pod_log(
    state: Arc<ApiState>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    query: &Query,
) -> ApiResult<Response> {
    let obj = state.store().get(rt, ns, name).ok_or_else(|| ApiError::not_found(rt, name))?;
    let pod = crate::pod_log::pod_of(obj.json())?;
    let container = crate::pod_log::container_of(&pod, name, query.get("container"))?;
    let previous = query.flag("previous");
    let tail = query.i64("tailLines")?.map(|t| t.max(0) as usize);
    let timestamps = query.flag("timestamps");
    let said = rule_lines(&state, &pod, &container);
    let (lines, ended) = crate::pod_log::lines(&pod, &container, &said, previous)?;
    let text = crate::pod_log::render(&lines, tail, timestamps);
    let plain = [(header::CONTENT_TYPE, "text/plain")];
    if !query.flag("follow") || previous || ended {
        return Ok((StatusCode::OK, plain, text).into_response());
    }
    let start = state.store().watch(rt, Some(ns), Some(obj.resource_version()))?;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let _ = tx.try_send(Bytes::from(text));
    let following = crate::pod_log::Following {
        resource: rt.key,
        key: obj.key().clone(),
        uid: pod.metadata.uid.clone(),
        ready: lines.iter().any(|l| l.text.ends_with(" is ready")),
        container,
        said,
        timestamps,
        sent: lines,
    };
    tokio::spawn(following.run(start.live, tx));
    Ok(streamed("text/plain", rx))
}

/// What the simulation rule of a pod's container has it print: the rules from their ConfigMap,
/// matched against the pod and its node as the kubelet matches them.
fn rule_lines(state: &ApiState, pod: &k8s_openapi::api::core::v1::Pod, container: &str) -> Vec<String> {
    let store = state.store();
    let configmaps = crate::resources::builtin("", "v1", "configmaps");
    let Some(cm) = store.get(configmaps, simulation::RULES_NAMESPACE, simulation::RULES_CONFIG_MAP) else {
        return Vec::new();
    };
    let Ok(cm) = crate::pod_log::stored::<k8s_openapi::api::core::v1::ConfigMap>(cm.json()) else {
        return Vec::new();
    };
    let rules = simulation::rules_of(&cm).unwrap_or_default();
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
    let node = store
        .get(crate::resources::builtin("", "v1", "nodes"), "", node_name)
        .and_then(|n| crate::pod_log::stored::<k8s_openapi::api::core::v1::Node>(n.json()).ok());
    let labels = node.as_ref().and_then(|n| n.metadata.labels.as_ref());
    crate::pod_log::said(&rules, pod, container, labels)
}

/// `pods/binding`: assigns a pod to a node, once (upstream `BindingREST`).
fn bind(
    state: &ApiState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    binding: &Value,
    dry_run: bool,
) -> ApiResult<crate::storage::Pending<Object>> {
    let node = binding["target"]["name"].as_str().unwrap_or_default().to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            rt,
            name,
            &[apimachinery::validation::FieldError::required(
                &apimachinery::validation::Path::new("target").child("name"),
                "",
            )],
        ));
    }
    let now = apimachinery::duration::format_time(Timestamp::now());
    let patch = json!({"spec": {"nodeName": node}});
    state.registry.patch_with(rt, ns, name, dry_run, |pod| {
        if pod["metadata"].get("deletionTimestamp").is_some() {
            return Err(ApiError::conflict(rt, name, "pod is being deleted, cannot be assigned to a host"));
        }
        if pod["spec"]["schedulingGates"].as_array().is_some_and(|g| !g.is_empty()) {
            return Err(ApiError::internal(format!("pod {name} has non-empty .spec.schedulingGates")));
        }
        if pod["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()) {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!("pod {name} is already assigned to node \"{}\"", pod["spec"]["nodeName"].as_str().unwrap_or("")),
            ));
        }
        let mut new = crate::registry::apply_patch(rt, pod, PatchType::Merge, &patch)?;
        let mut conditions: Vec<Value> = new["status"]["conditions"].as_array().cloned().unwrap_or_default();
        conditions.retain(|c| c["type"] != "PodScheduled");
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        new["status"]["conditions"] = json!(conditions);
        Ok(new)
    })
}
