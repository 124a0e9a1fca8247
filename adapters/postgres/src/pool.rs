//! The connection pool and the one way repositories run statements.
//!
//! Pool: deadpool with the tokio runtime (its timeouts need one), `Fast`
//! recycling (no round trip on checkout: a connection the server closed is
//! already `is_closed()` because its task read the 57P01 or the EOF), a
//! whole-setup create timeout, and age/idle limits enforced both on checkout
//! (a `pre_recycle` hook) and by a periodic `retain` sweep.
//!
//! Connections: each one's driver task is tracked, not aborted, when its
//! client is dropped, so it sends Terminate and closes TLS properly (no
//! "unexpected EOF" in PostgreSQL's or PgBouncer's log); [`Executor::drain`]
//! waits for them at shutdown.
//!
//! Statements: prepared once per connection, or unnamed when configured so
//! (see `statements`), one round trip each. Each call is bounded
//! client-side by `statement_timeout`; on expiry a cancel request goes to the
//! server (PgBouncer and Neon's proxy forward it) and the connection is
//! discarded. This works through the pooler, unlike a session `SET
//! statement_timeout`; a role-level `ALTER ROLE … SET statement_timeout`
//! can be added by operators as a server-side backstop.
//!
//! Replays: a statement that failed because its connection died runs again,
//! once, on a fresh connection (one opened after the loss: the idle ones are
//! closed then, as they are likely dead too) only when repeating it cannot
//! change the outcome ([`Replay::Safe`]: reads, and writes made idempotent by
//! client ids and `ON CONFLICT`). Others ([`Replay::Once`]: delete, update,
//! revoke) are retried only when the connection was found dead before the
//! statement was sent; after sending, the server may have committed it, and a
//! repeat would turn success into NotFound/VersionMismatch or bump the
//! version twice, so the caller gets `Unavailable` and decides. The same
//! holds for a write that timed out: the cancel normally stops it, but a
//! cancel that arrives after the commit cannot undo it, so `Unavailable`
//! after a write means "outcome unknown, safe to retry with the same version
//! or idempotency key".

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use application::ports::RepoError;
use deadpool_postgres::{
    Connect, Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod,
    Runtime, TimeoutType,
};
use tokio::task::JoinHandle;
use tokio_postgres::Row;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_util::task::TaskTracker;

use crate::connection_url::ConnectionUrl;
use crate::errors::{
    chain_text, is_connection_lost, pool_repo_error, repo_error, StartupError, RETRY_AFTER,
};
use crate::lane::{Lane, Lease};
use crate::readiness::Health;
use crate::settings::PostgresSettings;
pub(crate) use crate::statements::Params;
use crate::statements::StatementSet;

/// Whether a statement may run a second time after its connection died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    Safe,
    Once,
}

/// Pool size and use, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections idle in the pool.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// Opens connections whose driver tasks outlive their clients: deadpool
/// aborts the task handle it is given when a client is dropped, which
/// would cut the socket before the Terminate message goes out. It gets a
/// finished placeholder instead; the real task ends by itself once the
/// client is gone (Terminate sent, TLS closed) and is tracked for
/// [`Executor::drain`].
struct TrackedConnect {
    tls: MakeRustlsConnect,
    tracker: TaskTracker,
}

type ConnectFuture<'a> = Pin<
    Box<
        dyn Future<Output = Result<(tokio_postgres::Client, JoinHandle<()>), tokio_postgres::Error>>
            + Send
            + 'a,
    >,
>;

impl Connect for TrackedConnect {
    fn connect(&self, pg_config: &tokio_postgres::Config) -> ConnectFuture<'_> {
        let config = pg_config.clone();
        let tls = self.tls.clone();
        let tracker = self.tracker.clone();
        Box::pin(async move {
            let (client, connection) = config.connect(tls).await?;
            tracker.spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %chain_text(&err), "database connection ended with an error");
                }
            });
            Ok((client, tokio::spawn(async {})))
        })
    }
}

