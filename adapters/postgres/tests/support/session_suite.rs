//! The contract of sessions, refresh tokens, account changes and security
//! events, run directly and through PgBouncer like the main suite. Each
//! test makes its own users.

use std::sync::Arc;

use adapter_postgres::Database;
use application::ports::{
    EventPosition, PendingEvent, Principal, Refreshed, RepoError, RevokeScope, TokenDigest,
    KEPT_EVENTS_PER_USER,
};
use chrono::TimeDelta;
use domain::{PasswordHash, SecurityEventKind, Session, SessionId};

use super::{
    admin_in, client, event, fresh_digest, new_user, now, repos, revoke_current, signed_in, start,
    Repos,
};

/// Generates one `#[tokio::test]` per session-suite function.
#[macro_export]
macro_rules! session_suite {
    ($connect:path) => {
        $crate::session_suite!(@tests $connect;
            a_login_stores_the_client_the_refresh_token_and_its_event,
            a_refresh_rotates_the_token_and_moves_last_used_at,
            a_spent_token_presented_again_revokes_the_session_and_is_recorded,
            racing_refreshes_with_one_token_rotate_exactly_once,
            unknown_and_expired_refresh_tokens_are_invalid,
            revoke_scopes_end_the_right_sessions,
            revoking_another_users_session_is_not_found_and_changes_nothing,
            a_password_change_revokes_the_other_sessions_and_is_recorded,
            deleting_the_account_leaves_nothing_of_it,
            events_page_newest_first_by_keyset,
            a_failed_login_is_recorded_only_for_an_existing_account,
            each_event_insert_keeps_the_users_events_bounded,
        );
    };
    (@tests $connect:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let db = $connect().await;
                support::session_suite::$name(&db).await;
                db.close();
            }
        )*
    };
}

