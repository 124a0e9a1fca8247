//! Unit tests of password reset and email verification against mocked
//! ports: what each request stores, when the sender is woken, and that an
//! unknown email costs exactly the same port calls as a known one.

use std::sync::{Arc, Mutex};

use domain::{ClientInfo, PasswordHash, UserAgent};
use mockall::predicate::eq;

use crate::opaque_token::OpaqueToken;
use crate::ports::{
    HashError, IssuedToken, MockAccountTokenStore, MockClock, MockOutboxWaker, MockPasswordHasher,
    MockSecretSource, RepoError, ResendOutcome,
};
use crate::testkit::{principal, t0, user, Harness};
use crate::use_cases::{
    EventContext, PasswordResetInput, RecoveryService, RegisterInput, ResetConfirmInput,
    VerifyEmailInput,
};
use crate::AppError;

const RANDOM: [u8; 32] = [9; 32];
const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$new";

fn mailed_token() -> OpaqueToken {
    OpaqueToken::from_bytes(&RANDOM)
}

/// The mocks of one test; `service` consumes them.
struct Mocks {
    store: MockAccountTokenStore,
    hasher: MockPasswordHasher,
    secrets: MockSecretSource,
    waker: MockOutboxWaker,
}

impl Mocks {
    fn new() -> Self {
        let mut secrets = MockSecretSource::new();
        secrets.expect_token_bytes().returning(|| Ok(RANDOM));
        Self {
            store: MockAccountTokenStore::new(),
            hasher: MockPasswordHasher::new(),
            secrets,
            waker: MockOutboxWaker::new(),
        }
    }

    fn service(self) -> RecoveryService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(t0());
        RecoveryService::new(
            Arc::new(self.store),
            Arc::new(self.hasher),
            Arc::new(self.secrets),
            Arc::new(clock),
            Arc::new(self.waker),
        )
    }
}

fn reset_request(email: &str) -> PasswordResetInput {
    PasswordResetInput {
        email: Some(email.to_owned()),
        context: EventContext::default(),
    }
}

/// Records every port call of a reset request, with whether the account
/// "exists" (what the store answers).
async fn calls_of_a_reset_request(account_exists: bool) -> Vec<String> {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut mocks = Mocks::new();
    let log = calls.clone();
    mocks
        .store
        .expect_request_password_reset()
        .returning(move |email, reset, max, _| {
            log.lock().unwrap().push(format!(
                "store.request_password_reset({}, ttl {} min, max {max})",
                email.as_str(),
                (reset.expires_at - reset.created_at).num_minutes()
            ));
            Ok(account_exists)
        });
    let log = calls.clone();
    mocks
        .waker
        .expect_wake()
        .returning(move || log.lock().unwrap().push("waker.wake".into()));
    let service = mocks.service();
    service
        .request_password_reset(reset_request("Ada@Example.com"))
        .await
        .unwrap();
    let calls = calls.lock().unwrap().clone();
    calls
}

#[tokio::test]
async fn a_reset_request_for_an_unknown_email_makes_the_same_store_call_and_no_hash() {
    let known = calls_of_a_reset_request(true).await;
    let unknown = calls_of_a_reset_request(false).await;
    // The strict hasher mock has no expectation: any hash would panic.
    assert_eq!(known[0], unknown[0]);
    assert_eq!(
        known[0],
        "store.request_password_reset(ada@example.com, ttl 30 min, max 3)"
    );
    // Only a queued mail wakes the sender (after the statement committed).
    assert_eq!(known, vec![known[0].clone(), "waker.wake".to_owned()]);
    assert_eq!(unknown, vec![unknown[0].clone()]);
}

#[tokio::test]
async fn a_reset_request_stores_only_the_digest_and_a_token_valid_30_minutes() {
    let mut mocks = Mocks::new();
    let seen: Arc<Mutex<Option<IssuedToken>>> = Arc::default();
    let keep = seen.clone();
    mocks
        .store
        .expect_request_password_reset()
        .returning(move |_, reset, _, _| {
            *keep.lock().unwrap() = Some(reset.clone());
            Ok(true)
        });
    mocks.waker.expect_wake().times(1).return_const(());
    mocks
        .service()
        .request_password_reset(reset_request("ada@example.com"))
        .await
        .unwrap();
    let reset = seen.lock().unwrap().clone().unwrap();
    assert_eq!(reset.token, mailed_token());
    assert_eq!(reset.digest, mailed_token().digest());
    assert_eq!(reset.created_at, t0());
    assert_eq!(reset.expires_at, t0() + chrono::Duration::minutes(30));
}

