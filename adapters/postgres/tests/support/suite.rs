//! The repository contract, written once and run both directly and through
//! PgBouncer in transaction mode (see `repos_direct.rs`, `repos_pooler.rs`).
//! Each test makes its own users, so tests share no data.

use std::collections::HashSet;

use adapter_postgres::Database;
use application::ports::{CreatedTask, IdempotencyKey, Precondition, Principal, RepoError};
use chrono::TimeDelta;
use domain::{
    Cursor, Description, Priority, SessionId, Task, TaskId, TaskPatch, TaskQuery, TaskSort,
    Timestamp, Title, User, UserId, UserName,
};

use super::{admin_in, new_user, now, repos, revoke_current, signed_in, unique_email, Repos};

/// Generates one `#[tokio::test]` per suite function, connecting with `$connect`.
#[macro_export]
macro_rules! repo_suite {
    ($connect:path) => {
        $crate::repo_suite!(@tests $connect;
            user_is_found_by_email_with_all_fields,
            unknown_email_is_none,
            duplicate_email_is_email_taken_even_in_another_case,
            repeating_the_same_user_create_succeeds,
            active_session_yields_its_user,
            revoked_session_is_inactive_and_cannot_be_revoked_again,
            expired_session_is_inactive,
            session_named_with_another_user_or_unknown_is_inactive,
            task_round_trips_every_field,
            inactive_session_reads_and_writes_nothing,
            another_users_task_is_not_found_and_stays_unchanged,
            update_mirrors_task_patch_apply,
            stale_expected_version_is_a_mismatch_and_writes_nothing,
            matching_expected_version_updates,
            empty_patch_changes_nothing_but_still_checks_the_version,
            deleted_task_is_gone,
            precondition_admits_any_of_several_versions_atomically,
            delete_with_a_stale_precondition_deletes_nothing,
            patch_that_changes_nothing_keeps_version_and_updated_at,
            idempotent_create_returns_the_first_task,
            idempotency_key_with_another_fingerprint_is_refused,
            concurrent_idempotent_creates_store_one_task,
            idempotent_create_replays_the_first_answer_after_a_change_or_a_delete,
            an_expired_idempotency_key_makes_a_new_task,
            list_filters_by_completion_and_search_text,
            search_ignores_case_in_every_script_under_a_c_collation,
            paging_visits_every_task_once_in_every_sort_while_inserting,
        );
    };
    (@tests $connect:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let db = $connect().await;
                support::suite::$name(&db).await;
                db.close();
            }
        )*
    };
}

pub fn task(user: UserId, title: &str, created_at: Timestamp) -> Task {
    Task {
        id: TaskId::new(),
        user_id: user,
        title: Title::parse(title).unwrap(),
        description: None,
        completed: false,
        priority: Priority::Medium,
        due_at: None,
        created_at,
        updated_at: created_at,
        version: 1,
    }
}

async fn create(repos: &Repos, principal: &Principal, task: &Task) -> Task {
    let created = repos
        .tasks
        .create(principal, now(), task, None)
        .await
        .expect("create task");
    assert!(created.created);
    created.task
}

/// The repositories of `db` and a stored user with an active session.
async fn signed_in_repos(db: &Database) -> (Repos, User, Principal) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    (repos, user, principal)
}

/// Every task `principal` may see, in the default order.
async fn all_tasks(repos: &Repos, principal: &Principal) -> Vec<Task> {
    let query = TaskQuery::default();
    repos
        .tasks
        .list(principal, now(), &query)
        .await
        .expect("list tasks")
}

/// The precondition "the task is at version `v`".
fn version(v: i64) -> Precondition {
    Precondition::OneOf(vec![v])
}

/// A patch that only renames.
fn retitled(title: &str) -> TaskPatch {
    TaskPatch {
        title: Some(Title::parse(title).unwrap()),
        ..TaskPatch::default()
    }
}

/// A patch that only marks done.
fn completing() -> TaskPatch {
    TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    }
}

