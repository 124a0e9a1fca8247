use std::time::Duration;

use async_trait::async_trait;
use domain::{Password, PasswordHash};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// As many hashes as allowed are running or waiting: refused at once
    /// rather than queued, so a burst cannot delay everyone's login.
    #[error("password hashing is at capacity")]
    Busy { retry_after: Duration },
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Slow, salted password hashing (Argon2id in production). Implementations
/// do the work off the async workers so a burst of logins stalls nothing.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string for `password` with a fresh salt.
    ///
    /// # Errors
    /// `Busy` at once when the hashing queue is full (both methods);
    /// `Failed` for anything else.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Whether `password` matches `hash`. A malformed stored hash is an
    /// error, not a mismatch.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;

    /// A valid hash with the production parameters of a password nobody
    /// knows. Login verifies against it for unknown emails, so that the
    /// answer takes as long as for a wrong password.
    fn dummy_hash(&self) -> PasswordHash;

    /// `Some(retry_after)` when the queue is full right now, so a caller can
    /// refuse before doing other work (a login skips its database round
    /// trips). Only a hint: `hash` and `verify` may still answer `Busy`.
    fn busy(&self) -> Option<Duration>;
}
