//! The `AccountRepo` contract (the operator commands' port), run both
//! directly and through PgBouncer in transaction mode. Each test makes its
//! own users; `now` is passed in, so expiry is tested without waiting.

mod support;

use adapter_postgres::Database;
use application::ports::{Principal, RepoError, TaskCursor};
use chrono::TimeDelta;
use domain::{Email, Session, User};

use support::suite::task;
use support::{new_user, now, repos, signed_in, unique_email, Repos};

/// One `#[tokio::test]` per contract function, directly and through the pooler.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod direct {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::support::direct_db().await;
                    crate::$name(&db).await;
                    db.close();
                }
            )*
        }
        mod pooler {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::support::pooler_db().await;
                    crate::$name(&db).await;
                    db.close();
                }
            )*
        }
    };
}

contract!(
    summary_counts_all_tasks_and_only_the_sessions_active_at_now,
    revoke_sessions_revokes_only_the_active_ones_of_that_account,
    delete_removes_the_account_with_its_sessions_and_tasks_only,
    tasks_page_visits_every_task_once_oldest_first_ties_by_id,
    unknown_email_is_none_everywhere,
    sessions_lists_every_stored_session_newest_first,
);

/// The same address as typed by an operator in another case.
fn shouted(email: &Email) -> Email {
    Email::parse(&email.as_str().to_uppercase()).unwrap()
}

/// A signed-in user with `tasks` tasks, one revoked and one expired
/// session besides the active one.
async fn busy_user(repos: &Repos, tasks: usize) -> (User, Principal) {
    let (user, _, principal) = signed_in(repos).await;
    for i in 0..tasks {
        repos
            .tasks
            .create(
                &principal,
                now(),
                &task(user.id, &format!("t{i}"), now()),
                None,
            )
            .await
            .expect("create task");
    }
    support::revoked_session(repos, user.id).await;
    let expired = Session::start(user.id, now() - TimeDelta::hours(2), TimeDelta::hours(1));
    support::create_capped(repos, &expired, &support::fresh_digest(), 10).await;
    (user, principal)
}

pub async fn summary_counts_all_tasks_and_only_the_sessions_active_at_now(db: &Database) {
    let repos = repos(db);
    let accounts = db.account_repo();
    let (user, principal) = busy_user(&repos, 3).await;
    busy_user(&repos, 2).await;

    let summary = accounts
        .summary(&shouted(&user.email), now())
        .await
        .unwrap()
        .expect("the account is found in any case");

    assert_eq!(summary.account.id, user.id);
    assert_eq!(summary.account.email, user.email);
    assert_eq!(summary.account.created_at, user.created_at);
    assert_eq!(summary.tasks, 3);
    assert_eq!(summary.active_sessions, 1);
    // The active one is listed with where it was used from.
    assert_eq!(summary.sessions.len(), 1);
    assert_eq!(summary.sessions[0].id, principal.session_id);
    assert_eq!(summary.sessions[0].ip, support::client().ip);
    assert_eq!(summary.sessions[0].user_agent, support::client().user_agent);
    // At the active session's expiry, none is active any more.
    let later = now() + TimeDelta::hours(2);
    let summary = accounts.summary(&user.email, later).await.unwrap().unwrap();
    assert_eq!(summary.active_sessions, 0);
    assert!(summary.sessions.is_empty());
    assert!(repos.sessions.active_user(&principal, now()).await.is_ok());
}

pub async fn revoke_sessions_revokes_only_the_active_ones_of_that_account(db: &Database) {
    let repos = repos(db);
    let accounts = db.account_repo();
    let (user, principal) = busy_user(&repos, 0).await;
    let second = Session::start(user.id, now(), TimeDelta::hours(1));
    support::create_capped(&repos, &second, &support::fresh_digest(), 10).await;
    let (_, _, bystander) = signed_in(&repos).await;

    let revoked = accounts
        .revoke_sessions(&shouted(&user.email), now())
        .await
        .unwrap();

    assert_eq!(
        revoked,
        Some(2),
        "the active two, not the revoked or expired"
    );
    for session_id in [principal.session_id, second.id] {
        let gone = repos
            .sessions
            .active_user(
                &Principal {
                    user_id: user.id,
                    session_id,
                },
                now(),
            )
            .await;
        assert!(matches!(gone, Err(RepoError::SessionInactive)), "{gone:?}");
    }
    assert!(repos.sessions.active_user(&bystander, now()).await.is_ok());
    assert_eq!(
        accounts.revoke_sessions(&user.email, now()).await.unwrap(),
        Some(0)
    );
}

