//! The `AccountTokenStore` and `Outbox` contracts on the real PostgreSQL,
//! directly and through PgBouncer in transaction mode: each write is one
//! statement holding the change, its token digest, its outbox row and its
//! event; claims by concurrent senders never overlap. The outbox tests use
//! a database of their own (a claim takes every due row).

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use adapter_postgres::Database;
use application::opaque_token::OpaqueToken;
use application::ports::{
    AccountTokenStore, IssuedToken, MailKind, Outbox, RepoError, ResendOutcome,
    KEPT_EVENTS_PER_USER,
};
use chrono::TimeDelta;
use domain::{ClientInfo, PasswordHash, Timestamp, User, UserAgent};
use tokio_postgres::types::Type;
use uuid::Uuid;

use support::{
    create_database, direct_url, drop_database, new_user, now, repos, settings, signed_in,
    url_for_database,
};

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod direct {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::$name(crate::support::direct_url()).await;
                }
            )*
        }
        mod pooler {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::$name(crate::support::pooler_url()).await;
                }
            )*
        }
    };
}

contract!(
    registering_stores_user_token_mail_and_event_in_one_statement,
    a_reset_request_writes_nothing_for_an_unknown_email_and_stops_at_the_bound,
    a_reset_request_keeps_the_users_events_bounded_like_every_other_event,
    confirming_a_reset_spends_the_token_once_and_revokes_every_session,
    verifying_spends_the_token_and_sets_the_flag,
    resend_needs_an_active_session_and_stops_when_verified_or_at_the_bound,
    concurrent_claims_never_take_the_same_row_and_expired_rows_are_dropped,
);

/// A database migrated through the direct URL, reached through `url`.
async fn connect(url: &str, database: Option<&str>) -> Database {
    let direct = match database {
        Some(name) => url_for_database(direct_url(), name),
        None => direct_url().to_owned(),
    };
    let migrator = Database::connect(settings(&direct)).await.expect("connect");
    migrator.migrate().await.expect("migrate");
    if url == direct_url() {
        return migrator;
    }
    migrator.shutdown().await;
    let target = match database {
        Some(name) => url_for_database(url, name),
        None => url.to_owned(),
    };
    Database::connect(settings(&target)).await.expect("connect")
}

/// A client for assertions on the rows (direct, as the app user).
async fn rows(database: Option<&str>) -> tokio_postgres::Client {
    let url = match database {
        Some(name) => url_for_database(direct_url(), name),
        None => direct_url().to_owned(),
    };
    test_support::tls_client::connect(&url).await
}

/// A fresh token (unique per call: the digest is a primary key shared by
/// every test) valid `ttl` from `at`.
fn issued(seed: u8, at: Timestamp, ttl: TimeDelta) -> IssuedToken {
    let token = OpaqueToken::from_bytes(&random_bytes(seed));
    IssuedToken {
        digest: token.digest(),
        token,
        created_at: at,
        expires_at: at + ttl,
    }
}

fn random_bytes(seed: u8) -> [u8; 32] {
    let mut bytes = [seed; 32];
    bytes[..16].copy_from_slice(Uuid::now_v7().as_bytes());
    bytes
}

fn context() -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.9".parse().unwrap()),
        user_agent: UserAgent::from_header("tests"),
    }
}

async fn count(client: &tokio_postgres::Client, sql: &str, user: &User) -> i64 {
    let id = user.id.as_uuid();
    client
        .query_typed(sql, &[(&id, Type::UUID)])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))[0]
        .get(0)
}

async fn events(client: &tokio_postgres::Client, user: &User) -> Vec<String> {
    let id = user.id.as_uuid();
    client
        .query_typed(
            "SELECT type FROM security_events WHERE user_id = $1 ORDER BY at, id",
            &[(&id, Type::UUID)],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn registered(store: &dyn AccountTokenStore) -> (User, IssuedToken) {
    let user = new_user();
    let token = issued(1, user.created_at, TimeDelta::hours(24));
    store.register(&user, &token, &context()).await.unwrap();
    (user, token)
}

pub async fn registering_stores_user_token_mail_and_event_in_one_statement(url: &str) {
    let db = connect(url, None).await;
    let store = db.account_token_store();
    let client = rows(None).await;
    let (user, token) = registered(store.as_ref()).await;
    // Replaying the same registration is fine and adds nothing.
    store.register(&user, &token, &context()).await.unwrap();
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM mail_outbox WHERE user_id = $1 AND kind = 'email_verification'",
            &user
        )
        .await,
        1
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM account_tokens WHERE user_id = $1 AND purpose = 'email_verification'", &user).await,
        1
    );
    assert_eq!(events(&client, &user).await, ["registered"]);
    // The token is stored as its digest; the raw one only in the outbox.
    let digest = token.digest.0.to_vec();
    let stored = client
        .query_typed(
            "SELECT count(*) FROM account_tokens WHERE token_hash = $1",
            &[(&digest, Type::BYTEA)],
        )
        .await
        .unwrap()[0]
        .get::<_, i64>(0);
    assert_eq!(stored, 1);

    // Another user with the same email (another case): nothing stored.
    let mut twin = new_user();
    twin.email = domain::Email::parse(&user.email.as_str().to_uppercase()).unwrap();
    let again = issued(2, twin.created_at, TimeDelta::hours(24));
    let err = store.register(&twin, &again, &context()).await.unwrap_err();
    assert!(matches!(err, RepoError::EmailTaken), "{err:?}");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM mail_outbox WHERE user_id = $1",
            &twin
        )
        .await,
        0
    );
    db.close();
}

