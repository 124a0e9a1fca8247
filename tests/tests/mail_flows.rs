//! Mail end to end (issue 13): password reset and email verification with
//! the real binary mailing a local SMTP sink, each test on a database of
//! its own. Tokens are read out of the delivered messages, as a person
//! would click them.

use std::future::Future;
use std::time::{Duration, Instant};

use e2e_tests::api::{expect_json, expect_problem, expect_unauthorized};
use e2e_tests::mail::{MailDb, SmtpSink, LINK_BASE};
use e2e_tests::{unique_email, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_postgres::types::Type;
use uuid::Uuid;

/// Ample for a mail on a busy machine; the sink answers as soon as it has one.
const MAIL_LIMIT: Duration = Duration::from_secs(30);
const RESET_PAGE: &str = "/reset-password";
const VERIFY_PAGE: &str = "/verify-email";

async fn post(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.request(Method::POST, path)
        .json(body)
        .send()
        .await
        .expect("the server answers")
}

async fn request_reset(app: &TestApp, email: &str) -> Value {
    let answer = post(app, "/api/v1/auth/password-reset", &json!({"email": email})).await;
    expect_json(answer, StatusCode::ACCEPTED).await
}

async fn confirm_reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": token, "new_password": new_password}),
    )
    .await
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    post(app, "/api/v1/auth/verify-email", &json!({"token": token})).await
}

/// The token of the newest mail for `email` linking to `page`.
async fn mailed_token(sink: &SmtpSink, email: &str, page: &str) -> String {
    let mail = sink
        .wait_for(email, &format!("{LINK_BASE}{page}?token="), MAIL_LIMIT)
        .await;
    mail.token_for(page)
        .unwrap_or_else(|| panic!("a {page} link with a token: {}", mail.body()))
}

