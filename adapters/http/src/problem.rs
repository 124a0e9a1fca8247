//! Problem details (RFC 9457): how a failure is rendered in HTTP. Each
//! use-case error kind maps to a status here; its words come from
//! `AppError::client_message` and its logging and counting happen in the
//! application, so this is translation only.

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

/// An error answer: status, a safe detail, and the headers it needs.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Option<Vec<FieldErrorBody>>,
    retry_after: Option<Duration>,
    /// The task's current version, sent as `ETag` with a 412.
    current_version: Option<i64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: None,
            retry_after: None,
            current_version: None,
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
        Self::from(AppError::Unauthorized)
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

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        let detail = err.client_message();
        match err {
            AppError::Unauthorized | AppError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, detail)
            }
            AppError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, detail),
            AppError::InvalidToken => Self::new(StatusCode::BAD_REQUEST, detail),
            AppError::Conflict(_) => Self::new(StatusCode::CONFLICT, detail),
            AppError::PreconditionFailed { current } => {
                let mut answer = Self::new(StatusCode::PRECONDITION_FAILED, detail);
                answer.current_version = Some(current);
                answer
            }
            AppError::Validation(errors) => {
                let mut answer = Self::validation(errors);
                answer.detail = detail;
                answer
            }
            AppError::TooManyAttempts { retry_after } => {
                let mut answer = Self::new(StatusCode::TOO_MANY_REQUESTS, detail);
                answer.retry_after = Some(retry_after);
                answer
            }
            AppError::Unavailable { retry_after } => Self::unavailable(detail, retry_after),
            AppError::Internal(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail),
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
        if let Some(version) = self.current_version {
            headers.insert(header::ETAG, crate::preconditions::etag(version));
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