fn assert_session_inactive<T: std::fmt::Debug>(result: Result<T, RepoError>) {
    assert!(
        matches!(result, Err(RepoError::SessionInactive)),
        "{result:?}"
    );
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, RepoError>) {
    assert!(matches!(result, Err(RepoError::NotFound)), "{result:?}");
}

pub async fn user_is_found_by_email_with_all_fields(db: &Database) {
    let repos = repos(db);
    let mut user = new_user();
    user.name = Some(UserName::parse("Ada Lovelace").unwrap());
    repos.users.create(&user).await.unwrap();
    let found = repos.users.find_by_email(&user.email).await.unwrap();
    assert_eq!(found, Some(user));
}

pub async fn unknown_email_is_none(db: &Database) {
    let repos = repos(db);
    assert_eq!(
        repos.users.find_by_email(&unique_email()).await.unwrap(),
        None
    );
}

pub async fn duplicate_email_is_email_taken_even_in_another_case(db: &Database) {
    let repos = repos(db);
    let first = new_user();
    repos.users.create(&first).await.unwrap();
    let mut second = new_user();
    second.email = first.email.clone();
    assert!(matches!(
        repos.users.create(&second).await,
        Err(RepoError::EmailTaken)
    ));

    // A row written with upper-case letters (say, by an older system) still
    // blocks the same address in lower case.
    let shouting = unique_email();
    let upper = shouting.as_str().to_uppercase();
    admin_in(
        "app",
        &format!(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('{}', '{upper}', 'x', now(), now())",
            uuid::Uuid::now_v7()
        ),
    )
    .await;
    let mut third = new_user();
    third.email = shouting.clone();
    assert!(matches!(
        repos.users.create(&third).await,
        Err(RepoError::EmailTaken)
    ));
    let found = repos
        .users
        .find_by_email(&shouting)
        .await
        .unwrap()
        .expect("found case-insensitively");
    assert_ne!(found.id, third.id);
}

pub async fn repeating_the_same_user_create_succeeds(db: &Database) {
    // What a replay after a lost connection does: the first attempt
    // committed, the second must not turn that into "email taken".
    let repos = repos(db);
    let user = new_user();
    repos.users.create(&user).await.unwrap();
    repos.users.create(&user).await.unwrap();
    assert_eq!(
        repos.users.find_by_email(&user.email).await.unwrap(),
        Some(user)
    );
}

pub async fn active_session_yields_its_user(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    assert_eq!(
        repos.sessions.active_user(&principal, now()).await.unwrap(),
        user
    );
}

pub async fn revoked_session_is_inactive_and_cannot_be_revoked_again(db: &Database) {
    let repos = repos(db);
    let (_, _, principal) = signed_in(&repos).await;
    revoke_current(&repos, &principal, now()).await.unwrap();
    assert_session_inactive(repos.sessions.active_user(&principal, now()).await);
    assert_session_inactive(revoke_current(&repos, &principal, now()).await);
}

pub async fn expired_session_is_inactive(db: &Database) {
    let repos = repos(db);
    let (_, session, principal) = signed_in(&repos).await;
    let at_expiry = session.expires_at;
    assert!(repos
        .sessions
        .active_user(&principal, at_expiry - TimeDelta::microseconds(1))
        .await
        .is_ok());
    assert_session_inactive(repos.sessions.active_user(&principal, at_expiry).await);
    assert_session_inactive(revoke_current(&repos, &principal, at_expiry).await);
    // Still active before expiry: the failed revoke wrote nothing.
    assert!(repos.sessions.active_user(&principal, now()).await.is_ok());
}

pub async fn session_named_with_another_user_or_unknown_is_inactive(db: &Database) {
    let repos = repos(db);
    let (_, _, mine) = signed_in(&repos).await;
    let (_, _, theirs) = signed_in(&repos).await;
    let forged = Principal {
        user_id: theirs.user_id,
        session_id: mine.session_id,
    };
    assert_session_inactive(repos.sessions.active_user(&forged, now()).await);
    assert_session_inactive(revoke_current(&repos, &forged, now()).await);
    let unknown = Principal {
        user_id: mine.user_id,
        session_id: SessionId::new(),
    };
    assert_session_inactive(repos.sessions.active_user(&unknown, now()).await);
    // The forged revoke did not touch my session.
    assert!(repos.sessions.active_user(&mine, now()).await.is_ok());
}

