use async_trait::async_trait;
use domain::{Email, PasswordHash, Timestamp, User};

use super::{PendingEvent, Principal, RepoError};

/// Stored user accounts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Stores a new user in one round trip.
    ///
    /// # Errors
    /// `EmailTaken` when a user with the same email exists, compared
    /// case-insensitively; `Unavailable` or `Internal` otherwise.
    async fn create(&self, user: &User) -> Result<(), RepoError>;

    /// The user with this email (case-insensitively), or `None`.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// Stores `hash` as the principal's password, revokes every other
    /// active session of the user and stores `event` (`password_changed`),
    /// in one statement.
    ///
    /// # Errors
    /// `SessionInactive` when the principal's session is not active at
    /// `now` (nothing changes); `Unavailable` or `Internal` otherwise.
    async fn change_password(
        &self,
        principal: &Principal,
        now: Timestamp,
        hash: &PasswordHash,
        event: &PendingEvent,
    ) -> Result<(), RepoError>;

    /// Deletes the principal's user with everything that cascades from it
    /// (sessions, refresh tokens, tasks, events, mail), in one statement.
    ///
    /// # Errors
    /// `SessionInactive` as for [`UserRepo::change_password`].
    async fn delete(&self, principal: &Principal, now: Timestamp) -> Result<(), RepoError>;
}
