//! Versioned SQL migrations, embedded in the binary.
//!
//! Each applied migration is recorded in `schema_migrations` with the
//! SHA-256 of its text, in the transaction that applies it; an applied
//! migration whose text changed stops the start.
//!
//! Fast path: the start-up statement reads that ledger (no lock, no
//! transaction). When every migration of this build is recorded with its
//! checksum there is nothing to do: a recorded row was committed together
//! with its migration.
//!
//! Otherwise all pending migrations run in one transaction on a direct
//! (never Neon-pooled) connection after `pg_advisory_xact_lock`: replicas
//! starting together queue on the lock and read the ledger again under it,
//! so each migration is applied exactly once. The transaction is pipelined
//! into two round trips: BEGIN, the lock, the ledger's CREATE and its read;
//! then the migrations, their ledger rows, COMMIT and a fresh read of the
//! catalog for the schema check.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use futures_util::future::{maybe_done, MaybeDone};
use sha2::{Digest, Sha256};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::errors::{chain_text, StartupError};
use crate::schema_check::{self, Catalog};

/// One migration: applied in `version` order.
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "replays_and_search",
        sql: include_str!("../migrations/0002_replays_and_search.sql"),
    },
    Migration {
        version: 3,
        name: "login_attempts",
        sql: include_str!("../migrations/0003_login_attempts.sql"),
    },
    Migration {
        version: 4,
        name: "accounts",
        sql: include_str!("../migrations/0004_accounts.sql"),
    },
];

/// Any fixed number shared by every replica: "todo_mig" in ASCII.
const LOCK_KEY: i64 = 0x746f_646f_5f6d_6967;

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

const READ_LEDGER: &str = "SELECT version, name, checksum FROM schema_migrations ORDER BY version";

/// The ledger as one select-list item (a JSON array of `[version, name,
/// checksum]` as text), for the start-up statement. It names the table, so
/// that statement fails with `undefined_table` on a database never
/// migrated: then the ledger is empty.
pub(crate) const LEDGER_ITEM: &str =
    "(SELECT coalesce(json_agg(json_build_array(version, name, checksum)
        ORDER BY version), '[]') FROM schema_migrations)::text";

/// Recorded migrations: (version, name, checksum).
pub(crate) type Ledger = Vec<(i32, String, String)>;

/// Decodes [`LEDGER_ITEM`].
pub(crate) fn ledger_from_json(json: &str) -> Result<Ledger, StartupError> {
    serde_json::from_str(json).map_err(|e| StartupError::Query {
        cause: format!("reading schema_migrations failed: {e}"),
    })
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationReport {
    /// Migrations this run applied, as `0001_init`.
    pub applied: Vec<String>,
    /// Migrations found already applied (checksums verified).
    pub already_applied: Vec<String>,
}

impl Migration {
    pub(crate) fn label(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }

    pub(crate) fn checksum(&self) -> String {
        format!("{:x}", Sha256::digest(self.sql.as_bytes()))
    }
}

fn query_failed(err: &tokio_postgres::Error) -> StartupError {
    StartupError::Query {
        cause: chain_text(err),
    }
}

/// Labels of this build's migrations that `ledger` does not record.
pub(crate) fn pending(ledger: &Ledger) -> Vec<String> {
    MIGRATIONS
        .iter()
        .filter(|m| !ledger.iter().any(|(version, _, _)| *version == m.version))
        .map(Migration::label)
        .collect()
}

/// `Some` (what is applied) when `ledger` records every migration of
/// `migrations`, `None` when some are pending; an error when a recorded
/// checksum differs from this build's text.
pub(crate) fn up_to_date(
    ledger: &[(i32, String, String)],
    migrations: &[Migration],
) -> Result<Option<MigrationReport>, StartupError> {
    let mut report = MigrationReport::default();
    let mut pending = false;
    for migration in migrations {
        if verified(ledger, migration)? {
            report.already_applied.push(migration.label());
        } else {
            pending = true;
        }
    }
    warn_unknown(ledger, migrations);
    Ok((!pending).then_some(report))
}

/// Whether `migration` is recorded in `ledger`, checksum checked.
fn verified(ledger: &[(i32, String, String)], migration: &Migration) -> Result<bool, StartupError> {
    let Some((_, _, stored)) = ledger.iter().find(|(v, _, _)| *v == migration.version) else {
        return Ok(false);
    };
    let expected = migration.checksum();
    if *stored != expected {
        return Err(StartupError::MigrationChecksum {
            version: migration.version,
            name: migration.name.to_owned(),
            stored: stored.clone(),
            expected,
        });
    }
    Ok(true)
}

fn warn_unknown(ledger: &[(i32, String, String)], migrations: &[Migration]) {
    for (version, name, _) in ledger {
        if !migrations.iter().any(|m| m.version == *version) {
            tracing::warn!(
                version,
                name,
                "the database has a migration this build does not know (a newer build ran?)"
            );
        }
    }
}

type Reply = Result<Vec<Row>, tokio_postgres::Error>;
type Step<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

fn simple<'a>(client: &'a Client, sql: &'a str) -> Step<'a> {
    Box::pin(async move { client.batch_execute(sql).await.map(|()| Vec::new()) })
}

fn typed<'a>(client: &'a Client, sql: &'a str, params: crate::pool::Params<'a>) -> Step<'a> {
    Box::pin(async move { client.query_typed(sql, params).await })
}

