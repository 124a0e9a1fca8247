//! [`SessionRepo`] on PostgreSQL.

use application::ports::{Principal, RepoError, SessionRepo};
use async_trait::async_trait;
use domain::{Session, Timestamp, User};
use tokio_postgres::types::Type;

use crate::pool::{Executor, Replay};
use crate::rows::user_at;

pub(crate) struct PgSessionRepo {
    executor: Executor,
}

impl PgSessionRepo {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

/// Inserts the session and, in the same statement, does the housekeeping a
/// background job would otherwise do: deletes the user's active sessions
/// beyond the newest `$6` (the new one is kept: the cap counts it), and a
/// few (`$7`) expired or revoked rows of anyone. Idempotent on the
/// client-made id, hence safe to replay. Parallel logins of one user may
/// each keep the other's session (their snapshots miss it): the cap can be
/// passed by the logins racing, and the next login trims it back.
const CREATE_SQL: &str = "WITH inserted AS (
        INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, last_used_at)
        VALUES ($1, $2, $3, $4, $5, $3)
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    ),
    over_cap AS (
        DELETE FROM sessions WHERE id IN (
            SELECT id FROM sessions
            WHERE user_id = $2 AND id <> $1 AND revoked_at IS NULL AND expires_at > $3
            ORDER BY created_at DESC, id DESC
            OFFSET $6
            FOR UPDATE)
    ),
    purged AS (
        DELETE FROM sessions WHERE id IN (
            SELECT id FROM sessions
            WHERE (expires_at <= $3 OR revoked_at IS NOT NULL) AND id <> $1
            LIMIT $7
            FOR UPDATE SKIP LOCKED)
    )
    SELECT count(*) FROM inserted";

/// Expired or revoked sessions each login deletes: more than it adds (one).
const PURGE_PER_LOGIN: i64 = 16;

/// Not replayed after sending: a repeat of a committed revoke would find
/// the session revoked and report `SessionInactive`.
const REVOKE_SQL: &str = "UPDATE sessions SET revoked_at = $3
    WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
    RETURNING id";

const ACTIVE_USER_SQL: &str =
    "SELECT u.id, u.email, u.name, u.password_hash, u.created_at, u.updated_at, u.email_verified
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3";

#[async_trait]
impl SessionRepo for PgSessionRepo {
    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    async fn create(&self, session: &Session, max_active: u32) -> Result<(), RepoError> {
        let id = session.id.as_uuid();
        let user_id = session.user_id.as_uuid();
        // The others kept besides this one.
        let keep_others = i64::from(max_active.max(1)) - 1;
        self.executor
            .query(
                CREATE_SQL,
                &[
                    (&id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&session.created_at, Type::TIMESTAMPTZ),
                    (&session.expires_at, Type::TIMESTAMPTZ),
                    (&session.revoked_at, Type::TIMESTAMPTZ),
                    (&keep_others, Type::INT8),
                    (&PURGE_PER_LOGIN, Type::INT8),
                ],
                Replay::Safe,
            )
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(session_id = %principal.session_id))]
    async fn revoke(&self, principal: &Principal, now: Timestamp) -> Result<(), RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let rows = self
            .executor
            .query(
                REVOKE_SQL,
                &[
                    (&session_id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                ],
                Replay::Once,
            )
            .await?;
        if rows.is_empty() {
            Err(RepoError::SessionInactive)
        } else {
            Ok(())
        }
    }

    #[tracing::instrument(skip_all, fields(session_id = %principal.session_id))]
    async fn active_user(&self, principal: &Principal, now: Timestamp) -> Result<User, RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let rows = self
            .executor
            .query(
                ACTIVE_USER_SQL,
                &[
                    (&session_id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                ],
                Replay::Safe,
            )
            .await?;
        match rows.first() {
            Some(row) => user_at(row, 0),
            None => Err(RepoError::SessionInactive),
        }
    }
}
