use async_trait::async_trait;
use domain::{Session, Timestamp, User};

use super::{Principal, RepoError};

/// Stored login sessions.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores a new session in one round trip. The same statement keeps the
    /// user at `max_active` active sessions (revoking their oldest beyond
    /// it) and removes expired and revoked sessions, so housekeeping rides
    /// on logins instead of a background job.
    async fn create(&self, session: &Session, max_active: u32) -> Result<(), RepoError>;

    /// Revokes the principal's session at `now`, in one round trip.
    ///
    /// # Errors
    /// `SessionInactive` when that session does not exist, belongs to
    /// another user, or is already revoked or expired at `now`.
    async fn revoke(&self, principal: &Principal, now: Timestamp) -> Result<(), RepoError>;

    /// The principal's user, provided its session is active at `now`; one
    /// round trip, never cached, so a revocation takes effect at once.
    ///
    /// # Errors
    /// `SessionInactive` as for [`SessionRepo::revoke`].
    async fn active_user(&self, principal: &Principal, now: Timestamp) -> Result<User, RepoError>;
}
