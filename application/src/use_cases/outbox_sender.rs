//! Delivering the mail outbox: at least once, with retries and
//! exponential backoff, deleting each row once the mail server took it.
//!
//! This is the sender's logic only. Its loop (a task woken after commits
//! that queued mail, once at start, and by a timer only while rows are
//! pending: never a periodic poll of an idle database) lives with the
//! runtime, in `adapter-mail`.

use std::sync::Arc;
use std::time::Duration;

use domain::Timestamp;

use crate::ports::{Clock, MailError, Mailer, Outbox, OutboxMail};
use crate::use_cases::mail_text::MailTexts;
use crate::AppError;

/// Longest `last_error` kept in the outbox.
const MAX_ERROR_CHARS: usize = 500;

/// Retries and leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; each further failure
    /// doubles it, up to `max_backoff`.
    pub first_retry: Duration,
    pub max_backoff: Duration,
    /// How long a claimed row is held for this sender: longer than a batch
    /// of sends can take, so no other replica sends it meanwhile; after it,
    /// a crashed sender's rows are due again.
    pub lease: Duration,
    /// Rows claimed per statement.
    pub batch: u32,
    /// Attempts after which a mail is given up (its row deleted).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            lease: Duration::from_secs(300),
            batch: 10,
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempts + 1`, after `attempts` failures.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

/// What one sweep did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub delivered: u32,
    pub retried: u32,
    pub given_up: u32,
    /// When to sweep again; `None`: only when woken.
    pub next_due: Option<Timestamp>,
}

pub struct OutboxSender {
    outbox: Arc<dyn Outbox>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    texts: MailTexts,
    policy: RetryPolicy,
}

impl OutboxSender {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        texts: MailTexts,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            outbox,
            mailer,
            clock,
            texts,
            policy: RetryPolicy {
                batch: policy.batch.max(1),
                max_attempts: policy.max_attempts.max(1),
                ..policy
            },
        }
    }

    /// The current time, as the sender judges it (for the loop's timer).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Sends everything due now, batch after batch, and says when to look
    /// again.
    ///
    /// # Errors
    /// A storage error ends the sweep; rows claimed and not yet settled are
    /// due again when their lease ends (at least once, never lost).
    pub async fn sweep(&self) -> Result<SweepReport, AppError> {
        let mut report = SweepReport::default();
        loop {
            let now = self.clock.now();
            let lease_until = now + chrono_of(self.policy.lease);
            let batch = self
                .outbox
                .claim(now, lease_until, self.policy.batch)
                .await?;
            let full = batch.len() >= self.policy.batch as usize;
            for mail in batch {
                self.deliver(mail, &mut report).await?;
            }
            if !full {
                break;
            }
        }
        report.next_due = self.outbox.next_due().await?;
        Ok(report)
    }

    async fn deliver(&self, row: OutboxMail, report: &mut SweepReport) -> Result<(), AppError> {
        let mail = self.texts.render(row.kind, &row.recipient, &row.token);
        let failure = match self.mailer.send(&mail).await {
            Ok(()) => {
                report.delivered += 1;
                tracing::info!(mail_id = %row.id, user_id = %row.user_id, kind = row.kind.as_str(), attempts = row.attempts, "mail accepted by the mailer");
                self.outbox.remove(row.id).await?;
                return Ok(());
            }
            Err(failure) => failure,
        };
        let error = scrubbed(&failure.to_string(), row.token.expose());
        let give_up =
            matches!(failure, MailError::Permanent(_)) || row.attempts >= self.policy.max_attempts;
        if give_up {
            report.given_up += 1;
            tracing::warn!(mail_id = %row.id, user_id = %row.user_id, kind = row.kind.as_str(), attempts = row.attempts, %error, "mail given up");
            self.outbox.remove(row.id).await?;
            return Ok(());
        }
        report.retried += 1;
        let next = self.clock.now() + chrono_of(self.policy.backoff(row.attempts));
        tracing::warn!(mail_id = %row.id, kind = row.kind.as_str(), attempts = row.attempts, %error, next_attempt_at = %next, "mail not accepted; will retry");
        self.outbox.retry_at(row.id, next, &error).await?;
        Ok(())
    }
}

fn chrono_of(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The error as stored: the token never (should a server echo it), at
/// most [`MAX_ERROR_CHARS`].
fn scrubbed(error: &str, token: &str) -> String {
    let text = if token.is_empty() {
        error.to_owned()
    } else {
        error.replace(token, "[token]")
    };
    text.chars().take(MAX_ERROR_CHARS).collect()
}