pub async fn a_reset_request_writes_nothing_for_an_unknown_email_and_stops_at_the_bound(url: &str) {
    let db = connect(url, None).await;
    let store = db.account_token_store();
    let client = rows(None).await;
    let nobody = new_user();
    let queued = store
        .request_password_reset(
            &nobody.email,
            &issued(3, now(), TimeDelta::minutes(30)),
            2,
            &context(),
        )
        .await
        .unwrap();
    assert!(!queued);
    let (user, _) = registered(store.as_ref()).await;
    let shouted = domain::Email::parse(&user.email.as_str().to_uppercase()).unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            store
                .request_password_reset(
                    &shouted,
                    &issued(4, now(), TimeDelta::minutes(30)),
                    2,
                    &context(),
                )
                .await
                .unwrap(),
        );
    }
    assert_eq!(answers, [true, true, false]);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM mail_outbox WHERE user_id = $1 AND kind = 'password_reset'",
            &user
        )
        .await,
        2
    );
    let events = events(&client, &user).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "password_reset_requested")
            .count(),
        2,
        "{events:?}"
    );
    db.close();
}

/// The mail statements write their events through the same CTEs as the
/// rest: the newest `KEPT_EVENTS_PER_USER` stay, nothing past 90 days.
pub async fn a_reset_request_keeps_the_users_events_bounded_like_every_other_event(url: &str) {
    let db = connect(url, None).await;
    let store = db.account_token_store();
    let client = rows(None).await;
    let (user, _) = registered(store.as_ref()).await;
    let id = user.id.as_uuid();
    let older = i64::from(KEPT_EVENTS_PER_USER + 5);
    client
        .execute_typed(
            "INSERT INTO security_events (id, user_id, type, at)
             SELECT gen_random_uuid(), $1, 'login_failed', now() - make_interval(secs => n)
             FROM generate_series(1, $2) AS n",
            &[(&id, Type::UUID), (&older, Type::INT8)],
        )
        .await
        .unwrap();
    client
        .execute_typed(
            "INSERT INTO security_events (id, user_id, type, at)
             VALUES (gen_random_uuid(), $1, 'logout', now() - interval '91 days')",
            &[(&id, Type::UUID)],
        )
        .await
        .unwrap();

    let queued = store
        .request_password_reset(
            &user.email,
            &issued(5, now(), TimeDelta::minutes(30)),
            2,
            &context(),
        )
        .await
        .unwrap();

    assert!(queued);
    let events = events(&client, &user).await;
    assert_eq!(events.len(), KEPT_EVENTS_PER_USER as usize, "{events:?}");
    assert!(!events.iter().any(|e| e == "logout"), "{events:?}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("password_reset_requested")
    );
    db.close();
}

pub async fn confirming_a_reset_spends_the_token_once_and_revokes_every_session(url: &str) {
    let db = connect(url, None).await;
    let store = db.account_token_store();
    let repos = repos(&db);
    let client = rows(None).await;
    let (user, _, principal) = signed_in(&repos).await;
    let reset = issued(5, now(), TimeDelta::minutes(30));
    assert!(store
        .request_password_reset(&user.email, &reset, 3, &context())
        .await
        .unwrap());
    let other = issued(6, now(), TimeDelta::minutes(30));
    assert!(store
        .request_password_reset(&user.email, &other, 3, &context())
        .await
        .unwrap());
    let new_hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3".into());
    // Past its 30 minutes the token does not count.
    let later = now() + TimeDelta::minutes(31);
    assert!(!store
        .confirm_password_reset(&reset.digest, &new_hash, later, &context())
        .await
        .unwrap());
    assert!(store
        .confirm_password_reset(&reset.digest, &new_hash, now(), &context())
        .await
        .unwrap());
    assert!(!store
        .confirm_password_reset(&reset.digest, &new_hash, now(), &context())
        .await
        .unwrap());
    // The user's other link went with it.
    assert!(!store
        .confirm_password_reset(&other.digest, &new_hash, now(), &context())
        .await
        .unwrap());
    let stored = repos
        .users
        .find_by_email(&user.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash, new_hash);
    let err = repos
        .sessions
        .active_user(&principal, now())
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::SessionInactive), "{err:?}");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM mail_outbox WHERE user_id = $1",
            &user
        )
        .await,
        0
    );
    assert!(events(&client, &user)
        .await
        .contains(&"password_reset".to_owned()));
    db.close();
}

