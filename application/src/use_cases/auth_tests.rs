//! Unit tests of the account use cases (register, login, token checks,
//! logout) against mocked ports: no database, no real hashing, no sleeping.
//! Time comes from `MockClock`, so expiry is decided by the test.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use domain::{PasswordHash, SecurityEventKind, Session, SessionId, Timestamp, User, UserId};

use crate::ports::{
    HashError, LimitError, MockPasswordHasher, MockSessionRepo, Principal, RepoError, Reservation,
    Slot, TokenDigest, TokenError,
};
use crate::testkit::{
    access_ttl, session_lifetime, t0, user, Harness, REFRESH_TOKEN, REFRESH_TOKEN_BYTES,
};
use crate::use_cases::{AuthService, LoginInput, RegisterInput};
use crate::AppError;

const PLAIN_PASSWORD: &str = "correct horse battery";
const STORED_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$stored";
const FRESH_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$fresh";
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$dummy";

fn lifetime() -> Duration {
    session_lifetime()
}

fn client() -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)))
}

fn stored_user(email: &str) -> User {
    user()
        .id(UserId::new())
        .email(email)
        .password_hash(STORED_HASH)
        .build()
}

/// What the mock limiter hands out: the use case only passes it back.
fn reservation() -> Reservation {
    Reservation {
        email: Slot {
            key: [1; 32],
            at: t0(),
        },
        client: Some(Slot {
            key: [2; 32],
            at: t0(),
        }),
    }
}

fn principal_of(user: &User) -> Principal {
    Principal {
        user_id: user.id,
        session_id: SessionId::new(),
    }
}

fn field_names(err: AppError) -> Vec<String> {
    match err {
        AppError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Every port mocked, the clock fixed: the application's test kit.
type Ports = Harness;

/// What the tests below add to the kit's harness.
trait PortsExt {
    fn allow_login(&mut self);
    fn service(self) -> AuthService;
}

impl PortsExt for Harness {
    /// The limiter lets the login through; settling it is up to the test
    /// (an unexpected `release` or `succeeded` panics).
    fn allow_login(&mut self) {
        self.limiter
            .expect_reserve()
            .times(1)
            .returning(|_, _, _| Ok(reservation()));
        // A refused login writes `login_failed` (a no-op for unknown
        // emails); a successful one asks for a refresh token.
        self.events
            .expect_record_for_email()
            .returning(|_, _| Ok(()));
        self.secrets
            .expect_token_bytes()
            .returning(|| Ok(REFRESH_TOKEN_BYTES));
    }

    fn service(self) -> AuthService {
        self.auth_service().with_max_active_sessions(3)
    }
}

fn register_input(email: &str, password: &str, name: Option<&str>) -> RegisterInput {
    RegisterInput {
        email: Some(email.to_owned()),
        password: Some(password.to_owned()),
        name: name.map(str::to_owned),
        ..RegisterInput::default()
    }
}

fn login_input(email: &str, password: &str) -> LoginInput {
    LoginInput {
        email: Some(email.to_owned()),
        password: Some(password.to_owned()),
        client: client(),
        user_agent: Some("test-agent/1".to_owned()),
    }
}

/// What a front end does with a bearer token: the principal it names,
/// then that principal's user.
async fn authenticate(service: &AuthService, token: &str) -> Result<User, AppError> {
    let principal = service.principal(token)?;
    service.current_user(&principal).await
}

// ---------------------------------------------------------------- register

#[tokio::test]
async fn register_stores_the_hashers_hash_and_never_the_plain_password() {
    let mut ports = Ports::new();
    ports
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == PLAIN_PASSWORD)
        .times(1)
        .returning(|_| Ok(PasswordHash::new(FRESH_HASH.to_owned())));
    ports
        .users
        .expect_create()
        .withf(|user| {
            user.password_hash.as_str() == FRESH_HASH
                && !user.password_hash.as_str().contains(PLAIN_PASSWORD)
        })
        .times(1)
        .returning(|_| Ok(()));

    let user = ports
        .service()
        .register(register_input(
            "ada@example.com",
            PLAIN_PASSWORD,
            Some("Ada"),
        ))
        .await
        .unwrap();

    assert_eq!(user.password_hash.as_str(), FRESH_HASH);
    assert_eq!(user.name.as_ref().map(|n| n.as_str()), Some("Ada"));
    assert_eq!(user.created_at, t0());
}

#[tokio::test]
async fn register_stores_the_email_trimmed_and_lower_cased() {
    let mut ports = Ports::new();
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new(FRESH_HASH.to_owned())));
    ports
        .users
        .expect_create()
        .withf(|user| user.email.as_str() == "ada.lovelace@example.com")
        .times(1)
        .returning(|_| Ok(()));

    let user = ports
        .service()
        .register(register_input(
            "  Ada.Lovelace@Example.COM ",
            PLAIN_PASSWORD,
            None,
        ))
        .await
        .unwrap();

    assert_eq!(user.email.as_str(), "ada.lovelace@example.com");
}