pub async fn task_round_trips_every_field(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let mut t = task(user.id, "Buy milk", now());
    t.description = Some(Description::parse("2 litres, ünïcode ✓").unwrap());
    t.priority = Priority::High;
    t.completed = true;
    t.due_at = Some(now() + TimeDelta::days(2));
    let stored = create(&repos, &principal, &t).await;
    assert_eq!(stored, t);
    assert_eq!(repos.tasks.get(&principal, now(), t.id).await.unwrap(), t);
    let unknown = repos.tasks.get(&principal, now(), TaskId::new()).await;
    assert_not_found(unknown);
}

pub async fn inactive_session_reads_and_writes_nothing(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let existing = create(&repos, &principal, &task(user.id, "keep me", now())).await;

    // A second, revoked session of the same user.
    let revoked = super::revoked_session(&repos, user.id).await;
    // An expired view of the active session, and a forged one.
    let later = now() + TimeDelta::hours(2);
    let (_, _, other) = signed_in(&repos).await;
    let forged = Principal {
        user_id: user.id,
        session_id: other.session_id,
    };

    for (who, at) in [(revoked, now()), (principal, later), (forged, now())] {
        let fresh = task(user.id, "must not exist", now());
        assert_session_inactive(repos.tasks.create(&who, at, &fresh, None).await);
        let key = IdempotencyKey {
            key: "k".into(),
            fingerprint: "f".into(),
        };
        assert_session_inactive(repos.tasks.create(&who, at, &fresh, Some(key)).await);
        assert_session_inactive(repos.tasks.get(&who, at, existing.id).await);
        assert_session_inactive(repos.tasks.list(&who, at, &TaskQuery::default()).await);
        let patch = retitled("changed");
        assert_session_inactive(
            repos
                .tasks
                .update(&who, at, existing.id, &patch, &Precondition::Any)
                .await,
        );
        assert_session_inactive(
            repos
                .tasks
                .delete(&who, at, existing.id, &Precondition::Any)
                .await,
        );
    }
    let all = all_tasks(&repos, &principal).await;
    assert_eq!(all, vec![existing]);
}

pub async fn another_users_task_is_not_found_and_stays_unchanged(db: &Database) {
    let repos = repos(db);
    let (owner, _, owner_principal) = signed_in(&repos).await;
    let (_, _, intruder) = signed_in(&repos).await;
    let theirs = create(&repos, &owner_principal, &task(owner.id, "private", now())).await;

    assert_not_found(repos.tasks.get(&intruder, now(), theirs.id).await);
    let patch = completing();
    assert_not_found(
        repos
            .tasks
            .update(&intruder, now(), theirs.id, &patch, &Precondition::Any)
            .await,
    );
    assert_not_found(
        repos
            .tasks
            .update(&intruder, now(), theirs.id, &patch, &version(1))
            .await,
    );
    assert_not_found(
        repos
            .tasks
            .delete(&intruder, now(), theirs.id, &Precondition::Any)
            .await,
    );
    assert!(all_tasks(&repos, &intruder).await.is_empty());

    assert_eq!(
        repos
            .tasks
            .get(&owner_principal, now(), theirs.id)
            .await
            .unwrap(),
        theirs
    );
}