async fn kinds(repos: &Repos, principal: &Principal) -> Vec<SecurityEventKind> {
    repos
        .events
        .page(principal, now(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn refresh(
    repos: &Repos,
    presented: &TokenDigest,
    next: &TokenDigest,
) -> Result<Refreshed, RepoError> {
    repos
        .sessions
        .refresh(
            presented,
            next,
            now(),
            &event(SecurityEventKind::RefreshReused, now()),
        )
        .await
}

/// A signed-in user whose session's current refresh token is returned.
async fn with_refresh_token(repos: &Repos) -> (Session, Principal, TokenDigest) {
    let user = new_user();
    repos.users.create(&user).await.unwrap();
    let session = Session::start(user.id, now(), TimeDelta::hours(1)).from_client(&client());
    let token = fresh_digest();
    start(repos, &session, &token).await;
    let principal = Principal {
        user_id: user.id,
        session_id: session.id,
    };
    (session, principal, token)
}

pub async fn a_login_stores_the_client_the_refresh_token_and_its_event(db: &Database) {
    let repos = repos(db);
    let (session, principal, _) = with_refresh_token(&repos).await;

    let listed = repos.sessions.list(&principal, now(), false).await.unwrap();

    assert_eq!(listed, std::slice::from_ref(&session));
    assert_eq!(listed[0].last_used_at, session.created_at);
    assert_eq!(listed[0].ip, client().ip);
    assert_eq!(
        listed[0].user_agent.as_ref().map(|ua| ua.as_str()),
        Some("contract-test/1")
    );
    let events = repos
        .events
        .page(&principal, now(), None, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, SecurityEventKind::LoginSucceeded);
    assert_eq!(events[0].session_id, Some(session.id));
    assert_eq!(events[0].ip, client().ip);
}

pub async fn a_refresh_rotates_the_token_and_moves_last_used_at(db: &Database) {
    let repos = repos(db);
    let (session, principal, first) = with_refresh_token(&repos).await;
    let second = fresh_digest();

    let Refreshed::Rotated {
        session: rotated,
        user,
    } = refresh(&repos, &first, &second).await.unwrap()
    else {
        panic!("the current token rotates");
    };

    assert_eq!(rotated.id, session.id);
    assert_eq!(user.id, principal.user_id);
    assert!(rotated.last_used_at > session.last_used_at);
    assert_eq!(rotated.expires_at, session.expires_at);
    // The new token is the current one now.
    assert!(matches!(
        refresh(&repos, &second, &fresh_digest()).await.unwrap(),
        Refreshed::Rotated { .. }
    ));
    assert!(repos.sessions.active_user(&principal, now()).await.is_ok());
}

pub async fn a_spent_token_presented_again_revokes_the_session_and_is_recorded(db: &Database) {
    let repos = repos(db);
    let (session, principal, first) = with_refresh_token(&repos).await;
    let second = fresh_digest();
    refresh(&repos, &first, &second).await.unwrap();
    let (_, _, bystander) = signed_in(&repos).await;

    assert_eq!(
        refresh(&repos, &first, &fresh_digest()).await.unwrap(),
        Refreshed::Reused
    );

    assert!(matches!(
        repos.sessions.active_user(&principal, now()).await,
        Err(RepoError::SessionInactive)
    ));
    // The current token of the revoked session is worthless too.
    assert_eq!(
        refresh(&repos, &second, &fresh_digest()).await.unwrap(),
        Refreshed::Invalid
    );
    assert!(repos.sessions.active_user(&bystander, now()).await.is_ok());
    // The event is readable from another session of the same user.
    let other = Session::start(principal.user_id, now(), TimeDelta::hours(1));
    start(&repos, &other, &fresh_digest()).await;
    let reader = Principal {
        user_id: principal.user_id,
        session_id: other.id,
    };
    let events = repos.events.page(&reader, now(), None, 10).await.unwrap();
    let reused = events
        .iter()
        .find(|e| e.kind == SecurityEventKind::RefreshReused)
        .expect("a refresh_reused event");
    assert_eq!(reused.session_id, Some(session.id));
}

pub async fn racing_refreshes_with_one_token_rotate_exactly_once(db: &Database) {
    let repos = Arc::new(repos(db));
    // Several rounds, so both orders of arrival are likely exercised.
    for _ in 0..5 {
        let (_, principal, token) = with_refresh_token(&repos).await;
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let repos = Arc::clone(&repos);
                tokio::spawn(async move { refresh(&repos, &token, &fresh_digest()).await.unwrap() })
            })
            .collect();
        let mut outcomes = Vec::new();
        for racer in racers {
            outcomes.push(racer.await.unwrap());
        }

        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, Refreshed::Rotated { .. }))
            .count();
        let reused = outcomes
            .iter()
            .filter(|o| matches!(o, Refreshed::Reused))
            .count();
        assert_eq!((rotated, reused), (1, 1), "{outcomes:?}");
        // The loser was reuse: the session is gone, the winner's pair too.
        assert!(matches!(
            repos.sessions.active_user(&principal, now()).await,
            Err(RepoError::SessionInactive)
        ));
    }
}

pub async fn unknown_and_expired_refresh_tokens_are_invalid(db: &Database) {
    let repos = repos(db);
    assert_eq!(
        refresh(&repos, &fresh_digest(), &fresh_digest())
            .await
            .unwrap(),
        Refreshed::Invalid
    );
    let (session, principal, token) = with_refresh_token(&repos).await;
    let after_end = session.expires_at;
    let outcome = repos
        .sessions
        .refresh(
            &token,
            &fresh_digest(),
            after_end,
            &event(SecurityEventKind::RefreshReused, after_end),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Refreshed::Invalid);
    // Nothing was spent: before the end the token still works.
    assert!(matches!(
        refresh(&repos, &token, &fresh_digest()).await.unwrap(),
        Refreshed::Rotated { .. }
    ));
    assert!(repos.sessions.active_user(&principal, now()).await.is_ok());
}

async fn sessions_of_one_user(repos: &Repos, count: usize) -> Vec<Principal> {
    let user = new_user();
    repos.users.create(&user).await.unwrap();
    let mut principals = Vec::new();
    for _ in 0..count {
        let session = Session::start(user.id, now(), TimeDelta::hours(1));
        start(repos, &session, &fresh_digest()).await;
        principals.push(Principal {
            user_id: user.id,
            session_id: session.id,
        });
    }
    principals
}

