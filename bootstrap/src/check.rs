//! `todo-server check`: every start-up check in order, each reported on its
//! own line, so a person can see where the connection to Neon breaks.
//! Connection failures are reported as the PostgreSQL adapter diagnoses
//! them (DNS, refusal, TLS, authentication), not checked a second time.

use std::process::ExitCode;

use adapter_postgres::{ConnectionUrl, Database};
use secrecy::ExposeSecret;

use crate::compose::postgres_settings;
use crate::settings::{Settings, Sources};

struct Report {
    failed: bool,
}

impl Report {
    fn ok(&self, step: &str, detail: impl std::fmt::Display) {
        println!("  ok    {step:<14} {detail}");
    }

    fn fail(&mut self, step: &str, detail: impl std::fmt::Display) {
        self.failed = true;
        println!("  FAIL  {step:<14} {detail}");
    }

    fn skip(&self, step: &str) {
        println!("  --    {step:<14} skipped (an earlier check failed)");
    }
}

const LATER_STEPS: [&str; 4] = ["connect", "server", "migrations", "schema"];

pub async fn run(sources: &Sources) -> ExitCode {
    println!("todo-server check");
    let mut report = Report { failed: false };
    let settings = match Settings::load(sources) {
        Ok(settings) => {
            report.ok("configuration", format!("APP_ENV={}", sources.app_env));
            settings
        }
        Err(err) => {
            report.fail("configuration", err);
            return finish(&report, &["database url"]);
        }
    };
    // Mail settings under the production rule; a failure here does not stop
    // the database checks.
    match crate::mail::mailer(&settings.mail) {
        Ok(_) if settings.mail.smtp_url.is_some() => report.ok("mail", "SMTP settings valid"),
        Ok(_) => report.ok("mail", "disabled (no mail.smtp_url): mails are only logged"),
        Err(err) => report.fail("mail", err),
    }
    let Some(raw_url) = settings.database.url.as_ref() else {
        report.fail(
            "database url",
            "DATABASE_URL is not set: it is required and has no default",
        );
        return finish(&report, &LATER_STEPS);
    };
    match ConnectionUrl::parse(raw_url.expose_secret(), settings.database.require_neon_host) {
        Ok(url) => {
            let endpoint = url
                .neon_endpoint
                .as_ref()
                .map(|e| {
                    format!(
                        "Neon endpoint {} ({})",
                        e.id,
                        if e.pooled { "pooled" } else { "direct" }
                    )
                })
                .unwrap_or_else(|| "not a Neon host".to_owned());
            report.ok("database url", format!("{} — {endpoint}", url.redacted()));
        }
        Err(err) => {
            report.fail("database url", adapter_postgres::StartupError::from(err));
            return finish(&report, &LATER_STEPS);
        }
    };
    let pg_settings = match postgres_settings(&settings) {
        Ok(pg) => pg,
        Err(err) => {
            report.fail("connect", err);
            return finish(&report, &LATER_STEPS[1..]);
        }
    };
    // The adapter diagnoses a failed connection itself (DNS, refused, TLS,
    // authentication, Neon's answers): its message is the report.
    let database = match Database::connect(pg_settings).await {
        Ok(database) => database,
        Err(err) => {
            report.fail("connect", err);
            return finish(&report, &LATER_STEPS[1..]);
        }
    };
    let info = database.connection_info();
    report.ok(
        "connect",
        format!(
            "{} {}, SCRAM authentication as {} to database {}",
            info.tls_version.as_deref().unwrap_or("TLS"),
            info.tls_cipher.as_deref().unwrap_or(""),
            info.user,
            info.database
        ),
    );
    let endpoint = if info.pooled {
        ", through Neon's pooler (migrations use the direct endpoint)"
    } else {
        ""
    };
    report.ok(
        "server",
        format!("PostgreSQL {}{endpoint}", info.server_version),
    );
    match database.pending_migrations().await {
        Ok(pending) if pending.is_empty() => report.ok("migrations", "all applied"),
        Ok(pending) => report.fail(
            "migrations",
            format!(
                "not applied yet: {} (run `todo-server migrate`)",
                pending.join(", ")
            ),
        ),
        Err(err) => report.fail("migrations", err),
    }
    match database.check_schema().await {
        Ok(()) => report.ok("schema", "matches what this build expects"),
        Err(err) => report.fail("schema", err),
    }
    database.shutdown().await;
    finish(&report, &[])
}

fn finish(report: &Report, skipped: &[&str]) -> ExitCode {
    for step in skipped {
        report.skip(step);
    }
    if report.failed {
        println!("result: FAILED");
        ExitCode::from(1)
    } else {
        println!("result: all checks passed");
        ExitCode::SUCCESS
    }
}