#[tokio::test]
async fn a_reset_requests_user_agent_is_cut_and_cleaned_like_every_events() {
    let mut mocks = Mocks::new();
    let seen: Arc<Mutex<Option<ClientInfo>>> = Arc::default();
    let keep = seen.clone();
    mocks
        .store
        .expect_request_password_reset()
        .returning(move |_, _, _, context| {
            *keep.lock().unwrap() = Some(context.clone());
            Ok(false)
        });
    let raw = format!("agent/1\u{7}{}", "x".repeat(600));
    mocks
        .service()
        .request_password_reset(PasswordResetInput {
            context: EventContext {
                ip: None,
                user_agent: Some(raw.clone()),
            },
            ..reset_request("ada@example.com")
        })
        .await
        .unwrap();
    let stored = seen.lock().unwrap().clone().unwrap().user_agent.unwrap();
    let expected = domain::UserAgent::from_header(&raw).unwrap();
    assert_eq!(stored, expected);
    let stored = stored.as_str();
    assert!(stored.starts_with("agent/1x"), "{stored}");
    assert_eq!(stored.chars().count(), 512, "the column's limit");
}

#[tokio::test]
async fn a_reset_request_without_a_valid_email_is_refused_before_any_work() {
    let service = Mocks::new().service();
    for input in [PasswordResetInput::default(), reset_request("not an email")] {
        let err = service.request_password_reset(input).await.unwrap_err();
        assert!(
            matches!(&err, AppError::Validation(e) if e[0].field == "email"),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_store_failure_of_a_reset_request_wakes_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .store
        .expect_request_password_reset()
        .returning(|_, _, _, _| {
            Err(RepoError::Unavailable {
                retry_after: std::time::Duration::from_secs(1),
            })
        });
    let err = mocks
        .service()
        .request_password_reset(reset_request("ada@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unavailable { .. }), "{err:?}");
}

fn confirm(token: &str, password: &str) -> ResetConfirmInput {
    ResetConfirmInput {
        token: Some(token.to_owned()),
        new_password: Some(password.to_owned()),
        context: EventContext::default(),
    }
}

#[tokio::test]
async fn confirming_a_reset_hashes_the_new_password_and_spends_the_token_in_one_call() {
    let mut mocks = Mocks::new();
    mocks
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::new(NEW_HASH.into())));
    mocks
        .store
        .expect_confirm_password_reset()
        .with(
            eq(mailed_token().digest()),
            eq(PasswordHash::new(NEW_HASH.into())),
            eq(t0()),
            mockall::predicate::always(),
        )
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    mocks
        .service()
        .confirm_password_reset(confirm(mailed_token().expose(), "a new passphrase"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_expired_or_used_reset_token_is_invalid() {
    let mut mocks = Mocks::new();
    mocks
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new(NEW_HASH.into())));
    mocks
        .store
        .expect_confirm_password_reset()
        .returning(|_, _, _, _| Ok(false));
    let err = mocks
        .service()
        .confirm_password_reset(confirm(mailed_token().expose(), "a new passphrase"))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::InvalidToken), "{err:?}");
}

#[tokio::test]
async fn a_malformed_reset_token_is_invalid_without_hashing_or_storage() {
    let service = Mocks::new().service();
    for token in ["", "short", &"x".repeat(200)] {
        let err = service
            .confirm_password_reset(confirm(token, "a new passphrase"))
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::InvalidToken), "{token}: {err:?}");
    }
}

#[tokio::test]
async fn a_weak_or_missing_new_password_is_a_validation_error() {
    let service = Mocks::new().service();
    let err = service
        .confirm_password_reset(confirm(mailed_token().expose(), "short"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::Validation(e) if e[0].field == "new_password"),
        "{err:?}"
    );
    let err = service
        .confirm_password_reset(ResetConfirmInput::default())
        .await
        .unwrap_err();
    let AppError::Validation(errors) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["token", "new_password"]);
}