pub async fn update_mirrors_task_patch_apply(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let mut t = task(user.id, "original", now() - TimeDelta::minutes(5));
    t.description = Some(Description::parse("details").unwrap());
    t.due_at = Some(now() + TimeDelta::days(1));
    let before = create(&repos, &principal, &t).await;

    let patches = [
        TaskPatch {
            title: Some(Title::parse("renamed").unwrap()),
            description: Some(None),
            ..TaskPatch::default()
        },
        TaskPatch {
            completed: Some(true),
            priority: Some(Priority::Low),
            due_at: Some(None),
            ..TaskPatch::default()
        },
        TaskPatch {
            description: Some(Some(Description::parse("back").unwrap())),
            due_at: Some(Some(now() + TimeDelta::days(3))),
            completed: Some(false),
            ..TaskPatch::default()
        },
        // Naming a field with its current value changes nothing.
        TaskPatch {
            priority: Some(Priority::Low),
            ..TaskPatch::default()
        },
    ];
    let mut expected = before;
    for patch in patches {
        let at = now();
        let updated = repos
            .tasks
            .update(&principal, at, t.id, &patch, &Precondition::Any)
            .await
            .unwrap();
        expected = patch.apply(&expected, at);
        assert_eq!(updated, expected);
        assert_eq!(
            repos.tasks.get(&principal, now(), t.id).await.unwrap(),
            expected
        );
    }
    assert_eq!(expected.version, 4);
}

pub async fn stale_expected_version_is_a_mismatch_and_writes_nothing(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let t = create(&repos, &principal, &task(user.id, "v1", now())).await;
    let bump = completing();
    repos
        .tasks
        .update(&principal, now(), t.id, &bump, &version(1))
        .await
        .unwrap();
    let patch = retitled("lost update");
    let result = repos
        .tasks
        .update(&principal, now(), t.id, &patch, &version(1))
        .await;
    assert!(
        matches!(result, Err(RepoError::PreconditionFailed { current: 2 })),
        "{result:?}"
    );
    let stored = repos.tasks.get(&principal, now(), t.id).await.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.title.as_str(), "v1");
}

pub async fn matching_expected_version_updates(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let t = create(&repos, &principal, &task(user.id, "v1", now())).await;
    let patch = retitled("v2");
    let updated = repos
        .tasks
        .update(&principal, now(), t.id, &patch, &version(1))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.title.as_str(), "v2");
}

pub async fn empty_patch_changes_nothing_but_still_checks_the_version(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let t = create(&repos, &principal, &task(user.id, "same", now())).await;
    let empty = TaskPatch::default();
    let later = now() + TimeDelta::minutes(1);
    assert_eq!(
        repos
            .tasks
            .update(&principal, later, t.id, &empty, &Precondition::Any)
            .await
            .unwrap(),
        t
    );
    assert_eq!(
        repos
            .tasks
            .update(&principal, later, t.id, &empty, &version(1))
            .await
            .unwrap(),
        t
    );
    let result = repos
        .tasks
        .update(&principal, later, t.id, &empty, &version(7))
        .await;
    assert!(
        matches!(result, Err(RepoError::PreconditionFailed { current: 1 })),
        "{result:?}"
    );
    assert_not_found(
        repos
            .tasks
            .update(&principal, later, TaskId::new(), &empty, &Precondition::Any)
            .await,
    );
    assert_eq!(repos.tasks.get(&principal, now(), t.id).await.unwrap(), t);
}

pub async fn deleted_task_is_gone(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let t = create(&repos, &principal, &task(user.id, "bye", now())).await;
    let kept = create(&repos, &principal, &task(user.id, "stay", now())).await;
    repos
        .tasks
        .delete(&principal, now(), t.id, &Precondition::Any)
        .await
        .unwrap();
    assert_not_found(repos.tasks.get(&principal, now(), t.id).await);
    assert_not_found(
        repos
            .tasks
            .delete(&principal, now(), t.id, &Precondition::Any)
            .await,
    );
    let remaining = all_tasks(&repos, &principal).await;
    assert_eq!(remaining, vec![kept]);
}

fn key(key: &str, fingerprint: &str) -> Option<IdempotencyKey> {
    Some(IdempotencyKey {
        key: key.into(),
        fingerprint: fingerprint.into(),
    })
}

