//! The opaque tokens clients hold: refresh tokens and the single-use
//! tokens that reset and verification mails carry. Both are 256 random
//! bits (from [`crate::ports::SecretSource`]) written as 43 base64url
//! characters, and both are stored only as their SHA-256 [`TokenDigest`],
//! so a copy of the database holds nothing a client could present.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Characters of an encoded token: 32 bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 43;

/// A raw token as handed to a client. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

/// The SHA-256 of a token's text: what storage holds and looks up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl OpaqueToken {
    /// The token for 32 random bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token a client sent, if it has the shape of one (anything else
    /// cannot be a token we issued, and is refused without a database
    /// round trip).
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
        TokenDigest::of(&self.0)
    }

    /// The secret itself, for the client's answer, the mail's link and
    /// the outbox row only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret itself, for the client's answer.
    pub fn into_exposed(self) -> String {
        self.0
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken([redacted])")
    }
}

impl TokenDigest {
    /// The digest of any text (tests store arbitrary digests with it).
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_43_url_safe_characters_and_parses_back() {
        let token = OpaqueToken::from_bytes(&[0xfb; 32]);
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        assert!(token
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(OpaqueToken::parse(token.expose()), Some(token.clone()));
        assert_eq!(OpaqueToken::parse(&token.expose()[1..]), None);
        assert_eq!(OpaqueToken::parse(&"*".repeat(TOKEN_CHARS)), None);
    }

    #[test]
    fn the_digest_is_sha256_of_the_text_and_debug_hides_both() {
        let token = OpaqueToken::from_bytes(&[7; 32]);
        let expected: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        assert_eq!(token.digest(), TokenDigest(expected));
        assert!(!format!("{token:?}").contains(token.expose()));
        assert_eq!(format!("{:?}", token.digest()), "TokenDigest([redacted])");
    }

    #[test]
    fn the_testkit_refresh_token_is_the_one_its_bytes_make() {
        use crate::testkit::{REFRESH_TOKEN, REFRESH_TOKEN_BYTES};
        let token = OpaqueToken::from_bytes(&REFRESH_TOKEN_BYTES);
        assert_eq!(token.expose(), REFRESH_TOKEN);
        assert!(OpaqueToken::parse(REFRESH_TOKEN).is_some());
    }
}
