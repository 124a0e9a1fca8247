//! Email addresses: the account's login name, compared case-insensitively
//! in every script.

use std::fmt;

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;

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

/// A trimmed, plausible email address, stored in its canonical caseless
/// form (Unicode full case folding between canonical decompositions, then
/// NFC), so that `A@x.io` and `a@x.io`, `ÉCOLE@x.io` typed precomposed or
/// decomposed, and `STRASSE@x.io` and `straße@x.io` are one account
/// everywhere.
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
        Ok(Self(canonical_caseless(trimmed)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode canonical caseless matching's key (Unicode §3.13, D145):
/// NFD, full case folding, NFD again; then NFC, the form stored.
fn canonical_caseless(s: &str) -> String {
    s.nfd()
        .default_case_fold()
        .nfd()
        .collect::<String>()
        .nfc()
        .collect()
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
    fn look_alike_spellings_are_one_address() {
        let nfc = Email::parse("\u{00C9}cole@Example.fr").unwrap();
        let nfd = Email::parse("E\u{0301}COLE@example.FR").unwrap();
        assert_eq!(nfc, nfd);
        assert_eq!(nfc.as_str(), "\u{00E9}cole@example.fr");
        assert_eq!(
            Email::parse("STRASSE@x.de").unwrap(),
            Email::parse("stra\u{00DF}e@x.de").unwrap()
        );
        assert_eq!(
            Email::parse("\u{039F}\u{0394}\u{039F}\u{03A3}@x.gr").unwrap(),
            Email::parse("\u{03BF}\u{03B4}\u{03BF}\u{03C2}@x.gr").unwrap()
        );
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
