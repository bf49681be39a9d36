//! What a handler leaves unread of a request body is read (up to the largest body the server
//! accepts, for at most two seconds) before the answer goes out: a client still sending the
//! body of a request refused early (a bad query parameter, a missing resource) then reads the
//! answer instead of a connection reset under its feet. Go's server, upstream's, reads up to
//! 256 KiB and then half-closes and lingers; reading the whole body is the same promise
//! without lingering, and costs no more than the request would have had it been good.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

const DRAIN_LIMIT: usize = crate::request::MAX_BODY;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The request body, shared between the handler and what drains it after.
struct Shared(Arc<Mutex<Body>>);

fn lock(body: &Mutex<Body>) -> MutexGuard<'_, Body> {
    body.lock().unwrap_or_else(|e| e.into_inner())
}

impl HttpBody for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut *lock(&self.0)).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.0).is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0).size_hint()
    }
}

/// The middleware: runs the handler, then drains what it left of the body.
pub async fn drain_unread_body(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let shared = Arc::new(Mutex::new(body));
    let response = next.run(Request::from_parts(parts, Body::new(Shared(shared.clone())))).await;
    let mut rest = std::mem::take(&mut *lock(&shared));
    if !rest.is_end_stream() {
        let drain = async {
            let mut read = 0;
            while read <= DRAIN_LIMIT {
                match rest.frame().await {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
    }
    response
}
