//! The `[mail]` settings turned into a mailer, the recovery use cases and
//! the outbox sender's task.
//!
//! Production (`APP_ENV=production`) refuses to start without
//! `mail.smtp_url`, `mail.from` and `mail.link_base_url`, and without TLS
//! to the SMTP server. Elsewhere, without `mail.smtp_url`, mail is logged
//! as disabled (recipient and kind only, never the token or link).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use adapter_mail::{spawn_sender, LoggingMailer, OutboxSignal, SenderTask, SmtpConfig, SmtpMailer};
use adapter_postgres::Database;
use adapter_security::OsRandom;
use application::ports::{Clock, Mailer, PasswordHasher, Telemetry};
use application::use_cases::{MailTexts, OutboxSender, RecoveryService, RetryPolicy, TokenPolicy};
use secrecy::ExposeSecret;

use crate::compose::StartError;
use crate::settings::{millis, MailSettings};

/// Where links point when no `mail.link_base_url` is set (development):
/// the service itself, which serves the web client.
const DEVELOPMENT_LINK_BASE: &str = "http://localhost:8080";

/// The mailer and links the settings ask for, under the production rule.
/// Called before the database is touched, so a misconfigured production
/// start fails at once with the mail message.
pub(crate) fn mailer(mail: &MailSettings) -> Result<(Arc<dyn Mailer>, MailTexts), StartError> {
    let smtp_url = mail
        .smtp_url
        .as_ref()
        .filter(|url| !url.expose_secret().trim().is_empty());
    let from = mail
        .from
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let link_base = mail
        .link_base_url
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if mail.production {
        let missing: Vec<&str> = [
            (smtp_url.is_none(), "mail.smtp_url (APP__MAIL__SMTP_URL)"),
            (from.is_none(), "mail.from (APP__MAIL__FROM)"),
            (
                link_base.is_none(),
                "mail.link_base_url (APP__MAIL__LINK_BASE_URL)",
            ),
        ]
        .into_iter()
        .filter_map(|(absent, name)| absent.then_some(name))
        .collect();
        if !missing.is_empty() {
            return Err(StartError::Config(format!(
                "production sends password-reset and verification mail: set {}",
                missing.join(", ")
            )));
        }
    }
    let link_base = match link_base {
        Some(base) if base.starts_with("https://") || base.starts_with("http://") => base,
        Some(_) => {
            return Err(StartError::Config(
                "mail.link_base_url must be an http:// or https:// URL (the web client's public address)"
                    .into(),
            ))
        }
        None => DEVELOPMENT_LINK_BASE,
    };
    let texts = MailTexts::new(link_base);
    let Some(url) = smtp_url else {
        tracing::warn!("mail disabled: no mail.smtp_url; reset and verification mails are only logged (without their links)");
        return Ok((Arc::new(LoggingMailer), texts));
    };
    let from = from.ok_or_else(|| {
        StartError::Config("mail.from (APP__MAIL__FROM) is required with mail.smtp_url".into())
    })?;
    let ca_pem = mail
        .smtp_ca_file
        .as_deref()
        .filter(|path| !path.as_os_str().is_empty())
        .map(read_ca_file)
        .transpose()?;
    let smtp = SmtpMailer::new(&SmtpConfig {
        url: url.clone(),
        from: from.to_owned(),
        production: mail.production,
        timeout: millis(mail.send_timeout_ms),
        ca_pem,
    })
    .map_err(|e| StartError::Config(e.to_string()))?;
    Ok((Arc::new(smtp), texts))
}

/// The bytes of `mail.smtp_ca_file`, read once at start (the adapter
/// checks they are CA certificates). A CA certificate is public: its path
/// may be shown.
fn read_ca_file(path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|e| {
        StartError::Config(format!(
            "mail.smtp_ca_file (APP__MAIL__SMTP_CA_FILE): cannot read {}: {e}",
            path.display()
        ))
    })
}

/// The recovery use cases and the running outbox sender.
pub(crate) struct MailParts {
    pub(crate) recovery: Arc<RecoveryService>,
    pub(crate) sender: SenderTask,
}

