use super::TokenError;

/// Unpredictable bytes for every opaque token the service hands out
/// (refresh tokens, mailed reset and verification tokens): the operating
/// system's CSPRNG in production, fixed values in tests. The use cases
/// turn them into an [`crate::opaque_token::OpaqueToken`].
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SecretSource: Send + Sync {
    /// 32 fresh random bytes (256 bits).
    ///
    /// # Errors
    /// `TokenError::Internal` when the system's random source fails.
    fn token_bytes(&self) -> Result<[u8; 32], TokenError>;
}
