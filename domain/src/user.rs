//! User accounts.

use crate::{Email, PasswordHash, Timestamp, UserId, ValidationError};

pub const MAX_NAME_CHARS: usize = 100;

/// An optional display name, at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.contains('\0') {
            return Err(ValidationError::NulCharacter);
        }
        if raw.chars().count() > MAX_NAME_CHARS {
            return Err(ValidationError::TooLong {
                max: MAX_NAME_CHARS,
            });
        }
        Ok(Self(raw.to_owned()))
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
}
