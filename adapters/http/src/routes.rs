//! The router: every route of the contract and the middleware around them.

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Metrics;
use crate::middleware::{
    enforce_timeout, limit_request_head, observe, panic_response, problem_for_bare_errors,
    REQUEST_ID,
};
use crate::problem::ApiError;
use crate::state::{AppState, StateParts};
use crate::{
    account_routes, auth_routes, openapi, ops_routes, recovery_routes, task_routes, HttpSettings,
    Services,
};

/// A JSON answer with the contract's content type.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            bytes,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "serializing an answer failed");
            ApiError::internal().into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> ApiError {
    ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// The whole HTTP service, ready for
/// `axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())`
/// (the peer address feeds the per-client login limit). [`crate::serve`]
/// runs it; tests call it directly.
pub fn router(services: Services, settings: HttpSettings) -> Router {
    router_with_shutdown_flag(services, settings, Arc::default())
}

/// [`router`] whose `/readyz` turns 503 once `shutting_down` is set.
pub(crate) fn router_with_shutdown_flag(
    services: Services,
    settings: HttpSettings,
    shutting_down: Arc<AtomicBool>,
) -> Router {
    // The route list, written once: the router and the OpenAPI paths come
    // from the same `routes!` calls, so they cannot drift apart.
    let (routes, paths) = OpenApiRouter::<AppState>::new()
        .routes(routes!(auth_routes::register))
        .routes(routes!(auth_routes::login))
        .routes(routes!(auth_routes::logout))
        .routes(routes!(auth_routes::me, account_routes::delete_account))
        .routes(routes!(account_routes::refresh))
        .routes(routes!(account_routes::list_sessions))
        .routes(routes!(account_routes::revoke_session))
        .routes(routes!(account_routes::change_password))
        .routes(routes!(account_routes::export))
        .routes(routes!(account_routes::list_events))
        .routes(routes!(recovery_routes::request_password_reset))
        .routes(routes!(recovery_routes::confirm_password_reset))
        .routes(routes!(recovery_routes::verify_email))
        .routes(routes!(recovery_routes::resend_verification))
        .routes(routes!(task_routes::list, task_routes::create))
        .routes(routes!(
            task_routes::get_one,
            task_routes::update,
            task_routes::delete
        ))
        .routes(routes!(ops_routes::healthz))
        .routes(routes!(ops_routes::readyz))
        .routes(routes!(ops_routes::metrics))
        .routes(routes!(ops_routes::openapi))
        .split_for_parts();
    let state = AppState::new(StateParts {
        auth: services.auth,
        tasks: services.tasks,
        recovery: services.recovery,
        readiness: services.readiness,
        telemetry: services.telemetry,
        metrics: Arc::new(Metrics::new(settings.metrics_token.clone())),
        shutting_down,
        openapi_json: Arc::new(openapi::document_json(paths)),
        body_limit_bytes: settings.body_limit_bytes,
        trust_forwarded_for: settings.trust_forwarded_for,
    });
    let routes = routes
        .merge(crate::web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);

    // Innermost first: each `.layer` wraps everything above it.
    let routes = routes
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(problem_for_bare_errors))
        .layer(axum::middleware::from_fn_with_state(
            settings.request_timeout,
            enforce_timeout,
        ));
    let routes = match cors_layer(&settings.cors_allowed_origins) {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    routes
        .layer(axum::middleware::from_fn_with_state(
            settings.body_limit_bytes,
            limit_request_head,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// CORS for the configured origins; `None` (no CORS headers) when there
/// are none. `"*"` allows any origin. Invalid origins are skipped with a
/// warning.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|origin| {
                HeaderValue::from_str(origin.trim().trim_end_matches('/'))
                    .map_err(
                        |_| tracing::warn!(origin = %origin, "ignoring an invalid CORS origin"),
                    )
                    .ok()
            })
            .collect();
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static(REQUEST_ID),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                HeaderName::from_static(REQUEST_ID),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
