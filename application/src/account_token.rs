//! The single-use tokens that reset and verification mails carry: 256
//! random bits written as 43 base64url characters, stored only as their
//! SHA-256 digest, so a copy of the database cannot be replayed as links.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Characters of an encoded token: 32 bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 43;

/// A raw token as mailed. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountToken(String);

/// The SHA-256 digest under which a token is stored and looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl AccountToken {
    /// The token for 32 random bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token a client sent, if it has the shape of one (anything else
    /// cannot be a token we issued).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != TOKEN_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        (bytes.len() == 32).then(|| Self(raw.to_owned()))
    }

    /// A token read back from the outbox, as stored.
    pub fn from_storage(stored: String) -> Self {
        Self(stored)
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The secret itself, for the mail's link and the outbox row only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_43_url_safe_characters_and_parses_back() {
        let token = AccountToken::from_bytes(&[0xfb; 32]);
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        assert!(token
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(AccountToken::parse(token.expose()), Some(token.clone()));
        assert_eq!(AccountToken::parse(&token.expose()[1..]), None);
        assert_eq!(AccountToken::parse(&"*".repeat(TOKEN_CHARS)), None);
    }

    #[test]
    fn the_digest_is_sha256_of_the_text_and_debug_hides_the_token() {
        let token = AccountToken::from_bytes(&[7; 32]);
        let expected: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        assert_eq!(token.digest(), TokenDigest(expected));
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
