//! Middleware every request passes through: request id, tracing span and
//! metrics (`observe`), the per-request timeout, and the net that turns
//! any bare error answer (axum's own 405, a panic) into problem+json.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use uuid::Uuid;

use crate::problem::{ApiError, PROBLEM_CONTENT_TYPE};
use crate::state::AppState;

pub(crate) const REQUEST_ID: &str = "x-request-id";
const MAX_REQUEST_ID_CHARS: usize = 128;

/// The client's `X-Request-Id` when it is 1 to 128 printable ASCII
/// characters; otherwise none, and we make one.
fn client_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    let value = headers.get(REQUEST_ID)?;
    let bytes = value.as_bytes();
    (!bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_CHARS
        && bytes.iter().all(|b| b.is_ascii_graphic()))
    .then(|| value.clone())
}

/// A bounded label for the method, so junk methods cannot blow up metrics.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Request id in and out, one tracing span per request (method, route,
/// request id, status, latency), and the request metrics.
pub(crate) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = client_request_id(req.headers()).unwrap_or_else(|| {
        HeaderValue::from_str(&Uuid::now_v7().to_string()).expect("a UUID is a valid header value")
    });
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(req.method());
    let span = tracing::info_span!(
        "http_request",
        method,
        route = %route,
        request_id = request_id.to_str().unwrap_or_default(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let mut response = next.run(req).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status();
    span.record("status", status.as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!("request failed");
        } else {
            tracing::info!("request answered");
        }
    });
    state
        .metrics
        .observe_request(method, &route, status.as_u16(), latency);
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

/// Answers 503 with `Retry-After` when a request takes longer than allowed.
pub(crate) async fn enforce_timeout(
    State(limit): State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            ApiError::unavailable(
                "the request took too long; try again later",
                Duration::from_secs(1),
            )
            .into_response()
        }
    }
}

/// Any 4xx/5xx that is not already problem+json (axum's own answers)
/// becomes one, keeping its status and headers (e.g. `Allow`).
pub(crate) async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut problem = ApiError::for_status(status).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name, value.clone());
        }
    }
    problem
}

/// A panicking handler is a bug: log it, answer an opaque 500.
pub(crate) fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
}

/// Largest total size of the request headers we read (hyper alone allows
/// about 400 KiB); above it, 431 before any handler runs.
pub(crate) const MAX_HEADER_BYTES: usize = 32 * 1024;

/// How much of an oversized body is read and dropped before the 413, and
/// for how long at most.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Refuses what can be judged from the request head alone: oversized
/// headers (431), and a declared `Content-Length` above the body limit
/// (413 at once, instead of waiting for bytes that may never come).
pub(crate) async fn limit_request_head(
    State(body_limit): State<usize>,
    req: Request,
    next: Next,
) -> Response {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request headers exceed {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|len| *len > body_limit as u64) {
        // Answering with the body unread makes the kernel reset the
        // connection, which can destroy the 413 before the client reads
        // it. A body of honest, bounded size is read and dropped first.
        if len <= DRAIN_LIMIT_BYTES as u64 {
            let drain = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT_BYTES);
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
        }
        return ApiError::payload_too_large(body_limit).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_request_ids_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-123_x.y"));
        assert_eq!(client_request_id(&headers).unwrap(), "abc-123_x.y");
        headers.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert!(client_request_id(&headers).is_none());
        headers.insert(REQUEST_ID, HeaderValue::from_str(&"a".repeat(129)).unwrap());
        assert!(client_request_id(&headers).is_none());
        headers.insert(REQUEST_ID, HeaderValue::from_str(&"a".repeat(128)).unwrap());
        assert!(client_request_id(&headers).is_some());
    }
}
