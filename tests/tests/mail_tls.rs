//! Mail over TLS end to end: the real binary delivers to the TLS sink
//! (`smtps://` and STARTTLS) when `APP__MAIL__SMTP_CA_FILE` trusts the
//! sink's private CA, keeps the mail queued (and logs why, without
//! secrets) when it trusts another CA, and refuses to start with a CA file
//! it cannot use.

use std::time::{Duration, Instant};

use e2e_tests::mail::{MailDb, SmtpSink, LINK_BASE};
use e2e_tests::{start_expecting_failure, ServerEnv};
use test_support::foreign_ca::ForeignCa;
use test_support::smtp_sink::AuthSeen;
use tokio_postgres::types::Type;

const MAIL_LIMIT: Duration = Duration::from_secs(30);
const USER: &str = "mailer";
const PASSWORD: &str = "pw-hunter2";
const VERIFY_PAGE: &str = "/verify-email";

/// The verification mail of a new account arrives over TLS; the relay's
/// credentials crossed only encrypted and are nowhere in the logs.
async fn verification_mail_arrives_over(sink: SmtpSink) {
    let Some(db) = MailDb::create().await else {
        return;
    };
    let ca_file = sink.ca_file().expect("a TLS sink has a CA");
    let app = db
        .server(&sink)
        .env(
            "APP__MAIL__SMTP_URL",
            sink.url_with_credentials(USER, PASSWORD),
        )
        .env("APP__MAIL__SMTP_CA_FILE", ca_file.display().to_string())
        .spawn()
        .await;
    let user = app.new_user().await;
    let mail = sink
        .wait_for(
            &user.email,
            &format!("{LINK_BASE}{VERIFY_PAGE}?token="),
            MAIL_LIMIT,
        )
        .await;
    assert!(mail.token_for(VERIFY_PAGE).is_some(), "{}", mail.body());
    assert!(sink
        .server_names()
        .iter()
        .all(|n| n.as_deref() == Some("localhost")));
    let auths = sink.auths();
    assert!(!auths.is_empty(), "the relay's credentials were used");
    assert!(
        auths.iter().all(|a| *a
            == AuthSeen {
                user: USER.into(),
                password: PASSWORD.into(),
                over_tls: true,
            }),
        "{auths:?}"
    );
    assert!(
        sink.commands()
            .iter()
            .filter(|c| !c.over_tls)
            .all(|c| c.verb == "EHLO" || c.verb == "STARTTLS"),
        "{:?}",
        sink.commands()
    );
    assert!(
        !app.logs().contains(PASSWORD),
        "the SMTP password is in the logs"
    );
}

#[tokio::test]
async fn the_verification_mail_reaches_an_smtps_relay_of_a_private_ca() {
    e2e_tests::needs_own_server!("mails a TLS sink it starts and reads the server's logs");
    verification_mail_arrives_over(SmtpSink::implicit_tls().await).await;
}

#[tokio::test]
async fn the_verification_mail_reaches_a_starttls_relay_of_a_private_ca() {
    e2e_tests::needs_own_server!("mails a TLS sink it starts and reads the server's logs");
    verification_mail_arrives_over(SmtpSink::starttls().await).await;
}

#[tokio::test]
async fn a_relay_of_an_untrusted_ca_gets_nothing_and_the_outbox_keeps_the_mail() {
    e2e_tests::needs_own_server!("mails a TLS sink it starts and reads the server's logs");
    let Some(db) = MailDb::create().await else {
        return;
    };
    let sink = SmtpSink::starttls().await;
    let foreign = ForeignCa::generate();
    let app = db
        .server(&sink)
        .env(
            "APP__MAIL__SMTP_URL",
            sink.url_with_credentials(USER, PASSWORD),
        )
        .env(
            "APP__MAIL__SMTP_CA_FILE",
            foreign.cert().display().to_string(),
        )
        .spawn()
        .await;
    let user = app.new_user().await;
    // The first attempt failed and was recorded; the row stays for a retry.
    let failed = "SELECT count(*) FROM mail_outbox WHERE user_id = $1 AND attempts >= 1 AND last_error LIKE '%certificate%'";
    let started = Instant::now();
    while db.count(failed, &[(&user.id, Type::UUID)]).await == 0 {
        assert!(
            started.elapsed() < MAIL_LIMIT,
            "no failed attempt recorded for the untrusted relay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let leaked = "SELECT count(*) FROM mail_outbox WHERE last_error LIKE '%' || $1 || '%'";
    assert_eq!(db.count(leaked, &[(&PASSWORD, Type::TEXT)]).await, 0);
    assert!(sink.failed_handshakes() >= 1);
    assert!(sink.delivered().is_empty());
    assert!(
        sink.auths().is_empty(),
        "credentials went to an unverified server"
    );
    let logs = app.logs();
    assert!(
        logs.contains("mail not accepted") && logs.contains("UnknownIssuer"),
        "the logs say the relay's certificate was refused"
    );
    assert!(!logs.contains(PASSWORD), "the SMTP password is in the logs");
}

#[tokio::test]
async fn production_refuses_to_start_with_a_ca_file_it_cannot_use() {
    e2e_tests::needs_own_server!("starts servers with settings of its own");
    let production = ServerEnv::working()
        .set("APP_ENV", "production")
        .set(
            "APP__MAIL__SMTP_URL",
            format!("smtps://{USER}:{PASSWORD}@localhost:465"),
        )
        .set("APP__MAIL__FROM", "no-reply@todo.test")
        .set("APP__MAIL__LINK_BASE_URL", LINK_BASE);
    let missing = start_expecting_failure(
        &production
            .clone()
            .set("APP__MAIL__SMTP_CA_FILE", "/nonexistent/mail-ca.pem"),
    )
    .await;
    missing.assert_refused(&[PASSWORD]);
    missing.assert_names(&["APP__MAIL__SMTP_CA_FILE"]);

    let not_a_ca = std::env::temp_dir().join(format!("not-a-ca-{}.pem", uuid::Uuid::now_v7()));
    std::fs::write(&not_a_ca, "not a certificate").expect("a temporary file");
    let invalid = start_expecting_failure(
        &production.set("APP__MAIL__SMTP_CA_FILE", not_a_ca.display().to_string()),
    )
    .await;
    let _ = std::fs::remove_file(&not_a_ca);
    invalid.assert_refused(&[PASSWORD]);
    invalid.assert_names(&["mail.smtp_ca_file"]);
}
