//! What the reset and verification mails say: subject and plain-text body
//! with the link `{link_base_url}/reset-password?token=…` or
//! `{link_base_url}/verify-email?token=…` (the web client's pages).

use crate::opaque_token::OpaqueToken;
use crate::ports::{Mail, MailKind};

/// How long each kind of token stays valid, as the mails say it.
pub const RESET_VALID_MINUTES: i64 = 30;
pub const VERIFICATION_VALID_HOURS: i64 = 24;

/// Builds the mails for the web client at `link_base_url`.
#[derive(Debug, Clone)]
pub struct MailTexts {
    link_base_url: String,
}

impl MailTexts {
    /// `link_base_url` is the web client's public URL; a trailing `/` is
    /// dropped so links have exactly one.
    pub fn new(link_base_url: &str) -> Self {
        Self {
            link_base_url: link_base_url.trim().trim_end_matches('/').to_owned(),
        }
    }

    /// The link a mail of `kind` carries for `token`. The token is
    /// base64url, so it needs no escaping in a query.
    pub fn link(&self, kind: MailKind, token: &OpaqueToken) -> String {
        let page = match kind {
            MailKind::PasswordReset => "reset-password",
            MailKind::EmailVerification => "verify-email",
        };
        format!("{}/{page}?token={}", self.link_base_url, token.expose())
    }

    /// The whole mail of `kind` to `recipient`.
    pub fn render(&self, kind: MailKind, recipient: &str, token: &OpaqueToken) -> Mail {
        let link = self.link(kind, token);
        let (subject, body) = match kind {
            MailKind::PasswordReset => (
                "Reset your password",
                format!(
                    "Someone (hopefully you) asked to reset the password of this account.\n\
                     \n\
                     To choose a new password, open this link within {RESET_VALID_MINUTES} minutes:\n\
                     \n\
                     {link}\n\
                     \n\
                     The link works once. Resetting signs you out everywhere.\n\
                     If you did not ask for this, ignore this mail: your password stays as it is.\n"
                ),
            ),
            MailKind::EmailVerification => (
                "Confirm your email address",
                format!(
                    "Welcome! Please confirm that this address is yours by opening this link\n\
                     within {VERIFICATION_VALID_HOURS} hours:\n\
                     \n\
                     {link}\n\
                     \n\
                     If you did not create an account, ignore this mail.\n"
                ),
            ),
        };
        Mail {
            to: recipient.to_owned(),
            kind,
            subject: subject.to_owned(),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_mail_links_to_the_reset_page_with_the_token() {
        let texts = MailTexts::new("https://todo.example/");
        let token = OpaqueToken::from_bytes(&[1; 32]);
        let mail = texts.render(MailKind::PasswordReset, "ada@example.com", &token);
        assert_eq!(mail.to, "ada@example.com");
        assert_eq!(mail.subject, "Reset your password");
        let link = format!(
            "https://todo.example/reset-password?token={}",
            token.expose()
        );
        assert!(mail.body.contains(&link), "{}", mail.body);
        assert!(mail.body.contains("30 minutes"));
    }

    #[test]
    fn verification_mail_links_to_the_verify_page_with_the_token() {
        let texts = MailTexts::new("http://localhost:8080");
        let token = OpaqueToken::from_bytes(&[2; 32]);
        let mail = texts.render(MailKind::EmailVerification, "bob@example.com", &token);
        let link = format!(
            "http://localhost:8080/verify-email?token={}",
            token.expose()
        );
        assert!(mail.body.contains(&link), "{}", mail.body);
        assert!(!format!("{mail:?}").contains(token.expose()));
    }
}
