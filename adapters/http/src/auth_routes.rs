//! `/api/v1/auth/*`: register, login, logout, me (the v1 additions are in
//! `account_routes`).

use application::use_cases::{LoginInput, LogoutInput, RegisterInput};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::account_bodies::LogoutQuery;
use crate::bodies::{LoginBody, LoginRequest, RegisterRequest, UserBody};
use crate::extract::{ApiQuery, Authenticated, ClientIp, JsonBody, UserAgentHeader};
use crate::problem::{ApiError, Problem};
use crate::routes::json;
use crate::state::AppState;

/// Creates an account.
#[utoipa::path(
    post, path = "/api/v1/auth/register", operation_id = "register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new user", body = UserBody),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    UserAgentHeader(user_agent): UserAgentHeader,
    JsonBody { value: body }: JsonBody<RegisterRequest>,
) -> Result<Response, ApiError> {
    let user = state
        .auth
        .register(RegisterInput {
            email: body.email,
            password: body.password,
            name: body.name,
            client,
            user_agent,
        })
        .await?;
    Ok(json(StatusCode::CREATED, &UserBody::from(&user)))
}

/// Checks the credentials and starts a session.
#[utoipa::path(
    post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A bearer token for a new session", body = LoginBody),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown email or wrong password (one answer for both)", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    UserAgentHeader(user_agent): UserAgentHeader,
    JsonBody { value: body }: JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let logged_in = state
        .auth
        .login(LoginInput {
            email: body.email,
            password: body.password,
            client,
            user_agent,
        })
        .await?;
    Ok(json(StatusCode::OK, &LoginBody::from(&logged_in)))
}

/// Revokes the caller's session (or, by `scope`, the others or all); their
/// tokens are refused from then on.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    security(("bearer" = [])),
    params(LogoutQuery),
    responses(
        (status = 204, description = "Sessions revoked"),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ClientIp(client): ClientIp,
    UserAgentHeader(user_agent): UserAgentHeader,
    ApiQuery(query): ApiQuery<LogoutQuery>,
) -> Result<Response, ApiError> {
    state
        .auth
        .logout(
            &principal,
            LogoutInput {
                scope: query.scope,
                client,
                user_agent,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's account.
#[utoipa::path(
    get, path = "/api/v1/auth/me", operation_id = "current_user", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserBody))
)]
pub(crate) async fn me(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let user = state.auth.current_user(&principal).await?;
    Ok(json(StatusCode::OK, &UserBody::from(&user)))
}