/// Wires recovery to the database and starts the sender (which sweeps
/// once now, for mail a previous run left queued).
pub(crate) fn build(
    mail: &MailSettings,
    (mailer, texts): (Arc<dyn Mailer>, MailTexts),
    database: &Database,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    telemetry: Arc<dyn Telemetry>,
) -> MailParts {
    let signal = OutboxSignal::new();
    let recovery = RecoveryService::new(
        database.account_token_store(),
        hasher,
        Arc::new(OsRandom),
        clock.clone(),
        Arc::new(signal.clone()),
    )
    .with_policy(TokenPolicy {
        max_outstanding: mail.max_outstanding_tokens,
        ..TokenPolicy::default()
    })
    .with_telemetry(telemetry);
    let policy = RetryPolicy {
        first_retry: millis(mail.retry_first_delay_ms),
        max_backoff: millis(mail.retry_max_delay_ms),
        // Longer than a batch of sends can take.
        lease: Duration::from_millis(mail.send_timeout_ms)
            .saturating_mul(RetryPolicy::default().batch + 2),
        ..RetryPolicy::default()
    };
    let sender = OutboxSender::new(database.outbox(), mailer, clock, texts, policy);
    let sender = spawn_sender(Arc::new(sender), &signal);
    MailParts {
        recovery: Arc::new(recovery),
        sender,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings(production: bool, vars: &[(&str, &str)]) -> MailSettings {
        let mut mail = crate::settings::tests::default_settings().mail;
        mail.production = production;
        for (key, value) in vars {
            match *key {
                "smtp_url" => mail.smtp_url = Some(SecretString::from(value.to_string())),
                "from" => mail.from = Some(value.to_string()),
                "link_base_url" => mail.link_base_url = Some(value.to_string()),
                "smtp_ca_file" => mail.smtp_ca_file = Some(value.into()),
                _ => unreachable!("{key}"),
            }
        }
        mail
    }

    fn error_of(mail: &MailSettings) -> String {
        match mailer(mail) {
            Ok(_) => panic!("the mail settings were accepted"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn production_without_mail_settings_names_each_missing_one() {
        let err = error_of(&settings(true, &[]));
        for name in [
            "APP__MAIL__SMTP_URL",
            "APP__MAIL__FROM",
            "APP__MAIL__LINK_BASE_URL",
        ] {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn production_refuses_plain_smtp_and_hides_the_password() {
        let err = error_of(&settings(
            true,
            &[
                ("smtp_url", "smtp://user:hunter2@mail.example:25"),
                ("from", "no-reply@todo.example"),
                ("link_base_url", "https://todo.example"),
            ],
        ));
        assert!(err.contains("production"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn production_with_tls_settings_starts() {
        assert!(mailer(&settings(
            true,
            &[
                ("smtp_url", "smtps://user:pw@mail.example"),
                ("from", "Todo <no-reply@todo.example>"),
                ("link_base_url", "https://todo.example"),
            ],
        ))
        .is_ok());
    }

    #[test]
    fn an_unreadable_or_invalid_ca_file_stops_the_start_with_the_setting_named() {
        let tls = [
            ("smtp_url", "smtps://user:hunter2@mail.example"),
            ("from", "no-reply@todo.example"),
            ("link_base_url", "https://todo.example"),
        ];
        let missing = settings(
            true,
            &[&tls[..], &[("smtp_ca_file", "/nonexistent/mail-ca.pem")]].concat(),
        );
        let err = error_of(&missing);
        assert!(err.contains("APP__MAIL__SMTP_CA_FILE"), "{err}");
        assert!(err.contains("/nonexistent/mail-ca.pem"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        let not_pem = std::env::temp_dir().join(format!("not-a-ca-{}.pem", std::process::id()));
        std::fs::write(&not_pem, "hello").expect("a temporary file");
        let invalid = settings(
            true,
            &[
                &tls[..],
                &[("smtp_ca_file", not_pem.to_str().expect("utf-8"))],
            ]
            .concat(),
        );
        let err = error_of(&invalid);
        let _ = std::fs::remove_file(&not_pem);
        assert!(err.contains("mail.smtp_ca_file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn development_without_smtp_logs_mail_instead() {
        assert!(mailer(&settings(false, &[])).is_ok());
        let err = error_of(&settings(false, &[("smtp_url", "smtp://127.0.0.1:2525")]));
        assert!(err.contains("APP__MAIL__FROM"), "{err}");
    }
}
