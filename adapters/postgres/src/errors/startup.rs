//! Start-up errors and the classification of driver errors.
//!
//! tokio-postgres's `Display` says only "db error" or "error performing TLS
//! handshake", so everything here decides by SQLSTATE (`code()`) and by
//! walking the `source()` chain (io kinds, rustls errors), never by the
//! driver's `Display`. Two texts are matched because they have no code: the
//! driver's own "server does not support TLS" / "did not use channel binding"
//! causes, and Neon's proxy messages, which all arrive as SQLSTATE XX000.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use application::ports::RepoError;
use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

use crate::connection_url::UrlError;
use crate::tls::TlsSetupError;

/// How long a client should wait before retrying after `Unavailable`.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why the database could not be set up at start. Each class has its own
/// message and process exit code; none contains the password.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("DATABASE_URL is not set: it is required and has no default")]
    MissingUrl,
    #[error("DATABASE_URL: unsupported scheme `{scheme}`: only PostgreSQL (Neon) is supported")]
    UnsupportedScheme { scheme: String },
    #[error("DATABASE_URL: TLS is required (sslmode={sslmode} is refused); use sslmode=require or verify-full")]
    TlsRequired { sslmode: String },
    #[error("DATABASE_URL: unknown parameter `{name}`; supported: sslmode, sslrootcert, channel_binding, options, application_name, connect_timeout, sslnegotiation")]
    UnknownParameter { name: String },
    #[error("DATABASE_URL: {0}")]
    InvalidUrl(String),
    #[error("TLS setup: {0}")]
    TlsSetup(String),
    #[error("cannot resolve database host `{host}`: {cause}")]
    Dns { host: String, cause: String },
    #[error("cannot reach the database at {host}:{port}: {cause}")]
    Unreachable {
        host: String,
        port: u16,
        cause: String,
    },
    #[error("TLS handshake with {host} failed: {cause} (check sslrootcert and that the host name matches the certificate)")]
    TlsHandshake { host: String, cause: String },
    #[error("the server at {host}:{port} does not support TLS; Neon always does, so this is not a Neon endpoint")]
    ServerWithoutTls { host: String, port: u16 },
    #[error("authentication failed for user `{user}`: {cause}")]
    AuthFailed { user: String, cause: String },
    #[error("database `{database}` does not exist: {cause}")]
    DatabaseMissing { database: String, cause: String },
    #[error("Neon refused the connection: {message} (hint: {hint})")]
    NeonControlPlane { message: String, hint: String },
    #[error("cannot connect to the database: {cause}")]
    ConnectFailed { cause: String },
    #[error("schema does not match what this build expects ({} difference(s)):\n  - {}", .differences.len(), .differences.join("\n  - "))]
    SchemaMismatch { differences: Vec<String> },
    #[error("migration {version} ({name}) was changed after it was applied (stored checksum {stored}, this build {expected}); never edit an applied migration, add a new one")]
    MigrationChecksum {
        version: i32,
        name: String,
        stored: String,
        expected: String,
    },
    #[error("migration {version} ({name}) failed: {cause}")]
    MigrationFailed {
        version: i32,
        name: String,
        cause: String,
    },
    #[error("database query failed at start: {cause}")]
    Query { cause: String },
}

impl StartupError {
    /// A distinct non-zero process exit code per class, so an operator (or a
    /// supervisor) can tell "fix the config" from "database down".
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::MissingUrl => 10,
            Self::UnsupportedScheme { .. } => 11,
            Self::TlsRequired { .. } => 12,
            Self::UnknownParameter { .. } => 13,
            Self::InvalidUrl(_) => 14,
            Self::TlsSetup(_) => 15,
            Self::Dns { .. } => 20,
            Self::Unreachable { .. } => 21,
            Self::TlsHandshake { .. } => 22,
            Self::ServerWithoutTls { .. } => 23,
            Self::AuthFailed { .. } => 24,
            Self::DatabaseMissing { .. } => 25,
            Self::NeonControlPlane { .. } => 26,
            Self::ConnectFailed { .. } => 27,
            Self::SchemaMismatch { .. } => 30,
            Self::MigrationChecksum { .. } => 31,
            Self::MigrationFailed { .. } => 32,
            Self::Query { .. } => 33,
        }
    }
}

impl From<UrlError> for StartupError {
    fn from(err: UrlError) -> Self {
        match err {
            UrlError::Missing => Self::MissingUrl,
            UrlError::UnsupportedScheme { scheme } => Self::UnsupportedScheme { scheme },
            UrlError::TlsRequired { sslmode } => Self::TlsRequired { sslmode },
            UrlError::UnknownParameter { name } => Self::UnknownParameter { name },
            other => Self::InvalidUrl(other.to_string()),
        }
    }
}

