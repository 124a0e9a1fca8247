use domain::{Session, Timestamp};

use super::Principal;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, tampered, wrong algorithm, audience or issuer, or expired.
    #[error("invalid token")]
    Invalid,
    #[error("token service failure: {0}")]
    Internal(String),
}

/// Issues and verifies bearer tokens. A token names a session; it is never
/// enough on its own, the session must also be active.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenService: Send + Sync {
    /// An access token for `session`, issued at `issued_at` and refused
    /// from `expires_at` on (which the caller keeps within the session).
    fn issue(
        &self,
        session: &Session,
        issued_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<String, TokenError>;

    /// The principal a token names, if its signature, algorithm, audience,
    /// issuer and expiry (judged at `now`) all hold.
    ///
    /// # Errors
    /// `TokenError::Invalid` for every kind of bad token.
    fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, TokenError>;
}
