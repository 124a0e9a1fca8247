//! [`OsRandom`]: the `SecretSource` port from the operating system's
//! CSPRNG, for every opaque token (refresh tokens, mailed tokens).

use application::ports::{SecretSource, TokenError};
use rand::rngs::OsRng;
use rand::RngCore;

/// 256-bit secrets straight from the OS (getrandom): no user-space state
/// to seed or to leak across a fork.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl SecretSource for OsRandom {
    fn token_bytes(&self) -> Result<[u8; 32], TokenError> {
        let mut bytes = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| TokenError::Internal(format!("random source failed: {e}")))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use application::opaque_token::OpaqueToken;

    use super::*;

    #[test]
    fn secrets_do_not_repeat() {
        let secrets: std::collections::HashSet<[u8; 32]> =
            (0..1000).map(|_| OsRandom.token_bytes().unwrap()).collect();
        assert_eq!(secrets.len(), 1000);
        assert!(!secrets.contains(&[0; 32]));
    }

    #[test]
    fn their_tokens_have_the_shape_the_use_cases_accept() {
        let token = OpaqueToken::from_bytes(&OsRandom.token_bytes().unwrap());
        assert_eq!(OpaqueToken::parse(token.expose()), Some(token));
    }
}
