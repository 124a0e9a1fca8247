//! User accounts.

use crate::{text, Email, PasswordHash, Timestamp, UserId, ValidationError};

pub const MAX_NAME_CHARS: usize = 100;

/// An optional display name: at most 100 characters on one line, with at
/// least one visible character, no control and no bidi override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if text::is_blank(raw) {
            return Err(ValidationError::Blank);
        }
        text::check_single_line(raw)?;
        if raw.chars().count() > MAX_NAME_CHARS {
            return Err(ValidationError::TooLong {
                max: MAX_NAME_CHARS,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// A name read back from storage, kept as stored: rows written before
    /// the text rules were tightened must stay readable, so only what every
    /// stored name ever satisfied is checked (no NUL, at most 100
    /// characters).
    pub fn from_storage(stored: String) -> Result<Self, ValidationError> {
        if stored.contains('\0') {
            return Err(ValidationError::NulCharacter);
        }
        if stored.chars().count() > MAX_NAME_CHARS {
            return Err(ValidationError::TooLong {
                max: MAX_NAME_CHARS,
            });
        }
        Ok(Self(stored))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: Option<UserName>,
    pub password_hash: PasswordHash,
    /// Whether the owner proved they read mail at `email`.
    pub email_verified: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    pub fn register(
        email: Email,
        name: Option<UserName>,
        password_hash: PasswordHash,
        now: Timestamp,
    ) -> Self {
        Self {
            id: UserId::new(),
            email,
            name,
            password_hash,
            email_verified: false,
            created_at: now,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_longer_than_100_characters_are_refused() {
        assert!(UserName::parse(&"n".repeat(100)).is_ok());
        assert!(UserName::parse(&"n".repeat(101)).is_err());
        assert_eq!(UserName::parse("a\0b"), Err(ValidationError::NulCharacter));
    }

    #[test]
    fn blank_invisible_and_spoofing_names_are_refused() {
        for blank in ["", "   ", "\u{200B}\u{2060}"] {
            assert_eq!(
                UserName::parse(blank),
                Err(ValidationError::Blank),
                "{blank:?}"
            );
        }
        assert_eq!(
            UserName::parse("Ada\u{202E}nimda"),
            Err(ValidationError::BidiControl)
        );
        assert_eq!(
            UserName::parse("Ada\u{1b}[2J"),
            Err(ValidationError::ControlCharacter)
        );
        assert_eq!(
            UserName::parse(" Ada Lovelace ").unwrap().as_str(),
            " Ada Lovelace "
        );
    }
}
