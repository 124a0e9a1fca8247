//! Unit tests of the outbox sender against a mocked outbox and mailer:
//! delivery deletes the row, failures back off exponentially, permanent
//! failures and exhausted attempts give up, and nothing leaks the token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{MailId, Timestamp, UserId};

use crate::opaque_token::OpaqueToken;
use crate::ports::{MailError, MailKind, MockClock, MockMailer, MockOutbox, OutboxMail};
use crate::testkit::t0;
use crate::use_cases::{MailTexts, OutboxSender, RetryPolicy};

fn policy() -> RetryPolicy {
    RetryPolicy {
        first_retry: Duration::from_secs(5),
        max_backoff: Duration::from_secs(60),
        lease: Duration::from_secs(300),
        batch: 2,
        max_attempts: 5,
    }
}

fn row(attempts: u32) -> OutboxMail {
    OutboxMail {
        id: MailId::new(),
        user_id: UserId::new(),
        kind: MailKind::PasswordReset,
        recipient: "ada@example.com".into(),
        token: OpaqueToken::from_bytes(&[3; 32]),
        attempts,
        expires_at: t0() + chrono::Duration::minutes(30),
    }
}

fn sender(outbox: MockOutbox, mailer: MockMailer) -> OutboxSender {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(t0());
    OutboxSender::new(
        Arc::new(outbox),
        Arc::new(mailer),
        Arc::new(clock),
        MailTexts::new("https://todo.example"),
        policy(),
    )
}

fn at(secs: i64) -> Timestamp {
    t0() + chrono::Duration::seconds(secs)
}

#[test]
fn backoff_doubles_from_the_first_retry_up_to_the_cap() {
    let p = policy();
    let waits: Vec<u64> = (1..=6).map(|n| p.backoff(n).as_secs()).collect();
    assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
    assert_eq!(p.backoff(u32::MAX).as_secs(), 60);
}

#[tokio::test]
async fn a_delivered_mail_is_removed_and_an_empty_outbox_means_no_timer() {
    let mail = row(1);
    let id = mail.id;
    let mut outbox = MockOutbox::new();
    outbox
        .expect_claim()
        .withf(|now, lease, limit| *now == t0() && *lease == at(300) && *limit == 2)
        .times(1)
        .return_once(move |_, _, _| Ok(vec![mail]));
    outbox
        .expect_remove()
        .withf(move |removed| *removed == id)
        .times(1)
        .returning(|_| Ok(()));
    outbox.expect_next_due().times(1).returning(|| Ok(None));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let mut mailer = MockMailer::new();
    mailer.expect_send().returning(move |mail| {
        log.lock().unwrap().push(mail.clone());
        Ok(())
    });
    let report = sender(outbox, mailer).sweep().await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(report.next_due, None);
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ada@example.com");
    let token = OpaqueToken::from_bytes(&[3; 32]);
    assert!(sent[0].body.contains(&format!(
        "https://todo.example/reset-password?token={}",
        token.expose()
    )));
}

#[tokio::test]
async fn a_transient_failure_is_retried_later_with_backoff_and_no_token_in_the_error() {
    let mail = row(3);
    let token = mail.token.expose().to_owned();
    let mut outbox = MockOutbox::new();
    outbox
        .expect_claim()
        .return_once(move |_, _, _| Ok(vec![mail]));
    let retried = Arc::new(Mutex::new(None));
    let keep = retried.clone();
    outbox.expect_retry_at().returning(move |_, next, error| {
        *keep.lock().unwrap() = Some((next, error.to_owned()));
        Ok(())
    });
    outbox.expect_next_due().returning(|| Ok(Some(at(20))));
    let mut mailer = MockMailer::new();
    mailer.expect_send().returning(move |_| {
        Err(MailError::Transient(format!(
            "451 try later (echo {token})"
        )))
    });
    let report = sender(outbox, mailer).sweep().await.unwrap();
    assert_eq!(report.retried, 1);
    // The next sweep is timed by the earliest pending row.
    assert_eq!(report.next_due, Some(at(20)));
    let (next, error) = retried.lock().unwrap().clone().unwrap();
    // Third failure: 5 s doubled twice.
    assert_eq!(next, at(20));
    assert!(error.contains("451 try later"), "{error}");
    assert!(
        !error.contains(OpaqueToken::from_bytes(&[3; 32]).expose()),
        "{error}"
    );
}

#[tokio::test]
async fn a_permanent_failure_or_the_last_attempt_gives_the_mail_up() {
    for (attempts, failure) in [
        (1, MailError::Permanent("550 no such mailbox".into())),
        (5, MailError::Transient("451 later".into())),
    ] {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_claim()
            .return_once(move |_, _, _| Ok(vec![row(attempts)]));
        outbox.expect_remove().times(1).returning(|_| Ok(()));
        outbox.expect_next_due().returning(|| Ok(None));
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .returning(move |_| Err(failure.clone()));
        let report = sender(outbox, mailer).sweep().await.unwrap();
        assert_eq!(report.given_up, 1, "attempt {attempts}");
        assert_eq!(report.retried, 0);
    }
}

#[tokio::test]
async fn a_full_batch_is_followed_by_another_claim() {
    let mut outbox = MockOutbox::new();
    let mut seq = mockall::Sequence::new();
    outbox
        .expect_claim()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(|_, _, _| Ok(vec![row(1), row(1)]));
    outbox
        .expect_claim()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(|_, _, _| Ok(vec![row(1)]));
    outbox.expect_remove().times(3).returning(|_| Ok(()));
    outbox.expect_next_due().times(1).returning(|| Ok(None));
    let mut mailer = MockMailer::new();
    mailer.expect_send().times(3).returning(|_| Ok(()));
    let report = sender(outbox, mailer).sweep().await.unwrap();
    assert_eq!(report.delivered, 3);
}

#[tokio::test]
async fn a_storage_failure_ends_the_sweep_with_an_error() {
    let mut outbox = MockOutbox::new();
    outbox.expect_claim().returning(|_, _, _| {
        Err(crate::ports::RepoError::Unavailable {
            retry_after: Duration::from_secs(1),
        })
    });
    let err = sender(outbox, MockMailer::new()).sweep().await.unwrap_err();
    assert!(
        matches!(err, crate::AppError::Unavailable { .. }),
        "{err:?}"
    );
}
