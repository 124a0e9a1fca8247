//! [`AccountTokenStore`] on PostgreSQL: every method is ONE statement (a
//! chain of data-modifying CTEs), so the change, its single-use token (as
//! a SHA-256 digest), its `mail_outbox` row and its `security_events` row
//! commit together or not at all. Pooler-safe: no session state, no
//! explicit transaction. Events go through [`event_ctes`] like every
//! other statement's, so each user's events stay bounded the same way.

use application::opaque_token::TokenDigest;
use application::ports::{
    AccountTokenStore, IssuedToken, MailKind, Principal, RepoError, ResendOutcome,
};
use async_trait::async_trait;
use domain::{ClientInfo, Email, PasswordHash, SecurityEventKind, Timestamp, User};
use std::sync::LazyLock;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::event_sql::{event_ctes, EventParams};
use crate::pool::{Executor, Replay};
use crate::user_repo::{created, NewUserParams, CREATED_ANSWER};

pub(crate) struct PgAccountTokenStore {
    executor: Executor,
}

impl PgAccountTokenStore {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

/// The user (as `UserRepo::create` stores one, from the same
/// [`NewUserParams`]: replay-safe, a taken email inserts nothing), and only if it was inserted: the verification token,
/// its outbox row and the `registered` event.
static REGISTER_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH ins AS (
        INSERT INTO users (id, email, name, password_hash, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT DO NOTHING
        RETURNING id, email
    ),
    token AS (
        INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at)
        SELECT $7, id, 'email_verification', $5, $8 FROM ins
    ),
    mail AS (
        INSERT INTO mail_outbox (id, user_id, kind, recipient, token, created_at, expires_at, next_attempt_at)
        SELECT $9, id, 'email_verification', email, $10, $5, $8, $5 FROM ins
    ),
    {events}
    {CREATED_ANSWER}",
        events = event_ctes("SELECT id AS user_id, NULL::uuid AS session_id FROM ins", 11),
    )
});

/// Runs whatever the email: `target` is empty for an unknown one and every
/// insert then writes nothing. Spent and expired reset tokens of the user
/// are purged on the way (housekeeping rides on traffic).
static REQUEST_RESET_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH target AS (
        SELECT id, email FROM users WHERE lower(email) = lower($1)
    ),
    outstanding AS (
        SELECT count(*) AS n FROM account_tokens t JOIN target ON t.user_id = target.id
        WHERE t.purpose = 'password_reset' AND t.used_at IS NULL AND t.expires_at > $3
    ),
    allowed AS (
        SELECT target.id, target.email FROM target, outstanding WHERE outstanding.n < $6
    ),
    purged AS (
        DELETE FROM account_tokens t USING target
        WHERE t.user_id = target.id AND t.purpose = 'password_reset'
          AND (t.used_at IS NOT NULL OR t.expires_at <= $3)
    ),
    token AS (
        INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at)
        SELECT $2, id, 'password_reset', $3, $4 FROM allowed
    ),
    mail AS (
        INSERT INTO mail_outbox (id, user_id, kind, recipient, token, created_at, expires_at, next_attempt_at)
        SELECT $5, id, 'password_reset', email, $7, $3, $4, $3 FROM allowed
    ),
    {events}
    SELECT count(*) FROM allowed",
        events = event_ctes("SELECT id AS user_id, NULL::uuid AS session_id FROM allowed", 8),
    )
});