#[tokio::test]
async fn a_busy_hasher_answers_unavailable_and_spends_no_token() {
    let mut mocks = Mocks::new();
    mocks.hasher.expect_hash().returning(|_| {
        Err(HashError::Busy {
            retry_after: std::time::Duration::from_secs(1),
        })
    });
    let err = mocks
        .service()
        .confirm_password_reset(confirm(mailed_token().expose(), "a new passphrase"))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn verifying_spends_the_token_by_its_digest() {
    let mut mocks = Mocks::new();
    mocks
        .store
        .expect_verify_email()
        .with(
            eq(mailed_token().digest()),
            eq(t0()),
            mockall::predicate::always(),
        )
        .times(1)
        .returning(|_, _, _| Ok(true));
    let service = mocks.service();
    service
        .verify_email(VerifyEmailInput {
            token: Some(mailed_token().expose().to_owned()),
            context: EventContext::default(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bad_verification_token_is_invalid() {
    let mut mocks = Mocks::new();
    mocks
        .store
        .expect_verify_email()
        .returning(|_, _, _| Ok(false));
    let service = mocks.service();
    for token in [mailed_token().expose(), "nope"] {
        let err = service
            .verify_email(VerifyEmailInput {
                token: Some(token.to_owned()),
                context: EventContext::default(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::InvalidToken), "{err:?}");
    }
}

#[tokio::test]
async fn resend_wakes_the_sender_only_when_mail_was_queued() {
    for (outcome, wakes) in [
        (ResendOutcome::Queued, 1),
        (ResendOutcome::AlreadyVerified, 0),
        (ResendOutcome::Limited, 0),
    ] {
        let mut mocks = Mocks::new();
        mocks
            .store
            .expect_resend_verification()
            .withf(|p, token, max| {
                *p == principal()
                    && token.expires_at == t0() + chrono::Duration::hours(24)
                    && *max == 3
            })
            .returning(move |_, _, _| Ok(outcome));
        mocks.waker.expect_wake().times(wakes).return_const(());
        mocks
            .service()
            .resend_verification(&principal())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn resend_for_an_ended_session_is_unauthorized() {
    let mut mocks = Mocks::new();
    mocks
        .store
        .expect_resend_verification()
        .returning(|_, _, _| Err(RepoError::SessionInactive));
    let err = mocks
        .service()
        .resend_verification(&principal())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn registration_writes_the_user_and_the_verification_mail_in_one_store_call() {
    let mut mocks = Mocks::new();
    let seen: Arc<Mutex<Option<(String, IssuedToken)>>> = Arc::default();
    let keep = seen.clone();
    mocks
        .store
        .expect_register()
        .times(1)
        .returning(move |user, token, context| {
            assert_eq!(context.ip, Some([192, 0, 2, 7].into()));
            assert_eq!(
                context.user_agent.as_ref().map(UserAgent::as_str),
                Some("curl/8.5")
            );
            *keep.lock().unwrap() = Some((user.email.as_str().to_owned(), token.clone()));
            Ok(())
        });
    mocks.waker.expect_wake().times(1).return_const(());
    let recovery = Arc::new(mocks.service());
    let mut h = Harness::new();
    // The plain user insert is not used: the strict mock would panic.
    h.hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new(NEW_HASH.into())));
    let auth = h.auth_service().with_email_verification(recovery);
    let registered = auth
        .register(RegisterInput {
            email: Some("ada@example.com".into()),
            password: Some("a fine passphrase".into()),
            client: Some([192, 0, 2, 7].into()),
            user_agent: Some("curl/8.5".into()),
            ..RegisterInput::default()
        })
        .await
        .unwrap();
    let (email, token) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(email, registered.email.as_str());
    assert_eq!(token.created_at, registered.created_at);
    assert_eq!(
        token.expires_at,
        registered.created_at + chrono::Duration::hours(24)
    );
    assert_eq!(token.digest, mailed_token().digest());
}

#[tokio::test]
async fn registration_with_a_taken_email_queues_nothing_and_conflicts() {
    let mut mocks = Mocks::new();
    mocks
        .store
        .expect_register()
        .returning(|_, _, _| Err(RepoError::EmailTaken));
    let recovery = Arc::new(mocks.service());
    let mut h = Harness::new();
    h.hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new(NEW_HASH.into())));
    let err = h
        .auth_service()
        .with_email_verification(recovery)
        .register(RegisterInput {
            email: Some(user().build().email.as_str().to_owned()),
            password: Some("a fine passphrase".into()),
            ..RegisterInput::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}
