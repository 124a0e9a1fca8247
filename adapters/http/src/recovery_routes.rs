//! `/api/v1/auth/password-reset*` and `/api/v1/auth/verify-email*`: the
//! mailed-token flows. Every rule (token shape, password policy, limits,
//! the same answer for unknown emails) is `application`'s
//! `RecoveryService`; this file only maps HTTP onto it.

use application::use_cases::EventContext;
use application::use_cases::{PasswordResetInput, ResetConfirmInput, VerifyEmailInput};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Authenticated, ClientIp, JsonBody, UserAgentHeader};
use crate::problem::{ApiError, Problem};
use crate::routes::json;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordResetRequest {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub(crate) email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordResetConfirmRequest {
    /// The token from the reset mail's link: 43 base64url characters.
    #[schema(value_type = String, min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{43}$")]
    pub(crate) token: Option<String>,
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub(crate) new_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct VerifyEmailRequest {
    /// The token from the verification mail's link: 43 base64url
    /// characters.
    #[schema(value_type = String, min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{43}$")]
    pub(crate) token: Option<String>,
}

/// The one body of every 202 here: it says nothing about the account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AcceptedBody {
    /// Always `"accepted"`.
    status: &'static str,
}

fn accepted() -> Response {
    json(StatusCode::ACCEPTED, &AcceptedBody { status: "accepted" })
}

/// Where the request came from, for the security event it writes.
fn context(ClientIp(ip): ClientIp, UserAgentHeader(user_agent): UserAgentHeader) -> EventContext {
    EventContext { ip, user_agent }
}

/// Mails a single-use reset link (valid 30 minutes) when the email has an
/// account. The answer and the work are the same when it has none, and
/// when the account already has the most outstanding reset links allowed
/// (then nothing is sent).
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset", operation_id = "request_password_reset", tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted, whether or not the account exists", body = AcceptedBody),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid email", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn request_password_reset(
    State(state): State<AppState>,
    client: ClientIp,
    user_agent: UserAgentHeader,
    JsonBody { value: body }: JsonBody<PasswordResetRequest>,
) -> Result<Response, ApiError> {
    state
        .recovery
        .request_password_reset(PasswordResetInput {
            email: body.email,
            context: context(client, user_agent),
        })
        .await?;
    Ok(accepted())
}

/// Sets a new password with the mailed token; every session of the user
/// is revoked.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset/confirm", operation_id = "confirm_password_reset", tag = "auth",
    request_body = PasswordResetConfirmRequest,
    responses(
        (status = 204, description = "Password changed; every session revoked"),
        (status = 400, description = "Malformed JSON, or an invalid, expired or used token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields or a new password outside the policy", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn confirm_password_reset(
    State(state): State<AppState>,
    client: ClientIp,
    user_agent: UserAgentHeader,
    JsonBody { value: body }: JsonBody<PasswordResetConfirmRequest>,
) -> Result<Response, ApiError> {
    state
        .recovery
        .confirm_password_reset(ResetConfirmInput {
            token: body.token,
            new_password: body.new_password,
            context: context(client, user_agent),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Marks the address verified with the mailed token.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email", operation_id = "verify_email", tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "Email verified"),
        (status = 400, description = "Malformed JSON, or an invalid, expired or used token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    client: ClientIp,
    user_agent: UserAgentHeader,
    JsonBody { value: body }: JsonBody<VerifyEmailRequest>,
) -> Result<Response, ApiError> {
    state
        .recovery
        .verify_email(VerifyEmailInput {
            token: body.token,
            context: context(client, user_agent),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mails the caller a new verification link (valid 24 hours). Already
/// verified, or holding the most outstanding links allowed: the same 202,
/// nothing sent.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email/resend", operation_id = "resend_verification", tag = "auth",
    security(("bearer" = [])),
    responses((status = 202, description = "Accepted", body = AcceptedBody))
)]
pub(crate) async fn resend_verification(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    state.recovery.resend_verification(&principal).await?;
    Ok(accepted())
}