/// Creates `task` under idempotency key `key` with `fingerprint`.
async fn create_keyed(
    repos: &Repos,
    principal: &Principal,
    task: &Task,
    key_name: &str,
    fingerprint: &str,
) -> CreatedTask {
    let created = repos
        .tasks
        .create(principal, now(), task, key(key_name, fingerprint));
    created.await.expect("keyed create")
}

pub async fn idempotent_create_returns_the_first_task(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let first = task(user.id, "once", now());
    let made = create_keyed(&repos, &principal, &first, "k-1", "fp-a").await;
    assert!(made.created);
    assert_eq!(made.task, first);

    let retry = task(user.id, "once", now());
    let again = create_keyed(&repos, &principal, &retry, "k-1", "fp-a").await;
    assert!(!again.created);
    assert_eq!(again.task, first);

    // Replaying the very same create (same task id) reports it as created.
    let replay = create_keyed(&repos, &principal, &first, "k-1", "fp-a").await;
    assert!(replay.created);
    assert_eq!(replay.task, first);

    // Another user may use the same key.
    let (other, _, other_principal) = signed_in(&repos).await;
    let theirs = task(other.id, "theirs", now());
    assert!(
        create_keyed(&repos, &other_principal, &theirs, "k-1", "fp-a")
            .await
            .created
    );

    let all = all_tasks(&repos, &principal).await;
    assert_eq!(all, vec![first]);
}

pub async fn idempotency_key_with_another_fingerprint_is_refused(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let first = task(user.id, "first", now());
    create_keyed(&repos, &principal, &first, "k-2", "fp-a").await;
    let other = task(user.id, "different body", now());
    let result = repos
        .tasks
        .create(&principal, now(), &other, key("k-2", "fp-b"))
        .await;
    assert!(
        matches!(result, Err(RepoError::IdempotencyKeyReused)),
        "{result:?}"
    );
    assert_not_found(repos.tasks.get(&principal, now(), other.id).await);
    assert_eq!(
        repos.tasks.get(&principal, now(), first.id).await.unwrap(),
        first
    );
}

pub async fn concurrent_idempotent_creates_store_one_task(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let attempts: Vec<Task> = (0..8).map(|_| task(user.id, "racing", now())).collect();
    let results = futures_join_all(&repos, &principal, &attempts).await;
    let created: Vec<_> = results.iter().filter(|r| r.created).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    let winner = created[0].task.id;
    assert!(results.iter().all(|r| r.task.id == winner));
    let all = all_tasks(&repos, &principal).await;
    assert_eq!(all.len(), 1);
}

pub async fn idempotent_create_replays_the_first_answer_after_a_change_or_a_delete(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    let first = task(user.id, "as first answered", now());
    repos
        .tasks
        .create(&principal, now(), &first, key("k-replay", "fp"))
        .await
        .unwrap();
    let patch = TaskPatch {
        title: Some(Title::parse("changed since").unwrap()),
        completed: Some(true),
        ..TaskPatch::default()
    };
    let changed = repos
        .tasks
        .update(&principal, now(), first.id, &patch, &Precondition::Any)
        .await
        .unwrap();
    assert_eq!(changed.version, 2);

    let retry = task(user.id, "as first answered", now());
    let again = repos
        .tasks
        .create(&principal, now(), &retry, key("k-replay", "fp"))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.task, first, "the replay is the first answer");

    repos
        .tasks
        .delete(&principal, now(), first.id, &Precondition::Any)
        .await
        .unwrap();
    let retry = task(user.id, "as first answered", now());
    let after_delete = repos
        .tasks
        .create(&principal, now(), &retry, key("k-replay", "fp"))
        .await
        .unwrap();
    assert!(!after_delete.created);
    assert_eq!(after_delete.task, first);
    assert_not_found(repos.tasks.get(&principal, now(), retry.id).await);
    let all = repos
        .tasks
        .list(&principal, now(), &TaskQuery::default())
        .await
        .unwrap();
    assert!(all.is_empty(), "nothing was created again: {all:?}");

    // Another body under the same key is still refused.
    let other = task(user.id, "another body", now());
    let result = repos
        .tasks
        .create(&principal, now(), &other, key("k-replay", "fp-other"))
        .await;
    assert!(
        matches!(result, Err(RepoError::IdempotencyKeyReused)),
        "{result:?}"
    );
}

