//! Unit tests of the task use cases against a mocked `TaskRepo` and
//! `Clock`: ownership answers, session checks, optimistic concurrency,
//! idempotent creates and paging.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use domain::{
    Cursor, NewTask, Priority, Session, Task, TaskId, TaskPatch, TaskSort, Timestamp, Title,
};

use crate::ports::{CreatedTask, MockTaskRepo, Precondition, Principal, RepoError};
use crate::testkit::{another_principal, t0, Harness};
use crate::use_cases::{CreateTaskInput, ListTasksInput, TaskService, UpdateTaskInput};
use crate::AppError;

/// A fresh caller per call: tests never share one by accident.
fn principal() -> Principal {
    another_principal()
}

fn task_of(principal: &Principal, title: &str, created_at: Timestamp) -> Task {
    NewTask {
        title: Title::parse(title).unwrap(),
        description: None,
        completed: false,
        priority: Priority::Medium,
        due_at: None,
    }
    .into_task(principal.user_id, created_at)
}

fn service_at(repo: MockTaskRepo, now: Timestamp) -> TaskService {
    let mut harness = Harness::new().at(now);
    harness.tasks = repo;
    harness.task_service()
}

fn service(repo: MockTaskRepo) -> TaskService {
    service_at(repo, t0())
}

fn field_names(err: AppError) -> Vec<String> {
    match err {
        AppError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn create_input(title: &str) -> CreateTaskInput {
    CreateTaskInput {
        title: Some(title.to_owned()),
        ..CreateTaskInput::default()
    }
}

fn key(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn session_inactive<T>() -> Result<T, RepoError> {
    Err(RepoError::SessionInactive)
}

// ------------------------------------------------------------------ create

#[tokio::test]
async fn create_stores_a_version_1_task_owned_by_the_principal_at_the_clocks_now() {
    let caller = principal();
    let mut repo = MockTaskRepo::new();
    repo.expect_create()
        .withf(move |p, now, task, idempotency| {
            *p == caller
                && *now == t0()
                && task.user_id == caller.user_id
                && task.title.as_str() == "Buy milk"
                && task.version == 1
                && task.created_at == t0()
                && task.updated_at == t0()
                && idempotency.is_none()
        })
        .times(1)
        .returning(|_, _, task, _| {
            Ok(CreatedTask {
                task: task.clone(),
                created: true,
            })
        });

    let (task, created) = service(repo)
        .create(&caller, create_input("Buy milk"), None)
        .await
        .unwrap();

    assert!(created);
    assert_eq!(task.user_id, caller.user_id);
    assert_eq!(task.version, 1);
}

#[tokio::test]
async fn a_repeated_create_with_the_same_idempotency_key_returns_the_first_task() {
    let caller = principal();
    let first: Arc<Mutex<Option<Task>>> = Arc::default();
    let stored = Arc::clone(&first);
    let mut repo = MockTaskRepo::new();
    // One repo call per use-case call, each with the client's key; the repo
    // keeps the first task and hands it back on the retry.
    repo.expect_create()
        .withf(|_, _, _, idempotency| {
            idempotency.as_ref().map(|k| k.key.as_str()) == Some("retry-1")
        })
        .times(2)
        .returning(move |_, _, task, _| {
            let mut first = stored.lock().unwrap();
            match first.as_ref() {
                None => {
                    *first = Some(task.clone());
                    Ok(CreatedTask {
                        task: task.clone(),
                        created: true,
                    })
                }
                Some(existing) => Ok(CreatedTask {
                    task: existing.clone(),
                    created: false,
                }),
            }
        });
    let service = service(repo);

    let (original, created_first) = service
        .create(&caller, create_input("Buy milk"), key("retry-1"))
        .await
        .unwrap();
    let (repeated, created_again) = service
        .create(&caller, create_input("Buy milk"), key("retry-1"))
        .await
        .unwrap();

    assert!(created_first);
    assert!(!created_again);
    assert_eq!(repeated, original);
}

#[tokio::test]
async fn create_with_a_key_reused_for_another_body_is_a_conflict() {
    let mut repo = MockTaskRepo::new();
    repo.expect_create()
        .times(1)
        .returning(|_, _, _, _| Err(RepoError::IdempotencyKeyReused));

    let err = service(repo)
        .create(&principal(), create_input("Buy milk"), key("k"))
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn create_with_an_invalid_idempotency_key_is_refused_before_the_repo() {
    for bad in [String::new(), "k".repeat(256), "line\nbreak".to_owned()] {
        let mut repo = MockTaskRepo::new();
        repo.expect_create().times(0);

        let err = service(repo)
            .create(&principal(), create_input("Buy milk"), key(&bad))
            .await
            .unwrap_err();

        assert_eq!(field_names(err), ["Idempotency-Key"], "key {bad:?}");
    }
}

#[tokio::test]
async fn create_accepts_an_idempotency_key_of_255_characters() {
    let long_key = "k".repeat(255);
    let expected = long_key.clone();
    let mut repo = MockTaskRepo::new();
    repo.expect_create()
        .withf(move |_, _, _, idempotency| {
            idempotency.as_ref().map(|k| k.key.as_str()) == Some(expected.as_str())
        })
        .times(1)
        .returning(|_, _, task, _| {
            Ok(CreatedTask {
                task: task.clone(),
                created: true,
            })
        });

    service(repo)
        .create(&principal(), create_input("Buy milk"), key(&long_key))
        .await
        .unwrap();
}

#[tokio::test]
async fn create_with_an_invalid_body_is_a_validation_error_and_stores_nothing() {
    let mut repo = MockTaskRepo::new();
    repo.expect_create().times(0);

    let err = service(repo)
        .create(&principal(), create_input("   "), None)
        .await
        .unwrap_err();

    assert_eq!(field_names(err), ["title"]);
}

#[tokio::test]
async fn create_with_an_inactive_session_is_unauthorized() {
    let mut repo = MockTaskRepo::new();
    repo.expect_create()
        .times(1)
        .returning(|_, _, _, _| session_inactive());

    let err = service(repo)
        .create(&principal(), create_input("Buy milk"), None)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

// -------------------------------------------------------------------- list

fn list_input(limit: &str) -> ListTasksInput {
    ListTasksInput {
        limit: Some(limit.to_owned()),
        ..ListTasksInput::default()
    }
}

/// `count` distinct tasks of `caller`, newest first.
fn tasks_of(caller: &Principal, count: i64) -> Vec<Task> {
    (0..count)
        .map(|i| task_of(caller, &format!("task {i}"), t0() - Duration::minutes(i)))
        .collect()
}

#[tokio::test]
async fn list_asks_the_repo_for_one_more_than_the_limit() {
    let caller = principal();
    let mut repo = MockTaskRepo::new();
    repo.expect_list()
        .withf(move |p, now, query| *p == caller && *now == t0() && query.limit == 3)
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));

    service(repo).list(&caller, list_input("2")).await.unwrap();
}

#[tokio::test]
async fn list_without_a_limit_asks_for_the_default_page_plus_one() {
    let mut repo = MockTaskRepo::new();
    repo.expect_list()
        .withf(|_, _, query| query.limit == domain::task_query::DEFAULT_LIMIT + 1)
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));

    service(repo)
        .list(&principal(), ListTasksInput::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn list_with_more_tasks_than_the_limit_returns_a_cursor_at_the_last_item_shown() {
    let caller = principal();
    let rows = tasks_of(&caller, 3);
    let returned = rows.clone();
    let mut repo = MockTaskRepo::new();
    repo.expect_list()
        .times(1)
        .returning(move |_, _, _| Ok(returned.clone()));

    let page = service(repo).list(&caller, list_input("2")).await.unwrap();

    assert_eq!(page.items, rows[..2]);
    let cursor = page.next_cursor.expect("a next page exists");
    let position = Cursor::decode(&cursor, TaskSort::CreatedDesc).unwrap();
    assert_eq!(position, Cursor::after(&rows[1], TaskSort::CreatedDesc));
}

#[tokio::test]
async fn list_with_no_more_tasks_than_the_limit_returns_no_cursor() {
    let caller = principal();
    let rows = tasks_of(&caller, 2);
    let returned = rows.clone();
    let mut repo = MockTaskRepo::new();
    repo.expect_list()
        .returning(move |_, _, _| Ok(returned.clone()));

    let page = service(repo).list(&caller, list_input("2")).await.unwrap();

    assert_eq!(page.items, rows);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn list_passes_the_filters_sort_and_cursor_to_the_repo() {
    let caller = principal();
    let previous = task_of(&caller, "older", t0() - Duration::hours(1));
    let after = Cursor::after(&previous, TaskSort::Priority);
    let mut repo = MockTaskRepo::new();
    repo.expect_list()
        .withf(move |_, _, query| {
            query.completed == Some(true)
                && query.search.as_deref() == Some("milk")
                && query.sort == TaskSort::Priority
                && query.after == Some(after)
        })
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));

    service(repo)
        .list(
            &caller,
            ListTasksInput {
                completed: Some("true".to_owned()),
                q: Some("milk".to_owned()),
                limit: None,
                cursor: Some(after.encode()),
                sort: Some("priority".to_owned()),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn next_cursor_is_made_for_the_requested_sort() {
    let caller = principal();
    let returned = tasks_of(&caller, 2);
    let mut repo = MockTaskRepo::new();
    repo.expect_list()
        .returning(move |_, _, _| Ok(returned.clone()));
    let input = ListTasksInput {
        limit: Some("1".to_owned()),
        sort: Some("due_at".to_owned()),
        ..ListTasksInput::default()
    };

    let page = service(repo).list(&caller, input).await.unwrap();

    let cursor = page.next_cursor.expect("a next page exists");
    assert!(Cursor::decode(&cursor, TaskSort::DueAsc).is_ok());
}

#[tokio::test]
async fn list_with_bad_parameters_names_each_field_and_asks_nothing() {
    let mut repo = MockTaskRepo::new();
    repo.expect_list().times(0);
    let input = ListTasksInput {
        completed: Some("yes".to_owned()),
        q: None,
        limit: Some("0".to_owned()),
        cursor: Some("not-a-cursor!".to_owned()),
        sort: Some("title".to_owned()),
    };

    let err = service(repo).list(&principal(), input).await.unwrap_err();

    let mut fields = field_names(err);
    fields.sort();
    assert_eq!(fields, ["completed", "cursor", "limit", "sort"]);
}

#[tokio::test]
async fn list_with_an_inactive_session_is_unauthorized() {
    let mut repo = MockTaskRepo::new();
    repo.expect_list()
        .times(1)
        .returning(|_, _, _| session_inactive());

    let err = service(repo)
        .list(&principal(), ListTasksInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn listing_once_the_clock_passes_the_sessions_expiry_is_unauthorized() {
    let caller = principal();
    let session = Session {
        id: caller.session_id,
        ..Session::start(caller.user_id, t0(), Duration::hours(1))
    };
    let mut repo = MockTaskRepo::new();
    // Judges the session the way the real repository does: at the `now`
    // the use case hands over.
    repo.expect_list().returning(move |_, now, _| {
        if session.is_active(now) {
            Ok(Vec::new())
        } else {
            session_inactive()
        }
    });
    let service = service_at(repo, t0() + Duration::hours(1) + Duration::seconds(1));

    let err = service
        .list(&caller, ListTasksInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

// --------------------------------------------------------------------- get

#[tokio::test]
async fn get_returns_the_task_the_repo_finds_for_the_principal() {
    let caller = principal();
    let task = task_of(&caller, "Buy milk", t0());
    let id = task.id;
    let found = task.clone();
    let mut repo = MockTaskRepo::new();
    repo.expect_get()
        .withf(move |p, now, wanted| *p == caller && *now == t0() && *wanted == id)
        .times(1)
        .returning(move |_, _, _| Ok(found.clone()));

    let got = service(repo).get(&caller, &id.to_string()).await.unwrap();

    assert_eq!(got, task);
}

#[tokio::test]
async fn get_of_another_users_task_is_not_found() {
    let mut repo = MockTaskRepo::new();
    repo.expect_get()
        .times(1)
        .returning(|_, _, _| Err(RepoError::NotFound));

    let err = service(repo)
        .get(&principal(), &TaskId::new().to_string())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn get_with_a_malformed_id_is_not_found_without_asking_the_repo() {
    let mut repo = MockTaskRepo::new();
    repo.expect_get().times(0);

    let err = service(repo)
        .get(&principal(), "not-a-uuid")
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn get_with_an_inactive_session_is_unauthorized() {
    let mut repo = MockTaskRepo::new();
    repo.expect_get()
        .times(1)
        .returning(|_, _, _| session_inactive());

    let err = service(repo)
        .get(&principal(), &TaskId::new().to_string())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn get_while_the_database_is_unreachable_is_unavailable_with_its_delay() {
    let mut repo = MockTaskRepo::new();
    repo.expect_get().returning(|_, _, _| {
        Err(RepoError::Unavailable {
            retry_after: StdDuration::from_secs(3),
        })
    });

    let err = service(repo)
        .get(&principal(), &TaskId::new().to_string())
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::Unavailable { retry_after } if retry_after == StdDuration::from_secs(3)),
        "{err:?}"
    );
}

// ------------------------------------------------------------------ update

fn complete() -> UpdateTaskInput {
    UpdateTaskInput {
        completed: Some(Some(true)),
        ..UpdateTaskInput::default()
    }
}

#[tokio::test]
async fn update_passes_the_patch_and_expected_version_to_the_repo() {
    let caller = principal();
    let task = task_of(&caller, "Buy milk", t0());
    let id = task.id;
    let expected_patch = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    let mut repo = MockTaskRepo::new();
    let updated = expected_patch.apply(&task, t0());
    let answer = updated.clone();
    repo.expect_update()
        .withf(move |p, now, wanted, patch, version| {
            *p == caller
                && *now == t0()
                && *wanted == id
                && *patch == expected_patch
                && *version == Precondition::OneOf(vec![1])
        })
        .times(1)
        .returning(move |_, _, _, _, _| Ok(answer.clone()));

    let got = service(repo)
        .update(
            &caller,
            &id.to_string(),
            complete(),
            Precondition::OneOf(vec![1]),
        )
        .await
        .unwrap();

    assert_eq!(got, updated);
}

#[tokio::test]
async fn update_with_a_stale_version_is_precondition_failed_and_writes_nothing_else() {
    let mut repo = MockTaskRepo::new();
    repo.expect_update()
        .withf(|_, _, _, _, version| *version == Precondition::OneOf(vec![3]))
        .times(1)
        .returning(|_, _, _, _, _| Err(RepoError::PreconditionFailed { current: 5 }));
    repo.expect_create().times(0);
    repo.expect_delete().times(0);
    repo.expect_get().times(0);
    repo.expect_list().times(0);

    let err = service(repo)
        .update(
            &principal(),
            &TaskId::new().to_string(),
            complete(),
            Precondition::OneOf(vec![3]),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::PreconditionFailed { current: 5 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn update_of_another_users_task_is_not_found() {
    let mut repo = MockTaskRepo::new();
    repo.expect_update()
        .times(1)
        .returning(|_, _, _, _, _| Err(RepoError::NotFound));

    let err = service(repo)
        .update(
            &principal(),
            &TaskId::new().to_string(),
            complete(),
            Precondition::Any,
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
}

async fn update_validation_fields(input: UpdateTaskInput) -> Vec<String> {
    let mut repo = MockTaskRepo::new();
    repo.expect_update().times(0);
    let err = service(repo)
        .update(
            &principal(),
            &TaskId::new().to_string(),
            input,
            Precondition::Any,
        )
        .await
        .unwrap_err();
    field_names(err)
}

#[tokio::test]
async fn update_with_a_null_title_is_a_validation_error_and_writes_nothing() {
    let input = UpdateTaskInput {
        title: Some(None),
        ..UpdateTaskInput::default()
    };

    assert_eq!(update_validation_fields(input).await, ["title"]);
}

#[tokio::test]
async fn update_with_a_blank_title_is_a_validation_error_and_writes_nothing() {
    let input = UpdateTaskInput {
        title: Some(Some("  ".to_owned())),
        ..UpdateTaskInput::default()
    };

    assert_eq!(update_validation_fields(input).await, ["title"]);
}

#[tokio::test]
async fn update_with_an_unknown_priority_is_a_validation_error_and_writes_nothing() {
    let input = UpdateTaskInput {
        priority: Some(Some("urgent".to_owned())),
        ..UpdateTaskInput::default()
    };

    assert_eq!(update_validation_fields(input).await, ["priority"]);
}

#[tokio::test]
async fn update_with_a_malformed_id_is_not_found_without_asking_the_repo() {
    let mut repo = MockTaskRepo::new();
    repo.expect_update().times(0);

    let err = service(repo)
        .update(&principal(), "42", complete(), Precondition::Any)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn update_with_an_inactive_session_is_unauthorized() {
    let mut repo = MockTaskRepo::new();
    repo.expect_update()
        .times(1)
        .returning(|_, _, _, _, _| session_inactive());

    let err = service(repo)
        .update(
            &principal(),
            &TaskId::new().to_string(),
            complete(),
            Precondition::Any,
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

// ------------------------------------------------------------------ delete

#[tokio::test]
async fn delete_removes_the_named_task_for_the_principal() {
    let caller = principal();
    let id = TaskId::new();
    let mut repo = MockTaskRepo::new();
    repo.expect_delete()
        .withf(move |p, now, wanted, precondition| {
            *p == caller && *now == t0() && *wanted == id && *precondition == Precondition::Any
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    service(repo)
        .delete(&caller, &id.to_string(), Precondition::Any)
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_of_another_users_task_is_not_found() {
    let mut repo = MockTaskRepo::new();
    repo.expect_delete()
        .times(1)
        .returning(|_, _, _, _| Err(RepoError::NotFound));

    let err = service(repo)
        .delete(&principal(), &TaskId::new().to_string(), Precondition::Any)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn delete_with_a_malformed_id_is_not_found_without_asking_the_repo() {
    let mut repo = MockTaskRepo::new();
    repo.expect_delete().times(0);

    let err = service(repo)
        .delete(&principal(), "../etc/passwd", Precondition::Any)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn delete_with_an_inactive_session_is_unauthorized() {
    let mut repo = MockTaskRepo::new();
    repo.expect_delete()
        .times(1)
        .returning(|_, _, _, _| session_inactive());

    let err = service(repo)
        .delete(&principal(), &TaskId::new().to_string(), Precondition::Any)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn delete_passes_the_precondition_and_a_stale_one_is_precondition_failed() {
    let mut repo = MockTaskRepo::new();
    repo.expect_delete()
        .withf(|_, _, _, precondition| *precondition == Precondition::OneOf(vec![2]))
        .times(1)
        .returning(|_, _, _, _| Err(RepoError::PreconditionFailed { current: 4 }));

    let err = service(repo)
        .delete(
            &principal(),
            &TaskId::new().to_string(),
            Precondition::OneOf(vec![2]),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::PreconditionFailed { current: 4 }),
        "{err:?}"
    );
}

// ----------------------------------------------------------- idempotency

/// The fingerprint the repository receives for `input` under key "k".
async fn fingerprint_of(input: CreateTaskInput) -> String {
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let recorded = Arc::clone(&seen);
    let mut repo = MockTaskRepo::new();
    repo.expect_create()
        .times(1)
        .returning(move |_, _, task, key| {
            *recorded.lock().unwrap() = key.map(|k| k.fingerprint);
            Ok(CreatedTask {
                task: task.clone(),
                created: true,
            })
        });
    service(repo)
        .create(&principal(), input, key("k"))
        .await
        .unwrap();
    let fingerprint = seen.lock().unwrap().clone().unwrap();
    fingerprint
}

#[tokio::test]
async fn the_idempotency_fingerprint_is_the_commands_meaning() {
    let implicit = fingerprint_of(create_input("Buy milk")).await;
    let explicit = fingerprint_of(CreateTaskInput {
        title: Some("Buy milk".to_owned()),
        completed: Some(false),
        priority: Some("medium".to_owned()),
        ..CreateTaskInput::default()
    })
    .await;
    let due_in_another_zone = fingerprint_of(CreateTaskInput {
        due_at: Some("2030-01-01T13:00:00+01:00".to_owned()),
        ..create_input("Buy milk")
    })
    .await;
    let due_in_utc = fingerprint_of(CreateTaskInput {
        due_at: Some("2030-01-01T12:00:00Z".to_owned()),
        ..create_input("Buy milk")
    })
    .await;
    let other_title = fingerprint_of(create_input("Buy bread")).await;

    assert_eq!(implicit, explicit);
    assert_eq!(due_in_another_zone, due_in_utc);
    assert_ne!(implicit, due_in_utc);
    assert_ne!(implicit, other_title);
}

// ------------------------------------------------------------- telemetry

#[tokio::test]
async fn failures_are_reported_to_telemetry_with_the_use_case() {
    let mut repo = MockTaskRepo::new();
    repo.expect_get()
        .times(1)
        .returning(|_, _, _| Err(RepoError::Internal("disk on fire".into())));
    let mut telemetry = crate::ports::MockTelemetry::new();
    telemetry
        .expect_record_failure()
        .withf(|use_case, err| use_case == "tasks.get" && matches!(err, AppError::Internal(_)))
        .times(1)
        .return_const(());

    let err = service(repo)
        .with_telemetry(Arc::new(telemetry))
        .get(&principal(), &TaskId::new().to_string())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Internal(_)), "{err:?}");
}
