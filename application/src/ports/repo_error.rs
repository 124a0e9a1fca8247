use std::time::Duration;

/// What a repository can report. Driver errors never cross this line:
/// adapters translate them into these variants.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("email already registered")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    /// The principal's session is unknown, another user's, revoked or
    /// expired at the `now` the caller passed.
    #[error("session is not active")]
    SessionInactive,
    /// The caller's [`super::Precondition`] does not admit the stored
    /// version, which is `current`; nothing was written.
    #[error("precondition failed: the current version is {current}")]
    PreconditionFailed { current: i64 },
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// The database cannot be reached, or no connection was free within the
    /// pool's wait limit. Safe to retry after the given delay.
    #[error("database unavailable")]
    Unavailable { retry_after: Duration },
    #[error("storage failure")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}
