//! [`Database`]: the handle the composition root builds once.
//!
//! `connect` parses the URL, builds the TLS config and the pool, opens a
//! first connection (retrying transient failures with exponential backoff
//! and jitter within a budget: a cold Neon compute takes a moment to wake)
//! and logs where it landed. Then `migrate`, `check_schema`, and the
//! repositories.
//!
//! Start-up round trips: `connect` asks one statement where it landed, what
//! the migration ledger holds and what the catalog looks like. The first
//! `migrate` and `check_schema` use that reading (once, while fresh): on a
//! migrated database they send nothing more. Pending migrations run on the
//! pool's own connection (a separate direct one only behind Neon's pooler),
//! and leave a fresh catalog reading for the schema check.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use application::ports::{LoginLimiter, Readiness, SessionRepo, TaskRepo, UserRepo};
use rand::Rng;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::connection_url::ConnectionUrl;
use crate::errors::{
    chain_text, classify_connect_error, classify_pool_error, startup_error, ConnectFailure,
    StartupError,
};
use crate::login_limiter::{LoginLimits, PgLoginLimiter};
use crate::migrations::{self, Ledger, MigrationReport};
use crate::pool::{build_pool, spawn_maintenance, Executor, PoolStatus, Replay};
use crate::schema_check::{self, Catalog};
use crate::session_repo::PgSessionRepo;
use crate::settings::PostgresSettings;
use crate::task_repo::PgTaskRepo;
use crate::tls;
use crate::user_repo::PgUserRepo;

/// A connected pool plus what it was built from. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    url: ConnectionUrl,
    settings: PostgresSettings,
    tls: MakeRustlsConnect,
    info: ConnectionInfo,
    executor: Executor,
    maintenance: JoinHandle<()>,
    reading: Mutex<Reading>,
}

/// What a start-up statement read besides the probe, for the first
/// `migrate` and `check_schema` after it. Each part is used once, and only
/// while fresh: a later call reads the database again.
struct Reading {
    at: Instant,
    ledger: Option<Ledger>,
    catalog: Option<Catalog>,
}

/// How long a reading stands in for a new one (a start takes well under).
const READING_FRESH_FOR: Duration = Duration::from_secs(10);

impl Drop for Inner {
    fn drop(&mut self) {
        self.maintenance.abort();
    }
}

/// Where the first connection landed; logged at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub host: String,
    pub neon_endpoint: Option<String>,
    pub pooled: bool,
    pub database: String,
    pub user: String,
    /// From `pg_stat_ssl` for our own backend (behind a pooler: the pooler's
    /// link to PostgreSQL).
    pub tls_version: Option<String>,
    pub tls_cipher: Option<String>,
    pub server_version: String,
}

impl Database {
    /// Parses the URL, builds the pool and proves it works with one
    /// connection. Transient failures are retried within
    /// `settings.connect_retry_budget`.
    pub async fn connect(settings: PostgresSettings) -> Result<Self, StartupError> {
        let url = ConnectionUrl::parse(settings.url.expose(), settings.require_neon_host)?;
        let tls = tls::connector(url.root_cert.as_deref(), url.direct_tls)?;
        let connect_timeout = url.connect_timeout.unwrap_or(settings.connect_timeout);
        let pool = build_pool(&url, tls.clone(), &settings, connect_timeout)?;
        let row = with_retries(&settings, &url, || async {
            let client = pool.get().await.map_err(|e| classify_pool_error(&e))?;
            read_start(&client).await
        })
        .await?;
        let (info, reading) = decode_start(&row, &url)?;
        tracing::info!(
            url = %url.redacted(),
            host = %info.host,
            neon_endpoint = info.neon_endpoint.as_deref().unwrap_or("-"),
            pooled = info.pooled,
            database = %info.database,
            user = %info.user,
            tls_version = info.tls_version.as_deref().unwrap_or("none"),
            tls_cipher = info.tls_cipher.as_deref().unwrap_or("none"),
            server_version = %info.server_version,
            "connected to PostgreSQL"
        );
        let maintenance = spawn_maintenance(&pool, settings.max_lifetime, settings.idle_timeout);
        let executor = Executor::new(pool, tls.clone(), settings.statement_timeout);
        Ok(Self {
            inner: Arc::new(Inner {
                url,
                settings,
                tls,
                info,
                executor,
                maintenance,
                reading: Mutex::new(reading),
            }),
        })
    }

