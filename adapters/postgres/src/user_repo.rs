//! [`UserRepo`] on PostgreSQL.

use std::sync::LazyLock;

use application::ports::{PendingEvent, Principal, RepoError, UserRepo};
use async_trait::async_trait;
use domain::{Email, PasswordHash, Timestamp, User};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::event_sql::{event_ctes, EventParams};
use crate::pool::{Executor, Replay};
use crate::rows::{session_ok, user_at, USER_COLUMNS};
use crate::task_repo::SESSION_CTE;

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
static CREATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH ins AS (
        INSERT INTO users (id, email, name, password_hash, created_at, updated_at, email_verified)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT DO NOTHING
        RETURNING id
    )
    {CREATED_ANSWER}"
    )
});

/// The answer of a statement that inserts the user `$1` with email `$2`
/// in a CTE `ins`: whether it inserted, and whether the row is ours
/// anyway (a replay after a lost reply). Read by [`created`].
pub(crate) const CREATED_ANSWER: &str = "SELECT EXISTS (SELECT 1 FROM ins), EXISTS (SELECT 1 FROM users WHERE id = $1 AND lower(email) = lower($2))";

/// A new user's columns as parameters `$1`..`$6` of an `INSERT INTO users
/// (id, email, name, password_hash, created_at, updated_at ...)`: the one
/// mapping from [`User`] to a row, for [`UserRepo::create`] and for
/// registration with its verification mail.
pub(crate) struct NewUserParams<'a> {
    id: Uuid,
    email: &'a str,
    name: Option<&'a str>,
    hash: &'a str,
    user: &'a User,
}

impl<'a> NewUserParams<'a> {
    pub(crate) fn of(user: &'a User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str(),
            name: user.name.as_ref().map(|n| n.as_str()),
            hash: user.password_hash.as_str(),
            user,
        }
    }

    pub(crate) fn params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        vec![
            (&self.id, Type::UUID),
            (&self.email, Type::TEXT),
            (&self.name, Type::TEXT),
            (&self.hash, Type::TEXT),
            (&self.user.created_at, Type::TIMESTAMPTZ),
            (&self.user.updated_at, Type::TIMESTAMPTZ),
        ]
    }
}

/// `Ok` when the user was stored (now or by an earlier try of the same
/// statement), `EmailTaken` when someone else holds the address.
pub(crate) fn created(row: &Row) -> Result<(), RepoError> {
    let flag = |idx| {
        row.try_get::<_, bool>(idx)
            .map_err(|e| RepoError::Internal(Box::new(e)))
    };
    if flag(0)? || flag(1)? {
        Ok(())
    } else {
        Err(RepoError::EmailTaken)
    }
}

/// Stores the new hash ($4), revokes the user's other active sessions and
/// writes the event ($5..), provided the principal's session ($1..$3) is
/// active. Safe to replay: a repeat stores the same hash, finds nothing
/// more to revoke, and the event's id is already taken.
static CHANGE_PASSWORD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SESSION_CTE},
    pw AS (
        UPDATE users SET password_hash = $4, updated_at = $3
        WHERE id = $2 AND (SELECT ok FROM s)
        RETURNING id
    ),
    others AS (
        UPDATE sessions SET revoked_at = $3
        WHERE user_id = $2 AND id <> $1 AND revoked_at IS NULL AND expires_at > $3
          AND EXISTS (SELECT 1 FROM pw)
    ),
    {events}
    SELECT (SELECT ok FROM s)",
        events = event_ctes("SELECT id AS user_id, NULL::uuid AS session_id FROM pw", 5),
    )
});

/// Deletes the principal's user (everything else cascades), provided the
/// session is active. Not replayed after sending: a repeat of a committed
/// delete finds no session and would report `SessionInactive`.
static DELETE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SESSION_CTE},
    gone AS (
        DELETE FROM users WHERE id = $2 AND (SELECT ok FROM s)
        RETURNING id
    )
    SELECT (SELECT ok FROM s)"
    )
});

#[async_trait]
impl UserRepo for PgUserRepo {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn create(&self, user: &User) -> Result<(), RepoError> {
        let columns = NewUserParams::of(user);
        let mut params = columns.params();
        params.push((&user.email_verified, Type::BOOL));
        let row = self
            .executor
            .query_one(&CREATE_SQL, &params, Replay::Safe)
            .await?;
        created(&row)
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

    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id))]
    async fn change_password(
        &self,
        principal: &Principal,
        now: Timestamp,
        hash: &PasswordHash,
        event: &PendingEvent,
    ) -> Result<(), RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let hash = hash.as_str();
        let event = EventParams::of(event);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&session_id, Type::UUID),
            (&user_id, Type::UUID),
            (&now, Type::TIMESTAMPTZ),
            (&hash, Type::TEXT),
        ];
        params.extend(event.params());
        let row = self
            .executor
            .query_one(&CHANGE_PASSWORD_SQL, &params, Replay::Safe)
            .await?;
        session_ok(&row)
    }

    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id))]
    async fn delete(&self, principal: &Principal, now: Timestamp) -> Result<(), RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let row = self
            .executor
            .query_one(
                &DELETE_SQL,
                &[
                    (&session_id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                ],
                Replay::Once,
            )
            .await?;
        session_ok(&row)
    }
}
