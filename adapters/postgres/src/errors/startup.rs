//! Start-up errors: what a human reads when the database cannot be set up,
//! and one process exit code per class.

use crate::connection_url::UrlError;
use crate::tls::TlsSetupError;

use super::classify::ConnectFailure;

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
