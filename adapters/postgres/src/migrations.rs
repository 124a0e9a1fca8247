//! Versioned SQL migrations, embedded in the binary.
//!
//! All pending migrations run in one transaction on a direct (never pooled)
//! connection, after `pg_advisory_xact_lock`: replicas starting together
//! queue on the lock, and each migration is applied exactly once. Each is
//! recorded in `schema_migrations` with the SHA-256 of its text; an applied
//! migration whose text changed stops the start.

use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::errors::{chain_text, StartupError};

/// One migration: applied in `version` order.
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../migrations/0001_init.sql"),
}];

/// Any fixed number shared by every replica: "todo_mig" in ASCII.
const LOCK_KEY: i64 = 0x746f_646f_5f6d_6967;

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

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

/// Labels of this build's migrations not yet recorded as applied; a read
/// without the lock, for `todo-server check`.
pub(crate) async fn pending(executor: &crate::pool::Executor) -> Result<Vec<String>, StartupError> {
    let failed = |e: application::ports::RepoError| StartupError::Query {
        cause: format!("reading schema_migrations failed: {e}"),
    };
    let ledger = executor
        .query_one(
            "SELECT to_regclass('public.schema_migrations') IS NOT NULL",
            &[],
            crate::pool::Replay::Safe,
        )
        .await
        .map_err(failed)?;
    let applied: Vec<i32> = if ledger.get::<_, bool>(0) {
        executor
            .query(
                "SELECT version FROM schema_migrations",
                &[],
                crate::pool::Replay::Safe,
            )
            .await
            .map_err(failed)?
            .iter()
            .map(|row| row.get(0))
            .collect()
    } else {
        Vec::new()
    };
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(Migration::label)
        .collect())
}

/// Applies every pending migration of `migrations`.
pub(crate) async fn apply(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<MigrationReport, StartupError> {
    let tx = client.transaction().await.map_err(|e| query_failed(&e))?;
    tx.execute_typed(
        "SELECT pg_advisory_xact_lock($1)",
        &[(&LOCK_KEY, Type::INT8)],
    )
    .await
    .map_err(|e| query_failed(&e))?;
    tx.batch_execute(CREATE_LEDGER)
        .await
        .map_err(|e| query_failed(&e))?;
    let rows = tx
        .query_typed(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(|e| query_failed(&e))?;
    let stored: Vec<(i32, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();

    let mut report = MigrationReport::default();
    for migration in migrations {
        let expected = migration.checksum();
        if let Some((_, _, checksum)) = stored.iter().find(|(v, _, _)| *v == migration.version) {
            if *checksum != expected {
                return Err(StartupError::MigrationChecksum {
                    version: migration.version,
                    name: migration.name.to_owned(),
                    stored: checksum.clone(),
                    expected,
                });
            }
            report.already_applied.push(migration.label());
            continue;
        }
        let failed = |e: tokio_postgres::Error| StartupError::MigrationFailed {
            version: migration.version,
            name: migration.name.to_owned(),
            cause: chain_text(&e),
        };
        tx.batch_execute(migration.sql).await.map_err(failed)?;
        tx.execute_typed(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[
                (&migration.version, Type::INT4),
                (&migration.name, Type::TEXT),
                (&expected, Type::TEXT),
            ],
        )
        .await
        .map_err(failed)?;
        report.applied.push(migration.label());
    }
    for (version, name, _) in &stored {
        if !migrations.iter().any(|m| m.version == *version) {
            tracing::warn!(
                version,
                name,
                "the database has a migration this build does not know (a newer build ran?)"
            );
        }
    }
    tx.commit().await.map_err(|e| query_failed(&e))?;
    Ok(report)
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
}