async fn active(repos: &Repos, principals: &[Principal]) -> Vec<bool> {
    let mut states = Vec::new();
    for p in principals {
        states.push(repos.sessions.active_user(p, now()).await.is_ok());
    }
    states
}

async fn revoke(
    repos: &Repos,
    principal: &Principal,
    scope: RevokeScope,
) -> Result<u64, RepoError> {
    repos
        .sessions
        .revoke(
            principal,
            scope,
            now(),
            &event(SecurityEventKind::SessionRevoked, now()),
        )
        .await
}

pub async fn revoke_scopes_end_the_right_sessions(db: &Database) {
    let repos = repos(db);
    let all = sessions_of_one_user(&repos, 4).await;

    assert_eq!(
        revoke(&repos, &all[0], RevokeScope::One(all[3].session_id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(active(&repos, &all).await, [true, true, true, false]);
    assert_eq!(
        revoke(&repos, &all[0], RevokeScope::Others).await.unwrap(),
        2
    );
    assert_eq!(active(&repos, &all).await, [true, false, false, false]);
    assert_eq!(revoke_current(&repos, &all[0], now()).await.unwrap(), 1);
    assert_eq!(active(&repos, &all).await, [false; 4]);

    let more = sessions_of_one_user(&repos, 2).await;
    assert_eq!(revoke(&repos, &more[1], RevokeScope::All).await.unwrap(), 2);
    assert_eq!(active(&repos, &more).await, [false, false]);
    // A revoked caller can revoke nothing more.
    assert!(matches!(
        revoke(&repos, &more[1], RevokeScope::All).await,
        Err(RepoError::SessionInactive)
    ));
}

pub async fn revoking_another_users_session_is_not_found_and_changes_nothing(db: &Database) {
    let repos = repos(db);
    let (_, _, mine) = signed_in(&repos).await;
    let (_, _, theirs) = signed_in(&repos).await;

    for target in [theirs.session_id, SessionId::new()] {
        assert!(matches!(
            revoke(&repos, &mine, RevokeScope::One(target)).await,
            Err(RepoError::NotFound)
        ));
    }
    assert_eq!(active(&repos, &[mine, theirs]).await, [true, true]);
    // A not-found revocation writes no event.
    assert_eq!(
        kinds(&repos, &mine).await,
        [SecurityEventKind::LoginSucceeded]
    );
}

pub async fn a_password_change_revokes_the_other_sessions_and_is_recorded(db: &Database) {
    let repos = repos(db);
    let all = sessions_of_one_user(&repos, 3).await;
    let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".to_owned());

    repos
        .users
        .change_password(
            &all[1],
            now(),
            &hash,
            &event(SecurityEventKind::PasswordChanged, now()),
        )
        .await
        .unwrap();

    assert_eq!(active(&repos, &all).await, [false, true, false]);
    let user = repos.sessions.active_user(&all[1], now()).await.unwrap();
    assert_eq!(user.password_hash, hash);
    assert_eq!(
        kinds(&repos, &all[1]).await.first(),
        Some(&SecurityEventKind::PasswordChanged)
    );
    // From a revoked session: refused, nothing changes.
    let other = PasswordHash::new("$argon2id$other".to_owned());
    assert!(matches!(
        repos
            .users
            .change_password(
                &all[0],
                now(),
                &other,
                &event(SecurityEventKind::PasswordChanged, now())
            )
            .await,
        Err(RepoError::SessionInactive)
    ));
    let user = repos.sessions.active_user(&all[1], now()).await.unwrap();
    assert_eq!(user.password_hash, hash);
}

pub async fn deleting_the_account_leaves_nothing_of_it(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    let (_, _, bystander) = signed_in(&repos).await;

    repos.users.delete(&principal, now()).await.unwrap();

    assert_eq!(repos.users.find_by_email(&user.email).await.unwrap(), None);
    let left = admin_in(
        "app",
        &format!(
            "SELECT (SELECT count(*) FROM sessions WHERE user_id = '{id}')
                  + (SELECT count(*) FROM security_events WHERE user_id = '{id}')
                  + (SELECT count(*) FROM tasks WHERE user_id = '{id}')",
            id = user.id
        ),
    )
    .await;
    let count = left.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(count.as_deref(), Some("0"));
    assert!(matches!(
        repos.users.delete(&principal, now()).await,
        Err(RepoError::SessionInactive)
    ));
    assert!(repos.sessions.active_user(&bystander, now()).await.is_ok());
}

pub async fn events_page_newest_first_by_keyset(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    for _ in 0..4 {
        repos
            .events
            .record_for_email(&user.email, &event(SecurityEventKind::LoginFailed, now()))
            .await
            .unwrap();
    }

    let first = repos.events.page(&principal, now(), None, 3).await.unwrap();
    let last = first.last().unwrap();
    let rest = repos
        .events
        .page(
            &principal,
            now(),
            Some(EventPosition {
                at: last.at,
                id: last.id,
            }),
            3,
        )
        .await
        .unwrap();

    assert_eq!((first.len(), rest.len()), (3, 2));
    let all: Vec<_> = first.iter().chain(&rest).collect();
    assert!(all
        .windows(2)
        .all(|w| (w[0].at, w[0].id) > (w[1].at, w[1].id)));
    assert_eq!(all.last().unwrap().kind, SecurityEventKind::LoginSucceeded);
    let (_, _, stranger) = signed_in(&repos).await;
    assert_eq!(
        kinds(&repos, &stranger).await.len(),
        1,
        "only their own login"
    );
}

pub async fn a_failed_login_is_recorded_only_for_an_existing_account(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    let shouted = domain::Email::parse(&user.email.as_str().to_uppercase()).unwrap();
    repos
        .events
        .record_for_email(&shouted, &event(SecurityEventKind::LoginFailed, now()))
        .await
        .unwrap();
    // An unknown address: no error, nothing written anywhere.
    let nobody = super::unique_email();
    let stray: PendingEvent = event(SecurityEventKind::LoginFailed, now());
    repos
        .events
        .record_for_email(&nobody, &stray)
        .await
        .unwrap();
    let rows = admin_in(
        "app",
        &format!(
            "SELECT count(*) FROM security_events WHERE id = '{}'",
            stray.id
        ),
    )
    .await;
    assert!(rows.iter().any(|m| matches!(m,
        tokio_postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("0"))));
    assert_eq!(
        kinds(&repos, &principal).await,
        [
            SecurityEventKind::LoginFailed,
            SecurityEventKind::LoginSucceeded
        ]
    );
}

pub async fn each_event_insert_keeps_the_users_events_bounded(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    // A full history plus a few, and one event past the age limit.
    admin_in(
        "app",
        &format!(
            "INSERT INTO security_events (id, user_id, type, at)
             SELECT gen_random_uuid(), '{id}', 'login_failed', now() - make_interval(secs => n)
             FROM generate_series(1, {n}) AS n;
             INSERT INTO security_events (id, user_id, type, at)
             VALUES (gen_random_uuid(), '{id}', 'logout', now() - interval '91 days')",
            id = user.id,
            n = KEPT_EVENTS_PER_USER + 5,
        ),
    )
    .await;

    repos
        .events
        .record_for_email(&user.email, &event(SecurityEventKind::LoginFailed, now()))
        .await
        .unwrap();

    let rows = admin_in(
        "app",
        &format!(
            "SELECT count(*), count(*) FILTER (WHERE type = 'logout')
             FROM security_events WHERE user_id = '{}'",
            user.id
        ),
    )
    .await;
    let counts = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some((
            row.get(0).unwrap().to_owned(),
            row.get(1).unwrap().to_owned(),
        )),
        _ => None,
    });
    assert_eq!(
        counts,
        Some((KEPT_EVENTS_PER_USER.to_string(), "0".to_owned()))
    );
    // The newest is the one just written.
    let newest = repos.events.page(&principal, now(), None, 1).await.unwrap();
    assert!(newest[0].at > now() - TimeDelta::minutes(1));
}
