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
//! and leave a fresh catalog reading for the schema check. The start-up
//! statement, retries and the migration connection live in `startup`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use application::ports::{
    AccountRepo, AccountTokenStore, LoginLimiter, Outbox, Readiness, SecurityEventRepo,
    SessionRepo, TaskRepo, UserRepo,
};
use tokio::task::JoinHandle;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::account_repo::PgAccountRepo;
use crate::account_tokens::PgAccountTokenStore;
use crate::connection_url::ConnectionUrl;
use crate::errors::{classify_pool_error, StartupError};
use crate::login_limiter::{LoginLimits, PgLoginLimiter};
use crate::migrations::{self, Ledger, MigrationReport};
use crate::outbox::PgOutbox;
use crate::pool::{build_pool, spawn_maintenance, Executor, PoolStatus, Replay};
use crate::schema_check::{self, Catalog};
use crate::session_repo::PgSessionRepo;
use crate::settings::PostgresSettings;
use crate::startup::{
    connect_direct, decode_start, read_start, with_retries, Reading, READING_FRESH_FOR,
};
use crate::statements::StatementSet;
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
        let statements = StatementSet::new(settings.prepared_statements);
        let connections = tokio_util::task::TaskTracker::new();
        let pool = build_pool(&url, tls.clone(), &settings, connect_timeout, &connections)?;
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
        let executor = Executor::new(
            pool,
            tls.clone(),
            settings.statement_timeout,
            statements,
            connections,
            settings.pipeline_depth,
        );
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

    /// Security events: failed logins and the owner's pages.
    pub fn event_repo(&self) -> Arc<dyn SecurityEventRepo> {
        Arc::new(crate::event_repo::PgEventRepo::new(
            self.inner.executor.clone(),
        ))
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

    /// Whole accounts by email, for the operator commands.
    pub fn account_repo(&self) -> Arc<dyn AccountRepo> {
        Arc::new(PgAccountRepo::new(self.inner.executor.clone()))
    }

    /// Reset and verification tokens with their outbox rows.
    pub fn account_token_store(&self) -> Arc<dyn AccountTokenStore> {
        Arc::new(PgAccountTokenStore::new(self.inner.executor.clone()))
    }

    /// The mail outbox, as its sender sees it.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        Arc::new(PgOutbox::new(self.inner.executor.clone()))
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

    /// Shutdown: closes the pool and waits (at most `drain_timeout`) until
    /// every connection has sent Terminate and closed its TLS session, so
    /// PostgreSQL and the pooler log no abrupt disconnect. Connections still
    /// checked out close as they come back.
    pub async fn shutdown(&self) {
        self.inner.maintenance.abort();
        let timeout = self.inner.settings.drain_timeout;
        if !self.inner.executor.drain(timeout).await {
            tracing::warn!(
                ?timeout,
                "some database connections were still open at the end of the drain"
            );
        }
    }
}
