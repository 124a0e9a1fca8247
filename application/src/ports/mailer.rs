use std::fmt;

use async_trait::async_trait;

/// What a queued mail is for; the outbox stores it as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    PasswordReset,
    EmailVerification,
}

impl MailKind {
    /// The stored name (`mail_outbox.kind`, `account_tokens.purpose`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }

    /// The kind a stored name stands for, or `None` for an unknown one.
    pub fn from_stored(name: &str) -> Option<Self> {
        match name {
            "password_reset" => Some(Self::PasswordReset),
            "email_verification" => Some(Self::EmailVerification),
            _ => None,
        }
    }
}

/// One message ready to send: plain text, one recipient. The body carries
/// a single-use token, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub kind: MailKind,
    pub subject: String,
    pub body: String,
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("kind", &self.kind)
            .field("subject", &self.subject)
            .field("body", &"[redacted]")
            .finish()
    }
}

/// Why a mail was not accepted. The text is for logs and the outbox's
/// `last_error`: never a credential, never the message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later: a 4xx answer, a refused or dropped
    /// connection, a timeout.
    #[error("temporary mail failure: {0}")]
    Transient(String),
    /// Trying again cannot help: a 5xx answer (unknown mailbox, refused
    /// sender), an address that cannot be written.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Hands mail to a mail server (SMTP in production).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`; `Ok` once the server accepted it for delivery.
    ///
    /// # Errors
    /// `Transient` when a later attempt may succeed, `Permanent` when it
    /// cannot.
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}
