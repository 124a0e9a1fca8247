//! [`AccountRepo`] on PostgreSQL, for the operator commands.
//!
//! Every method is one parameterised statement, one round trip, run by the
//! adapter's executor like every repository's, so PgBouncer in transaction
//! mode carries it (the contract tests run through it). Emails
//! are compared as the unique index `users_email_lower_key` compares them:
//! `lower(email) = lower($1)`. Deleting a user deletes its sessions and
//! tasks through the tables' `ON DELETE CASCADE`, in the same statement.

use std::sync::LazyLock;

use application::ports::{
    Account, AccountRepo, AccountSummary, DeletedAccount, RepoError, TaskCursor, LISTED_SESSIONS,
};
use async_trait::async_trait;
use domain::{Email, Session, Task, Timestamp, UserId, UserName};
use tokio_postgres::types::Type;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::pool::{Executor, Replay};
use crate::rows::{session_at, session_columns_of, task_at, SESSION_COLUMNS, TASK_COLUMNS};

pub(crate) struct PgAccountRepo {
    executor: Executor,
}

impl PgAccountRepo {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

/// The account's columns, read by name in [`account_from`].
const ACCOUNT_COLUMNS: &str = "id, email, name, created_at, updated_at";

/// The account with its tasks and the sessions active at $2, one row per
/// listed session (newest first, at most $3), or one row with NULL session
/// columns when none is active.
static SUMMARY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT u.id, u.email, u.name, u.created_at, u.updated_at,
        (SELECT count(*) FROM tasks t WHERE t.user_id = u.id) AS tasks,
        (SELECT count(*) FROM sessions s
            WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > $2) AS active_sessions,
        {listed}
    FROM users u
    LEFT JOIN LATERAL (
        SELECT * FROM sessions s
        WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > $2
        ORDER BY s.created_at DESC, s.id DESC
        LIMIT $3
    ) AS x ON true
    WHERE lower(u.email) = lower($1)
    ORDER BY x.created_at DESC, x.id DESC",
        listed = session_columns_of("x"),
    )
});

/// Where the listed session's columns start in a summary row.
const SUMMARY_SESSION_START: usize = 7;

/// The counts read the statement's snapshot, i.e. the rows the cascade
/// removes. Not replayed after sending: a repeat of a committed delete
/// would find nothing and report an unknown email.
const DELETE_SQL: &str = "WITH gone AS (
        DELETE FROM users WHERE lower(email) = lower($1)
        RETURNING id, email, name, created_at, updated_at
    )
    SELECT gone.id, gone.email, gone.name, gone.created_at, gone.updated_at,
        (SELECT count(*) FROM tasks t WHERE t.user_id = gone.id) AS tasks,
        (SELECT count(*) FROM sessions s WHERE s.user_id = gone.id) AS sessions
    FROM gone";

/// One row (the count) when the account exists, none otherwise. Not
/// replayed after sending: a repeat would revoke nothing and count zero.
const REVOKE_SQL: &str = "WITH u AS (
        SELECT id FROM users WHERE lower(email) = lower($1)
    ), revoked AS (
        UPDATE sessions SET revoked_at = $2
        WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL AND expires_at > $2
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM revoked) AS revoked FROM u";

/// The user's stored sessions, newest first, at most $2.
static SESSIONS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1
        ORDER BY created_at DESC, id DESC LIMIT $2"
    )
});

/// Oldest first, in the order `tasks_user_created_idx` gives read backwards.
fn tasks_sql(with_cursor: bool) -> String {
    let (after, limit) = if with_cursor {
        ("AND (created_at, id) > ($2, $3)", "$4")
    } else {
        ("", "$2")
    };
    format!(
        "SELECT {TASK_COLUMNS} FROM tasks
        WHERE user_id = $1 {after}
        ORDER BY created_at, id
        LIMIT {limit}"
    )
}

fn count(row: &Row, column: &str) -> Result<u64, RepoError> {
    let value: i64 = row
        .try_get(column)
        .map_err(|e| RepoError::Internal(Box::new(e)))?;
    u64::try_from(value).map_err(|e| RepoError::Internal(Box::new(e)))
}

