//! Readiness from what the service learned the last time it used the
//! database, so probes cost Neon nothing.
//!
//! Every statement the executor runs tells [`Health`] how it went: the
//! database answered (even with an SQL error), or it could not be reached
//! (no connection could be opened, a held one was lost, a statement got no
//! answer in time). A pool that is merely busy (callers waiting for a free
//! connection) says nothing about the database and changes nothing.
//! [`PgReadiness`] reads that state, and notices held connections that the
//! server closed: while the last contact succeeded it sends nothing and
//! opens nothing, so an idle service lets its compute
//! suspend however often it is probed; while it failed, a probe tries
//! `SELECT 1` at most once per [`RETRY_EVERY`], so readiness comes back by
//! itself when the database does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use application::ports::{PoolStats, Readiness};
use async_trait::async_trait;
use deadpool_postgres::{PoolError, TimeoutType};

use crate::pool::{Executor, Replay};

/// Least time between two probes that try a failing database again: a
/// failing database gets at most one connection attempt per this from
/// probes, and readiness comes back at most this long after it does.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// How long a probe's retry may wait for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of the last contact with the database.
#[derive(Debug)]
pub(crate) struct Health {
    failing: AtomicBool,
    /// When a probe last tried a failing database.
    last_retry: Mutex<Option<Instant>>,
}

impl Health {
    /// Healthy: the start-up connection just answered.
    pub(crate) fn new() -> Self {
        Self {
            failing: AtomicBool::new(false),
            last_retry: Mutex::new(None),
        }
    }

    /// The database answered a statement (possibly with an SQL error).
    pub(crate) fn answered(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("the database answers again");
        }
    }

    /// The database could not be reached, or a held connection was lost.
    pub(crate) fn unreachable(&self) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!("the database stopped answering; /readyz reports it");
        }
    }

    /// A failure to get a pooled connection: waiting for a busy pool is
    /// not a database failure, failing to open a connection is.
    pub(crate) fn pool_failed(&self, err: &PoolError) {
        match err {
            PoolError::Timeout(TimeoutType::Wait) => {}
            PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {}
            _ => self.unreachable(),
        }
    }

    pub(crate) fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Whether a probe may try the database now (at most once per
    /// `every`); claims the slot when it may.
    fn claim_retry(&self, every: Duration) -> bool {
        let mut last = self
            .last_retry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < every) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// [`Readiness`] over the executor's [`Health`] and the pool's numbers.
pub(crate) struct PgReadiness {
    executor: Executor,
}

impl PgReadiness {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

#[async_trait]
impl Readiness for PgReadiness {
    async fn database_ready(&self) -> bool {
        let health = self.executor.health();
        if !health.is_failing() {
            // A held connection the server closed (restart, suspend, cut
            // network) is known locally, without sending anything: drop it
            // and report the loss.
            let lost = self
                .executor
                .pool()
                .retain(|client, _| !client.is_closed())
                .removed
                .len();
            if lost == 0 {
                return true;
            }
            health.unreachable();
        }
        if !health.claim_retry(RETRY_EVERY) {
            return false;
        }
        // The executor records the outcome in `health` itself.
        let ping = self.executor.query("SELECT 1", &[], Replay::Safe);
        if tokio::time::timeout(PROBE_TIMEOUT, ping).await.is_err() {
            health.unreachable();
        }
        !health.is_failing()
    }

    fn pool_stats(&self) -> PoolStats {
        let status = self.executor.status();
        PoolStats {
            size: status.size,
            available: status.available,
            waiting: status.waiting,
            max_size: status.max_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_pool_is_not_a_failing_database() {
        let health = Health::new();
        health.pool_failed(&PoolError::Timeout(TimeoutType::Wait));
        assert!(!health.is_failing());
        health.pool_failed(&PoolError::Timeout(TimeoutType::Create));
        assert!(health.is_failing());
        health.answered();
        assert!(!health.is_failing());
    }

    #[test]
    fn retries_of_a_failing_database_are_spaced() {
        let health = Health::new();
        assert!(health.claim_retry(Duration::from_secs(60)));
        assert!(!health.claim_retry(Duration::from_secs(60)));
        assert!(health.claim_retry(Duration::ZERO));
    }
}
