//! Busy connections that more statements may join (pipelining).
//!
//! When every connection the pool may open is checked out, a statement
//! joins the checked-out connection with the fewest statements in flight
//! (fewer than `depth`) instead of waiting for one to come back.
//! tokio-postgres sends it right behind the others and PostgreSQL answers
//! them in order, so one wake-up of the backend (and one read and one
//! write of each side's socket) serves several requests: under load that
//! is most of what a request costs PostgreSQL beyond the statement itself.
//!
//! Safe because every repository statement is one autocommit statement
//! with its own Sync: no session state, no open transaction, and an error
//! in one ends only its own implicit transaction. Through PgBouncer in
//! transaction mode the pipelined statements run back to back on the
//! server connection the first one was given.
//!
//! Only a connection that is moving is joined: one that has finished no
//! statement for [`STALLED_AFTER`] is probably stuck (a lock wait, a slow
//! plan), and a statement queued behind it would wait as long, so the
//! statement waits for the pool instead, as without pipelining.
//!
//! A connection takes joiners for [`TURN`] from its checkout, then drains
//! and goes back to the pool like any other. Through a transaction pooler
//! this is what keeps pipelining fair: PgBouncer gives a client's server
//! connection back only between transactions, when nothing is
//! outstanding, so a client connection that never ran dry would hold its
//! server connection for good while other clients (other replicas, or this
//! pool's own connections past the pooler's `default_pool_size`) queued
//! for one: with 6 connections on a pooler of 5 that was a p99 of 1 to 3 s.
//!
//! A connection that failed or timed out under one of its statements is
//! *retired*: no statement joins it any more, and it is closed (not
//! returned to the pool) once the last one in flight lets go.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Status};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// A busy connection that has finished nothing for this long is not
/// joined. Far above a statement's usual time, far below the timeouts.
pub(crate) const STALLED_AFTER: Duration = Duration::from_millis(100);

/// How long a checked-out connection takes joiners; then it drains and
/// goes back to the pool (see the module doc).
pub(crate) const TURN: Duration = Duration::from_millis(10);

/// The connections checked out for statements, and how many each carries.
pub(crate) struct Lane {
    depth: usize,
    open: Mutex<Vec<Entry>>,
    /// Woken when a connection starts a turn, for statements waiting on a
    /// full pool: they join it instead of waiting for one of their own.
    opened: Notify,
}

struct Entry {
    conn: Arc<Shared>,
    in_flight: usize,
    /// When it was checked out or last finished a statement.
    moved: Instant,
    /// When it was checked out.
    since: Instant,
}

/// A pooled connection several statements may hold at once.
pub(crate) struct Shared {
    object: Option<Object>,
    retired: AtomicBool,
}

impl Deref for Shared {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.object.as_ref().expect("present until drop")
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            if self.retired.load(Ordering::Acquire) {
                // Out of the pool for good: the connection closes.
                drop(Object::take(object));
            }
        }
    }
}

/// One statement's hold on a connection; lets go on drop.
pub(crate) struct Lease<'a> {
    lane: &'a Lane,
    conn: Arc<Shared>,
}

impl Deref for Lease<'_> {
    type Target = Object;

    fn deref(&self) -> &Object {
        &self.conn
    }
}

impl Lease<'_> {
    /// No statement joins this connection any more, and it closes once
    /// the last one in flight lets go.
    pub(crate) fn retire(&self) {
        self.conn.retired.store(true, Ordering::Release);
        self.lane
            .entries()
            .retain(|entry| !Arc::ptr_eq(&entry.conn, &self.conn));
    }

    /// Whether this is the only statement on its connection.
    pub(crate) fn alone(&self) -> bool {
        let entries = self.lane.entries();
        let in_lane = entries
            .iter()
            .any(|entry| Arc::ptr_eq(&entry.conn, &self.conn));
        Arc::strong_count(&self.conn) - usize::from(in_lane) == 1
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut entries = self.lane.entries();
        if let Some(at) = entries
            .iter()
            .position(|entry| Arc::ptr_eq(&entry.conn, &self.conn))
        {
            let entry = &mut entries[at];
            entry.in_flight -= 1;
            entry.moved = Instant::now();
            if entry.in_flight == 0 {
                entries.swap_remove(at);
            }
        }
    }
}

impl Lane {
    /// `depth`: most statements in flight on one connection; 1 turns
    /// sharing off.
    pub(crate) fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            open: Mutex::new(Vec::new()),
            opened: Notify::new(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether statements share connections at all.
    pub(crate) fn shares(&self) -> bool {
        self.depth > 1
    }

    /// Resolves when a connection starts a turn; create it before trying
    /// [`Lane::join`], so a turn that starts in between is not missed.
    pub(crate) fn opened(&self) -> Notified<'_> {
        self.opened.notified()
    }