/// Spends the token; only then (every other part reads `spent`): the new
/// hash, every session revoked, the user's other reset tokens spent, their
/// unsent reset mail dropped, and the `password_reset` event.
static CONFIRM_RESET_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH spent AS (
        UPDATE account_tokens SET used_at = $3
        WHERE token_hash = $1 AND purpose = 'password_reset' AND used_at IS NULL AND expires_at > $3
        RETURNING user_id
    ),
    password AS (
        UPDATE users u SET password_hash = $2, updated_at = $3 FROM spent WHERE u.id = spent.user_id
    ),
    revoked AS (
        UPDATE sessions s SET revoked_at = $3 FROM spent
        WHERE s.user_id = spent.user_id AND s.revoked_at IS NULL
    ),
    others AS (
        UPDATE account_tokens t SET used_at = $3 FROM spent
        WHERE t.user_id = spent.user_id AND t.purpose = 'password_reset'
          AND t.used_at IS NULL AND t.token_hash <> $1
    ),
    unsent AS (
        DELETE FROM mail_outbox m USING spent
        WHERE m.user_id = spent.user_id AND m.kind = 'password_reset'
    ),
    {events}
    SELECT count(*) FROM spent",
        events = event_ctes("SELECT user_id, NULL::uuid AS session_id FROM spent", 4),
    )
});

/// Spends the token, sets `email_verified`, drops the user's other
/// verification tokens and unsent verification mail, writes the event.
static VERIFY_EMAIL_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH spent AS (
        UPDATE account_tokens SET used_at = $2
        WHERE token_hash = $1 AND purpose = 'email_verification' AND used_at IS NULL AND expires_at > $2
        RETURNING user_id
    ),
    verified AS (
        UPDATE users u SET email_verified = true FROM spent WHERE u.id = spent.user_id
    ),
    others AS (
        DELETE FROM account_tokens t USING spent
        WHERE t.user_id = spent.user_id AND t.purpose = 'email_verification' AND t.token_hash <> $1
    ),
    unsent AS (
        DELETE FROM mail_outbox m USING spent
        WHERE m.user_id = spent.user_id AND m.kind = 'email_verification'
    ),
    {events}
    SELECT count(*) FROM spent",
        events = event_ctes("SELECT user_id, NULL::uuid AS session_id FROM spent", 3),
    )
});

/// The principal's user if their session is active, then a new token and
/// outbox row unless verified or at the limit.
const RESEND_SQL: &str = "WITH me AS (
        SELECT u.id, u.email, u.email_verified FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3
    ),
    outstanding AS (
        SELECT count(*) AS n FROM account_tokens t JOIN me ON t.user_id = me.id
        WHERE t.purpose = 'email_verification' AND t.used_at IS NULL AND t.expires_at > $3
    ),
    allowed AS (
        SELECT me.id, me.email FROM me, outstanding
        WHERE NOT me.email_verified AND outstanding.n < $7
    ),
    purged AS (
        DELETE FROM account_tokens t USING me
        WHERE t.user_id = me.id AND t.purpose = 'email_verification' AND t.expires_at <= $3
    ),
    token AS (
        INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at)
        SELECT $4, id, 'email_verification', $3, $5 FROM allowed
    ),
    mail AS (
        INSERT INTO mail_outbox (id, user_id, kind, recipient, token, created_at, expires_at, next_attempt_at)
        SELECT $6, id, 'email_verification', email, $8, $3, $5, $3 FROM allowed
    )
    SELECT (SELECT count(*) FROM me), coalesce((SELECT bool_or(email_verified) FROM me), false),
           (SELECT count(*) FROM allowed)";

