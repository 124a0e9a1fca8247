//! [`UserRepo`] on PostgreSQL.

use application::ports::{RepoError, UserRepo};
use async_trait::async_trait;
use domain::{Email, User};
use tokio_postgres::types::Type;

use crate::pool::{Executor, Replay};
use crate::rows::{user_at, USER_COLUMNS};

pub(crate) struct PgUserRepo {
    executor: Executor,
}

impl PgUserRepo {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

/// Inserts unless any unique key (id or lower(email)) is taken, and tells
/// which: `already_ours` is true when a row with this very id existed
/// before the statement, i.e. an earlier attempt of this same create
/// committed and the connection died before we heard. That makes the
/// statement safe to replay. A concurrent insert of the same email makes
/// `ON CONFLICT DO NOTHING` wait for it and then report nothing inserted.
const CREATE_SQL: &str = "WITH ins AS (
        INSERT INTO users (id, email, name, password_hash, created_at, updated_at, email_verified)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT DO NOTHING
        RETURNING id
    )
    SELECT EXISTS (SELECT 1 FROM ins), EXISTS (SELECT 1 FROM users WHERE id = $1 AND lower(email) = lower($2))";

#[async_trait]
impl UserRepo for PgUserRepo {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn create(&self, user: &User) -> Result<(), RepoError> {
        let id = user.id.as_uuid();
        let email = user.email.as_str();
        let name = user.name.as_ref().map(|n| n.as_str());
        let hash = user.password_hash.as_str();
        let row = self
            .executor
            .query_one(
                CREATE_SQL,
                &[
                    (&id, Type::UUID),
                    (&email, Type::TEXT),
                    (&name, Type::TEXT),
                    (&hash, Type::TEXT),
                    (&user.created_at, Type::TIMESTAMPTZ),
                    (&user.updated_at, Type::TIMESTAMPTZ),
                    (&user.email_verified, Type::BOOL),
                ],
                Replay::Safe,
            )
            .await?;
        let inserted: bool = row.get(0);
        let already_ours: bool = row.get(1);
        if inserted || already_ours {
            Ok(())
        } else {
            Err(RepoError::EmailTaken)
        }
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
        let email = email.as_str();
        let rows = self
            .executor
            .query(&sql, &[(&email, Type::TEXT)], Replay::Safe)
            .await?;
        rows.first().map(|row| user_at(row, 0)).transpose()
    }
}