pub async fn an_expired_idempotency_key_makes_a_new_task(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    // The clock decides: a key first used 24 hours before `now` has expired.
    let day_ago = now() - TimeDelta::hours(24);
    let old = task(user.id, "yesterday", day_ago);
    repos
        .tasks
        .create(&principal, day_ago, &old, key("k-old", "fp-1"))
        .await
        .unwrap();
    let young = now() - TimeDelta::hours(23);
    let kept = task(user.id, "kept", young);
    repos
        .tasks
        .create(&principal, young, &kept, key("k-young", "fp-1"))
        .await
        .unwrap();

    let fresh = task(user.id, "today", now());
    let made = repos
        .tasks
        .create(&principal, now(), &fresh, key("k-old", "fp-2"))
        .await
        .unwrap();
    assert!(made.created);
    assert_eq!(made.task, fresh);
    // The key now holds today's answer; the young key still holds its own.
    let again = repos
        .tasks
        .create(
            &principal,
            now(),
            &task(user.id, "today", now()),
            key("k-old", "fp-2"),
        )
        .await
        .unwrap();
    assert_eq!((again.created, again.task), (false, fresh.clone()));
    let young_again = repos
        .tasks
        .create(
            &principal,
            now(),
            &task(user.id, "kept", now()),
            key("k-young", "fp-1"),
        )
        .await
        .unwrap();
    assert_eq!((young_again.created, young_again.task), (false, kept));
    let mut titles: Vec<String> = repos
        .tasks
        .list(&principal, now(), &TaskQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.title.as_str().to_owned())
        .collect();
    titles.sort();
    assert_eq!(titles, ["kept", "today", "yesterday"]);
}

