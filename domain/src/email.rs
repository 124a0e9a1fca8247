//! Email addresses: the account's login name, compared case-insensitively.

use std::fmt;

/// The longest address SMTP can carry (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_EMAIL_LEN} characters")]
    TooLong,
    #[error("must be a valid email address")]
    Invalid,
}

/// A trimmed, plausible email address, stored lower-cased so that
/// `A@x.io` and `a@x.io` are one account everywhere.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        if !is_plausible(trimmed) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One `@`, a non-empty local part, a dotted domain of sane labels, no
/// whitespace or control characters. Deliverability is not our business.
fn is_plausible(s: &str) -> bool {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
        assert_eq!(email, Email::parse("ada.lovelace@example.com").unwrap());
    }

    #[test]
    fn implausible_addresses_are_refused() {
        for bad in [
            "plain", "@x.io", "a@", "a@b", "a b@x.io", "a@x..io", "a@-x.io", "a@@x.io",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad}");
        }
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn length_limit_is_254_characters() {
        let domain = format!(
            "{}.{}.{}.{}.io",
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(3)
        );
        let at_limit = format!("{}@{}", "a".repeat(254 - 1 - domain.len()), domain);
        assert_eq!(at_limit.len(), 254);
        assert!(Email::parse(&at_limit).is_ok());
        let over = format!("a{at_limit}");
        assert_eq!(Email::parse(&over), Err(EmailError::TooLong));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(raw in any::<String>()) {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
                prop_assert!(email.as_str().chars().count() <= MAX_EMAIL_LEN);
            }
        }
    }
}
