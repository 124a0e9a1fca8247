//! [`SessionRepo`] on PostgreSQL: sessions, their refresh tokens and the
//! events of logins, refreshes and revocations, each method one statement.

use std::sync::LazyLock;

use application::ports::{
    PendingEvent, Principal, Refreshed, RepoError, RevokeScope, SessionRepo, TokenDigest,
};
use async_trait::async_trait;
use domain::{Session, Timestamp, User};
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::event_sql::{event_ctes, EventParams};
use crate::pool::{Executor, Replay};
use crate::rows::{
    active_rows, session_at, session_columns_of, user_at, SESSION_COLUMNS, USER_COLUMNS,
};
use crate::task_repo::SESSION_CTE;

pub(crate) struct PgSessionRepo {
    executor: Executor,
}

impl PgSessionRepo {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

/// Inserts the session with its first refresh token and the login event
/// and, in the same statement, does the housekeeping a background job
/// would otherwise do: deletes the user's active sessions beyond the
/// newest `$6` (the new one is kept: the cap counts it), and a few (`$7`)
/// expired or revoked rows of anyone (their refresh tokens cascade).
/// Idempotent on the client-made ids (session and event), hence safe to
/// replay. Parallel logins of one user may each keep the other's session
/// (their snapshots miss it): the cap can be passed by the logins racing,
/// and the next login trims it back.
static CREATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH inserted AS (
        INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, last_used_at,
                              user_agent, ip)
        VALUES ($1, $2, $3, $4, $5, $3, $8, $9)
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    ),
    refresh AS (
        INSERT INTO refresh_tokens (token_hash, session_id, created_at)
        SELECT $10, id, $3 FROM inserted
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
    ),
    {events}
    SELECT count(*) FROM inserted",
        events = event_ctes(
            "SELECT $2::uuid AS user_id, id AS session_id FROM inserted",
            11
        ),
    )
});

/// Expired or revoked sessions each login deletes: more than it adds (one).
const PURGE_PER_LOGIN: i64 = 16;

/// Spent refresh tokens kept per session (for reuse detection); a refresh
/// deletes the older ones, so a session's rows stay bounded however often
/// it refreshes. A token older than these is unknown rather than reused.
const SPENT_KEPT_PER_SESSION: i64 = 100;

/// Rotation with reuse detection in one statement ($1 presented digest,
/// $2 next digest, $3 now, $4.. the reuse event).
///
/// `t` finds the presented token's session if it is active. `spend` marks
/// the token spent only while it is unspent: of two refreshes racing with
/// one token, the second waits on the first's row lock, re-reads the row,
/// finds it spent and spends nothing. Either way, a known token of an
/// active session that `spend` did not spend is reuse: `revoked` ends the
/// session (waiting for the winner's commit if need be), and the event is
/// written. `fresh` stores the next token and `touched` moves
/// `last_used_at` only when `spend` succeeded.
///
/// Not replayed after sending: a repeat of a committed rotation would see
/// its own spend and revoke the session as reuse.
static REFRESH_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH t AS (
        SELECT rt.session_id, s.user_id
        FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
        WHERE rt.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $3
    ),
    spend AS (
        UPDATE refresh_tokens SET spent_at = $3
        WHERE token_hash = $1 AND spent_at IS NULL
          AND session_id IN (SELECT session_id FROM t)
        RETURNING session_id
    ),
    fresh AS (
        INSERT INTO refresh_tokens (token_hash, session_id, created_at)
        SELECT $2, session_id, $3 FROM spend
    ),
    old_spent AS (
        DELETE FROM refresh_tokens WHERE token_hash IN (
            SELECT token_hash FROM refresh_tokens
            WHERE session_id IN (SELECT session_id FROM spend) AND spent_at IS NOT NULL
            ORDER BY spent_at DESC
            OFFSET {SPENT_KEPT_PER_SESSION})
    ),
    touched AS (
        UPDATE sessions SET last_used_at = $3
        WHERE id IN (SELECT session_id FROM spend)
        RETURNING {SESSION_COLUMNS}
    ),
    revoked AS (
        UPDATE sessions SET revoked_at = $3
        WHERE id IN (SELECT session_id FROM t) AND revoked_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM spend)
        RETURNING id, user_id
    ),
    {events}
    SELECT {touched}, {user}, (SELECT count(*) FROM revoked)
    FROM (SELECT 1) AS one
    LEFT JOIN touched ON true
    LEFT JOIN users u ON u.id = touched.user_id",
        events = event_ctes("SELECT user_id, id AS session_id FROM revoked", 4),
        touched = session_columns_of("touched"),
        user = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
});

/// Revokes the scope's active sessions of the principal's user ($1
/// session, $2 user, $3 now, $4 scope, $5 the one session's id, $6.. the
/// event), provided the principal's session is active. The event is
/// written unless a one-session revocation found nothing.
///
/// Not replayed after sending: a repeat of a committed revoke would find
/// the sessions revoked and report `SessionInactive` or `NotFound`.
static REVOKE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SESSION_CTE},
    ended AS (
        UPDATE sessions SET revoked_at = $3
        WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $3
          AND (SELECT ok FROM s)
          AND CASE $4::text
                WHEN 'current' THEN id = $1
                WHEN 'others' THEN id <> $1
                WHEN 'all' THEN true
                ELSE id = $5
              END
        RETURNING id
    ),
    {events}
    SELECT (SELECT ok FROM s), (SELECT count(*) FROM ended)",
        events = event_ctes(
            "SELECT $2::uuid AS user_id, NULL::uuid AS session_id FROM s
             WHERE s.ok AND ($4::text <> 'one' OR EXISTS (SELECT 1 FROM ended))",
            6
        ),
    )
});

