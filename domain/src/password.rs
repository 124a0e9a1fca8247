//! Plain passwords (never printed) and their stored hashes.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

/// A plain password that meets the policy, in Unicode NFC (NIST SP 800-63B
/// §5.1.1.2), so the same password typed precomposed or decomposed hashes
/// the same. Its `Debug` never shows the text, so it cannot leak through a
/// log line or a panic message.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let raw = nfc(raw);
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            Err(PasswordError::TooShort)
        } else if chars > MAX_PASSWORD_CHARS {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(raw))
        }
    }

    /// Wraps a login attempt's password (NFC too) without the policy: a
    /// login must be answered "unauthorized", not "invalid", whatever was
    /// typed.
    pub fn for_login(raw: &str) -> Self {
        Self(nfc(raw))
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

fn nfc(raw: &str) -> String {
    raw.nfc().collect()
}

/// A password hash as stored: an Argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn policy_is_8_to_128_characters() {
        assert_eq!(
            Password::parse("1234567").unwrap_err(),
            PasswordError::TooShort
        );
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(129)).unwrap_err(),
            PasswordError::TooLong
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let password = Password::parse("hunter2-secret").unwrap();
        let shown = format!("{password:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let hash = PasswordHash::new("$argon2id$v=19$secretstuff".into());
        assert!(!format!("{hash:?}").contains("secretstuff"));
    }

    #[test]
    fn passwords_are_nfc_normalized_for_registration_and_login() {
        let precomposed = "caf\u{00E9} cr\u{00E8}me";
        let decomposed = "cafe\u{0301} cre\u{0300}me";
        let registered = Password::parse(precomposed).unwrap();
        assert_eq!(registered.expose(), precomposed);
        assert_eq!(Password::for_login(decomposed).expose(), precomposed);
        assert_eq!(Password::parse(decomposed).unwrap().expose(), precomposed);
    }

    proptest! {
        #[test]
        fn accepted_passwords_keep_their_text_up_to_nfc(raw in any::<String>()) {
            if let Ok(p) = Password::parse(&raw) {
                let expected = nfc(&raw);
                prop_assert_eq!(p.expose(), expected.as_str());
            }
        }
    }
}
