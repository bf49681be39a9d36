//! The loopback client's transport: how the control plane's own components (scheduler,
//! garbage collector, node lifecycle, the simulated kubelets, the DaemonSet controller in
//! `up`) reach the API server. Upstream's kube-apiserver gives its in-process controllers a
//! loopback client as `system:apiserver` in `system:masters`; here the loopback skips the
//! socket too: a request goes straight to the same router every HTTPS request reaches, so it
//! is served by the same handlers, admission and storage, without TLS, HTTP framing or system
//! calls. Its identity travels in the request's extensions, which no remote client can set.

use std::convert::Infallible;
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
#[derive(Clone)]
pub struct LoopbackService {
    pub(crate) router: axum::Router,
}

impl<B> tower::Service<http::Request<B>> for LoopbackService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = <axum::Router as tower::Service<http::Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        <axum::Router as tower::Service<http::Request<B>>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(Loopback);
        self.router.call(req)
    }
}