    /// A place on a busy connection, when the pool (as `status` found it)
    /// has no idle connection and may not open another.
    pub(crate) fn join(&self, status: Status) -> Option<Lease<'_>> {
        if !self.shares() || status.available > 0 || status.size < status.max_size {
            return None;
        }
        let mut entries = self.entries();
        let now = Instant::now();
        let entry = entries
            .iter_mut()
            .filter(|entry| {
                entry.in_flight < self.depth
                    && now - entry.since < TURN
                    && now - entry.moved < STALLED_AFTER
                    && !entry.conn.is_closed()
            })
            .min_by_key(|entry| entry.in_flight)?;
        entry.in_flight += 1;
        Some(Lease {
            lane: self,
            conn: entry.conn.clone(),
        })
    }

    /// Holds a connection just checked out of the pool, open to others.
    pub(crate) fn hold(&self, object: Object) -> Lease<'_> {
        let conn = Arc::new(Shared {
            object: Some(object),
            retired: AtomicBool::new(false),
        });
        if self.depth > 1 {
            let now = Instant::now();
            self.entries().push(Entry {
                conn: conn.clone(),
                in_flight: 1,
                moved: now,
                since: now,
            });
            self.opened.notify_waiters();
        }
        Lease { lane: self, conn }
    }
}

/// Pipelining against the real test cluster, directly and through
/// PgBouncer, on a pool of one connection.
#[cfg(test)]
mod live_tests {
    use std::time::Duration;

    use application::ports::RepoError;
    use test_support::cluster;
    use tokio_postgres::types::Type;
    use tokio_postgres::SimpleQueryMessage;

    use std::sync::atomic::Ordering;

    use super::{STALLED_AFTER, TURN};
    use crate::pool::{Executor, Replay};
    use crate::settings::PostgresSettings;
    use crate::statements::live_tests::{executor_with, script};

    /// `n` back after `secs` seconds in the database; `tag` marks the
    /// statement's text so that the test can find it in pg_stat_activity.
    async fn sleepy(executor: &Executor, tag: &str, secs: f64, n: i32) -> Result<i32, RepoError> {
        let sql = format!("SELECT $1::int4 AS n, pg_sleep($2::float8) /* {tag} */");
        let rows = executor
            .query(
                &sql,
                &[(&n, Type::INT4), (&secs, Type::FLOAT8)],
                Replay::Safe,
            )
            .await?;
        Ok(rows[0].get(0))
    }

