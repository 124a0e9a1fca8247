//! Problem details (RFC 9457): the one place that decides what a client
//! sees of any failure. Use-case errors map to a status here; internal
//! causes are logged in full and answered with an opaque 500.

use std::time::Duration;

use application::{AppError, FieldError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "task not found"}))]
pub(crate) struct Problem {
    /// Always `about:blank`: the status says what happened.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) title: String,
    pub(crate) status: u16,
    pub(crate) detail: String,
    /// Only on 422: one entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) errors: Option<Vec<FieldErrorBody>>,
}

/// One invalid input field.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FieldErrorBody {
    pub(crate) field: String,
    pub(crate) message: String,
}

/// Which database trouble a response stands for, read by the metrics
/// middleware from the response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbErrorKind {
    Unavailable,
    Internal,
}

impl DbErrorKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// An error answer: status, a safe detail, and the headers it needs.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Option<Vec<FieldErrorBody>>,
    retry_after: Option<Duration>,
    db_error: Option<DbErrorKind>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: None,
            retry_after: None,
            db_error: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// Every 401 of the service: never says which check failed.
    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required")
    }

    pub(crate) fn validation(errors: Vec<FieldError>) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the request has invalid fields",
        );
        err.errors = Some(
            errors
                .into_iter()
                .map(|e| FieldErrorBody {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        );
        err
    }

    pub(crate) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON (Content-Type: application/json)",
        )
    }

    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub(crate) fn unavailable(detail: impl Into<String>, retry_after: Duration) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, detail);
        err.retry_after = Some(retry_after);
        err
    }

    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// A generic problem for a status produced outside our handlers
    /// (axum's own 405, a panic, …).
    pub(crate) fn for_status(status: StatusCode) -> Self {
        let detail = match status {
            StatusCode::NOT_FOUND => "no such resource",
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this resource",
            StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported content type",
            s if s.is_server_error() => "internal error",
            _ => "the request cannot be served",
        };
        Self::new(status, detail)
    }
}

/// Seconds for `Retry-After`: rounded up, at least 1.
pub(crate) fn retry_after_secs(delay: Duration) -> u64 {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    secs.max(1)
}

/// The cause chain of an error, for logs only.
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Unauthorized => Self::unauthorized(),
            AppError::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            AppError::Conflict(what) => Self::new(StatusCode::CONFLICT, what),
            AppError::PreconditionFailed { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "If-Match does not match the task's current version",
            ),
            AppError::Validation(errors) => Self::validation(errors),
            AppError::TooManyAttempts { retry_after } => {
                let mut err = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed logins; try again later",
                );
                err.retry_after = Some(retry_after);
                err
            }
            AppError::Unavailable { retry_after } => {
                let mut err = Self::unavailable(
                    "the service is temporarily unavailable; try again later",
                    retry_after,
                );
                err.db_error = Some(DbErrorKind::Unavailable);
                err
            }
            AppError::Internal(source) => {
                tracing::error!(error = %cause_chain(source.as_ref()), "internal error");
                let mut err = Self::internal();
                err.db_error = Some(DbErrorKind::Internal);
                err
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(delay) = self.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(delay)),
            );
        }
        if let Some(kind) = self.db_error {
            response.extensions_mut().insert(kind);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1200)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