#[async_trait]
impl AccountTokenStore for PgAccountTokenStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn register(
        &self,
        user: &User,
        verification: &IssuedToken,
        client: &ClientInfo,
    ) -> Result<(), RepoError> {
        let columns = NewUserParams::of(user);
        let digest = verification.digest.0.as_slice();
        let mail_id = Uuid::now_v7();
        let token = verification.token.expose();
        let event = EventParams::of_client(SecurityEventKind::Registered, user.created_at, client);
        let mut params = columns.params();
        params.extend([
            (&digest as &(dyn ToSql + Sync), Type::BYTEA),
            (&verification.expires_at, Type::TIMESTAMPTZ),
            (&mail_id, Type::UUID),
            (&token, Type::TEXT),
        ]);
        params.extend(event.params());
        let row = self
            .executor
            .query_one(&REGISTER_SQL, &params, Replay::Safe)
            .await?;
        created(&row)
    }

    #[tracing::instrument(skip_all)]
    async fn request_password_reset(
        &self,
        email: &Email,
        reset: &IssuedToken,
        max_outstanding: u32,
        client: &ClientInfo,
    ) -> Result<bool, RepoError> {
        let email = email.as_str();
        let digest = reset.digest.0.as_slice();
        let mail_id = Uuid::now_v7();
        let max = i64::from(max_outstanding);
        let token = reset.token.expose();
        let event = EventParams::of_client(
            SecurityEventKind::PasswordResetRequested,
            reset.created_at,
            client,
        );
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&email, Type::TEXT),
            (&digest, Type::BYTEA),
            (&reset.created_at, Type::TIMESTAMPTZ),
            (&reset.expires_at, Type::TIMESTAMPTZ),
            (&mail_id, Type::UUID),
            (&max, Type::INT8),
            (&token, Type::TEXT),
        ];
        params.extend(event.params());
        let row = self
            .executor
            .query_one(&REQUEST_RESET_SQL, &params, Replay::Once)
            .await?;
        Ok(row.get::<_, i64>(0) > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_password_reset(
        &self,
        digest: &TokenDigest,
        new_hash: &PasswordHash,
        now: Timestamp,
        client: &ClientInfo,
    ) -> Result<bool, RepoError> {
        let digest = digest.0.as_slice();
        let hash = new_hash.as_str();
        let event = EventParams::of_client(SecurityEventKind::PasswordReset, now, client);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&digest, Type::BYTEA),
            (&hash, Type::TEXT),
            (&now, Type::TIMESTAMPTZ),
        ];
        params.extend(event.params());
        let row = self
            .executor
            .query_one(&CONFIRM_RESET_SQL, &params, Replay::Once)
            .await?;
        Ok(row.get::<_, i64>(0) > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn verify_email(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
        client: &ClientInfo,
    ) -> Result<bool, RepoError> {
        let digest = digest.0.as_slice();
        let event = EventParams::of_client(SecurityEventKind::EmailVerified, now, client);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> =
            vec![(&digest, Type::BYTEA), (&now, Type::TIMESTAMPTZ)];
        params.extend(event.params());
        let row = self
            .executor
            .query_one(&VERIFY_EMAIL_SQL, &params, Replay::Once)
            .await?;
        Ok(row.get::<_, i64>(0) > 0)
    }

    #[tracing::instrument(skip_all, fields(session_id = %principal.session_id))]
    async fn resend_verification(
        &self,
        principal: &Principal,
        verification: &IssuedToken,
        max_outstanding: u32,
    ) -> Result<ResendOutcome, RepoError> {
        let session_id = principal.session_id.as_uuid();
        let user_id = principal.user_id.as_uuid();
        let digest = verification.digest.0.as_slice();
        let mail_id = Uuid::now_v7();
        let max = i64::from(max_outstanding);
        let token = verification.token.expose();
        let row = self
            .executor
            .query_one(
                RESEND_SQL,
                &[
                    (&session_id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&verification.created_at, Type::TIMESTAMPTZ),
                    (&digest, Type::BYTEA),
                    (&verification.expires_at, Type::TIMESTAMPTZ),
                    (&mail_id, Type::UUID),
                    (&max, Type::INT8),
                    (&token, Type::TEXT),
                ],
                Replay::Once,
            )
            .await?;
        let found: i64 = row.get(0);
        let verified: bool = row.get(1);
        let queued: i64 = row.get(2);
        match (found, verified, queued) {
            (0, _, _) => Err(RepoError::SessionInactive),
            (_, true, _) => Ok(ResendOutcome::AlreadyVerified),
            (_, _, 0) => Ok(ResendOutcome::Limited),
            _ => Ok(ResendOutcome::Queued),
        }
    }
}

/// The stored name of a mail kind, for the outbox.
pub(crate) fn kind_of(stored: &str) -> Result<MailKind, RepoError> {
    MailKind::from_stored(stored)
        .ok_or_else(|| RepoError::Internal(format!("unknown mail kind {stored:?}").into()))
}
