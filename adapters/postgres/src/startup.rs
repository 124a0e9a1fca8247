//! Start-up: the first statement (where we landed, the migration ledger
//! and the catalog in one round trip), the one-off direct connection for
//! migrations, and retries with backoff while a cold compute wakes.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::connection_url::ConnectionUrl;
use crate::database::ConnectionInfo;
use crate::errors::{
    chain_text, classify_connect_error, startup_error, ConnectFailure, StartupError,
};
use crate::migrations::{self, Ledger};
use crate::schema_check::{self, Catalog};
use crate::settings::PostgresSettings;

/// What a start-up statement read besides the probe, for the first
/// `migrate` and `check_schema` after it. Each part is used once, and only
/// while fresh: a later call reads the database again.
pub(crate) struct Reading {
    pub(crate) at: Instant,
    pub(crate) ledger: Option<Ledger>,
    pub(crate) catalog: Option<Catalog>,
}

/// How long a reading stands in for a new one (a start takes well under).
pub(crate) const READING_FRESH_FOR: Duration = Duration::from_secs(10);

/// Where we are (user, database, TLS of our backend, server version), then
/// the catalog as the schema check reads it, then (optionally) the ledger.
fn start_sql(with_ledger: bool) -> String {
    let ledger = if with_ledger {
        format!(",\n    {}", migrations::LEDGER_ITEM)
    } else {
        String::new()
    };
    format!(
        "SELECT current_user::text, current_database()::text, s.version, s.cipher,
        current_setting('server_version'),
    {}{ledger}
    FROM (SELECT 1) AS one
    LEFT JOIN pg_stat_ssl AS s ON s.pid = pg_backend_pid() AND s.ssl",
        schema_check::CATALOG_ITEMS
    )
}

/// Columns of [`start_sql`] before the catalog's.
const PROBE_WIDTH: usize = 5;

/// The start-up statement: one round trip on a migrated database. On one
/// never migrated, the ledger does not exist and the statement fails with
/// `undefined_table` before doing anything: it is asked again without the
/// ledger (the row then has no ledger column).
pub(crate) async fn read_start(client: &Client) -> Result<Row, ConnectFailure> {
    let names = schema_check::table_names();
    let params: &[(&(dyn ToSql + Sync), Type)] = &[(&names, Type::TEXT_ARRAY)];
    let rows = match client.query_typed(&start_sql(true), params).await {
        Err(err) if err.code() == Some(&SqlState::UNDEFINED_TABLE) => {
            client.query_typed(&start_sql(false), params).await
        }
        other => other,
    }
    .map_err(|e| classify_connect_error(&e))?;
    rows.into_iter()
        .next()
        .ok_or_else(|| ConnectFailure::Other("the start-up statement returned no row".into()))
}

/// [`read_start`]'s row as where we are plus a fresh [`Reading`].
pub(crate) fn decode_start(
    row: &Row,
    url: &ConnectionUrl,
) -> Result<(ConnectionInfo, Reading), StartupError> {
    let catalog = Catalog::from_row(row, PROBE_WIDTH)?;
    let ledger_column = PROBE_WIDTH + 3;
    let ledger = if row.len() > ledger_column {
        migrations::ledger_from_json(row.get(ledger_column))?
    } else {
        Vec::new()
    };
    let info = ConnectionInfo {
        host: url.host.clone(),
        neon_endpoint: url.neon_endpoint.as_ref().map(|e| e.id.clone()),
        pooled: url.is_pooled(),
        user: row.get(0),
        database: row.get(1),
        tls_version: row.get(2),
        tls_cipher: row.get(3),
        server_version: row.get(4),
    };
    let reading = Reading {
        at: Instant::now(),
        ledger: Some(ledger),
        catalog: Some(catalog),
    };
    Ok((info, reading))
}

