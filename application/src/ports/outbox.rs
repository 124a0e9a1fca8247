use async_trait::async_trait;
use domain::{MailId, Timestamp, UserId};

use super::{MailKind, RepoError};
use crate::opaque_token::OpaqueToken;

/// A queued mail as the sender claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: MailId,
    pub user_id: UserId,
    pub kind: MailKind,
    pub recipient: String,
    /// The link's token, held by the outbox only until delivery.
    pub token: OpaqueToken,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub expires_at: Timestamp,
}

/// The `mail_outbox` table as the sender sees it. Rows are written by the
/// statements that cause them (register, reset request, resend), never
/// here.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Claims up to `limit` rows due at `now` (and not expired) in one
    /// statement that skips rows another replica holds: each claimed row's
    /// attempt is counted and its `next_attempt_at` moves to `lease_until`,
    /// so no other sender takes it while this one sends. The same
    /// statement deletes rows past their `expires_at` (their token no
    /// longer works).
    async fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxMail>, RepoError>;

    /// Deletes a delivered (or undeliverable) row, and the token with it.
    async fn remove(&self, id: MailId) -> Result<(), RepoError>;

    /// Schedules another attempt at `next_attempt_at`, noting why this one
    /// failed (`last_error` holds no secret).
    async fn retry_at(
        &self,
        id: MailId,
        next_attempt_at: Timestamp,
        last_error: &str,
    ) -> Result<(), RepoError>;

    /// When the sender should look again: the earliest `next_attempt_at`
    /// (or expiry) of any row, `None` when the outbox is empty.
    async fn next_due(&self) -> Result<Option<Timestamp>, RepoError>;
}

/// Tells the in-process sender that a write just queued mail. Called after
/// the write committed; cheap, never blocks, never fails.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait OutboxWaker: Send + Sync {
    fn wake(&self);
}