#[tokio::test]
async fn register_with_a_taken_email_is_a_conflict() {
    let mut ports = Ports::new();
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new(FRESH_HASH.to_owned())));
    ports
        .users
        .expect_create()
        .times(1)
        .returning(|_| Err(RepoError::EmailTaken));

    let err = ports
        .service()
        .register(register_input("ada@example.com", PLAIN_PASSWORD, None))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn register_lists_every_invalid_field_at_once_and_stores_nothing() {
    let mut ports = Ports::new();
    ports.hasher.expect_hash().times(0);
    ports.users.expect_create().times(0);
    let long_name = "n".repeat(101);

    let err = ports
        .service()
        .register(register_input("not-an-email", "short", Some(&long_name)))
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["email", "password", "name"]);
}

#[tokio::test]
async fn register_with_only_a_too_long_name_is_refused_before_hashing() {
    let mut ports = Ports::new();
    ports.hasher.expect_hash().times(0);
    ports.users.expect_create().times(0);
    let long_name = "n".repeat(101);

    let err = ports
        .service()
        .register(register_input(
            "ada@example.com",
            PLAIN_PASSWORD,
            Some(&long_name),
        ))
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["name"]);
}

#[tokio::test]
async fn register_refuses_a_password_over_128_characters() {
    let mut ports = Ports::new();
    ports.hasher.expect_hash().times(0);
    ports.users.expect_create().times(0);

    let err = ports
        .service()
        .register(register_input("ada@example.com", &"p".repeat(129), None))
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["password"]);
}

#[tokio::test]
async fn register_while_the_database_is_unreachable_is_unavailable() {
    let mut ports = Ports::new();
    ports
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new(FRESH_HASH.to_owned())));
    ports.users.expect_create().returning(|_| {
        Err(RepoError::Unavailable {
            retry_after: StdDuration::from_secs(2),
        })
    });

    let err = ports
        .service()
        .register(register_input("ada@example.com", PLAIN_PASSWORD, None))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::Unavailable { retry_after } if retry_after == StdDuration::from_secs(2)),
        "{err:?}"
    );
}

// ------------------------------------------------------------------- login

