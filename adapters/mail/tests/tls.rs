//! The SMTP mailer over TLS against the test sink (`test_support::smtp_sink`):
//! implicit TLS (`smtps://`) and STARTTLS (`tls=required`) deliver when the
//! sink's private CA is trusted through `ca_pem` (what
//! `mail.smtp_ca_file` feeds), and deliver nothing (no command past the
//! handshake, no credentials) when it is not, or when a server does not
//! offer STARTTLS.

use std::time::Duration;

use adapter_mail::{SmtpConfig, SmtpMailer};
use application::ports::{Mail, MailError, MailKind, Mailer};
use secrecy::SecretString;
use test_support::foreign_ca::ForeignCa;
use test_support::smtp_sink::{AuthSeen, SmtpSink};

const USER: &str = "mailer";
const PASSWORD: &str = "pw-hunter2";
/// Generous on a busy machine; every wait ends as soon as the sink has it.
const LIMIT: Duration = Duration::from_secs(20);

fn mailer(url: &str, ca_pem: Option<Vec<u8>>) -> SmtpMailer {
    SmtpMailer::new(&SmtpConfig {
        url: SecretString::from(url.to_owned()),
        from: "Todo <no-reply@todo.example>".into(),
        production: true,
        timeout: LIMIT,
        ca_pem,
    })
    .expect("the TLS settings are accepted")
}

fn ca_of(sink: &SmtpSink) -> Vec<u8> {
    std::fs::read(sink.ca_file().expect("a TLS sink has a CA")).expect("the CA file is readable")
}

fn mail(to: &str, marker: &str) -> Mail {
    Mail {
        to: to.into(),
        kind: MailKind::PasswordReset,
        subject: "Reset your password".into(),
        body: format!("Open https://todo.example/reset-password?token={marker}\n"),
    }
}

/// Delivered over TLS with the sink's CA trusted: the message arrives, the
/// handshake named `localhost` (SNI), the credentials came encrypted, and
/// so did every command that carries mail.
async fn delivers_over_tls(sink: SmtpSink) {
    let url = sink.url_with_credentials(USER, PASSWORD);
    let mailer = mailer(&url, Some(ca_of(&sink)));
    mailer
        .send(&mail("ada@example.com", "tls-marker"))
        .await
        .expect("the mail is delivered over TLS");

    let delivered = sink.delivered_to("ada@example.com");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].body().contains("tls-marker"));
    assert_eq!(sink.server_names(), vec![Some("localhost".to_owned())]);
    assert_eq!(
        sink.auths(),
        vec![AuthSeen {
            user: USER.into(),
            password: PASSWORD.into(),
            over_tls: true,
        }]
    );
    let in_plain: Vec<String> = sink
        .commands()
        .into_iter()
        .filter(|c| !c.over_tls)
        .map(|c| c.verb)
        .collect();
    assert!(
        in_plain.iter().all(|v| v == "EHLO" || v == "STARTTLS"),
        "only EHLO and STARTTLS may cross in plain text: {in_plain:?}"
    );
    for verb in ["AUTH", "MAIL", "RCPT", "DATA"] {
        assert!(
            sink.commands().iter().any(|c| c.verb == verb && c.over_tls),
            "{verb} over TLS"
        );
    }
}

#[tokio::test]
async fn implicit_tls_with_the_private_ca_trusted_delivers() {
    let sink = SmtpSink::implicit_tls().await;
    assert!(sink.url().starts_with("smtps://localhost:"));
    delivers_over_tls(sink).await;
}

#[tokio::test]
async fn starttls_with_the_private_ca_trusted_delivers() {
    let sink = SmtpSink::starttls().await;
    assert!(sink.url().ends_with("?tls=required"));
    delivers_over_tls(sink).await;
}

/// Refused by certificate verification: a transient error that names the
/// certificate and not the password; the sink saw its handshake fail and
/// got no AUTH, no mail command, no message.
async fn refuses_an_untrusted_server(sink: &SmtpSink, ca_pem: Option<Vec<u8>>) {
    let url = sink.url_with_credentials(USER, PASSWORD);
    let err = mailer(&url, ca_pem)
        .send(&mail("ada@example.com", "never"))
        .await
        .expect_err("an untrusted certificate is refused");
    let MailError::Transient(message) = &err else {
        panic!("a TLS failure is worth retrying (the relay may be fixed): {err:?}");
    };
    assert!(
        message.to_ascii_lowercase().contains("certificate")
            || message.to_ascii_lowercase().contains("issuer"),
        "the error says why: {message}"
    );
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert!(!format!("{err:?}").contains(PASSWORD), "{err:?}");
    assert!(
        sink.wait_until(LIMIT, |s| s.failed_handshakes() >= 1).await,
        "the sink saw the handshake fail"
    );
    assert!(sink.delivered().is_empty());
    assert!(sink.auths().is_empty(), "no credentials were sent");
    assert!(
        !sink
            .commands()
            .iter()
            .any(|c| ["AUTH", "MAIL", "RCPT", "DATA"].contains(&c.verb.as_str())),
        "{:?}",
        sink.commands()
    );
}

#[tokio::test]
async fn implicit_tls_to_a_server_of_another_ca_is_refused() {
    let sink = SmtpSink::implicit_tls().await;
    let foreign = ForeignCa::generate();
    let foreign_pem = std::fs::read(foreign.cert()).expect("the foreign CA is readable");
    refuses_an_untrusted_server(&sink, Some(foreign_pem)).await;
}

#[tokio::test]
async fn starttls_to_a_server_of_another_ca_is_refused() {
    let sink = SmtpSink::starttls().await;
    let foreign = ForeignCa::generate();
    let foreign_pem = std::fs::read(foreign.cert()).expect("the foreign CA is readable");
    refuses_an_untrusted_server(&sink, Some(foreign_pem)).await;
}

#[tokio::test]
async fn a_trusted_certificate_for_another_host_name_is_refused() {
    // The certificate is for `localhost`; the same server reached as
    // 127.0.0.1 must not be accepted.
    let sink = SmtpSink::implicit_tls().await;
    let url = sink
        .url_with_credentials(USER, PASSWORD)
        .replace("localhost", "127.0.0.1");
    let err = mailer(&url, Some(ca_of(&sink)))
        .send(&mail("ada@example.com", "never"))
        .await
        .expect_err("a certificate for another name is refused");
    assert!(err.to_string().contains("not valid for name"), "{err}");
    assert!(
        sink.wait_until(LIMIT, |s| s.failed_handshakes() >= 1).await,
        "the sink saw the handshake fail"
    );
    assert!(sink.delivered().is_empty() && sink.auths().is_empty());
}

#[tokio::test]
async fn without_a_ca_file_only_the_mozilla_roots_are_trusted() {
    let sink = SmtpSink::implicit_tls().await;
    refuses_an_untrusted_server(&sink, None).await;
}

#[tokio::test]
async fn a_server_without_starttls_is_refused_when_tls_is_required() {
    let sink = SmtpSink::start().await;
    let url = format!("{}?tls=required", sink.url_with_credentials(USER, PASSWORD));
    let err = mailer(&url, None)
        .send(&mail("ada@example.com", "never"))
        .await
        .expect_err("no plain-text fallback");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert!(sink.delivered().is_empty());
    assert!(sink.auths().is_empty(), "no credentials in plain text");
    let verbs: Vec<String> = sink.commands().into_iter().map(|c| c.verb).collect();
    assert!(
        verbs.iter().all(|v| v == "EHLO" || v == "QUIT"),
        "nothing past EHLO in plain text: {verbs:?}"
    );
}