pub(crate) fn build_pool(
    url: &ConnectionUrl,
    tls: MakeRustlsConnect,
    settings: &PostgresSettings,
    connect_timeout: Duration,
    tracker: &TaskTracker,
) -> Result<Pool, StartupError> {
    let manager = Manager::from_connect(
        url.pg_config(connect_timeout, settings),
        TrackedConnect {
            tls,
            tracker: tracker.clone(),
        },
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let max_lifetime = settings.max_lifetime;
    let idle_timeout = settings.idle_timeout;
    Pool::builder(manager)
        .max_size(settings.max_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(connect_timeout))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .pre_recycle(Hook::sync_fn(move |_, metrics| {
            if metrics.age() >= max_lifetime || metrics.last_used() >= idle_timeout {
                Err(HookError::message(
                    "connection past its lifetime or idle limit",
                ))
            } else {
                Ok(())
            }
        }))
        .build()
        .map_err(|e| StartupError::ConnectFailed {
            cause: format!("cannot build the connection pool: {e}"),
        })
}

/// Drops connections past their age or idle limit even when nobody checks
/// them out, so an idle service holds no connection Neon would kill.
pub(crate) fn spawn_maintenance(
    pool: &Pool,
    max_lifetime: Duration,
    idle_timeout: Duration,
) -> tokio::task::JoinHandle<()> {
    let weak = pool.weak();
    let period = (max_lifetime.min(idle_timeout) / 4)
        .clamp(Duration::from_millis(200), Duration::from_secs(15));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(pool) = weak.upgrade() else { break };
            if pool.is_closed() {
                break;
            }
            let removed = pool
                .retain(|client, metrics| {
                    !client.is_closed()
                        && metrics.age() < max_lifetime
                        && metrics.last_used() < idle_timeout
                })
                .removed
                .len();
            if removed > 0 {
                tracing::debug!(removed, "closed expired or idle database connections");
            }
        }
    })
}

/// Runs statements for the repositories.
#[derive(Clone)]
pub(crate) struct Executor {
    inner: Arc<ExecutorInner>,
}

struct ExecutorInner {
    pool: Pool,
    tls: MakeRustlsConnect,
    statement_timeout: Duration,
    statements: Arc<StatementSet>,
    connections: TaskTracker,
    /// Checked-out connections more statements may join.
    lane: Lane,
    /// What the last statement learned about the database (readiness).
    health: Health,
}

impl Executor {
    pub(crate) fn new(
        pool: Pool,
        tls: MakeRustlsConnect,
        statement_timeout: Duration,
        statements: Arc<StatementSet>,
        connections: TaskTracker,
        pipeline_depth: usize,
    ) -> Self {
        Self {
            inner: Arc::new(ExecutorInner {
                pool,
                tls,
                statement_timeout,
                statements,
                connections,
                lane: Lane::new(pipeline_depth),
                health: Health::new(),
            }),
        }
    }

    pub(crate) fn health(&self) -> &Health {
        &self.inner.health
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    #[cfg(test)]
    pub(crate) fn statements(&self) -> &StatementSet {
        &self.inner.statements
    }

    /// Closes the pool and waits (at most `timeout`) until every
    /// connection has sent Terminate and closed its socket. Connections
    /// still checked out close when they come back. Returns whether all
    /// closed in time.
    pub(crate) async fn drain(&self, timeout: Duration) -> bool {
        self.inner.pool.close();
        self.inner.connections.close();
        tokio::time::timeout(timeout, self.inner.connections.wait())
            .await
            .is_ok()
    }

    /// Runs one statement in one round trip and returns its rows.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: Params<'_>,
        replay: Replay,
    ) -> Result<Vec<Row>, RepoError> {
        // At most: one connection found dead before sending, plus one replay.
        let mut dead_before_send = 0;
        let mut replayed = false;
        // When a connection died under this statement: connections opened
        // before then may be dead too without knowing it yet, so the
        // replay skips them.
        let mut lost_at: Option<Instant> = None;
        let mut skipped_stale = 0;
        loop {
            let client = self.checkout().await?;
            if lost_at.is_some_and(|at| Object::metrics(&client).created < at)
                && skipped_stale < self.inner.pool.status().max_size
            {
                // Not sent, and at most one skip per connection that was
                // open at the loss.
                client.retire();
                skipped_stale += 1;
                continue;
            }
            if client.is_closed() {
                // Not sent: trying another connection is always safe.
                client.retire();
                dead_before_send += 1;
                if dead_before_send <= 2 {
                    continue;
                }
                self.inner.health.unreachable();
                return Err(RepoError::Unavailable {
                    retry_after: RETRY_AFTER,
                });
            }
            match tokio::time::timeout(
                self.inner.statement_timeout,
                self.inner.statements.query(&client, sql, params),
            )
            .await
            {
                Ok(Ok(rows)) => {
                    self.inner.health.answered();
                    return Ok(rows);
                }
                Ok(Err(err)) if is_connection_lost(&err) => {
                    self.inner.health.unreachable();
                    client.retire();
                    drop(client);
                    lost_at = Some(Instant::now());
                    self.discard_idle();
                    if replay == Replay::Safe && !replayed {
                        replayed = true;
                        tracing::info!(
                            error = %chain_text(&err),
                            "database connection lost; running the statement again on a fresh connection"
                        );
                        continue;
                    }
                    tracing::warn!(error = %chain_text(&err), "database connection lost during a statement");
                    return Err(repo_error(err));
                }
                Ok(Err(err)) => {
                    self.inner.health.answered();
                    return Err(repo_error(err));
                }
                Err(_elapsed) => {
                    self.inner.health.unreachable();
                    self.cancel_and_discard(client);
                    tracing::warn!(timeout = ?self.inner.statement_timeout, "statement timed out and was cancelled");
                    return Err(RepoError::Unavailable {
                        retry_after: RETRY_AFTER,
                    });
                }
            }
        }
    }

