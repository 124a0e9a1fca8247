//! [`LoggingMailer`]: "sends" by logging that mail is disabled.

use application::ports::{Mail, MailError, Mailer};
use async_trait::async_trait;

/// Accepts every mail and logs its recipient and kind only: the body holds
/// a single-use token, which must never reach a log.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoggingMailer;

#[async_trait]
impl Mailer for LoggingMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        tracing::info!(
            to = %mail.to,
            kind = mail.kind.as_str(),
            subject = %mail.subject,
            "mail disabled (no mail.smtp_url): not sent"
        );
        Ok(())
    }
}
