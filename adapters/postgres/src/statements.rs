//! How one statement goes out on one connection: named and prepared once
//! per connection (the default), or unnamed for a pooler without
//! prepared-statement support.
//!
//! Prepared: PostgreSQL parses and plans a statement once per connection
//! instead of on every request. Neon's pooler (PgBouncer >= 1.22 with
//! `max_prepared_statements = 1000`) carries protocol-level named
//! statements in transaction mode: it renames them per client and prepares
//! them on whichever server connection runs them. The set is small and
//! fixed (the repositories' statement texts), far below 1000.
//!
//! Round trips: a statement already prepared on the connection costs one
//! (Bind/Execute/Sync), like an unnamed one; its first use on a connection
//! costs one more (Parse/Describe/Sync). New connections are not warmed:
//! preparing every known statement in one pipelined round trip at set-up
//! was tried, and PgBouncer 1.24 left those pipelined prepares unanswered
//! when several connections warmed at once; warming one statement at a
//! time costs more round trips than the requests would.
//!
//! Recovery, never failing the request for it:
//! - `26000` (the server or pooler no longer knows the statement, e.g.
//!   after `DEALLOCATE ALL` or a pooler that lost track): evict it from the
//!   connection's cache and prepare it again.
//! - `0A000` "cached plan must not change result type" (a migration changed
//!   a table under a cached plan): PgBouncer shares one server-side
//!   statement per statement *text*, so preparing the same text again would
//!   hit the same stale plan. The statement set moves to a new *epoch*
//!   instead: every text gets a comment naming it, so every connection (and
//!   the pooler) prepares fresh statements once.
//!
//! Either way the request is retried once on the same connection (the
//! error comes before execution, so nothing ran), and if that fails the
//! same way it runs as an unnamed statement.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use deadpool_postgres::ClientWrapper;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row, Statement};

