//! The one error type use cases return, and the words a client reads for
//! each kind. Front ends choose only the protocol's code (the HTTP adapter:
//! a status and a problem body); what the message says is decided here, so
//! every front end says the same thing.

use std::time::Duration;

use crate::ports::{HashError, RepoError, TokenError};

/// A validation message about one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Missing, bad, expired or revoked credentials. Deliberately carries no
    /// reason: clients must not learn which check failed.
    #[error("unauthorized")]
    Unauthorized,
    /// Login refused: unknown email or wrong password, one answer for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Absent, or owned by someone else: the two are indistinguishable.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The caller's precondition does not admit the current version;
    /// nothing was written. `current` lets a front end say what it is.
    #[error("the precondition does not admit the current version {current}")]
    PreconditionFailed { current: i64 },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A mailed token (reset, verification) that is unknown, expired or
    /// already used: one answer for all three.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Too many failed logins; try again after the given delay.
    #[error("too many attempts")]
    TooManyAttempts { retry_after: Duration },
    /// The database cannot be reached, the pool is exhausted, or the
    /// password hasher's queue is full.
    #[error("service unavailable")]
    Unavailable { retry_after: Duration },
    /// Anything unexpected. The source is for logs only, never for clients.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn validation(field: &str, message: impl ToString) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// What a client may read about this error, whatever the front end:
    /// never a cause, a statement or a secret.
    pub fn client_message(&self) -> String {
        match self {
            Self::Unauthorized => "a valid bearer token is required".to_owned(),
            Self::InvalidCredentials => "invalid email or password".to_owned(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::Conflict(what) => (*what).to_owned(),
            Self::PreconditionFailed { .. } => {
                "If-Match does not match the task's current version".to_owned()
            }
            Self::Validation(_) => "the request has invalid fields".to_owned(),
            Self::InvalidToken => "the token is invalid, expired or already used".to_owned(),
            Self::TooManyAttempts { .. } => "too many failed logins; try again later".to_owned(),
            Self::Unavailable { .. } => {
                "the service is temporarily unavailable; try again later".to_owned()
            }
            Self::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The full cause chain, for logs only.
    pub fn cause_chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

impl From<RepoError> for AppError {
    /// The mapping every use case shares; those that expect a specific
    /// variant (e.g. `EmailTaken`) match it before falling back to this.
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::SessionInactive => Self::Unauthorized,
            RepoError::NotFound => Self::NotFound("task"),
            RepoError::EmailTaken => Self::Conflict("email already registered"),
            RepoError::IdempotencyKeyReused => {
                Self::Conflict("idempotency key already used with a different request")
            }
            RepoError::PreconditionFailed { current } => Self::PreconditionFailed { current },
            RepoError::Unavailable { retry_after } => Self::Unavailable { retry_after },
            RepoError::Internal(source) => Self::Internal(source),
        }
    }
}

impl From<HashError> for AppError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy { retry_after } => Self::Unavailable { retry_after },
            HashError::Failed(_) => Self::Internal(Box::new(err)),
        }
    }
}

impl From<TokenError> for AppError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Invalid => Self::Unauthorized,
            TokenError::Internal(message) => Self::Internal(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_never_carry_the_internal_cause() {
        let err = AppError::Internal("password=hunter2 at 10.0.0.1".into());
        assert_eq!(err.client_message(), "internal error");
        assert!(err.cause_chain().contains("hunter2"));
    }

    #[test]
    fn login_refusals_and_token_refusals_read_differently() {
        assert_eq!(
            AppError::InvalidCredentials.client_message(),
            "invalid email or password"
        );
        assert_eq!(
            AppError::Unauthorized.client_message(),
            "a valid bearer token is required"
        );
    }
}
