//! What the composition root configures: the URL (a secret) and the pool's
//! limits. Defaults follow the system this replaces and Neon's advice.

use std::fmt;
use std::time::Duration;

/// `DATABASE_URL`, which holds the database password. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the parser only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl([redacted])")
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

/// Connection pool and start-up settings.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: DatabaseUrl,
    /// Refuse hosts outside Neon's domains (on in production).
    pub require_neon_host: bool,
    /// Most connections open at once: few, as statements pipeline on busy
    /// ones (`pipeline_depth`).
    pub max_size: usize,
    /// How long a caller waits for a free connection before getting
    /// `Unavailable` (HTTP 503 with Retry-After).
    pub wait_timeout: Duration,
    /// Bound on one whole connection setup: TCP, TLS, SCRAM and Neon's
    /// compute wake-up. A URL `connect_timeout` overrides it.
    pub connect_timeout: Duration,
    /// Connections older than this are replaced.
    pub max_lifetime: Duration,
    /// Connections unused for this long are closed, before Neon's suspend
    /// would kill them under us.
    pub idle_timeout: Duration,
    /// Client-side bound on one statement; past it the statement is
    /// cancelled and the caller gets `Unavailable`.
    pub statement_timeout: Duration,
    /// `TCP_USER_TIMEOUT` of every database socket: data the other side
    /// has not acknowledged for this long (a black-holed path, a vanished
    /// NAT entry) fails the connection instead of waiting out the kernel's
    /// ~15 minutes of retransmissions. It also ends a connection whose
    /// keepalive probes go unanswered this long.
    pub tcp_user_timeout: Duration,
    /// An idle connection gets TCP keepalive probes after this long (then
    /// every 10 s), so a dead one is found, and closed by
    /// `tcp_user_timeout`, before a request needs it.
    pub keepalive_idle: Duration,
    /// Total time start-up may spend retrying transient connect failures.
    pub connect_retry_budget: Duration,
    /// First delay between start-up retries; doubles up to `max_backoff`,
    /// with jitter.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Prepare each statement once per connection (named statements,
    /// parsed and planned once). Off: unnamed statements, parsed and
    /// planned on every call, for a pooler without protocol-level
    /// prepared-statement support (PgBouncer < 1.22, or
    /// `max_prepared_statements = 0`). Neon's pooler supports them.
    pub prepared_statements: bool,
    /// Most statements in flight on one connection: when all `max_size`
    /// connections are busy, a statement joins the least busy one
    /// (pipelined behind its statements) instead of waiting. 1: never.
    pub pipeline_depth: usize,
    /// How long shutdown waits for every connection to send Terminate and
    /// close.
    pub drain_timeout: Duration,
}

impl PostgresSettings {
    /// The defaults around a URL: `config/default.toml`'s (bootstrap's
    /// tests fail when the two drift apart).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: DatabaseUrl::new(url),
            require_neon_host: false,
            max_size: 6,
            wait_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(10),
            max_lifetime: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(240),
            statement_timeout: Duration::from_secs(5),
            tcp_user_timeout: Duration::from_secs(30),
            keepalive_idle: Duration::from_secs(30),
            connect_retry_budget: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            prepared_statements: true,
            pipeline_depth: 16,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_url() {
        let settings = PostgresSettings::new("postgresql://app:hunter2@h/db?sslmode=require");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(settings.max_size, 6);
        assert_eq!(settings.max_lifetime, Duration::from_secs(300));
        assert_eq!(settings.tcp_user_timeout, Duration::from_secs(30));
        assert_eq!(settings.keepalive_idle, Duration::from_secs(30));
        assert!(settings.prepared_statements);
    }
}