pub async fn delete_removes_the_account_with_its_sessions_and_tasks_only(db: &Database) {
    let repos = repos(db);
    let accounts = db.account_repo();
    let (user, principal) = busy_user(&repos, 2).await;
    let (other, other_principal) = busy_user(&repos, 1).await;
    // Session inserts purge a user's revoked and expired rows as they go,
    // so count what is stored rather than what was inserted.
    let stored: i64 = support::admin_client("app")
        .await
        .query_one(
            "SELECT count(*) FROM sessions WHERE user_id = $1",
            &[&user.id.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored >= 1, "the active session at least");

    let deleted = accounts
        .delete(&shouted(&user.email))
        .await
        .unwrap()
        .expect("the account is found in any case");

    assert_eq!(deleted.account.id, user.id);
    assert_eq!((deleted.tasks, deleted.sessions), (2, stored as u64));
    assert_eq!(accounts.summary(&user.email, now()).await.unwrap(), None);
    assert!(repos
        .users
        .find_by_email(&user.email)
        .await
        .unwrap()
        .is_none());
    assert!(accounts
        .tasks_page(user.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        repos.sessions.active_user(&principal, now()).await,
        Err(RepoError::SessionInactive)
    ));
    let kept = accounts
        .summary(&other.email, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((kept.tasks, kept.active_sessions), (1, 1));
    assert!(repos
        .sessions
        .active_user(&other_principal, now())
        .await
        .is_ok());
    assert_eq!(accounts.delete(&user.email).await.unwrap(), None);
}

pub async fn tasks_page_visits_every_task_once_oldest_first_ties_by_id(db: &Database) {
    let repos = repos(db);
    let accounts = db.account_repo();
    let (user, _, principal) = signed_in(&repos).await;
    let (_, _, bystander) = signed_in(&repos).await;
    let base = now() - TimeDelta::days(1);
    let mut stored = Vec::new();
    // Seven tasks over three creation times: ties must be broken by id.
    for i in 0..7 {
        let created_at = base + TimeDelta::seconds(i / 3);
        let made = task(user.id, &format!("t{i}"), created_at);
        repos
            .tasks
            .create(&principal, now(), &made, None)
            .await
            .unwrap();
        stored.push(made);
    }
    let theirs = task(bystander.user_id, "theirs", base);
    repos
        .tasks
        .create(&bystander, now(), &theirs, None)
        .await
        .unwrap();
    stored.sort_by_key(|t| (t.created_at, t.id));

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = accounts.tasks_page(user.id, after, 3).await.unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().cloned());
        match page.last() {
            Some(last) if page.len() == 3 => after = Some(TaskCursor::after(last)),
            _ => break,
        }
    }

    assert_eq!(seen, stored);
}

pub async fn unknown_email_is_none_everywhere(db: &Database) {
    let accounts = db.account_repo();
    let email = unique_email();
    let stranger = new_user();

    assert_eq!(accounts.summary(&email, now()).await.unwrap(), None);
    assert_eq!(accounts.find(&email).await.unwrap(), None);
    assert_eq!(accounts.revoke_sessions(&email, now()).await.unwrap(), None);
    assert_eq!(accounts.delete(&email).await.unwrap(), None);
    assert!(accounts
        .tasks_page(stranger.id, None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn sessions_lists_every_stored_session_newest_first(db: &Database) {
    let repos = repos(db);
    let accounts = db.account_repo();
    let (user, principal) = busy_user(&repos, 0).await;

    let sessions = accounts.sessions(user.id, 10).await.unwrap();

    // The active one, the revoked one and the expired one (logins purge
    // ended rows of anyone, so another test's login may have taken some).
    assert!(sessions.iter().any(|s| s.id == principal.session_id));
    assert!(sessions
        .windows(2)
        .all(|w| (w[0].created_at, w[0].id) >= (w[1].created_at, w[1].id)));
    assert!(sessions.iter().all(|s| s.user_id == user.id));
    assert_eq!(accounts.sessions(user.id, 1).await.unwrap().len(), 1);
    assert!(accounts
        .sessions(new_user().id, 10)
        .await
        .unwrap()
        .is_empty());
}
