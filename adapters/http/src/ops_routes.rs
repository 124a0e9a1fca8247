//! Operations: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::bodies::StatusBody;
use crate::metrics;
use crate::problem::{ApiError, Problem};
use crate::routes::json;
use crate::state::AppState;

/// Longest a probe waits (only a retry of a failing database waits at all).
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 while the process serves requests; touches nothing else.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is serving", body = StatusBody)))]
pub(crate) async fn healthz() -> Response {
    json(StatusCode::OK, &StatusBody { status: "ok" })
}

/// 200 when the database answered the last time the service used it; 503
/// when it did not, or while shutting down. A probe sends the database
/// nothing while it answers (see the `Readiness` port).
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answered the last time it was used", body = StatusBody),
        (status = 503, description = "The database did not answer, or the service is shutting down", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return ApiError::unavailable("the service is shutting down", Duration::from_secs(1))
            .into_response();
    }
    let ready = tokio::time::timeout(READINESS_TIMEOUT, state.readiness.database_ready())
        .await
        .unwrap_or(false);
    if ready {
        json(StatusCode::OK, &StatusBody { status: "ready" })
    } else {
        ApiError::unavailable("the database is not answering", Duration::from_secs(1))
            .into_response()
    }
}

/// Prometheus text: requests by route and status, latencies, the pool and
/// database errors.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let text = state
        .metrics
        .render(state.readiness.pool_stats(), state.telemetry.db_errors());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub(crate) async fn openapi(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi_json.as_str().to_owned(),
    )
        .into_response()
}