#[tokio::test]
async fn login_with_unknown_email_still_verifies_a_dummy_hash() {
    let mut ports = Ports::new();
    ports.allow_login();
    ports
        .users
        .expect_find_by_email()
        .times(1)
        .returning(|_| Ok(None));
    ports
        .hasher
        .expect_dummy_hash()
        .returning(|| PasswordHash::new(DUMMY_HASH.to_owned()));
    ports
        .hasher
        .expect_verify()
        .withf(|password, hash| password.expose() == PLAIN_PASSWORD && hash.as_str() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(false));
    ports.sessions.expect_create().times(0);
    ports.tokens.expect_issue().times(0);

    let err = ports
        .service()
        .login(login_input("nobody@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_with_unknown_email_runs_the_same_event_statement_as_a_wrong_password() {
    let mut ports = Ports::new();
    ports
        .limiter
        .expect_reserve()
        .returning(|_, _, _| Ok(reservation()));
    ports.users.expect_find_by_email().returning(|_| Ok(None));
    ports
        .hasher
        .expect_dummy_hash()
        .returning(|| PasswordHash::new(DUMMY_HASH.to_owned()));
    ports.hasher.expect_verify().returning(|_, _| Ok(false));
    // The statement writes nothing for an address no account has, but it
    // runs: a wrong password and an unknown email cost the same.
    ports
        .events
        .expect_record_for_email()
        .withf(|email, event| {
            email.as_str() == "nobody@example.com" && event.kind == SecurityEventKind::LoginFailed
        })
        .times(1)
        .returning(|_, _| Ok(()));

    let err = ports
        .service()
        .login(login_input("nobody@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_with_unknown_email_fails_even_if_the_dummy_hash_matched() {
    let mut ports = Ports::new();
    ports.allow_login();
    ports.users.expect_find_by_email().returning(|_| Ok(None));
    ports
        .hasher
        .expect_dummy_hash()
        .returning(|| PasswordHash::new(DUMMY_HASH.to_owned()));
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports.sessions.expect_create().times(0);
    ports.tokens.expect_issue().times(0);

    let err = ports
        .service()
        .login(login_input("nobody@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_with_wrong_password_is_unauthorized_creates_no_session_and_keeps_its_reservation() {
    let user = stored_user("ada@example.com");
    let mut ports = Ports::new();
    ports
        .limiter
        .expect_reserve()
        .withf(|email, client_ip, now| {
            email == "ada@example.com" && *client_ip == client() && *now == t0()
        })
        .times(1)
        .returning(|_, _, _| Ok(reservation()));
    ports.limiter.expect_release().times(0);
    ports.limiter.expect_succeeded().times(0);
    let found = user.clone();
    ports
        .users
        .expect_find_by_email()
        .returning(move |_| Ok(Some(found.clone())));
    ports
        .hasher
        .expect_verify()
        .withf(|password, hash| {
            password.expose() == "wrong password" && hash.as_str() == STORED_HASH
        })
        .times(1)
        .returning(|_, _| Ok(false));
    ports.sessions.expect_create().times(0);
    ports.tokens.expect_issue().times(0);
    ports
        .events
        .expect_record_for_email()
        .withf(|email, event| {
            email.as_str() == "ada@example.com"
                && event.kind == SecurityEventKind::LoginFailed
                && event.at == t0()
                && event.client.ip == client()
        })
        .times(1)
        .returning(|_, _| Ok(()));

    let err = ports
        .service()
        .login(login_input("ada@example.com", "wrong password"))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_with_a_password_outside_the_policy_is_unauthorized_not_invalid() {
    let user = stored_user("ada@example.com");
    let mut ports = Ports::new();
    ports.allow_login();
    ports
        .users
        .expect_find_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    ports
        .hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Ok(false));
    ports.sessions.expect_create().times(0);

    let err = ports
        .service()
        .login(login_input("ada@example.com", "x"))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_with_a_malformed_email_is_unauthorized_after_a_dummy_verify() {
    let mut ports = Ports::new();
    ports.allow_login();
    ports.users.expect_find_by_email().times(0);
    ports
        .hasher
        .expect_dummy_hash()
        .returning(|| PasswordHash::new(DUMMY_HASH.to_owned()));
    ports
        .hasher
        .expect_verify()
        .withf(|_, hash| hash.as_str() == DUMMY_HASH)
        .times(1)
        .returning(|_, _| Ok(false));
    ports.sessions.expect_create().times(0);

    let err = ports
        .service()
        .login(login_input("not an email", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_blocked_by_the_limiter_is_too_many_attempts_and_hashes_nothing() {
    let mut ports = Ports::new();
    ports
        .limiter
        .expect_reserve()
        .times(1)
        .returning(|_, _, _| {
            Err(LimitError::Limited {
                retry_after: StdDuration::from_secs(30),
            })
        });
    ports.limiter.expect_release().times(0);
    ports.limiter.expect_succeeded().times(0);
    // The lookup runs alongside the reservation; its answer goes unused.
    ports.users.expect_find_by_email().returning(|_| Ok(None));
    ports.hasher.expect_verify().times(0);
    ports.hasher.expect_dummy_hash().times(0);
    ports.sessions.expect_create().times(0);
    ports.tokens.expect_issue().times(0);

    let err = ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::TooManyAttempts { retry_after } if retry_after == StdDuration::from_secs(30)),
        "{err:?}"
    );
}

#[tokio::test]
async fn login_is_limited_by_the_lower_cased_email_and_the_client_address() {
    let mut ports = Ports::new();
    ports
        .limiter
        .expect_reserve()
        .withf(|email, client_ip, now| {
            email == "ada@example.com" && *client_ip == client() && *now == t0()
        })
        .times(1)
        .returning(|_, _, _| {
            Err(LimitError::Limited {
                retry_after: StdDuration::from_secs(1),
            })
        });
    ports.users.expect_find_by_email().returning(|_| Ok(None));

    let err = ports
        .service()
        .login(login_input("  ADA@Example.com ", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::TooManyAttempts { .. }), "{err:?}");
}

/// Ports for a login that succeeds, recording the session that was stored.
/// The caller sets up `succeeded`.
fn successful_login(user: &User) -> (Ports, Arc<Mutex<Option<Session>>>) {
    let mut ports = Ports::new();
    ports.allow_login();
    let found = user.clone();
    ports
        .users
        .expect_find_by_email()
        .withf(|email| email.as_str() == "ada@example.com")
        .returning(move |_| Ok(Some(found.clone())));
    ports
        .hasher
        .expect_verify()
        .withf(|password, hash| password.expose() == PLAIN_PASSWORD && hash.as_str() == STORED_HASH)
        .returning(|_, _| Ok(true));
    let stored = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&stored);
    ports
        .sessions
        .expect_create()
        .times(1)
        .withf(|_, refresh, max_active, event| {
            *max_active == 3
                && *refresh == TokenDigest::of(REFRESH_TOKEN)
                && event.kind == SecurityEventKind::LoginSucceeded
        })
        .returning(move |session, _, _, _| {
            *sink.lock().unwrap() = Some(session.clone());
            Ok(())
        });
    ports
        .tokens
        .expect_issue()
        .times(1)
        .returning(|session, _, _| Ok(format!("token-for-{}", session.id)));
    (ports, stored)
}

#[tokio::test]
async fn login_starts_a_session_that_expires_one_lifetime_after_the_clocks_now() {
    let user = stored_user("ada@example.com");
    let (mut ports, stored) = successful_login(&user);
    ports.limiter.expect_succeeded().returning(|_| Ok(()));

    let logged_in = ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap();

    let session = stored
        .lock()
        .unwrap()
        .clone()
        .expect("a session was stored");
    assert_eq!(session.user_id, user.id);
    assert_eq!(session.created_at, t0());
    assert_eq!(session.expires_at, t0() + lifetime());
    assert_eq!(session.revoked_at, None);
    assert_eq!(session.last_used_at, t0());
    assert_eq!(
        session.user_agent.as_ref().map(|ua| ua.as_str()),
        Some("test-agent/1")
    );
    assert_eq!(session.ip, client());
    // The access token is short; the refresh token lives as the session.
    assert_eq!(logged_in.expires_at, t0() + access_ttl());
    assert_eq!(logged_in.refresh_token, REFRESH_TOKEN);
    assert_eq!(logged_in.refresh_expires_at, t0() + lifetime());
    assert_eq!(logged_in.user, user);
}

#[tokio::test]
async fn login_returns_a_token_issued_for_the_stored_session() {
    let user = stored_user("ada@example.com");
    let (mut ports, stored) = successful_login(&user);
    ports.limiter.expect_succeeded().returning(|_| Ok(()));

    let logged_in = ports
        .service()
        .login(login_input("Ada@Example.com", PLAIN_PASSWORD))
        .await
        .unwrap();

    let session = stored
        .lock()
        .unwrap()
        .clone()
        .expect("a session was stored");
    assert_eq!(logged_in.access_token, format!("token-for-{}", session.id));
}

#[tokio::test]
async fn login_success_settles_its_reservation_as_a_success() {
    let user = stored_user("ada@example.com");
    let (mut ports, _) = successful_login(&user);
    ports
        .limiter
        .expect_succeeded()
        .withf(|held| *held == reservation())
        .times(1)
        .returning(|_| Ok(()));
    ports.limiter.expect_release().times(0);

    ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap();
}

#[tokio::test]
async fn login_stands_when_the_limiter_cannot_settle_it() {
    let user = stored_user("ada@example.com");
    let (mut ports, stored) = successful_login(&user);
    ports.limiter.expect_succeeded().returning(|_| {
        Err(RepoError::Unavailable {
            retry_after: StdDuration::from_secs(1),
        })
    });

    ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap();
    assert!(stored.lock().unwrap().is_some());
}

#[tokio::test]
async fn login_refused_by_a_busy_hasher_is_unavailable_and_releases_its_reservation() {
    let user = stored_user("ada@example.com");
    let mut ports = Ports::new();
    ports.allow_login();
    ports
        .users
        .expect_find_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    ports.hasher.expect_verify().returning(|_, _| {
        Err(HashError::Busy {
            retry_after: StdDuration::from_secs(1),
        })
    });
    ports
        .limiter
        .expect_release()
        .withf(|held| *held == reservation())
        .times(1)
        .returning(|_| Ok(()));
    ports.limiter.expect_succeeded().times(0);
    ports.sessions.expect_create().times(0);

    let err = ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::Unavailable { retry_after } if retry_after == StdDuration::from_secs(1)),
        "{err:?}"
    );
}

#[tokio::test]
async fn login_while_the_hasher_is_at_capacity_is_unavailable_before_any_other_work() {
    let mut ports = Ports::new();
    ports.hasher = MockPasswordHasher::new();
    ports
        .hasher
        .expect_busy()
        .return_const(Some(StdDuration::from_secs(1)));
    ports.hasher.expect_verify().times(0);
    ports.limiter.expect_reserve().times(0);
    ports.users.expect_find_by_email().times(0);

    let err = ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::Unavailable { retry_after } if retry_after == StdDuration::from_secs(1)),
        "{err:?}"
    );
}

#[tokio::test]
async fn login_whose_user_lookup_fails_releases_its_reservation_and_hashes_nothing() {
    let mut ports = Ports::new();
    ports.allow_login();
    ports.users.expect_find_by_email().returning(|_| {
        Err(RepoError::Unavailable {
            retry_after: StdDuration::from_secs(2),
        })
    });
    ports.hasher.expect_verify().times(0);
    ports
        .limiter
        .expect_release()
        .times(1)
        .returning(|_| Ok(()));

    let err = ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn login_is_refused_when_the_limiter_cannot_reserve() {
    let mut ports = Ports::new();
    ports.limiter.expect_reserve().returning(|_, _, _| {
        Err(LimitError::Store(RepoError::Unavailable {
            retry_after: StdDuration::from_secs(3),
        }))
    });
    ports.users.expect_find_by_email().returning(|_| Ok(None));
    ports.hasher.expect_verify().times(0);

    let err = ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::Unavailable { retry_after } if retry_after == StdDuration::from_secs(3)),
        "{err:?}"
    );
}

#[tokio::test]
async fn login_issues_no_token_when_the_session_cannot_be_stored() {
    let user = stored_user("ada@example.com");
    let mut ports = Ports::new();
    ports.allow_login();
    ports
        .users
        .expect_find_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    ports.hasher.expect_verify().returning(|_, _| Ok(true));
    ports.limiter.expect_succeeded().returning(|_| Ok(()));
    ports.sessions.expect_create().returning(|_, _, _, _| {
        Err(RepoError::Unavailable {
            retry_after: StdDuration::from_secs(1),
        })
    });
    ports.tokens.expect_issue().times(0);

    let err = ports
        .service()
        .login(login_input("ada@example.com", PLAIN_PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unavailable { .. }), "{err:?}");
}

// ------------------------------------------------------------ authenticate

#[tokio::test]
async fn authenticate_with_an_invalid_token_is_unauthorized_without_touching_repos() {
    let mut ports = Ports::new();
    ports
        .tokens
        .expect_verify()
        .times(1)
        .returning(|_, _| Err(TokenError::Invalid));
    ports.sessions.expect_active_user().times(0);
    ports.users.expect_find_by_email().times(0);

    let err = authenticate(&ports.service(), "garbage").await.unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn authenticate_with_a_valid_token_whose_session_is_revoked_or_expired_is_unauthorized() {
    let user = stored_user("ada@example.com");
    let principal = principal_of(&user);
    let mut ports = Ports::new();
    ports
        .tokens
        .expect_verify()
        .returning(move |_, _| Ok(principal));
    ports
        .sessions
        .expect_active_user()
        .times(1)
        .returning(|_, _| Err(RepoError::SessionInactive));

    let err = authenticate(&ports.service(), "signed-token")
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn authenticate_returns_the_user_judging_token_and_session_at_the_clocks_now() {
    let user = stored_user("ada@example.com");
    let principal = principal_of(&user);
    let mut ports = Ports::new();
    ports
        .tokens
        .expect_verify()
        .withf(|token, now| token == "signed-token" && *now == t0())
        .times(1)
        .returning(move |_, _| Ok(principal));
    let found = user.clone();
    ports
        .sessions
        .expect_active_user()
        .withf(move |p, now| *p == principal && *now == t0())
        .times(1)
        .returning(move |_, _| Ok(found.clone()));

    let authenticated = authenticate(&ports.service(), "signed-token")
        .await
        .unwrap();

    assert_eq!(authenticated, user);
}

/// A session repository that decides activity the way the real one does:
/// from the stored session and the `now` it is handed.
fn sessions_holding(session: Session, user: User) -> MockSessionRepo {
    let mut sessions = MockSessionRepo::new();
    sessions
        .expect_active_user()
        .returning(move |principal, now| {
            if principal.session_id == session.id && session.is_active(now) {
                Ok(user.clone())
            } else {
                Err(RepoError::SessionInactive)
            }
        });
    sessions
}

fn authenticate_at(now: Timestamp) -> (AuthService, User) {
    let user = stored_user("ada@example.com");
    let session = Session::start(user.id, t0(), lifetime());
    let principal = Principal {
        user_id: user.id,
        session_id: session.id,
    };
    let mut ports = Harness::new().at(now);
    ports
        .tokens
        .expect_verify()
        .returning(move |_, _| Ok(principal));
    ports.sessions = sessions_holding(session, user.clone());
    (ports.service(), user)
}

#[tokio::test]
async fn a_session_is_accepted_while_the_clock_is_before_its_expiry() {
    let (service, user) = authenticate_at(t0() + lifetime() - Duration::microseconds(1));

    assert_eq!(authenticate(&service, "signed-token").await.unwrap(), user);
}

#[tokio::test]
async fn a_session_is_refused_once_the_clock_reaches_its_expiry() {
    let (service, _) = authenticate_at(t0() + lifetime());

    let err = authenticate(&service, "signed-token").await.unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

// ------------------------------------------------------- required fields

#[tokio::test]
async fn register_without_email_or_password_names_both_fields() {
    let mut ports = Ports::new();
    ports.hasher.expect_hash().times(0);
    ports.users.expect_create().times(0);

    let err = ports
        .service()
        .register(RegisterInput::default())
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["email", "password"]);
}

#[tokio::test]
async fn register_with_a_nul_in_the_name_is_a_validation_error() {
    let mut ports = Ports::new();
    ports.hasher.expect_hash().times(0);

    let err = ports
        .service()
        .register(register_input(
            "ada@example.com",
            PLAIN_PASSWORD,
            Some("Ada\0"),
        ))
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["name"]);
}

#[tokio::test]
async fn login_without_email_or_password_is_refused_before_the_limiter_and_the_hash() {
    let mut ports = Ports::new();
    ports.limiter.expect_reserve().times(0);
    ports.hasher.expect_verify().times(0);

    let err = ports
        .service()
        .login(LoginInput {
            password: Some(PLAIN_PASSWORD.to_owned()),
            ..LoginInput::default()
        })
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["email"]);
}