async fn event_types(db: &MailDb, user_id: Uuid) -> Vec<String> {
    db.query(
        "SELECT type FROM security_events WHERE user_id = $1 ORDER BY at, id",
        &[(&user_id, Type::UUID)],
    )
    .await
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// `POST /auth/verify-email/resend`, as the holder of `token` if any.
async fn resend_verification(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let request = app.request(Method::POST, "/api/v1/auth/verify-email/resend");
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("the server answers")
}

/// Polls `done` until it holds; fails naming `what` after [`MAIL_LIMIT`].
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < MAIL_LIMIT,
            "{what}: not so after {MAIL_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the outbox holds nothing for `email` (a delivered row is
/// deleted right after the server accepted it).
async fn outbox_drained(db: &MailDb, email: &str) {
    let left = "SELECT count(*) FROM mail_outbox WHERE lower(recipient) = lower($1)";
    eventually(
        &format!("the outbox is empty for {email}"),
        move || async move { db.count(left, &[(&email, Type::TEXT)]).await == 0 },
    )
    .await;
}

#[tokio::test]
async fn the_reset_flow_changes_the_password_ends_every_session_and_spends_the_token() {
    e2e_tests::needs_own_server!("mails a sink it starts and reads the server's logs");
    let Some(db) = MailDb::create().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = db.server(&sink).spawn().await;
    let user = app.new_user().await;
    let verification = mailed_token(&sink, &user.email, VERIFY_PAGE).await;
    let second_session = app.login_token(&user.email, &user.password).await;

    let body = request_reset(&app, &user.email.to_uppercase()).await;
    assert_eq!(body, json!({"status": "accepted"}));
    let token = mailed_token(&sink, &user.email, RESET_PAGE).await;
    let mail = &sink.delivered_to(&user.email)[1];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Reset your password")
    );
    assert!(mail.mail_from.contains("no-reply@todo.test"), "{mail:?}");

    // Stored only as its SHA-256 digest; the outbox let go of it.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM account_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8')) AND purpose = 'password_reset'",
            &[(&token, Type::TEXT)],
        )
        .await,
        1
    );
    outbox_drained(&db, &user.email).await;

    let weak = confirm_reset(&app, &token, "short").await;
    let problem = expect_problem(weak, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "new_password", "{problem}");

    let new_password = format!("{}-renewed", user.password);
    let done = confirm_reset(&app, &token, &new_password).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    // The old password is refused, the new one works.
    expect_unauthorized(app.login(&user.email, &user.password).await, "old password").await;
    app.login_token(&user.email, &new_password).await;
    // Every session that existed is revoked.
    for token in [&user.token, &second_session] {
        expect_unauthorized(app.me(token).await, "a session from before the reset").await;
    }
    // Single use.
    let again = confirm_reset(&app, &token, "yet another passphrase").await;
    expect_problem(again, StatusCode::BAD_REQUEST).await;

    let events = event_types(&db, user.id).await;
    for expected in ["registered", "password_reset_requested", "password_reset"] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }

    let logs = app.logs();
    for secret in [&token, &verification] {
        assert!(
            !logs.contains(secret.as_str()),
            "a mailed token is in the server's logs"
        );
    }
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_and_nothing_is_sent_or_stored() {
    e2e_tests::needs_own_server!("mails a sink it starts");
    let Some(db) = MailDb::create().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = db.server(&sink).spawn().await;
    let nobody = unique_email();
    let unknown = request_reset(&app, &nobody).await;
    let user = app.new_user().await;
    let known = request_reset(&app, &user.email).await;
    assert_eq!(unknown, known);
    mailed_token(&sink, &user.email, RESET_PAGE).await;
    assert!(sink.delivered_to(&nobody).is_empty());
    assert_eq!(
        db.count(
            "SELECT count(*) FROM mail_outbox WHERE lower(recipient) = lower($1)",
            &[(&nobody, Type::TEXT)],
        )
        .await,
        0
    );
    // An invalid email is a 422, not a 202.
    let invalid = post(
        &app,
        "/api/v1/auth/password-reset",
        &json!({"email": "nope"}),
    )
    .await;
    expect_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn reset_requests_past_the_outstanding_limit_are_accepted_and_send_nothing() {
    e2e_tests::needs_own_server!("mails a sink it starts");
    let Some(db) = MailDb::create().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = db
        .server(&sink)
        .env("APP__MAIL__MAX_OUTSTANDING_TOKENS", "2")
        .spawn()
        .await;
    let user = app.new_user().await;
    for _ in 0..4 {
        request_reset(&app, &user.email).await;
    }
    assert_eq!(
        db.count(
            "SELECT count(*) FROM account_tokens WHERE user_id = $1 AND purpose = 'password_reset'",
            &[(&user.id, Type::UUID)],
        )
        .await,
        2
    );
    outbox_drained(&db, &user.email).await;
    let resets = sink
        .delivered_to(&user.email)
        .iter()
        .filter(|m| m.token_for(RESET_PAGE).is_some())
        .count();
    assert_eq!(resets, 2);
}

#[tokio::test]
async fn the_verification_flow_marks_the_email_verified_once() {
    e2e_tests::needs_own_server!("mails a sink it starts");
    let Some(db) = MailDb::create().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = db.server(&sink).spawn().await;
    let user = app.new_user().await;
    let first = mailed_token(&sink, &user.email, VERIFY_PAGE).await;
    assert_eq!(
        sink.delivered_to(&user.email)[0]
            .header("Subject")
            .as_deref(),
        Some("Confirm your email address")
    );

    // Not verified yet: a resend mails a second link.
    let resend = resend_verification(&app, Some(&user.token)).await;
    expect_json(resend, StatusCode::ACCEPTED).await;
    eventually("a second verification mail arrives", || {
        std::future::ready(sink.delivered_to(&user.email).len() >= 2)
    })
    .await;

    expect_problem(verify(&app, "not-a-token").await, StatusCode::BAD_REQUEST).await;
    assert_eq!(verify(&app, &first).await.status(), StatusCode::NO_CONTENT);
    let verified: bool = db
        .query(
            "SELECT email_verified FROM users WHERE id = $1",
            &[(&user.id, Type::UUID)],
        )
        .await[0]
        .get(0);
    assert!(verified);
    assert!(event_types(&db, user.id)
        .await
        .iter()
        .any(|e| e == "email_verified"));
    // Spent, and the second link went with it.
    let second = sink.delivered_to(&user.email)[1]
        .token_for(VERIFY_PAGE)
        .expect("the resent mail has a link");
    assert_ne!(second, first);
    for spent in [&first, &second] {
        expect_problem(verify(&app, spent).await, StatusCode::BAD_REQUEST).await;
    }

    // Verified: a resend is accepted and queues nothing.
    let resend = resend_verification(&app, Some(&user.token)).await;
    expect_json(resend, StatusCode::ACCEPTED).await;
    assert_eq!(
        db.count(
            "SELECT count(*) FROM mail_outbox WHERE user_id = $1",
            &[(&user.id, Type::UUID)],
        )
        .await,
        0
    );
    // Without a token: 401.
    let anonymous = resend_verification(&app, None).await;
    expect_unauthorized(anonymous, "resend without a token").await;
}

#[tokio::test]
async fn a_sink_that_refuses_twice_gets_the_mail_exactly_once() {
    e2e_tests::needs_own_server!("mails a sink it starts");
    let Some(db) = MailDb::create().await else {
        return;
    };
    let sink = SmtpSink::refusing_first(2).await;
    let app = db.server(&sink).spawn().await;
    let user = app.new_user().await;
    mailed_token(&sink, &user.email, VERIFY_PAGE).await;
    outbox_drained(&db, &user.email).await;
    assert_eq!(sink.refused(), 2);
    assert_eq!(sink.delivered_to(&user.email).len(), 1);
    assert_eq!(sink.delivered().len(), 1);
}

#[tokio::test]
async fn production_refuses_to_start_without_mail_settings_or_with_plain_smtp() {
    e2e_tests::needs_own_server!("starts servers with settings of its own");
    use e2e_tests::{start_expecting_failure, ServerEnv};
    let production = ServerEnv::working().set("APP_ENV", "production");
    let missing = start_expecting_failure(&production).await;
    missing.assert_refused(&[]);
    for setting in [
        "APP__MAIL__SMTP_URL",
        "APP__MAIL__FROM",
        "APP__MAIL__LINK_BASE_URL",
    ] {
        missing.assert_names(&[setting]);
    }
    let plain = start_expecting_failure(
        &production
            .set(
                "APP__MAIL__SMTP_URL",
                "smtp://mailer:pw-hunter2@127.0.0.1:2525",
            )
            .set("APP__MAIL__FROM", "no-reply@todo.test")
            .set("APP__MAIL__LINK_BASE_URL", LINK_BASE),
    )
    .await;
    plain.assert_refused(&["pw-hunter2"]);
    plain.assert_names(&["tls=required"]);
}

#[tokio::test]
async fn mail_left_queued_by_a_stopped_server_is_sent_by_the_next_one_at_start() {
    e2e_tests::needs_own_server!("stops a server and starts another");
    let Some(db) = MailDb::create().await else {
        return;
    };
    // The first server's mail server refuses everything, and its next try
    // would be a minute later: the mail stays queued, not leased.
    let refusing = SmtpSink::refusing_first(u32::MAX).await;
    let mut first = db
        .server(&refusing)
        .env("APP__MAIL__RETRY_FIRST_DELAY_MS", "60000")
        .spawn()
        .await;
    let user = first.new_user().await;
    let scheduled = "SELECT count(*) FROM mail_outbox WHERE user_id = $1 AND attempts = 1 AND last_error IS NOT NULL";
    let (db_ref, user_id) = (&db, user.id);
    eventually("the first server tried once", move || async move {
        db_ref.count(scheduled, &[(&user_id, Type::UUID)]).await > 0
    })
    .await;
    first.stop().await;
    assert_eq!(refusing.refused(), 1);
    // The minute passes (the row is due now), with no server running.
    db.query(
        "UPDATE mail_outbox SET next_attempt_at = now() WHERE user_id = $1",
        &[(&user.id, Type::UUID)],
    )
    .await;

    // The next server sweeps once at start: nothing else wakes it.
    let sink = SmtpSink::start().await;
    let _second = db.server(&sink).spawn().await;
    mailed_token(&sink, &user.email, VERIFY_PAGE).await;
    outbox_drained(&db, &user.email).await;
    assert_eq!(sink.delivered().len(), 1);
}

#[tokio::test]
async fn two_replicas_on_one_outbox_send_each_mail_once() {
    e2e_tests::needs_own_server!("starts two servers on a database of its own");
    let Some(db) = MailDb::create().await else {
        return;
    };
    let (sink_a, sink_b) = (SmtpSink::start().await, SmtpSink::start().await);
    let a = db.server(&sink_a).spawn().await;
    let b = db.server(&sink_b).spawn().await;
    // Registrations through both at once: each wakes its own sender, and
    // either sender's sweep may find the other's rows due.
    let mut registrations = Vec::new();
    for i in 0..16 {
        let api = if i % 2 == 0 {
            a.api().clone()
        } else {
            b.api().clone()
        };
        registrations.push(tokio::spawn(async move {
            let email = unique_email();
            api.registered(&email, "a long enough passphrase").await;
            email
        }));
    }
    let mut emails = Vec::new();
    for registration in registrations {
        emails.push(registration.await.unwrap());
    }
    for email in &emails {
        outbox_drained(&db, email).await;
    }
    let mut delivered = sink_a.delivered();
    delivered.extend(sink_b.delivered());
    assert_eq!(delivered.len(), emails.len(), "one mail per registration");
    for email in &emails {
        let mails = delivered
            .iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(email)))
            .count();
        assert_eq!(mails, 1, "{email}");
    }
}