impl From<TlsSetupError> for StartupError {
    fn from(err: TlsSetupError) -> Self {
        Self::TlsSetup(err.to_string())
    }
}

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
    } else if lower.contains("couldn't connect to compute node") {
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
fn is_transient_code(code: &SqlState) -> bool {
    *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::CONNECTION_FAILURE
        || *code == SqlState::CONNECTION_DOES_NOT_EXIST
        || *code == SqlState::CONNECTION_EXCEPTION
        || *code == SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION
        || *code == SqlState::PROTOCOL_VIOLATION
}

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

/// Turns a connect failure into the start-up error a human reads.
pub(crate) fn startup_error(
    failure: ConnectFailure,
    url: &crate::ConnectionUrl,
    dns_failed: Option<String>,
) -> StartupError {
    let host = url.host.clone();
    let port = url.port;
    if let Some(cause) = dns_failed {
        return StartupError::Dns { host, cause };
    }
    match failure {
        ConnectFailure::Refused(cause)
        | ConnectFailure::TimedOut(cause)
        | ConnectFailure::ConnectIo(cause) => StartupError::Unreachable { host, port, cause },
        ConnectFailure::Transient(cause) => StartupError::Unreachable {
            host,
            port,
            cause: format!("{cause} (still failing after retries)"),
        },
        ConnectFailure::ServerWithoutTls => StartupError::ServerWithoutTls { host, port },
        ConnectFailure::Tls(cause) => StartupError::TlsHandshake { host, cause },
        ConnectFailure::Auth(cause) => StartupError::AuthFailed {
            user: url.user.clone(),
            cause,
        },
        ConnectFailure::DatabaseMissing(cause) => StartupError::DatabaseMissing {
            database: url.database.clone(),
            cause,
        },
        ConnectFailure::Neon { message, hint } => StartupError::NeonControlPlane {
            message,
            hint: hint.to_owned(),
        },
        ConnectFailure::Other(cause) => StartupError::ConnectFailed { cause },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_non_zero() {
        let all = [
            StartupError::MissingUrl,
            StartupError::UnsupportedScheme { scheme: "x".into() },
            StartupError::TlsRequired {
                sslmode: "x".into(),
            },
            StartupError::UnknownParameter { name: "x".into() },
            StartupError::InvalidUrl("x".into()),
            StartupError::TlsSetup("x".into()),
            StartupError::Dns {
                host: "h".into(),
                cause: "c".into(),
            },
            StartupError::Unreachable {
                host: "h".into(),
                port: 1,
                cause: "c".into(),
            },
            StartupError::TlsHandshake {
                host: "h".into(),
                cause: "c".into(),
            },
            StartupError::ServerWithoutTls {
                host: "h".into(),
                port: 1,
            },
            StartupError::AuthFailed {
                user: "u".into(),
                cause: "c".into(),
            },
            StartupError::DatabaseMissing {
                database: "d".into(),
                cause: "c".into(),
            },
            StartupError::NeonControlPlane {
                message: "m".into(),
                hint: "h".into(),
            },
            StartupError::ConnectFailed { cause: "c".into() },
            StartupError::SchemaMismatch {
                differences: vec!["d".into()],
            },
            StartupError::MigrationChecksum {
                version: 1,
                name: "n".into(),
                stored: "a".into(),
                expected: "b".into(),
            },
            StartupError::MigrationFailed {
                version: 1,
                name: "n".into(),
                cause: "c".into(),
            },
            StartupError::Query { cause: "c".into() },
        ];
        let mut codes: Vec<u8> = all.iter().map(StartupError::exit_code).collect();
        assert!(codes.iter().all(|c| *c != 0));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn neon_proxy_messages_are_classified() {
        let auth =
            classify_neon_proxy_message("password authentication failed for user 'alex'".into());
        assert!(matches!(auth, ConnectFailure::Auth(_)));
        let wake = classify_neon_proxy_message("Couldn't connect to compute node: timeout".into());
        assert!(wake.is_transient());
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

    #[test]
    fn schema_mismatch_lists_every_difference() {
        let err = StartupError::SchemaMismatch {
            differences: vec![
                "missing table tasks".into(),
                "users.email: expected text, found integer".into(),
            ],
        };
        let text = err.to_string();
        assert!(text.contains("2 difference(s)"));
        assert!(text.contains("missing table tasks"));
        assert!(text.contains("users.email"));
    }
}