    /// Where the first connection landed (host, endpoint, TLS), as logged.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.inner.info
    }

    /// The parsed URL (its `Display` and `Debug` hide the password).
    pub fn url(&self) -> &ConnectionUrl {
        &self.inner.url
    }

    /// Applies pending migrations on the direct endpoint (the host without
    /// `-pooler` when the URL names Neon's pooler), in one transaction under
    /// an advisory lock. When the ledger already records every migration
    /// (checksums verified), nothing is locked or sent beyond reading it.
    pub async fn migrate(&self) -> Result<MigrationReport, StartupError> {
        let ledger = match self.take_reading(|r| r.ledger.take()) {
            Some(ledger) => ledger,
            None => self.read_ledger().await?,
        };
        if let Some(report) = migrations::up_to_date(&ledger, migrations::MIGRATIONS)? {
            tracing::info!(up_to_date = ?report.already_applied, "database schema is up to date");
            return Ok(report);
        }
        // Whatever the catalog looked like, it is about to change.
        self.take_reading(|r| r.catalog.take());
        let (report, catalog) = self.apply_pending().await?;
        *self.reading() = Reading {
            at: Instant::now(),
            ledger: None,
            catalog: Some(catalog),
        };
        if report.applied.is_empty() {
            tracing::info!(up_to_date = ?report.already_applied, "database schema is up to date");
        } else {
            tracing::info!(applied = ?report.applied, "applied database migrations");
        }
        Ok(report)
    }

    /// This build's migrations that the database has not recorded yet.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StartupError> {
        Ok(migrations::pending(&self.read_ledger().await?))
    }

    /// Compares the live schema with what this build expects; the error
    /// lists every difference.
    pub async fn check_schema(&self) -> Result<(), StartupError> {
        match self.take_reading(|r| r.catalog.take()) {
            Some(catalog) => schema_check::compare(&catalog),
            None => schema_check::check(&self.inner.executor).await,
        }
    }

    fn reading(&self) -> std::sync::MutexGuard<'_, Reading> {
        self.inner
            .reading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one part of the start-up reading, if it is still fresh.
    fn take_reading<T>(&self, part: impl FnOnce(&mut Reading) -> Option<T>) -> Option<T> {
        let mut reading = self.reading();
        if reading.at.elapsed() > READING_FRESH_FOR {
            reading.ledger = None;
            reading.catalog = None;
        }
        part(&mut reading)
    }

    /// The ledger, read again with the start-up statement (no lock).
    async fn read_ledger(&self) -> Result<Ledger, StartupError> {
        let pool = self.inner.executor.pool();
        let row = with_retries(&self.inner.settings, &self.inner.url, || async {
            let client = pool.get().await.map_err(|e| classify_pool_error(&e))?;
            read_start(&client).await
        })
        .await?;
        let (_, reading) = decode_start(&row, &self.inner.url)?;
        Ok(reading.ledger.unwrap_or_default())
    }

    /// The slow path of `migrate`: the locked transaction, on the pool's
    /// own connection, or on a separate direct one when the URL names
    /// Neon's pooler (the transaction pooler is no place for DDL).
    async fn apply_pending(&self) -> Result<(MigrationReport, Catalog), StartupError> {
        let settings = &self.inner.settings;
        if self.inner.url.is_pooled() {
            let direct = self.inner.url.direct();
            let client = with_retries(settings, &direct, || {
                connect_direct(&direct, &self.inner.tls, settings)
            })
            .await?;
            return migrations::apply(&client, migrations::MIGRATIONS).await;
        }
        let pool = self.inner.executor.pool();
        let client = with_retries(settings, &self.inner.url, || async {
            pool.get().await.map_err(|e| classify_pool_error(&e))
        })
        .await?;
        match migrations::apply(&client, migrations::MIGRATIONS).await {
            Ok(done) => Ok(done),
            Err(err) => {
                // Possibly still inside the transaction: close it, never reuse it.
                drop(deadpool_postgres::Object::take(client));
                Err(err)
            }
        }
    }

    /// Whether the database answers `SELECT 1` within `timeout` (readiness).
    pub async fn ping(&self, timeout: Duration) -> bool {
        let query = self.inner.executor.query("SELECT 1", &[], Replay::Safe);
        matches!(tokio::time::timeout(timeout, query).await, Ok(Ok(_)))
    }

    /// Pool size and use, for metrics.
    pub fn pool_status(&self) -> PoolStatus {
        self.inner.executor.status()
    }

    pub fn user_repo(&self) -> Arc<dyn UserRepo> {
        Arc::new(PgUserRepo::new(self.inner.executor.clone()))
    }

    pub fn session_repo(&self) -> Arc<dyn SessionRepo> {
        Arc::new(PgSessionRepo::new(self.inner.executor.clone()))
    }

    /// The failed-login limiter, its counts shared by every replica that
    /// passes the same `secret` (keys are digests under it).
    pub fn login_limiter(&self, limits: LoginLimits, secret: &[u8]) -> Arc<dyn LoginLimiter> {
        Arc::new(PgLoginLimiter::new(
            self.inner.executor.clone(),
            limits,
            secret,
        ))
    }

    pub fn task_repo(&self) -> Arc<dyn TaskRepo> {
        Arc::new(PgTaskRepo::new(self.inner.executor.clone()))
    }

    /// Readiness from the last contact (see `readiness`): probes send
    /// nothing while the database answered.
    pub fn readiness(&self) -> Arc<dyn Readiness> {
        Arc::new(crate::readiness::PgReadiness::new(
            self.inner.executor.clone(),
        ))
    }

    /// Closes every connection; later calls get `Unavailable`.
    pub fn close(&self) {
        self.inner.maintenance.abort();
        self.inner.executor.pool().close();
    }
}

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
async fn read_start(client: &Client) -> Result<Row, ConnectFailure> {
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
fn decode_start(row: &Row, url: &ConnectionUrl) -> Result<(ConnectionInfo, Reading), StartupError> {
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
async fn connect_direct(
    url: &ConnectionUrl,
    tls: &MakeRustlsConnect,
    settings: &PostgresSettings,
) -> Result<Client, ConnectFailure> {
    let timeout = url.connect_timeout.unwrap_or(settings.connect_timeout);
    let config = url.pg_config(timeout);
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
async fn with_retries<T, F, Fut>(
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
