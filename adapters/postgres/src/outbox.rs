//! [`Outbox`] on PostgreSQL: the sender's side of `mail_outbox`.
//!
//! Several replicas may sweep at once: `claim` takes due rows with
//! `FOR UPDATE SKIP LOCKED` and, in the same statement, pushes their
//! `next_attempt_at` to the lease's end, so once it returns no other
//! replica sees them as due until the lease ends (a crashed sender's rows
//! come back then: at least once, never lost).

use application::opaque_token::OpaqueToken;
use application::ports::{Outbox, OutboxMail, RepoError};
use async_trait::async_trait;
use domain::{MailId, Timestamp, UserId};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::account_tokens::kind_of;
use crate::pool::{Executor, Replay};

pub(crate) struct PgOutbox {
    executor: Executor,
}

impl PgOutbox {
    pub(crate) fn new(executor: Executor) -> Self {
        Self { executor }
    }
}

/// Expired rows deleted per claim: bounded, the next claim takes more.
const EXPIRED_PER_CLAIM: i64 = 100;

const CLAIM_SQL: &str = "WITH expired AS (
        DELETE FROM mail_outbox WHERE id IN (
            SELECT id FROM mail_outbox WHERE expires_at <= $1
            LIMIT $4 FOR UPDATE SKIP LOCKED)
    ),
    due AS (
        SELECT id FROM mail_outbox
        WHERE next_attempt_at <= $1 AND expires_at > $1
        ORDER BY next_attempt_at
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    )
    UPDATE mail_outbox m SET next_attempt_at = $2, attempts = m.attempts + 1
    FROM due WHERE m.id = due.id
    RETURNING m.id, m.user_id, m.kind, m.recipient, m.token, m.attempts, m.expires_at";

const REMOVE_SQL: &str = "DELETE FROM mail_outbox WHERE id = $1";

const RETRY_SQL: &str =
    "UPDATE mail_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1";

/// Rows waiting past their expiry count at their expiry, so the sender
/// wakes to drop them.
const NEXT_DUE_SQL: &str = "SELECT min(least(next_attempt_at, expires_at)) FROM mail_outbox";

#[async_trait]
impl Outbox for PgOutbox {
    #[tracing::instrument(skip_all)]
    async fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxMail>, RepoError> {
        let limit = i64::from(limit);
        let rows = self
            .executor
            .query(
                CLAIM_SQL,
                &[
                    (&now, Type::TIMESTAMPTZ),
                    (&lease_until, Type::TIMESTAMPTZ),
                    (&limit, Type::INT8),
                    (&EXPIRED_PER_CLAIM, Type::INT8),
                ],
                // A replay after a lost connection finds the rows leased and
                // claims nothing: their lease ends and they are sent then.
                Replay::Once,
            )
            .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get(2).map_err(internal)?;
                let attempts: i32 = row.try_get(5).map_err(internal)?;
                Ok(OutboxMail {
                    id: MailId::from_uuid(row.try_get::<_, Uuid>(0).map_err(internal)?),
                    user_id: UserId::from_uuid(row.try_get::<_, Uuid>(1).map_err(internal)?),
                    kind: kind_of(&kind)?,
                    recipient: row.try_get(3).map_err(internal)?,
                    token: OpaqueToken::from_storage(row.try_get(4).map_err(internal)?),
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    expires_at: row.try_get(6).map_err(internal)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(mail_id = %id))]
    async fn remove(&self, id: MailId) -> Result<(), RepoError> {
        let id = id.as_uuid();
        self.executor
            .query(REMOVE_SQL, &[(&id, Type::UUID)], Replay::Safe)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(mail_id = %id))]
    async fn retry_at(
        &self,
        id: MailId,
        next_attempt_at: Timestamp,
        last_error: &str,
    ) -> Result<(), RepoError> {
        let id = id.as_uuid();
        self.executor
            .query(
                RETRY_SQL,
                &[
                    (&id, Type::UUID),
                    (&next_attempt_at, Type::TIMESTAMPTZ),
                    (&last_error, Type::TEXT),
                ],
                Replay::Safe,
            )
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn next_due(&self) -> Result<Option<Timestamp>, RepoError> {
        let row = self
            .executor
            .query_one(NEXT_DUE_SQL, &[], Replay::Safe)
            .await?;
        row.try_get(0).map_err(internal)
    }
}

fn internal(err: tokio_postgres::Error) -> RepoError {
    RepoError::Internal(Box::new(err))
}