/// Stored data that breaks a domain rule is a storage failure, not a panic.
fn account_from(row: &Row) -> Result<Account, RepoError> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a Row,
        column: &str,
    ) -> Result<T, RepoError> {
        row.try_get(column)
            .map_err(|e| RepoError::Internal(Box::new(e)))
    }
    let corrupt = |what: &str, err: &dyn std::fmt::Display| {
        RepoError::Internal(format!("stored {what} is invalid: {err}").into())
    };
    let email: String = get(row, "email")?;
    let name: Option<String> = get(row, "name")?;
    Ok(Account {
        id: UserId::from_uuid(get::<Uuid>(row, "id")?),
        email: Email::parse(&email).map_err(|e| corrupt("email", &e))?,
        name: name
            // Read under the rules it was written with, as rows.rs does.
            .map(UserName::from_storage)
            .transpose()
            .map_err(|e| corrupt("name", &e))?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

#[async_trait]
impl AccountRepo for PgAccountRepo {
    #[tracing::instrument(skip_all)]
    async fn summary(
        &self,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<AccountSummary>, RepoError> {
        let email = email.as_str();
        let listed = i64::from(LISTED_SESSIONS);
        let rows = self
            .executor
            .query(
                &SUMMARY_SQL,
                &[
                    (&email, Type::TEXT),
                    (&now, Type::TIMESTAMPTZ),
                    (&listed, Type::INT8),
                ],
                Replay::Safe,
            )
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let sessions = rows
            .iter()
            .filter_map(|row| session_at(row, SUMMARY_SESSION_START).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(AccountSummary {
            account: account_from(first)?,
            tasks: count(first, "tasks")?,
            active_sessions: count(first, "active_sessions")?,
            sessions,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, email: &Email) -> Result<Option<DeletedAccount>, RepoError> {
        let email = email.as_str();
        let rows = self
            .executor
            .query(DELETE_SQL, &[(&email, Type::TEXT)], Replay::Once)
            .await?;
        rows.first()
            .map(|row| {
                Ok(DeletedAccount {
                    account: account_from(row)?,
                    tasks: count(row, "tasks")?,
                    sessions: count(row, "sessions")?,
                })
            })
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_sessions(
        &self,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<u64>, RepoError> {
        let email = email.as_str();
        let rows = self
            .executor
            .query(
                REVOKE_SQL,
                &[(&email, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
                Replay::Once,
            )
            .await?;
        rows.first().map(|row| count(row, "revoked")).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find(&self, email: &Email) -> Result<Option<Account>, RepoError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE lower(email) = lower($1)");
        let email = email.as_str();
        let rows = self
            .executor
            .query(&sql, &[(&email, Type::TEXT)], Replay::Safe)
            .await?;
        rows.first().map(account_from).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    async fn sessions(&self, user_id: UserId, limit: u32) -> Result<Vec<Session>, RepoError> {
        let user_id = user_id.as_uuid();
        let limit = i64::from(limit);
        let rows = self
            .executor
            .query(
                &SESSIONS_SQL,
                &[(&user_id, Type::UUID), (&limit, Type::INT8)],
                Replay::Safe,
            )
            .await?;
        rows.iter()
            .filter_map(|row| session_at(row, 0).transpose())
            .collect()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    async fn tasks_page(
        &self,
        user_id: UserId,
        after: Option<TaskCursor>,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        let user_id = user_id.as_uuid();
        let limit = i64::from(limit);
        let rows = match after {
            None => {
                self.executor
                    .query(
                        &tasks_sql(false),
                        &[(&user_id, Type::UUID), (&limit, Type::INT8)],
                        Replay::Safe,
                    )
                    .await?
            }
            Some(cursor) => {
                let after_id = cursor.id.as_uuid();
                self.executor
                    .query(
                        &tasks_sql(true),
                        &[
                            (&user_id, Type::UUID),
                            (&cursor.created_at, Type::TIMESTAMPTZ),
                            (&after_id, Type::UUID),
                            (&limit, Type::INT8),
                        ],
                        Replay::Safe,
                    )
                    .await?
            }
        };
        rows.iter()
            .filter_map(|row| task_at(row, 0).transpose())
            .collect()
    }
}
