//! Classification of driver errors (connect time and statement time) by
//! SQLSTATE and by walking the `source()` chain, and of Neon's proxy
//! messages, which all arrive as SQLSTATE XX000.

use std::error::Error as StdError;
use std::io;

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

/// What a failed connect attempt means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    /// Worth retrying within the start-up budget (Neon waking a compute,
    /// a restart dropping connections).
    Transient(String),
    Refused(String),
    TimedOut(String),
    /// An io error at connect time with no better cause: DNS is checked
    /// separately because its io error has no stable kind.
    ConnectIo(String),
    ServerWithoutTls,
    Tls(String),
    Auth(String),
    DatabaseMissing(String),
    Neon {
        message: String,
        hint: &'static str,
    },
    Other(String),
}

impl ConnectFailure {
    /// A refused connection is transient too: the database may be
    /// restarting or not up yet, and start-up should wait for it within
    /// its budget rather than exit at once.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transient(_) | Self::TimedOut(_) | Self::Refused(_)
        )
    }
}

/// Classifies an error from connecting (through the pool or directly).
pub(crate) fn classify_pool_error(err: &PoolError) -> ConnectFailure {
    match err {
        PoolError::Backend(e) => classify_connect_error(e),
        PoolError::Timeout(TimeoutType::Create) => {
            ConnectFailure::TimedOut("connection setup (TCP, TLS, authentication) timed out".into())
        }
        PoolError::Timeout(TimeoutType::Wait) => {
            ConnectFailure::TimedOut("no pooled connection became free in time".into())
        }
        PoolError::Timeout(TimeoutType::Recycle) => {
            ConnectFailure::Transient("recycling a connection timed out".into())
        }
        PoolError::Closed => ConnectFailure::Other("the pool is closed".into()),
        PoolError::NoRuntimeSpecified => ConnectFailure::Other("the pool has no runtime".into()),
        PoolError::PostCreateHook(e) => ConnectFailure::Other(e.to_string()),
    }
}

pub(crate) fn classify_connect_error(err: &tokio_postgres::Error) -> ConnectFailure {
    if let Some(db) = err.as_db_error() {
        let message = db.message().to_owned();
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            ConnectFailure::Auth(message)
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            ConnectFailure::DatabaseMissing(message)
        } else if *code == SqlState::INTERNAL_ERROR {
            classify_neon_proxy_message(message)
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            ConnectFailure::Neon {
                message,
                hint: "the compute's max_connections is exhausted; lower the pool size or use the -pooler endpoint",
            }
        } else if is_transient_code(code) {
            ConnectFailure::Transient(message)
        } else {
            ConnectFailure::Other(format!("{} ({})", message, code.code()))
        };
    }
    if err.is_closed() {
        return ConnectFailure::Transient("the server closed the connection".into());
    }
    for cause in causes(err) {
        if let Some(tls) = rustls_error(cause) {
            return ConnectFailure::Tls(tls.to_string());
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| rustls_error(inner)) {
                return ConnectFailure::Tls(tls.to_string());
            }
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => ConnectFailure::Refused(io.to_string()),
                io::ErrorKind::TimedOut => ConnectFailure::TimedOut(io.to_string()),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => ConnectFailure::Transient(io.to_string()),
                io::ErrorKind::InvalidData => ConnectFailure::Tls(io.to_string()),
                _ => ConnectFailure::ConnectIo(io.to_string()),
            };
        }
        // The driver reports these as bare strings: there is nothing else
        // to match on.
        let text = cause.to_string();
        if text.contains("server does not support TLS") {
            return ConnectFailure::ServerWithoutTls;
        }
        if text.contains("channel binding") {
            return ConnectFailure::Auth(text);
        }
    }
    ConnectFailure::Other(chain_text(err))
}

/// Neon's proxy sends every error it makes itself as XX000, so the message
/// is all there is to go on.
fn classify_neon_proxy_message(message: String) -> ConnectFailure {
    let lower = message.to_lowercase();
    if lower.contains("password authentication failed") {
        ConnectFailure::Auth(message)
    } else if is_retryable_neon_message(&lower) {
        ConnectFailure::Transient(message)
    } else if lower.contains("endpoint cannot be found")
        || lower.contains("endpoint id is not specified")
        || lower.contains("inconsistent project name")
    {
        ConnectFailure::Neon {
            message,
            hint: "check the endpoint id (the host's first label) in DATABASE_URL against the Neon console",
        }
    } else if lower.contains("endpoint is disabled") {
        ConnectFailure::Neon {
            message,
            hint: "the endpoint is disabled; enable it in the Neon console",
        }
    } else if lower.contains("quota")
        || lower.contains("temporarily unavailable")
        || lower.contains("active endpoints")
    {
        ConnectFailure::Neon {
            message,
            hint: "check the project's quotas and plan limits in the Neon console",
        }
    } else if lower.contains("too many connections")
        || lower.contains("failed to acquire permit")
        || lower.contains("remaining connection slots")
    {
        ConnectFailure::Neon {
            message,
            hint: "too many connections or connection attempts; lower the pool size or use the -pooler endpoint",
        }
    } else {
        ConnectFailure::Neon {
            message,
            hint: "this message comes from Neon's proxy; see https://neon.com/docs/connect/connection-errors",
        }
    }
}

