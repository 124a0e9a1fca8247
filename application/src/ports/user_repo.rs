use async_trait::async_trait;
use domain::{Email, User};

use super::RepoError;

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
}