    /// Until the pool's only connection is checked out.
    async fn until_busy(executor: &Executor) {
        loop {
            let status = executor.status();
            if status.size == 1 && status.available == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Backends running a statement marked `tag`.
    async fn running(tag: &str) -> usize {
        let admin = cluster::admin_client(&script("admin-url"), "postgres").await;
        admin
            .simple_query(&format!(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' \
                 AND query LIKE '%/* {tag} */%' AND pid <> pg_backend_pid()"
            ))
            .await
            .unwrap()
            .iter()
            .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
            .count()
    }

    fn assert_unavailable(result: &Result<i32, RepoError>) {
        assert!(
            matches!(result, Err(RepoError::Unavailable { .. })),
            "{result:?}"
        );
    }

    fn tag() -> String {
        format!("lane_{}", uuid::Uuid::now_v7().simple())
    }

    /// One slow statement holds the only connection; three more arrive
    /// while it runs, with 200 ms to wait for a connection.
    async fn three_behind_a_slow_one(url: &str, depth: usize) -> Vec<Result<i32, RepoError>> {
        let executor = executor_with(url, true, |s: &mut PostgresSettings| {
            s.wait_timeout = Duration::from_millis(200);
            s.pipeline_depth = depth;
        });
        let tag = tag();
        let slow = sleepy(&executor, &tag, 0.8, 0);
        let behind = async {
            until_busy(&executor).await;
            futures_util::future::join_all((1..4).map(|n| sleepy(&executor, &tag, 0.0, n))).await
        };
        let (first, mut rest) = tokio::join!(slow, behind);
        rest.insert(0, first);
        assert_eq!(executor.status().size, 1, "one connection at most");
        rest
    }

    async fn statements_join_a_busy_connection_instead_of_waiting(url: &str) {
        let shared = three_behind_a_slow_one(url, 4).await;
        let answers: Vec<i32> = shared
            .into_iter()
            .map(|r| r.expect("a statement behind the slow one is answered"))
            .collect();
        assert_eq!(answers, [0, 1, 2, 3]);
        // The same load without sharing: the three wait for the connection
        // and give up after 200 ms.
        let unshared = three_behind_a_slow_one(url, 1).await;
        assert!(unshared[0].is_ok(), "{:?}", unshared[0]);
        unshared[1..].iter().for_each(assert_unavailable);
    }

    #[tokio::test]
    async fn statements_join_a_busy_connection_directly() {
        statements_join_a_busy_connection_instead_of_waiting(&script("url")).await;
    }

    #[tokio::test]
    async fn statements_join_a_busy_connection_through_the_pooler() {
        statements_join_a_busy_connection_instead_of_waiting(&script("pooler-url")).await;
    }

    /// A connection busy for longer than [`STALLED_AFTER`] without
    /// finishing anything is not joined: the statement waits for the pool
    /// (and gives up after 200 ms) instead of queueing behind it.
    async fn a_stalled_connection_is_not_joined(url: &str) {
        let executor = executor_with(url, true, |s: &mut PostgresSettings| {
            s.wait_timeout = Duration::from_millis(200);
            s.pipeline_depth = 4;
        });
        let tag = tag();
        let slow = sleepy(&executor, &tag, 1.5, 0);
        let behind = async {
            until_busy(&executor).await;
            tokio::time::sleep(STALLED_AFTER * 3).await;
            sleepy(&executor, &tag, 0.0, 1).await
        };
        let (first, second) = tokio::join!(slow, behind);
        assert_eq!(first.unwrap(), 0);
        assert_unavailable(&second);
    }

    #[tokio::test]
    async fn a_stalled_connection_is_not_joined_directly() {
        a_stalled_connection_is_not_joined(&script("url")).await;
    }

    #[tokio::test]
    async fn a_stalled_connection_is_not_joined_through_the_pooler() {
        a_stalled_connection_is_not_joined(&script("pooler-url")).await;
    }

    /// Under a stream of statements that never lets its connection run
    /// dry, the connection still goes back to the pool after its turn, so
    /// a caller waiting for the pool (as a client waits for PgBouncer's
    /// server connection) gets it instead of timing out.
    #[tokio::test]
    async fn a_connection_under_an_endless_stream_still_goes_back_to_the_pool() {
        let executor = executor_with(&script("url"), true, |s: &mut PostgresSettings| {
            s.wait_timeout = Duration::from_secs(2);
            s.pipeline_depth = 16;
        });
        let tag = tag();
        let done = std::sync::atomic::AtomicBool::new(false);
        let streams = futures_util::future::join_all((0..12).map(|n| {
            let (executor, tag, done) = (&executor, &tag, &done);
            async move {
                if n > 0 {
                    // Joining the first one's connection, not queueing for the pool.
                    until_busy(executor).await;
                }
                let mut answered = 0;
                while !done.load(Ordering::Relaxed) {
                    assert_eq!(sleepy(executor, tag, 0.0, n).await.unwrap(), n);
                    answered += 1;
                }
                answered
            }
        }));
        let waiter = async {
            until_busy(&executor).await;
            tokio::time::sleep(TURN * 5).await;
            let got = executor.pool().get().await.map(drop);
            done.store(true, Ordering::Relaxed);
            got
        };
        let (answered, got) = tokio::join!(streams, waiter);
        assert!(got.is_ok(), "the waiter never got the connection: {got:?}");
        assert!(answered.iter().all(|&n| n > 0), "{answered:?}");
    }

    /// Statements queued behind a stuck one time out with it; the last to
    /// give up cancels the stuck statement (none cancels another's), and
    /// the connection is replaced.
    #[tokio::test]
    async fn statements_stuck_behind_one_time_out_and_the_connection_is_replaced() {
        let executor = executor_with(&script("url"), true, |s: &mut PostgresSettings| {
            s.statement_timeout = Duration::from_millis(400);
            s.pipeline_depth = 4;
        });
        let tag = tag();
        let stuck = sleepy(&executor, &tag, 60.0, 0);
        let behind = async {
            until_busy(&executor).await;
            futures_util::future::join_all((1..3).map(|n| sleepy(&executor, &tag, 0.0, n))).await
        };
        let (first, rest) = tokio::join!(stuck, behind);
        std::iter::once(&first)
            .chain(&rest)
            .for_each(assert_unavailable);
        // The cancel is on its way: the 60 s statement ends long before 60 s.
        let mut waited = Duration::ZERO;
        while running(&tag).await > 0 {
            assert!(
                waited < Duration::from_secs(20),
                "the stuck statement was not cancelled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        assert_eq!(sleepy(&executor, &tag, 0.0, 7).await.unwrap(), 7);
    }

    /// The connection under several pipelined reads dies: each read runs
    /// again on a fresh connection and succeeds.
    async fn pipelined_reads_survive_their_connection_killed(url: &str) {
        let executor = executor_with(url, true, |s: &mut PostgresSettings| {
            s.pipeline_depth = 4;
        });
        let tag = tag();
        let first = sleepy(&executor, &tag, 0.5, 0);
        let behind = async {
            until_busy(&executor).await;
            futures_util::future::join_all((1..4).map(|n| sleepy(&executor, &tag, 0.5, n))).await
        };
        let kill = async {
            while running(&tag).await == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let admin = cluster::admin_client(&script("admin-url"), "postgres").await;
            admin
                .simple_query(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE query LIKE '%/* {tag} */%' AND pid <> pg_backend_pid()"
                ))
                .await
                .unwrap();
        };
        let (first, mut answers, ()) = tokio::join!(first, behind, kill);
        answers.insert(0, first);
        let answers: Vec<i32> = answers
            .into_iter()
            .map(|r| r.expect("a pipelined read is replayed"))
            .collect();
        assert_eq!(answers, [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn pipelined_reads_survive_their_connection_killed_directly() {
        pipelined_reads_survive_their_connection_killed(&script("url")).await;
    }

    #[tokio::test]
    async fn pipelined_reads_survive_their_server_connection_killed_through_the_pooler() {
        pipelined_reads_survive_their_connection_killed(&script("pooler-url")).await;
    }
}
