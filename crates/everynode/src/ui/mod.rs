//! `everynode up`'s web UI at `/ui/` on the API server's port: the cluster's DaemonSets as
//! grids of nodes, live, with their counters, conditions, recent events, a timeline of the
//! rollout, and a plan's waves on demand.
//!
//! Only people holding the cluster's credentials can read it. A browser cannot send the
//! bearer token, so `up` prints a one-time login link; opening it (or posting the admin token
//! to the login form) sets a session cookie (`HttpOnly`, `Secure`, `SameSite=Strict`, path
//! `/ui/`) that every other request of the page must carry. Sessions live as long as the
//! process. The page itself (`page/`) is static HTML, CSS and JavaScript drawing on canvases:
//! no build step, nothing fetched from elsewhere.

pub mod live;

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::daemonset_state::DaemonSetState;
use live::{DaemonSetFrame, Frame, Live};

/// The session cookie's name.
pub const COOKIE: &str = "everynode-session";
/// Where the UI is served.
pub const PREFIX: &str = "/ui/";

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");
const LOGIN: &str = include_str!("page/login.html");

/// The UI of one cluster.
pub struct Ui {
    client: kube::Client,
    informers: Arc<client::Informers>,
    /// The admin's token: posting it to the login form signs in.
    admin_token: String,
    /// The one-time login link's token, until it is used.
    link_token: Mutex<Option<String>>,
    sessions: Mutex<HashSet<String>>,
    /// Started at the first signed-in request, so an unused UI costs nothing.
    live: OnceLock<Live>,
}

fn random_token() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Ui {
    pub fn new(client: kube::Client, informers: Arc<client::Informers>, admin_token: &str) -> Arc<Ui> {
        Arc::new(Ui {
            client,
            informers,
            admin_token: admin_token.to_string(),
            link_token: Mutex::new(Some(random_token())),
            sessions: Mutex::new(HashSet::new()),
            live: OnceLock::new(),
        })
    }

    /// The one-time login link on the server at `url`.
    pub fn login_link(&self, url: &str) -> String {
        let token = self.link_token.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
        format!("{url}{PREFIX}login?token={token}")
    }

    /// The router to mount at [`PREFIX`].
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(handle).with_state(self.clone())
    }

    fn live(&self) -> &Live {
        self.live.get_or_init(|| Live::start(self.client.clone(), &self.informers))
    }

    fn signed_in(&self, headers: &HeaderMap) -> bool {
        let Some(session) = cookie(headers, COOKIE) else { return false };
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).contains(session)
    }

    /// A new session, as a response that sets its cookie and sends the browser to the page.
    fn sign_in(&self) -> Response {
        let session = random_token();
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(session.clone());
        let mut r = Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, PREFIX)
            .header(
                header::SET_COOKIE,
                format!("{COOKIE}={session}; Path={PREFIX}; HttpOnly; Secure; SameSite=Strict"),
            )
            .body(Body::empty())
            .expect("a valid response");
        secure(r.headers_mut());
        r
    }
}

/// The value of cookie `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Headers on every answer: nothing cached, nothing framed or sniffed, no referrer (the login
/// link carries a token), and only the page's own scripts.
fn secure(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("a valid response");
    secure(r.headers_mut());
    r
}

fn json_answer(status: StatusCode, value: &Value) -> Response {
    respond(status, "application/json", value.to_string())
}

fn login_page(status: StatusCode, note: &str) -> Response {
    respond(status, "text/html; charset=utf-8", LOGIN.replace("{{note}}", note))
}

