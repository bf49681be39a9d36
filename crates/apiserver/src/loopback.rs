//! The loopback client's transport: how the control plane's own components (scheduler,
//! garbage collector, node lifecycle, the simulated kubelets, the DaemonSet controller in
//! `up`) reach the API server. Upstream's kube-apiserver gives its in-process controllers a
//! loopback client as `system:apiserver` in `system:masters`; here the loopback skips the
//! socket too: a request goes straight to the same router every HTTPS request reaches, so it
//! is served by the same handlers, admission and storage, without TLS, HTTP framing or system
//! calls. Its identity travels in the request's extensions, which no remote client can set.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::authentication::{AUTHENTICATED, MASTERS, UserInfo};

/// The mark of a request made through [`LoopbackService`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Loopback;

/// Upstream's loopback identity.
pub(crate) fn user() -> UserInfo {
    UserInfo {
        username: "system:apiserver".into(),
        groups: vec![MASTERS.into(), AUTHENTICATED.into()],
        ..Default::default()
    }
}

/// A `tower::Service` that serves requests in process, as the loopback user; a
/// `kube::Client` is built on it with `kube::Client::new`.
///
/// A request is served on the caller's task, but in the server's runtime context: the work a
/// handler hands off (a write waiting for the store's writer runs on a blocking thread) goes
/// to the server's bounded blocking pool, whatever runtime the component runs on. Otherwise
/// each component runtime grew a pool of its own, hundreds of threads blocked on the writer
/// lock, each holding a stack and an allocator heap (BENCHMARKS.md, "Scale (issue 21)").
#[derive(Clone)]
pub struct LoopbackService {
    pub(crate) router: axum::Router,
    pub(crate) runtime: tokio::runtime::Handle,
    /// The User-Agent of requests that carry none, as each upstream component sends its own
    /// (`kubelet/v1.33.0 …`); a write's default field manager is read from it.
    pub(crate) user_agent: Option<http::HeaderValue>,
}

impl LoopbackService {
    /// The same transport, for a component that calls itself `user_agent`.
    pub fn with_user_agent(mut self, user_agent: &str) -> LoopbackService {
        self.user_agent = http::HeaderValue::from_str(user_agent).ok();
        self
    }
}

/// A request's future, polled in the server's runtime context.
pub struct InServerContext {
    inner: Pin<Box<dyn Future<Output = Result<axum::response::Response, Infallible>> + Send>>,
    runtime: tokio::runtime::Handle,
}

impl Future for InServerContext {
    type Output = Result<axum::response::Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let _server = self.runtime.enter();
        self.inner.as_mut().poll(cx)
    }
}

impl<B> tower::Service<http::Request<B>> for LoopbackService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = InServerContext;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        <axum::Router as tower::Service<http::Request<B>>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(Loopback);
        if let Some(agent) = &self.user_agent {
            req.headers_mut().entry(http::header::USER_AGENT).or_insert_with(|| agent.clone());
        }
        InServerContext { inner: Box::pin(self.router.call(req)), runtime: self.runtime.clone() }
    }
}
