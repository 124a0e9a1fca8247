//! Runtime mapping: a statement's or a checkout's failure becomes the
//! port's [`RepoError`], which the HTTP adapter turns into a status.

use std::io;
use std::time::Duration;

use application::ports::RepoError;
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::classify::{causes, is_transient_code};

/// How long a client should wait before retrying after `Unavailable`.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Whether a statement failed because its connection died (server
/// terminated it, socket closed, pooler went away) rather than because of
/// the statement: then a fresh connection may succeed.
pub(crate) fn is_connection_lost(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        return is_transient_code(code);
    }
    causes(err).any(|cause| cause.downcast_ref::<io::Error>().is_some())
}

/// Maps a statement error to the port's error. Unique violations on the
/// users' email become `EmailTaken`; lost connections, cancellations and
/// exhausted connection slots become `Unavailable`.
pub(crate) fn repo_error(err: tokio_postgres::Error) -> RepoError {
    if is_connection_lost(&err) {
        return RepoError::Unavailable {
            retry_after: RETRY_AFTER,
        };
    }
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION && db.table() == Some("users") {
            return RepoError::EmailTaken;
        }
        if *code == SqlState::QUERY_CANCELED
            || *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE
        {
            return RepoError::Unavailable {
                retry_after: RETRY_AFTER,
            };
        }
    }
    RepoError::Internal(Box::new(err))
}

/// Maps a failure to obtain a pooled connection: every kind is "try
/// again later" for the caller, except a misconfigured pool.
pub(crate) fn pool_repo_error(err: PoolError) -> RepoError {
    match err {
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            RepoError::Internal(Box::new(err))
        }
        _ => RepoError::Unavailable {
            retry_after: RETRY_AFTER,
        },
    }
}

#[cfg(test)]
mod tests {
    use deadpool_postgres::TimeoutType;

    use super::*;

    #[test]
    fn no_connection_while_serving_is_unavailable_with_a_retry_after() {
        // A connect that fails while serving (Neon waking a compute, its
        // proxy answering a retryable control-plane error, the pooler
        // queueing) reaches the caller as one of these.
        for err in [
            PoolError::Timeout(TimeoutType::Create),
            PoolError::Timeout(TimeoutType::Wait),
            PoolError::Closed,
        ] {
            match pool_repo_error(err) {
                RepoError::Unavailable { retry_after } => assert_eq!(retry_after, RETRY_AFTER),
                other => panic!("{other:?}"),
            }
        }
    }
}
