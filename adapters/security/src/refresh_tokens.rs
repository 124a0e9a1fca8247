//! Opaque refresh tokens: 32 bytes (256 bits) from the operating system's
//! CSPRNG, base64url without padding (43 characters).

use application::ports::{RefreshTokenSource, TokenError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;

/// Random bytes per token.
const TOKEN_BYTES: usize = 32;

/// [`RefreshTokenSource`] over `OsRng` (getrandom).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRefreshTokens;

impl RefreshTokenSource for OsRefreshTokens {
    fn generate(&self) -> Result<String, TokenError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| TokenError::Internal(format!("random source failed: {e}")))?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use application::ports::{TokenDigest, REFRESH_TOKEN_CHARS};

    #[test]
    fn tokens_are_43_base64url_characters_that_decode_to_32_bytes() {
        let token = OsRefreshTokens.generate().unwrap();
        assert_eq!(token.len(), REFRESH_TOKEN_CHARS);
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        // The use case accepts exactly this shape.
        assert!(TokenDigest::of_presented(&token).is_some());
    }

    #[test]
    fn tokens_do_not_repeat() {
        let tokens: std::collections::HashSet<String> = (0..1000)
            .map(|_| OsRefreshTokens.generate().unwrap())
            .collect();
        assert_eq!(tokens.len(), 1000);
    }
}
