use async_trait::async_trait;
use domain::{Session, SessionId, Timestamp, User};

use super::{PendingEvent, Principal, RepoError, TokenDigest};

/// Which sessions a revocation ends, seen from the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeScope {
    /// The caller's session.
    Current,
    /// Every other active session of the caller's user.
    Others,
    /// Every active session of the user, the caller's included.
    All,
    /// One session of the user, by id.
    One(SessionId),
}

/// What presenting a refresh token did.
// Made once per refresh and matched at once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The token was the session's current one: it is spent, the new one
    /// stored, `last_used_at` moved to `now`.
    Rotated { session: Session, user: User },
    /// The token was already spent: the session is revoked now, and the
    /// `refresh_reused` event written.
    Reused,
    /// Unknown token, or its session is revoked or expired.
    Invalid,
}

/// Stored login sessions and their refresh tokens.
///
/// # Errors common to every method
/// `Unavailable` when the database cannot be reached in time; `Internal`
/// for anything else.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores a new session with its first refresh token (`refresh`) and
    /// the `event` (e.g. `login_succeeded`) in one statement. The same
    /// statement keeps the user at `max_active` active sessions (revoking
    /// their oldest beyond it) and removes expired and revoked sessions, so
    /// housekeeping rides on logins instead of a background job.
    async fn create(
        &self,
        session: &Session,
        refresh: &TokenDigest,
        max_active: u32,
        event: &PendingEvent,
    ) -> Result<(), RepoError>;

    /// Spends `presented` and stores `next` for the same session, in one
    /// statement. Of parallel calls with the same token exactly one
    /// rotates; the others see it spent and answer `Reused`. A spent token
    /// revokes its session at `now` and stores `reuse_event` (kind
    /// `refresh_reused`).
    async fn refresh(
        &self,
        presented: &TokenDigest,
        next: &TokenDigest,
        now: Timestamp,
        reuse_event: &PendingEvent,
    ) -> Result<Refreshed, RepoError>;

    /// Revokes the `scope`'s active sessions at `now` and stores `event`,
    /// in one statement checking the principal's session; returns how many
    /// were revoked.
    ///
    /// # Errors
    /// `SessionInactive` when the principal's session does not exist,
    /// belongs to another user, or is revoked or expired at `now` (nothing
    /// changes); `NotFound` for `One(id)` when `id` is not an active
    /// session of the principal's user.
    async fn revoke(
        &self,
        principal: &Principal,
        scope: RevokeScope,
        now: Timestamp,
        event: &PendingEvent,
    ) -> Result<u64, RepoError>;

    /// The principal's user, provided its session is active at `now`; one
    /// round trip, never cached, so a revocation takes effect at once.
    ///
    /// # Errors
    /// `SessionInactive` as for [`SessionRepo::revoke`].
    async fn active_user(&self, principal: &Principal, now: Timestamp) -> Result<User, RepoError>;

    /// The user's sessions, newest first: only those active at `now`, or
    /// with `include_ended` every stored one. Checked against the
    /// principal's session in the same statement.
    ///
    /// # Errors
    /// `SessionInactive` as for [`SessionRepo::revoke`].
    async fn list(
        &self,
        principal: &Principal,
        now: Timestamp,
        include_ended: bool,
    ) -> Result<Vec<Session>, RepoError>;
}
