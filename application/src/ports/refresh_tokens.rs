use sha2::{Digest, Sha256};

use super::TokenError;

/// Characters of a refresh token: 32 random bytes in unpadded base64url.
pub const REFRESH_TOKEN_CHARS: usize = 43;

/// Makes the opaque refresh tokens handed to clients: at least 256 bits
/// from a CSPRNG, base64url without padding. Only their [`TokenDigest`] is
/// ever stored.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait RefreshTokenSource: Send + Sync {
    /// A fresh token of [`REFRESH_TOKEN_CHARS`] base64url characters.
    ///
    /// # Errors
    /// `TokenError::Internal` when the system's random source fails.
    fn generate(&self) -> Result<String, TokenError>;
}

/// The SHA-256 of a refresh token: what storage holds and looks up. A
/// stolen table holds nothing a client could present.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// The digest of `presented` when it could be one of ours (the right
    /// length and alphabet), `None` for anything else: such input is
    /// refused without a database round trip.
    pub fn of_presented(presented: &str) -> Option<Self> {
        let plausible = presented.len() == REFRESH_TOKEN_CHARS
            && presented
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| Self::of(presented))
    }
}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest([redacted])")
    }
}
