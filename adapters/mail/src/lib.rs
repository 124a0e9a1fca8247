//! Mail delivery for the todo service.
//!
//! Layout:
//! - [`SmtpMailer`] (`smtp`): the `Mailer` port over SMTP with lettre and
//!   rustls: `smtps://` (implicit TLS) or `smtp://…?tls=required`
//!   (STARTTLS); plain `smtp://` only outside production, for local sinks.
//!   The server's certificate and name are checked against the Mozilla
//!   roots, or only against a private CA given as PEM (`mail.smtp_ca_file`).
//!   The URL's credentials stay in a `SecretString` and are never logged.
//! - [`LoggingMailer`] (`logging`): the stand-in when no SMTP server is
//!   configured (development, tests): logs "mail disabled" with the
//!   recipient and kind, never the token or the link.
//! - [`OutboxSignal`], [`spawn_sender`] (`sender_loop`): the outbox
//!   sender's task. It sweeps once at start, then only when woken by a
//!   write that queued mail, or by a timer while rows are pending (until
//!   the earliest `next_attempt_at`): an idle database is never polled.

mod logging;
mod sender_loop;
mod smtp;

pub use logging::LoggingMailer;
pub use sender_loop::{spawn_sender, OutboxSignal, SenderTask};
pub use smtp::{SmtpConfig, SmtpConfigError, SmtpMailer};