/// Typed parameters: each value with its PostgreSQL type.
pub(crate) type Params<'a> = &'a [(&'a (dyn ToSql + Sync), Type)];

/// Most statements kept per connection: a bound, not a working size; the repositories use about twenty. Past it a
/// connection's cache is cleared (closing its statements) and refills.
const MAX_STATEMENTS: usize = 200;

/// The statements this process uses and how they are sent. Shared by the
/// executor and the pool's connection set-up hook.
#[derive(Debug)]
pub(crate) struct StatementSet {
    prepared: bool,
    /// Bumped when a cached plan went stale; part of every prepared text.
    epoch: AtomicU32,
    /// Statements prepared again after 26000/0A000 (for tests and logs).
    recoveries: AtomicU64,
}

/// Why a prepared statement could not run.
enum Stale {
    /// 26000: the connection no longer has it.
    Unknown,
    /// 0A000: its cached plan no longer matches the tables.
    Plan,
}

impl StatementSet {
    pub(crate) fn new(prepared: bool) -> Arc<Self> {
        Arc::new(Self {
            prepared,
            epoch: AtomicU32::new(0),
            recoveries: AtomicU64::new(0),
        })
    }

    /// How many statements were prepared again after the server lost them
    /// or their plan went stale.
    #[cfg(test)]
    pub(crate) fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Runs `sql` on `client`: prepared (and cached per connection), or
    /// unnamed when prepared statements are off. One round trip once the
    /// connection has the statement.
    pub(crate) async fn query(
        &self,
        client: &ClientWrapper,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        if !self.prepared {
            return client.query_typed(sql, params).await;
        }
        let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(value, _)| *value).collect();
        let epoch = self.epoch.load(Ordering::Acquire);
        let statement = self.prepare(client, sql, &types, epoch).await?;
        let err = match client.query(&statement, &values).await {
            Err(err) => err,
            ok => return ok,
        };
        let Some(stale) = stale(&err) else {
            return Err(err);
        };
        drop(statement);
        client
            .statement_cache
            .remove(&epoch_text(sql, epoch), &types);
        let recoveries = self.recoveries.fetch_add(1, Ordering::Relaxed) + 1;
        let retry_epoch = match stale {
            Stale::Unknown => epoch,
            Stale::Plan => {
                // Only the first connection to notice moves the epoch.
                let _ = self.epoch.compare_exchange(
                    epoch,
                    epoch.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                self.epoch.load(Ordering::Acquire)
            }
        };
        tracing::info!(
            sqlstate = err.code().map(SqlState::code).unwrap_or("-"),
            epoch = retry_epoch,
            recoveries,
            "prepared statement is stale; preparing it again"
        );
        let retried = match self.prepare(client, sql, &types, retry_epoch).await {
            Ok(statement) => client.query(&statement, &values).await,
            Err(err) => Err(err),
        };
        match retried {
            Err(err) if stale_error(&err) => {
                client
                    .statement_cache
                    .remove(&epoch_text(sql, retry_epoch), &types);
                tracing::warn!(
                    sqlstate = err.code().map(SqlState::code).unwrap_or("-"),
                    "prepared statement still stale; running it unnamed"
                );
                client.query_typed(sql, params).await
            }
            other => other,
        }
    }

    async fn prepare(
        &self,
        client: &ClientWrapper,
        sql: &str,
        types: &[Type],
        epoch: u32,
    ) -> Result<Statement, Error> {
        let cache = &client.statement_cache;
        if cache.size() >= MAX_STATEMENTS {
            cache.clear();
        }
        client
            .prepare_typed_cached(&epoch_text(sql, epoch), types)
            .await
    }
}

/// The text prepared for `sql` in `epoch`: the statement itself at first,
/// then with a comment that makes it a new statement for the server and
/// for PgBouncer (which shares server statements by text).
fn epoch_text(sql: &str, epoch: u32) -> std::borrow::Cow<'_, str> {
    if epoch == 0 {
        std::borrow::Cow::Borrowed(sql)
    } else {
        std::borrow::Cow::Owned(format!("{sql}\n/* statement epoch {epoch} */"))
    }
}

fn stale(err: &Error) -> Option<Stale> {
    let db = err.as_db_error()?;
    if *db.code() == SqlState::INVALID_SQL_STATEMENT_NAME {
        Some(Stale::Unknown)
    } else if *db.code() == SqlState::FEATURE_NOT_SUPPORTED
        && db
            .message()
            .contains("cached plan must not change result type")
    {
        Some(Stale::Plan)
    } else {
        None
    }
}

fn stale_error(err: &Error) -> bool {
    stale(err).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_epoch_prepares_the_text_as_written() {
        assert_eq!(epoch_text("SELECT 1", 0), "SELECT 1");
        let later = epoch_text("SELECT 1", 3);
        assert!(later.starts_with("SELECT 1\n"), "{later}");
        assert_ne!(later, epoch_text("SELECT 1", 4));
    }
}

/// The runner against the real test cluster (`scripts/neon-local.sh
/// --test`), directly and through PgBouncer, on a pool of one connection so
/// that "the connection" is always the same one.
#[cfg(test)]
pub(crate) mod live_tests {
    use std::process::Command;

    use deadpool_postgres::Object;
    use tokio_postgres::types::Type;
    use tokio_postgres::SimpleQueryMessage;
    use tokio_util::task::TaskTracker;

    use super::StatementSet;
    use crate::connection_url::ConnectionUrl;
    use crate::pool::{build_pool, Executor, Replay};
    use crate::settings::PostgresSettings;
    use crate::tls;

    pub(crate) fn script(command: &str) -> String {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let output = Command::new(format!("{root}/scripts/neon-local.sh"))
            .args(["--test", command])
            .output()
            .expect("run scripts/neon-local.sh");
        assert!(
            output.status.success(),
            "scripts/neon-local.sh --test {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn executor(url: &str, prepared: bool) -> Executor {
        executor_with(url, prepared, |_| {})
    }

    /// An executor on a pool of one connection, with `adjust`'s settings.
    pub(crate) fn executor_with(
        url: &str,
        prepared: bool,
        adjust: impl FnOnce(&mut PostgresSettings),
    ) -> Executor {
        let mut settings = PostgresSettings::new(url);
        settings.max_size = 1;
        adjust(&mut settings);
        let parsed = ConnectionUrl::parse(url, false).unwrap();
        let tls = tls::connector(parsed.root_cert.as_deref(), parsed.direct_tls).unwrap();
        let statements = StatementSet::new(prepared);
        let connections = TaskTracker::new();
        let pool = build_pool(
            &parsed,
            tls.clone(),
            &settings,
            settings.connect_timeout,
            &connections,
        )
        .unwrap();
        Executor::new(
            pool,
            tls,
            settings.statement_timeout,
            statements,
            connections,
            settings.pipeline_depth,
        )
    }

    /// Runs SQL on the pool's (only) connection behind the cache's back.
    async fn behind_the_cache(executor: &Executor, sql: &str) -> Vec<SimpleQueryMessage> {
        let client = executor.pool().get().await.unwrap();
        client.simple_query(sql).await.unwrap()
    }

    /// How many statements with this text the connection has prepared.
    async fn prepared_on_connection(executor: &Executor, sql: &str) -> usize {
        let rows = behind_the_cache(
            executor,
            &format!(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = '{}'",
                sql.replace('\'', "''")
            ),
        )
        .await;
        rows.iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(|n| n.parse().unwrap()),
                _ => None,
            })
            .unwrap()
    }

    async fn plus_one(executor: &Executor, sql: &str) -> i32 {
        let rows = executor
            .query(sql, &[(&41i32, Type::INT4)], Replay::Once)
            .await
            .unwrap();
        rows[0].get(0)
    }

    /// Whether the connection serving the pool's client reached PostgreSQL
    /// over TLS, and from where ("local": a unix socket).
    async fn server_hop(executor: &Executor) -> (String, String) {
        let rows = behind_the_cache(
            executor,
            "SELECT s.ssl::text, coalesce(host(a.client_addr), 'local') \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE pid = pg_backend_pid()",
        )
        .await;
        rows.iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => {
                    Some((row.get(0)?.to_owned(), row.get(1)?.to_owned()))
                }
                _ => None,
            })
            .unwrap()
    }

    /// The stand-in's pooler, like Neon's, reaches PostgreSQL in plaintext on
    /// the same host (Neon: `server_tls_sslmode=disable`), so PostgreSQL
    /// pays no TLS on pooled traffic (the benchmark's pooled figures rely
    /// on it); direct clients still arrive over TLS.
    #[tokio::test]
    async fn the_local_pooler_reaches_postgresql_in_plaintext_like_neons() {
        let pooled = executor(&script("pooler-url"), false);
        assert_eq!(server_hop(&pooled).await, ("false".into(), "local".into()));
        let direct = executor(&script("url"), false);
        assert_eq!(server_hop(&direct).await.0, "true");
    }

    #[tokio::test]
    async fn a_statement_is_prepared_once_per_connection_and_reused() {
        let executor = executor(&script("url"), true);
        let sql = "SELECT $1::int4 + 1 AS reused";
        for _ in 0..3 {
            assert_eq!(plus_one(&executor, sql).await, 42);
        }
        assert_eq!(prepared_on_connection(&executor, sql).await, 1);
        assert_eq!(executor.statements().recoveries(), 0);
    }

    #[tokio::test]
    async fn with_prepared_statements_off_nothing_is_prepared() {
        let executor = executor(&script("url"), false);
        let sql = "SELECT $1::int4 + 1 AS unnamed";
        assert_eq!(plus_one(&executor, sql).await, 42);
        assert_eq!(prepared_on_connection(&executor, sql).await, 0);
    }

    #[tokio::test]
    async fn a_new_connection_prepares_a_statement_on_its_first_use() {
        let executor = executor(&script("url"), true);
        let sql = "SELECT $1::int4 + 1 AS lazily";
        assert_eq!(plus_one(&executor, sql).await, 42);
        // Replace the only connection: nothing is prepared until a request
        // needs it, then it is.
        drop(Object::take(executor.pool().get().await.unwrap()));
        assert_eq!(prepared_on_connection(&executor, sql).await, 0);
        assert_eq!(plus_one(&executor, sql).await, 42);
        assert_eq!(prepared_on_connection(&executor, sql).await, 1);
        assert_eq!(executor.statements().recoveries(), 0);
    }

    #[tokio::test]
    async fn a_statement_the_server_forgot_is_prepared_again() {
        let executor = executor(&script("url"), true);
        let sql = "SELECT $1::int4 + 1 AS forgotten";
        assert_eq!(plus_one(&executor, sql).await, 42);
        behind_the_cache(&executor, "DEALLOCATE ALL").await;
        // 26000 on the Bind, then prepared again: the request succeeds.
        assert_eq!(plus_one(&executor, sql).await, 42);
        assert_eq!(executor.statements().recoveries(), 1);
        assert_eq!(prepared_on_connection(&executor, sql).await, 1);
    }

    /// A table changes under a cached plan (as a migration would): the
    /// first request after it meets 0A000 and still succeeds, the next ones
    /// use fresh statements.
    async fn a_stale_plan_is_replaced(url: &str) {
        let executor = executor(url, true);
        let table = format!("prep_{}", uuid::Uuid::now_v7().simple());
        behind_the_cache(
            &executor,
            &format!("CREATE TABLE {table} (v int4); INSERT INTO {table} VALUES (7)"),
        )
        .await;
        let sql = format!("SELECT * FROM {table}");
        let rows = executor.query(&sql, &[], Replay::Once).await.unwrap();
        assert_eq!(rows[0].get::<_, i32>(0), 7);
        behind_the_cache(
            &executor,
            &format!("ALTER TABLE {table} ALTER COLUMN v TYPE int8"),
        )
        .await;
        for _ in 0..3 {
            let rows = executor.query(&sql, &[], Replay::Once).await.unwrap();
            assert_eq!(rows[0].get::<_, i64>(0), 7);
        }
        behind_the_cache(&executor, &format!("DROP TABLE {table}")).await;
        assert_eq!(executor.statements().recoveries(), 1);
    }

    #[tokio::test]
    async fn a_stale_plan_is_replaced_directly() {
        a_stale_plan_is_replaced(&script("url")).await;
    }

    #[tokio::test]
    async fn a_stale_plan_is_replaced_through_the_pooler() {
        a_stale_plan_is_replaced(&script("pooler-url")).await;
    }
}