/// A single unpooled connection (for migrations), its setup bounded as a whole.
pub(crate) async fn connect_direct(
    url: &ConnectionUrl,
    tls: &MakeRustlsConnect,
    settings: &PostgresSettings,
) -> Result<Client, ConnectFailure> {
    let timeout = url.connect_timeout.unwrap_or(settings.connect_timeout);
    let config = url.pg_config(timeout, settings);
    let connecting = config.connect(tls.clone());
    let (client, connection) = match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(err)) => return Err(classify_connect_error(&err)),
        Err(_) => {
            return Err(ConnectFailure::TimedOut(
                "connection setup (TCP, TLS, authentication) timed out".into(),
            ))
        }
    };
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %chain_text(&err), "migration connection ended with an error");
        }
    });
    Ok(client)
}

/// Runs `attempt` until it succeeds, fails for good, or the retry budget
/// is spent; backoff doubles from `initial_backoff` up to `max_backoff`,
/// each delay drawn from its upper half.
pub(crate) async fn with_retries<T, F, Fut>(
    settings: &PostgresSettings,
    url: &ConnectionUrl,
    mut attempt: F,
) -> Result<T, StartupError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ConnectFailure>>,
{
    let started = Instant::now();
    let mut backoff = settings.initial_backoff;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        let delay = jitter(backoff);
        if failure.is_transient() && started.elapsed() + delay < settings.connect_retry_budget {
            tracing::warn!(attempt = tries, retry_in = ?delay, cause = ?failure, "database not ready; retrying");
            tokio::time::sleep(delay).await;
            backoff = (backoff * 2).min(settings.max_backoff);
            continue;
        }
        let dns_failed = match failure {
            ConnectFailure::ConnectIo(_)
            | ConnectFailure::Other(_)
            | ConnectFailure::TimedOut(_) => dns_failure(&url.host, url.port).await,
            _ => None,
        };
        return Err(startup_error(failure, url, dns_failed));
    }
}

fn jitter(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

/// Whether the host name fails to resolve (the driver's io error for that
/// has no stable kind, so ask the resolver directly).
async fn dns_failure(host: &str, port: u16) -> Option<String> {
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            if addrs.count() > 0 {
                None
            } else {
                Some("the name resolves to no address".into())
            }
        }
        Err(err) => Some(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn fast_settings(budget: Duration) -> (PostgresSettings, ConnectionUrl) {
        let mut settings = PostgresSettings::new("unused");
        settings.initial_backoff = Duration::from_millis(2);
        settings.max_backoff = Duration::from_millis(10);
        settings.connect_retry_budget = budget;
        let url = ConnectionUrl::parse("postgresql://app:pw@localhost/app?sslmode=require", false)
            .unwrap();
        (settings, url)
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_database_answers() {
        let (settings, url) = fast_settings(Duration::from_secs(10));
        let calls = AtomicU32::new(0);
        let result = with_retries(&settings, &url, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(ConnectFailure::Transient(
                    "Couldn't connect to compute node".into(),
                ))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let (settings, url) = fast_settings(Duration::from_secs(10));
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&settings, &url, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ConnectFailure::Auth(
                "password authentication failed for user \"app\"".into(),
            ))
        })
        .await;
        assert!(
            matches!(result, Err(StartupError::AuthFailed { .. })),
            "{result:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_stop_when_the_budget_is_spent() {
        let (settings, url) = fast_settings(Duration::from_millis(40));
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&settings, &url, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ConnectFailure::Transient(
                "terminating connection due to administrator command".into(),
            ))
        })
        .await;
        let err = result.unwrap_err();
        assert!(matches!(err, StartupError::Unreachable { .. }), "{err:?}");
        assert!(
            err.to_string().contains("still failing after retries"),
            "{err}"
        );
        assert!(calls.load(Ordering::SeqCst) >= 2);
    }

    #[test]
    fn jitter_stays_within_the_upper_half() {
        for _ in 0..100 {
            let delay = jitter(Duration::from_millis(100));
            assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100));
        }
    }
}