const ACTIVE_USER_SQL: &str = "SELECT u.id, u.email, u.name, u.password_hash, u.created_at, \
    u.updated_at, u.email_verified
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3";

/// Most sessions listed: the cap keeps a user near `max_active` active
/// ones, and logins purge ended rows, so this is a bound, not a page.
const MAX_LISTED: i64 = 500;

/// The user's sessions ($4: ended ones too), newest first, with the
/// principal's session checked ($1..$3) in the same statement.
static LIST_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{SESSION_CTE}
    SELECT s.ok, {x}
    FROM s
    LEFT JOIN LATERAL (
        SELECT * FROM sessions
        WHERE s.ok AND user_id = $2 AND ($4 OR (revoked_at IS NULL AND expires_at > $3))
        ORDER BY created_at DESC, id DESC
        LIMIT {MAX_LISTED}
    ) AS x ON true
    ORDER BY x.created_at DESC, x.id DESC",
        x = session_columns_of("x"),
    )
});

fn scope_params(scope: RevokeScope) -> (&'static str, Option<Uuid>) {
    match scope {
        RevokeScope::Current => ("current", None),
        RevokeScope::Others => ("others", None),
        RevokeScope::All => ("all", None),
        RevokeScope::One(id) => ("one", Some(id.as_uuid())),
    }
}

#[async_trait]
impl SessionRepo for PgSessionRepo {
    #[tracing::instrument(skip_all, fields(session_id = %session.id))]
    async fn create(
        &self,
        session: &Session,
        refresh: &TokenDigest,
        max_active: u32,
        event: &PendingEvent,
    ) -> Result<(), RepoError> {
        let id = session.id.as_uuid();
        let user_id = session.user_id.as_uuid();
        // The others kept besides this one.
        let keep_others = i64::from(max_active.max(1)) - 1;
        let user_agent = session.user_agent.as_ref().map(|ua| ua.as_str());
        let digest = refresh.0.as_slice();
        let event = EventParams::of(event);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&id, Type::UUID),
            (&user_id, Type::UUID),
            (&session.created_at, Type::TIMESTAMPTZ),
            (&session.expires_at, Type::TIMESTAMPTZ),
            (&session.revoked_at, Type::TIMESTAMPTZ),
            (&keep_others, Type::INT8),
            (&PURGE_PER_LOGIN, Type::INT8),
            (&user_agent, Type::TEXT),
            (&session.ip, Type::INET),
            (&digest, Type::BYTEA),
        ];
        params.extend(event.params());
        self.executor
            .query(&CREATE_SQL, &params, Replay::Safe)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(
        &self,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: Timestamp,
        reuse_event: &PendingEvent,
    ) -> Result<Refreshed, RepoError> {
        let presented = presented.0.as_slice();
        let next = next.0.as_slice();
        let event = EventParams::of(reuse_event);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&presented, Type::BYTEA),
            (&next, Type::BYTEA),
            (&now, Type::TIMESTAMPTZ),
        ];
        params.extend(event.params());
        let row = self
            .executor
            .query_one(&REFRESH_SQL, &params, Replay::Once)
            .await?;
        if let Some(session) = session_at(&row, 0)? {
            let user = user_at(&row, 8)?;
            return Ok(Refreshed::Rotated { session, user });
        }
        let revoked: i64 = row
            .try_get(15)
            .map_err(|e| RepoError::Internal(Box::new(e)))?;
        Ok(if revoked > 0 {
            Refreshed::Reused
        } else {
            Refreshed::Invalid
        })
    }

    #[tracing::instrument(skip_all, fields(session_id = %principal.session_id))]
    async fn revoke(
        &self,
        principal: &Principal,
        scope: RevokeScope,
        now: Timestamp,
        event: &PendingEvent,
    ) -> Result<u64, RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let (scope_name, one) = scope_params(scope);
        let event = EventParams::of(event);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&session_id, Type::UUID),
            (&user_id, Type::UUID),
            (&now, Type::TIMESTAMPTZ),
            (&scope_name, Type::TEXT),
            (&one, Type::UUID),
        ];
        params.extend(event.params());
        let row = self
            .executor
            .query_one(&REVOKE_SQL, &params, Replay::Once)
            .await?;
        let ok: bool = row
            .try_get(0)
            .map_err(|e| RepoError::Internal(Box::new(e)))?;
        let ended: i64 = row
            .try_get(1)
            .map_err(|e| RepoError::Internal(Box::new(e)))?;
        if !ok {
            return Err(RepoError::SessionInactive);
        }
        if matches!(scope, RevokeScope::One(_)) && ended == 0 {
            return Err(RepoError::NotFound);
        }
        Ok(u64::try_from(ended).unwrap_or(0))
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

    #[tracing::instrument(skip_all, fields(session_id = %principal.session_id))]
    async fn list(
        &self,
        principal: &Principal,
        now: Timestamp,
        include_ended: bool,
    ) -> Result<Vec<Session>, RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let rows = self
            .executor
            .query(
                &LIST_SQL,
                &[
                    (&session_id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                    (&include_ended, Type::BOOL),
                ],
                Replay::Safe,
            )
            .await?;
        active_rows(&rows, session_at)
    }
}