pub async fn verifying_spends_the_token_and_sets_the_flag(url: &str) {
    let db = connect(url, None).await;
    let store = db.account_token_store();
    let client = rows(None).await;
    let (user, token) = registered(store.as_ref()).await;
    let wrong_purpose = store
        .confirm_password_reset(&token.digest, &user.password_hash, now(), &context())
        .await
        .unwrap();
    assert!(!wrong_purpose);
    assert!(store
        .verify_email(&token.digest, now(), &context())
        .await
        .unwrap());
    assert!(!store
        .verify_email(&token.digest, now(), &context())
        .await
        .unwrap());
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM users WHERE id = $1 AND email_verified",
            &user
        )
        .await,
        1
    );
    assert_eq!(
        events(&client, &user).await,
        ["registered", "email_verified"]
    );
    db.close();
}

pub async fn resend_needs_an_active_session_and_stops_when_verified_or_at_the_bound(url: &str) {
    let db = connect(url, None).await;
    let store = db.account_token_store();
    let repos = repos(&db);
    let (_, _, principal) = signed_in(&repos).await;
    let revoked = support::revoked_session(&repos, principal.user_id).await;
    let err = store
        .resend_verification(&revoked, &issued(7, now(), TimeDelta::hours(24)), 2)
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::SessionInactive), "{err:?}");
    let first = issued(8, now(), TimeDelta::hours(24));
    let mut outcomes = vec![store
        .resend_verification(&principal, &first, 2)
        .await
        .unwrap()];
    for _ in 0..2 {
        let token = issued(9, now(), TimeDelta::hours(24));
        outcomes.push(
            store
                .resend_verification(&principal, &token, 2)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        outcomes,
        [
            ResendOutcome::Queued,
            ResendOutcome::Queued,
            ResendOutcome::Limited
        ]
    );
    assert!(store
        .verify_email(&first.digest, now(), &context())
        .await
        .unwrap());
    let after = store
        .resend_verification(&principal, &issued(10, now(), TimeDelta::hours(24)), 2)
        .await
        .unwrap();
    assert_eq!(after, ResendOutcome::AlreadyVerified);
    db.close();
}

pub async fn concurrent_claims_never_take_the_same_row_and_expired_rows_are_dropped(url: &str) {
    let name = create_database().await;
    let db = connect(url, Some(&name)).await;
    let store = db.account_token_store();
    let outbox: Arc<dyn Outbox> = db.outbox();
    assert_eq!(outbox.next_due().await.unwrap(), None);
    for _ in 0..12 {
        registered(store.as_ref()).await;
    }
    // One more whose mail expired already.
    let past = now() - TimeDelta::hours(48);
    let mut stale_user = new_user();
    stale_user.created_at = past;
    stale_user.updated_at = past;
    store
        .register(
            &stale_user,
            &issued(11, past, TimeDelta::hours(24)),
            &context(),
        )
        .await
        .unwrap();
    assert!(outbox
        .next_due()
        .await
        .unwrap()
        .is_some_and(|due| due <= now()));

    let at = now();
    let lease = at + TimeDelta::minutes(5);
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.claim(at, lease, 5).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut claimed = 0;
    for claim in claims {
        for mail in claim.await.unwrap() {
            assert_eq!(mail.kind, MailKind::EmailVerification);
            assert_eq!(mail.attempts, 1);
            assert!(seen.insert(mail.id), "two senders claimed {}", mail.id);
            claimed += 1;
        }
    }
    assert_eq!(
        claimed, 12,
        "every live row claimed once, the expired one dropped"
    );
    // Leased: nothing is due until the lease ends.
    assert!(outbox.claim(at, lease, 5).await.unwrap().is_empty());
    assert_eq!(outbox.next_due().await.unwrap(), Some(lease));
    let again = outbox
        .claim(lease, lease + TimeDelta::minutes(5), 50)
        .await
        .unwrap();
    assert_eq!(again.len(), 12);
    assert!(again.iter().all(|m| m.attempts == 2));
    let first = again[0].id;
    outbox
        .retry_at(first, lease + TimeDelta::seconds(1), "451 later")
        .await
        .unwrap();
    for mail in &again[1..] {
        outbox.remove(mail.id).await.unwrap();
    }
    assert_eq!(
        outbox.next_due().await.unwrap(),
        Some(lease + TimeDelta::seconds(1))
    );
    let client = rows(Some(&name)).await;
    let error: Option<String> = client
        .query_typed("SELECT last_error FROM mail_outbox", &[])
        .await
        .unwrap()[0]
        .get(0);
    assert_eq!(error.as_deref(), Some("451 later"));
    drop(client);
    db.shutdown().await;
    drop_database(&name).await;
}