async fn futures_join_all(
    repos: &Repos,
    principal: &Principal,
    attempts: &[Task],
) -> Vec<CreatedTask> {
    let mut handles = Vec::new();
    for attempt in attempts {
        let tasks = repos.tasks.clone();
        let principal = *principal;
        let attempt = attempt.clone();
        handles.push(tokio::spawn(async move {
            tasks
                .create(&principal, now(), &attempt, key("race", "same"))
                .await
                .unwrap()
        }));
    }
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

pub async fn list_filters_by_completion_and_search_text(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let base = now() - TimeDelta::hours(1);
    let mut titles = Vec::new();
    for (i, (title, done)) in [
        ("Buy MILK", false),
        ("buy milk again", true),
        ("100% done_ish", false),
        ("1000 things", false),
        ("bread", true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut t = task(user.id, title, base + TimeDelta::seconds(i as i64));
        t.completed = done;
        create(&repos, &principal, &t).await;
        titles.push(title);
    }
    let list = |completed: Option<bool>, search: Option<&str>, limit: u32| {
        let query = TaskQuery {
            completed,
            search: search.map(str::to_owned),
            limit,
            ..TaskQuery::default()
        };
        let repos = &repos;
        async move {
            repos
                .tasks
                .list(&principal, now(), &query)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.title.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(None, Some("milk"), 50).await,
        ["buy milk again", "Buy MILK"]
    );
    assert_eq!(list(Some(false), Some("MiLk"), 50).await, ["Buy MILK"]);
    assert_eq!(
        list(Some(true), None, 50).await,
        ["bread", "buy milk again"]
    );
    // LIKE wildcards in the search text are plain characters.
    assert_eq!(list(None, Some("0%"), 50).await, ["100% done_ish"]);
    assert_eq!(list(None, Some("e_i"), 50).await, ["100% done_ish"]);
    assert_eq!(list(None, Some("%"), 50).await, ["100% done_ish"]);
    assert!(list(None, Some("zzz"), 50).await.is_empty());
    assert_eq!(list(None, None, 2).await, ["bread", "1000 things"]);
}

pub async fn search_ignores_case_in_every_script_under_a_c_collation(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    // The test cluster is initialised with --locale=C, as a Neon database
    // may be: lower() alone folds ASCII only there.
    let collation = admin_in(
        "postgres",
        "SELECT bool_and(datcollate = 'C' AND datctype = 'C') FROM pg_database",
    )
    .await;
    assert!(
        matches!(&collation[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("t")),
        "the test cluster should use the C collation and character type"
    );
    let base = now() - TimeDelta::hours(1);
    for (i, title) in [
        "\u{c9}COLE du soir",
        "e\u{301}cole (decomposed)",
        "\u{39f}\u{394}\u{39f}\u{3a3} \u{3a3}\u{39f}\u{3a6}\u{399}\u{391}\u{3a3}",
        "STRASSE",
        "\u{41f}\u{420}\u{418}\u{412}\u{415}\u{422}",
        "plain",
    ]
    .into_iter()
    .enumerate()
    {
        create(
            &repos,
            &principal,
            &task(user.id, title, base + TimeDelta::seconds(i as i64)),
        )
        .await;
    }
    let search = |q: &'static str| {
        let query = TaskQuery {
            search: Some(q.to_owned()),
            ..TaskQuery::default()
        };
        let repos = &repos;
        async move {
            let mut titles: Vec<String> = repos
                .tasks
                .list(&principal, now(), &query)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.title.as_str().to_owned())
                .collect();
            titles.sort();
            titles
        }
    };
    let ecole = ["e\u{301}cole (decomposed)", "\u{c9}COLE du soir"];
    assert_eq!(search("\u{e9}cole").await, ecole);
    assert_eq!(search("E\u{301}COLE").await, ecole);
    let greek = ["\u{39f}\u{394}\u{39f}\u{3a3} \u{3a3}\u{39f}\u{3a6}\u{399}\u{391}\u{3a3}"];
    // Final and medial sigma are one letter to a search.
    assert_eq!(search("\u{3bf}\u{3b4}\u{3bf}\u{3c2}").await, greek);
    assert_eq!(
        search("\u{3c3}\u{3bf}\u{3c6}\u{3b9}\u{3b1}\u{3c3}").await,
        greek
    );
    assert_eq!(search("stra\u{df}e").await, ["STRASSE"]);
    assert_eq!(
        search("\u{43f}\u{440}\u{438}\u{432}\u{435}\u{442}").await,
        ["\u{41f}\u{420}\u{418}\u{412}\u{415}\u{422}"]
    );
    assert_eq!(search("PLAIN").await, ["plain"]);
}

/// The order the contract defines for `sort`, computed independently.
fn expected_order(sort: TaskSort, tasks: &mut [Task]) {
    tasks.sort_by(|a, b| match sort {
        TaskSort::CreatedDesc => (b.created_at, b.id).cmp(&(a.created_at, a.id)),
        TaskSort::CreatedAsc => (a.created_at, a.id).cmp(&(b.created_at, b.id)),
        TaskSort::DueAsc => {
            let key = |t: &Task| (t.due_at.is_none(), t.due_at, t.id);
            key(a).cmp(&key(b))
        }
        TaskSort::Priority => a
            .priority
            .rank()
            .cmp(&b.priority.rank())
            .then((b.created_at, b.id).cmp(&(a.created_at, a.id))),
    });
}

pub async fn paging_visits_every_task_once_in_every_sort_while_inserting(db: &Database) {
    let (repos, user, principal) = signed_in_repos(db).await;
    let base = now() - TimeDelta::days(1);
    let mut originals = Vec::new();
    for i in 0..23i64 {
        // Repeated created_at, due_at and priority values exercise the id tie-break.
        let mut t = task(
            user.id,
            &format!("task {i}"),
            base + TimeDelta::seconds(i / 3),
        );
        t.priority = [Priority::Low, Priority::Medium, Priority::High][(i % 3) as usize];
        t.due_at = (i % 4 != 0).then(|| base + TimeDelta::hours(i % 5));
        originals.push(create(&repos, &principal, &t).await);
    }
    for sort in [
        TaskSort::CreatedDesc,
        TaskSort::CreatedAsc,
        TaskSort::DueAsc,
        TaskSort::Priority,
    ] {
        let mut seen: Vec<Task> = Vec::new();
        let mut after: Option<Cursor> = None;
        let mut pages = 0;
        loop {
            let query = TaskQuery {
                sort,
                limit: 4,
                after,
                ..TaskQuery::default()
            };
            let page = repos.tasks.list(&principal, now(), &query).await.unwrap();
            pages += 1;
            assert!(pages < 50, "paging does not end for {sort:?}");
            // A task added between pages, anywhere in the order.
            let mut extra = task(
                user.id,
                "added while paging",
                base + TimeDelta::seconds(pages % 9),
            );
            extra.due_at = (pages % 2 == 0).then(|| base + TimeDelta::hours(pages % 5));
            extra.priority = Priority::High;
            create(&repos, &principal, &extra).await;
            let Some(last) = page.last() else { break };
            after = Some(Cursor::after(last, sort));
            let full = page.len() == 4;
            seen.extend(page);
            if !full {
                break;
            }
        }
        let ids: Vec<TaskId> = seen.iter().map(|t| t.id).collect();
        let unique: HashSet<TaskId> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "a task was listed twice for {sort:?}"
        );
        for original in &originals {
            assert!(
                unique.contains(&original.id),
                "{sort:?} skipped {}",
                original.title.as_str()
            );
        }
        // What was seen is in the contract's order.
        let mut sorted = seen.clone();
        expected_order(sort, &mut sorted);
        assert_eq!(
            sorted.iter().map(|t| t.id).collect::<Vec<_>>(),
            ids,
            "{sort:?} order differs from the contract"
        );
    }
}

pub async fn precondition_admits_any_of_several_versions_atomically(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    let t = create(&repos, &principal, &task(user.id, "v1", now())).await;
    let patch = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    let updated = repos
        .tasks
        .update(
            &principal,
            now(),
            t.id,
            &patch,
            &Precondition::OneOf(vec![3, 1]),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    let result = repos
        .tasks
        .update(
            &principal,
            now(),
            t.id,
            &patch,
            &Precondition::OneOf(vec![]),
        )
        .await;
    assert!(
        matches!(result, Err(RepoError::PreconditionFailed { current: 2 })),
        "{result:?}"
    );
}

pub async fn delete_with_a_stale_precondition_deletes_nothing(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    let t = create(&repos, &principal, &task(user.id, "keep me", now())).await;
    let result = repos
        .tasks
        .delete(&principal, now(), t.id, &version(2))
        .await;
    assert!(
        matches!(result, Err(RepoError::PreconditionFailed { current: 1 })),
        "{result:?}"
    );
    assert_eq!(repos.tasks.get(&principal, now(), t.id).await.unwrap(), t);
    repos
        .tasks
        .delete(&principal, now(), t.id, &version(1))
        .await
        .unwrap();
    assert_not_found(repos.tasks.get(&principal, now(), t.id).await);
    assert_not_found(
        repos
            .tasks
            .delete(&principal, now(), t.id, &version(1))
            .await,
    );
}

pub async fn patch_that_changes_nothing_keeps_version_and_updated_at(db: &Database) {
    let repos = repos(db);
    let (user, _, principal) = signed_in(&repos).await;
    let t = create(&repos, &principal, &task(user.id, "same", now())).await;
    let same = TaskPatch {
        title: Some(Title::parse("same").unwrap()),
        completed: Some(false),
        priority: Some(Priority::Medium),
        description: Some(None),
        due_at: Some(None),
    };
    let later = now() + TimeDelta::minutes(5);
    let answer = repos
        .tasks
        .update(&principal, later, t.id, &same, &version(1))
        .await
        .unwrap();
    assert_eq!(answer, t);
    assert_eq!(same.apply(&t, later), t);
    assert_eq!(repos.tasks.get(&principal, now(), t.id).await.unwrap(), t);
}