async fn handle(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    match (req.method().clone(), rest) {
        (Method::GET, "login") => {
            let given = param("token").unwrap_or_default();
            let mut link = ui.link_token.lock().unwrap_or_else(|e| e.into_inner());
            if !given.is_empty() && link.as_deref() == Some(given.as_str()) {
                *link = None;
                drop(link);
                return ui.sign_in();
            }
            drop(link);
            login_page(StatusCode::UNAUTHORIZED, "This login link was used already or is not this cluster's.")
        }
        (Method::POST, "login") => {
            let Ok(body) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
                return login_page(StatusCode::BAD_REQUEST, "The form could not be read.");
            };
            let token =
                form_urlencoded::parse(&body).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
            match token {
                Some(t) if constant_time_eq(t.trim().as_bytes(), ui.admin_token.as_bytes()) => ui.sign_in(),
                _ => login_page(StatusCode::UNAUTHORIZED, "That is not the cluster's token."),
            }
        }
        _ if !ui.signed_in(req.headers()) => {
            if rest.starts_with("api/") {
                json_answer(StatusCode::UNAUTHORIZED, &json!({"message": "sign in first"}))
            } else {
                login_page(StatusCode::UNAUTHORIZED, "")
            }
        }
        (Method::GET, "") => respond(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        (Method::GET, "app.js") => respond(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT),
        (Method::GET, "style.css") => respond(StatusCode::OK, "text/css; charset=utf-8", STYLE),
        (Method::GET, "api/daemonsets") => {
            let frame = current_frame(&ui).await;
            let list: Vec<Value> = frame
                .daemonsets
                .values()
                .map(|d| {
                    let p = &d.picture;
                    json!({"namespace": p.namespace, "name": p.name, "revision": p.revision, "counters": p.counters})
                })
                .collect();
            json_answer(StatusCode::OK, &json!(list))
        }
        (Method::GET, "api/stream") => {
            let key = (param("namespace").unwrap_or_default(), param("name").unwrap_or_default());
            stream(&ui, key)
        }
        (Method::GET, "api/plan") => {
            let (namespace, name) =
                (param("namespace").unwrap_or_default(), param("name").unwrap_or_default());
            match plan(&ui, &namespace, &name, param("image")).await {
                Ok(v) => json_answer(StatusCode::OK, &v),
                Err(e) => {
                    json_answer(StatusCode::UNPROCESSABLE_ENTITY, &json!({"message": format!("{e:#}")}))
                }
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The latest frame, waiting briefly for the first one.
async fn current_frame(ui: &Ui) -> Arc<Frame> {
    let mut frames = ui.live().frames();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), frames.wait_for(|f| f.nodes_version > 0))
        .await;
    frames.borrow().clone()
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// A DaemonSet's frame for the page: its counters, conditions, events, timeline point, and
/// per cell a code (`revision * 8 + state`) and what it waits for (an index into `waits`).
fn frame_json(d: &DaemonSetFrame) -> Value {
    let p = &d.picture;
    let mut waits: Vec<&str> = Vec::new();
    let waiting: Vec<usize> = p
        .cells
        .iter()
        .map(|c| match waits.iter().position(|w| *w == c.waiting) {
            Some(i) => i,
            None => {
                waits.push(&c.waiting);
                waits.len() - 1
            }
        })
        .collect();
    json!({
        "revision": p.revision,
        "counters": p.counters,
        "conditions": p.conditions,
        "events": d.events,
        "cells": p.cell_codes(),
        "waits": waits,
        "waiting": waiting,
        "point": d.history.last(),
    })
}

/// What one page's stream has sent.
#[derive(Default)]
struct Sent {
    frame: Option<String>,
    nodes: Option<Vec<String>>,
    first: bool,
}

/// Server-sent events for one DaemonSet: its timeline first, then a frame whenever what the
/// page shows changes (the cells' node names only when they change), `gone` once it is
/// deleted.
fn stream(ui: &Ui, key: (String, String)) -> Response {
    let frames = ui.live().frames();
    let sent = Sent { first: true, ..Default::default() };
    let body = futures::stream::unfold((frames, sent), move |(mut frames, mut sent)| {
        let key = key.clone();
        async move {
            loop {
                if !sent.first && frames.changed().await.is_err() {
                    return None;
                }
                let frame = frames.borrow_and_update().clone();
                if frame.nodes_version == 0 {
                    // No first frame yet.
                    if frames.changed().await.is_err() {
                        return None;
                    }
                    continue;
                }
                let mut out = Vec::new();
                match frame.daemonsets.get(&key) {
                    None => {
                        if sent.frame.as_deref() == Some("gone") {
                            continue;
                        }
                        out.extend_from_slice(&sse("gone", &json!({})));
                        sent.frame = Some("gone".into());
                    }
                    Some(now) => {
                        let mut body = frame_json(now);
                        let text = body.to_string();
                        if sent.frame.as_ref() == Some(&text) {
                            continue;
                        }
                        if sent.first {
                            out.extend_from_slice(&sse("history", &json!(now.history.as_ref())));
                        }
                        let nodes: Vec<String> = now.picture.cells.iter().map(|c| c.node.clone()).collect();
                        if sent.nodes.as_ref() != Some(&nodes) {
                            body["nodes"] = json!(nodes);
                            sent.nodes = Some(nodes);
                        }
                        out.extend_from_slice(&sse("frame", &body));
                        sent.frame = Some(text);
                    }
                }
                sent.first = false;
                return Some((Ok::<_, Infallible>(Bytes::from(out)), (frames, sent)));
            }
        }
    });
    let mut r = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body.boxed()))
        .expect("a valid response");
    secure(r.headers_mut());
    r.into_response()
}

/// A forecast of the DaemonSet's stored change (or of a new image for its first container),
/// from the UI's caches.
async fn plan(ui: &Ui, namespace: &str, name: &str, image: Option<String>) -> anyhow::Result<Value> {
    let live = ui.live();
    let ds = live
        .daemonsets
        .get(&format!("{namespace}/{name}"))
        .ok_or_else(|| anyhow::anyhow!("daemonset {namespace}/{name} not found"))?;
    let uid = ds.metadata.uid.clone();
    let controlled = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        crate::daemonset_state::controlled_by(meta, uid.as_deref())
    };
    let state = DaemonSetState {
        ds: (*ds).clone(),
        nodes: live.nodes.list().iter().map(|n| (**n).clone()).collect(),
        pods: live.pods.list().iter().filter(|p| controlled(&p.metadata)).map(|p| (**p).clone()).collect(),
        revisions: live
            .revisions
            .list()
            .iter()
            .filter(|r| controlled(&r.metadata))
            .map(|r| (**r).clone())
            .collect(),
    };
    let mut state = state;
    state.nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut args = crate::plan::PlanArgs::for_daemonset(name);
    if let Some(image) = image.filter(|i| !i.is_empty()) {
        let container = state
            .ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        args.image = vec![format!("{container}={image}")];
    }
    let plan = tokio::task::spawn_blocking(move || crate::plan::plan(&state, &args, jiff::Timestamp::now()))
        .await??;
    Ok(serde_json::to_value(&plan)?)
}