/// Sends every step before waiting for any answer, in order: tokio-postgres
/// queues a request when its future is first polled, and the steps are
/// first polled in the order given. The server runs them in that order, so
/// the lot costs one round trip; each step still gets its own answer.
async fn pipeline(steps: Vec<Step<'_>>) -> Vec<Reply> {
    let mut slots: Vec<MaybeDone<Step<'_>>> = steps.into_iter().map(maybe_done).collect();
    poll_fn(|cx| {
        let mut done = true;
        for slot in &mut slots {
            done &= Pin::new(slot).poll(cx).is_ready();
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    slots
        .iter_mut()
        .map(|slot| {
            Pin::new(slot)
                .take_output()
                .unwrap_or_else(|| Ok(Vec::new()))
        })
        .collect()
}

/// Applies every pending migration of `migrations` on `client` (a direct
/// connection), under the lock, in one transaction; returns what it did
/// and the catalog as committed. On error the transaction may still be
/// open: the caller closes the connection.
pub(crate) async fn apply(
    client: &Client,
    migrations: &[Migration],
) -> Result<(MigrationReport, Catalog), StartupError> {
    let lock: &[(&(dyn ToSql + Sync), Type)] = &[(&LOCK_KEY, Type::INT8)];
    let replies = pipeline(vec![
        simple(client, "BEGIN"),
        typed(client, "SELECT pg_advisory_xact_lock($1)", lock),
        simple(client, CREATE_LEDGER),
        typed(client, READ_LEDGER, &[]),
    ])
    .await;
    let mut rows = Vec::new();
    for reply in replies {
        rows = reply.map_err(|e| query_failed(&e))?;
    }
    let stored: Ledger = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();

    let mut report = MigrationReport::default();
    let mut pending = Vec::new();
    for migration in migrations {
        if verified(&stored, migration)? {
            report.already_applied.push(migration.label());
        } else {
            pending.push(migration);
        }
    }
    warn_unknown(&stored, migrations);

    let checksums: Vec<String> = pending.iter().map(|m| m.checksum()).collect();
    let records: Vec<[(&(dyn ToSql + Sync), Type); 3]> = pending
        .iter()
        .zip(&checksums)
        .map(|(m, checksum)| {
            [
                (&m.version as &(dyn ToSql + Sync), Type::INT4),
                (&m.name as &(dyn ToSql + Sync), Type::TEXT),
                (checksum as &(dyn ToSql + Sync), Type::TEXT),
            ]
        })
        .collect();
    let names = schema_check::table_names();
    let catalog_params: &[(&(dyn ToSql + Sync), Type)] = &[(&names, Type::TEXT_ARRAY)];
    let catalog_sql = format!("SELECT {}", schema_check::CATALOG_ITEMS);
    let mut steps = Vec::with_capacity(2 * pending.len() + 2);
    for (migration, record) in pending.iter().zip(&records) {
        steps.push(simple(client, migration.sql));
        steps.push(typed(
            client,
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            record,
        ));
    }
    // After a failed step the transaction is aborted and COMMIT rolls it
    // back; the first error is the one reported.
    steps.push(simple(client, "COMMIT"));
    steps.push(typed(client, &catalog_sql, catalog_params));
    let mut replies = pipeline(steps).await.into_iter();
    for migration in &pending {
        let failed = |e: tokio_postgres::Error| StartupError::MigrationFailed {
            version: migration.version,
            name: migration.name.to_owned(),
            cause: chain_text(&e),
        };
        for _ in 0..2 {
            if let Some(reply) = replies.next() {
                reply.map_err(failed)?;
            }
        }
        report.applied.push(migration.label());
    }
    let commit = replies.next().unwrap_or_else(|| Ok(Vec::new()));
    commit.map_err(|e| query_failed(&e))?;
    let catalog_rows = replies
        .next()
        .unwrap_or_else(|| Ok(Vec::new()))
        .map_err(|e| StartupError::Query {
            cause: format!("reading the catalog failed: {}", chain_text(&e)),
        })?;
    let catalog = match catalog_rows.first() {
        Some(row) => Catalog::from_row(row, 0)?,
        None => {
            return Err(StartupError::Query {
                cause: "reading the catalog returned no row".into(),
            })
        }
    };
    Ok((report, catalog))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_in_strictly_increasing_order() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(MIGRATIONS[0].label(), "0001_init");
        assert_eq!(MIGRATIONS[0].checksum().len(), 64);
    }

    fn recorded(migration: &Migration, checksum: String) -> (i32, String, String) {
        (migration.version, migration.name.to_owned(), checksum)
    }

    #[test]
    fn a_complete_ledger_with_matching_checksums_needs_no_transaction() {
        let mut ledger: Ledger = MIGRATIONS
            .iter()
            .map(|m| recorded(m, m.checksum()))
            .collect();
        // A newer build's migration only draws a warning.
        ledger.push((9999, "from_the_future".into(), "x".into()));
        let report = up_to_date(&ledger, MIGRATIONS).unwrap().unwrap();
        assert!(report.applied.is_empty());
        assert_eq!(
            report.already_applied,
            [
                "0001_init",
                "0002_replays_and_search",
                "0003_login_attempts",
                "0004_accounts"
            ]
        );
    }

    #[test]
    fn a_missing_migration_takes_the_locked_path() {
        assert_eq!(up_to_date(&[], MIGRATIONS).unwrap(), None);
    }

    #[test]
    fn a_changed_checksum_is_refused_without_the_lock() {
        let ledger = vec![recorded(&MIGRATIONS[0], "edited".into())];
        let err = up_to_date(&ledger, MIGRATIONS).unwrap_err();
        assert!(
            matches!(err, StartupError::MigrationChecksum { version: 1, ref stored, .. } if stored == "edited"),
            "{err:?}"
        );
    }

    #[test]
    fn the_ledger_item_decodes() {
        let ledger = ledger_from_json(r#"[[1, "init", "abc"]]"#).unwrap();
        assert_eq!(ledger, vec![(1, "init".to_owned(), "abc".to_owned())]);
        assert!(ledger_from_json("[]").unwrap().is_empty());
    }
}
