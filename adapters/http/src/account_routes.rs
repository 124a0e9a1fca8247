//! The v1 account additions under `/api/v1/auth/`: refresh, sessions,
//! password change, export, deletion and security events. Handlers only
//! translate HTTP to the use cases in `application` (sessions, account,
//! events).

use application::use_cases::{
    ChangePasswordInput, DeleteAccountInput, ListEventsInput, RefreshInput,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::account_bodies::{
    ChangePasswordRequest, DeleteAccountRequest, EventListBody, EventsQuery, ExportBody,
    RefreshRequest, SessionBody, SessionListBody,
};
use crate::bodies::LoginBody;
use crate::extract::{ApiQuery, Authenticated, ClientIp, JsonBody, UserAgentHeader};
use crate::problem::{ApiError, Problem};
use crate::routes::json;
use crate::state::AppState;

/// Spends a refresh token for a new access token and refresh token.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", operation_id = "refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = LoginBody),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, expired or already spent refresh token (a spent one also ends its session)", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 422, description = "Missing refresh_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    UserAgentHeader(user_agent): UserAgentHeader,
    JsonBody { value: body }: JsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    let refreshed = state
        .auth
        .refresh(RefreshInput {
            refresh_token: body.refresh_token,
            client,
            user_agent,
        })
        .await?;
    Ok(json(StatusCode::OK, &LoginBody::from(&refreshed)))
}

/// The caller's active sessions, newest first.
#[utoipa::path(
    get, path = "/api/v1/auth/sessions", operation_id = "list_sessions", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "Active sessions; `current` marks the caller's", body = SessionListBody))
)]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let sessions = state.auth.sessions(&principal).await?;
    Ok(json(
        StatusCode::OK,
        &SessionListBody {
            items: sessions.iter().map(SessionBody::from).collect(),
        },
    ))
}

/// Ends one of the caller's sessions; its tokens are refused from then on.
#[utoipa::path(
    delete, path = "/api/v1/auth/sessions/{id}", operation_id = "revoke_session", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Session revoked"),
        (status = 404, description = "No such active session of the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientIp(client): ClientIp,
    UserAgentHeader(user_agent): UserAgentHeader,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let Ok(Path(id)) = path else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "session not found"));
    };
    state
        .auth
        .revoke_session(&principal, &id, client, user_agent.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Changes the password; every other session of the user ends.
#[utoipa::path(
    post, path = "/api/v1/auth/password", operation_id = "change_password", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed, other sessions revoked"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password (counts as a failed login) or invalid new one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientIp(client): ClientIp,
    UserAgentHeader(user_agent): UserAgentHeader,
    JsonBody { value: body }: JsonBody<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    state
        .auth
        .change_password(
            &principal,
            ChangePasswordInput {
                current_password: body.current_password,
                new_password: body.new_password,
                client,
                user_agent,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes the caller's account and everything stored about it.
#[utoipa::path(
    delete, path = "/api/v1/auth/me", operation_id = "delete_account", tag = "auth",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The user, sessions, tasks and events are gone"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password (counts as a failed login)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn delete_account(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientIp(client): ClientIp,
    JsonBody { value: body }: JsonBody<DeleteAccountRequest>,
) -> Result<Response, ApiError> {
    state
        .auth
        .delete_account(
            &principal,
            DeleteAccountInput {
                password: body.password,
                client,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Everything stored about the caller.
#[utoipa::path(
    get, path = "/api/v1/auth/me/export", operation_id = "export_account", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The user, every stored session, every task and the kept events", body = ExportBody))
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    crate::export_stream::answer(&state, principal).await
}

/// The caller's security events, newest first.
#[utoipa::path(
    get, path = "/api/v1/auth/events", operation_id = "list_events", tag = "auth",
    security(("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventListBody),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let page = state
        .auth
        .events(
            &principal,
            ListEventsInput {
                limit: query.limit,
                cursor: query.cursor,
            },
        )
        .await?;
    Ok(json(StatusCode::OK, &EventListBody::from(&page)))
}
