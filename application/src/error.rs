//! The one error type use cases return. Front ends map each variant to
//! their own answer (the HTTP adapter: a status and a problem body).

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
    /// Absent, or owned by someone else: the two are indistinguishable.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The caller's expected version is stale; nothing was written.
    #[error("version {expected} does not match the current version {current}")]
    PreconditionFailed { expected: i64, current: i64 },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
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
            RepoError::VersionMismatch { expected, current } => {
                Self::PreconditionFailed { expected, current }
            }
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
