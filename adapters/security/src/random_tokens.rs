//! [`OsRandom`]: the `SecretSource` port from the operating system's
//! CSPRNG, for the mailed single-use tokens.

use application::ports::SecretSource;
use rand::rngs::OsRng;
use rand::RngCore;

/// 256-bit secrets straight from the OS (getrandom): no user-space state
/// to seed or to leak across a fork.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl SecretSource for OsRandom {
    fn token_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_is_fresh() {
        let a = OsRandom.token_bytes();
        let b = OsRandom.token_bytes();
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }
}
