//! What hyper calls for each accepted request: the router, with the peer
//! address for `ConnectInfo`, and a deadline on the request body. A body
//! still arriving at the deadline is answered 408 here, before the
//! router's own timeout could answer 503, and the connection closes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Instant;
use tower::ServiceExt;

use super::connection::ConnShared;
use crate::problem::ApiError;

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The per-connection service hyper drives.
pub(crate) fn request_service(
    router: Router,
    peer: SocketAddr,
    conn: Arc<ConnShared>,
    body_timeout: Duration,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = Answer,
> + Unpin {
    hyper::service::service_fn(move |request: Request<Incoming>| -> Answer {
        let router = router.clone();
        let conn = conn.clone();
        Box::pin(answer(router, peer, conn, body_timeout, request))
    })
}

/// Marks the request in flight for as long as it lives.
struct InFlight(Arc<ConnShared>);

impl InFlight {
    fn enter(conn: Arc<ConnShared>) -> Self {
        conn.request_started();
        Self(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_answered();
    }
}

async fn answer(
    router: Router,
    peer: SocketAddr,
    conn: Arc<ConnShared>,
    body_timeout: Duration,
    mut request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let deadline = Instant::now() + body_timeout;
    let _in_flight = InFlight::enter(conn.clone());
    request.extensions_mut().insert(ConnectInfo(peer));
    let finished = Arc::new(AtomicBool::new(request.body().is_end_stream()));
    let request = request.map(|inner| {
        Body::new(WatchedBody {
            inner,
            finished: finished.clone(),
        })
    });
    let routed = router.oneshot(request);
    if finished.load(Ordering::Acquire) {
        return routed.await;
    }
    let late_body = async {
        tokio::time::sleep_until(deadline).await;
        if finished.load(Ordering::Acquire) {
            std::future::pending::<()>().await;
        }
    };
    // The body deadline starts before the router's request timeout, and is
    // checked first, so a late body is a 408, never the timeout's 503.
    tokio::select! {
        biased;
        () = late_body => {
            tracing::debug!("the request body did not arrive in time");
            conn.linger();
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} ms",
                    body_timeout.as_millis()
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(response)
        }
        answer = routed => answer,
    }
}

/// The request body, noting when it has arrived in full (or failed).
struct WatchedBody {
    inner: Incoming,
    finished: Arc<AtomicBool>,
}

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let over = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            _ => self.inner.is_end_stream(),
        };
        if over {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