/// What Neon's proxy says while a compute wakes, restarts or is busy: the
/// control-plane reasons its own `Reason::can_retry` accepts
/// (`ENDPOINT_IDLE`, `PROJECT_UNDER_MAINTENANCE`, `RUNNING_OPERATIONS`,
/// `CONCURRENCY_LIMIT_REACHED`, `LOCK_ALREADY_TAKEN`), by name or by the
/// texts clients see, and a compute it could not reach. Quota, disabled
/// and not-found answers are final.
fn is_retryable_neon_message(lower: &str) -> bool {
    const RETRYABLE: &[&str] = &[
        "couldn't connect to compute node",
        "endpoint is idle",
        "retry request",
        "timed out while waiting for endpoint to become active",
        "endpoint_idle",
        "under maintenance",
        "under_maintenance",
        "running operations",
        "running_operations",
        "concurrency limit",
        "concurrency_limit_reached",
        "lock already taken",
        "lock_already_taken",
    ];
    RETRYABLE.iter().any(|text| lower.contains(text))
}

fn rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    err.downcast_ref::<rustls::Error>()
}

/// `err` and every error below it.
pub(crate) fn causes<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// The whole cause chain as one line, for messages and logs. Driver
/// errors carry no connection parameters, so no secret can appear here.
pub(crate) fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(err) {
        let text = match cause.downcast_ref::<tokio_postgres::error::DbError>() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => cause.to_string(),
        };
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// SQLSTATEs worth a retry: the server went away (Neon suspend, restart)
/// or is starting up.
pub(super) fn is_transient_code(code: &SqlState) -> bool {
    *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::CONNECTION_FAILURE
        || *code == SqlState::CONNECTION_DOES_NOT_EXIST
        || *code == SqlState::CONNECTION_EXCEPTION
        || *code == SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION
        || *code == SqlState::PROTOCOL_VIOLATION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neon_proxy_messages_are_classified() {
        let auth =
            classify_neon_proxy_message("password authentication failed for user 'alex'".into());
        assert!(matches!(auth, ConnectFailure::Auth(_)));
        let wake = classify_neon_proxy_message("Couldn't connect to compute node: timeout".into());
        assert!(wake.is_transient());
        for retryable in [
            "Control plane request failed: endpoint is idle, retry request",
            "timed out while waiting for endpoint to become active",
            "Control plane request failed: project is under maintenance (PROJECT_UNDER_MAINTENANCE)",
            "Control plane request failed: RUNNING_OPERATIONS",
            "Control plane request failed: CONCURRENCY_LIMIT_REACHED",
            "Control plane request failed: LOCK_ALREADY_TAKEN",
        ] {
            assert!(
                classify_neon_proxy_message(retryable.into()).is_transient(),
                "{retryable}"
            );
        }
        for final_answer in [
            "Control plane request failed: endpoint cannot be found",
            "Control plane request failed: endpoint is disabled",
            "Control plane request failed: endpoint is temporarily unavailable. Check your quotas and/or contact our support.",
        ] {
            assert!(
                !classify_neon_proxy_message(final_answer.into()).is_transient(),
                "{final_answer}"
            );
        }
        match classify_neon_proxy_message(
            "Control plane request failed: endpoint cannot be found".into(),
        ) {
            ConnectFailure::Neon { message, hint } => {
                assert!(message.contains("endpoint cannot be found"));
                assert!(hint.contains("endpoint id"));
            }
            other => panic!("{other:?}"),
        }
        match classify_neon_proxy_message(
            "Control plane request failed: endpoint is temporarily unavailable. Check your quotas and/or contact our support.".into(),
        ) {
            ConnectFailure::Neon { hint, .. } => assert!(hint.contains("quotas")),
            other => panic!("{other:?}"),
        }
        match classify_neon_proxy_message(
            "Too many connections to this endpoint. Please try again later.".into(),
        ) {
            ConnectFailure::Neon { hint, .. } => assert!(hint.contains("pool size")),
            other => panic!("{other:?}"),
        }
    }
}