    /// Like [`Executor::query`] for statements that return exactly one row.
    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: Params<'_>,
        replay: Replay,
    ) -> Result<Row, RepoError> {
        let mut rows = self.query(sql, params, replay).await?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(RepoError::Internal(
                format!("statement returned {n} rows where exactly one was expected").into(),
            )),
        }
    }

    /// A connection that dies under a statement rarely dies alone (a
    /// restart, a compute suspend or a network cut ends them all) and the
    /// others may not have noticed yet: the idle ones are closed so that
    /// the next statements, replays included, run on fresh connections.
    fn discard_idle(&self) {
        let removed = self.inner.pool.retain(|_, _| false).removed.len();
        if removed > 0 {
            tracing::debug!(
                removed,
                "closed idle database connections after one was lost"
            );
        }
    }

    /// A statement sharing its connection may be queued behind another's:
    /// the cancel (which stops whatever the backend runs) is left to the
    /// last one in flight.
    fn cancel_and_discard(&self, client: Lease<'_>) {
        if client.alone() {
            let token = client.cancel_token();
            let tls = self.inner.tls.clone();
            tokio::spawn(async move {
                if let Err(err) = token.cancel_query(tls).await {
                    tracing::warn!(error = %chain_text(&err), "could not cancel a timed-out statement");
                }
            });
        }
        client.retire();
    }

    /// A connection for one statement: a place on a busy one when the pool
    /// is at its limit with none idle, else one of the pool's. Waiting on
    /// a full pool, a statement also takes a place on the next connection
    /// that starts a turn, instead of queueing for one of its own behind
    /// every other waiter; the pool's wait timeout bounds the whole wait.
    async fn checkout(&self) -> Result<Lease<'_>, RepoError> {
        let (pool, lane) = (&self.inner.pool, &self.inner.lane);
        let deadline = pool
            .timeouts()
            .wait
            .map(|wait| tokio::time::Instant::now() + wait);
        loop {
            let opened = lane.opened();
            tokio::pin!(opened);
            opened.as_mut().enable();
            let status = pool.status();
            if let Some(lease) = lane.join(status) {
                return Ok(lease);
            }
            // Only a wait on a full pool is dropped for a turn: below its
            // limit the pool may be opening a connection for this caller.
            let may_join = lane.shares() && status.size >= status.max_size;
            let got = tokio::select! {
                got = waited(pool, deadline) => got,
                () = &mut opened, if may_join => continue,
            };
            let object = got.map_err(|err| {
                // The caller answers 503 without the cause: say it here.
                tracing::warn!(error = %err, "no database connection for the statement");
                self.inner.health.pool_failed(&err);
                pool_repo_error(err)
            })?;
            return Ok(lane.hold(object));
        }
    }

    pub(crate) fn status(&self) -> PoolStatus {
        let status = self.inner.pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }
}

/// A connection from the pool, waiting at most until `deadline`.
async fn waited(pool: &Pool, deadline: Option<tokio::time::Instant>) -> Result<Object, PoolError> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, pool.get())
            .await
            .unwrap_or(Err(PoolError::Timeout(TimeoutType::Wait))),
        None => pool.get().await,
    }
}
