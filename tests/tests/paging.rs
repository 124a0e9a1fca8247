//! Cursor paging visits every task exactly once, in the requested order,
//! even while other tasks are being inserted, for every sort order.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use e2e_tests::api::expect_problem;
use e2e_tests::{Api, Task, TestApp, TestUser};
use serde_json::{json, Value};
use uuid::Uuid;

const PRIORITIES: [&str; 3] = ["low", "medium", "high"];
const SEEDED: usize = 23;
const PAGE_SIZE: usize = 5;
/// Bound on the background inserts, so that paging forwards into new
/// tasks (sort=created_at) always ends.
const BACKGROUND_INSERTS: usize = 30;

fn task_body(i: usize, title: &str) -> Value {
    // Few distinct due dates and priorities, so that ties need the
    // tie-breaker; every fourth task has no due date.
    let due_at = if i % 4 == 3 {
        Value::Null
    } else {
        json!(format!("2030-01-0{}T00:00:00Z", 1 + i % 3))
    };
    json!({"title": title, "priority": PRIORITIES[i % 3], "due_at": due_at, "completed": i % 4 >= 2})
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("`{text}` is RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn priority_rank(priority: &str) -> u8 {
    match priority {
        "high" => 0,
        "medium" => 1,
        "low" => 2,
        other => panic!("unknown priority {other}"),
    }
}

/// Fails unless `visited` is in the order `sort` promises.
fn assert_sorted(sort: Option<&str>, visited: &[Task]) {
    for pair in visited.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let in_order = match sort {
            None | Some("-created_at") => utc(&a.created_at) >= utc(&b.created_at),
            Some("created_at") => utc(&a.created_at) <= utc(&b.created_at),
            Some("priority") => priority_rank(&a.priority) <= priority_rank(&b.priority),
            Some("due_at") => match (&a.due_at, &b.due_at) {
                (Some(x), Some(y)) => utc(x) <= utc(y),
                (Some(_), None) | (None, None) => true,
                (None, Some(_)) => false,
            },
            Some(other) => panic!("no ordering known for sort={other}"),
        };
        assert!(in_order, "sort={sort:?}: {a:?} comes before {b:?}");
    }
}

/// Inserts up to [`BACKGROUND_INSERTS`] tasks until told to stop.
fn insert_in_background(
    api: Api,
    user: TestUser,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut inserted = 0;
        while inserted < BACKGROUND_INSERTS && !stop.load(Ordering::Relaxed) {
            api.new_task(
                &user,
                &task_body(inserted, &format!("Alpha background {inserted}")),
            )
            .await;
            inserted += 1;
        }
        inserted
    })
}

/// Seeds tasks, then pages through them with `query` while tasks are being
/// inserted (in the background and between pages), and checks that every
/// seeded task matching `wanted` is visited exactly once, in order.
async fn pages_visit_every_task_once_while_inserting(
    sort: Option<&str>,
    filters: &[(&str, &str)],
    wanted: impl Fn(&Task) -> bool,
) {
    let (app, user) = TestApp::with_user().await;
    let mut seeded = Vec::new();
    for i in 0..SEEDED {
        let title = if i % 5 == 4 {
            format!("Beta {i}")
        } else {
            format!("Alpha {i}")
        };
        seeded.push(app.new_task(&user, &task_body(i, &title)).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let background = insert_in_background(app.api().clone(), user.clone(), stop.clone());

    let limit = PAGE_SIZE.to_string();
    let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
    query.extend_from_slice(filters);
    if let Some(sort) = sort {
        query.push(("sort", sort));
    }
    let mut visited: Vec<Task> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = query.clone();
        if let Some(cursor) = cursor.as_deref() {
            params.push(("cursor", cursor));
        }
        let page = app.task_page(&user, &params).await;
        assert!(
            page.items.len() <= PAGE_SIZE,
            "a page holds at most `limit` tasks"
        );
        visited.extend(page.items);
        pages += 1;
        assert!(pages < 200, "paging does not end");
        // One more insert between every two pages, whatever the background
        // task is doing.
        app.new_task(&user, &task_body(pages, &format!("between pages {pages}")))
            .await;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let background_inserts = background.await.expect("the background inserter finished");

    let mut seen = HashSet::new();
    for task in &visited {
        assert!(
            seen.insert(task.id),
            "task {} was visited twice (sort={sort:?})",
            task.id
        );
        assert!(
            wanted(task),
            "a task outside the filter was listed: {task:?}"
        );
    }
    let expected: Vec<Uuid> = seeded.iter().filter(|t| wanted(t)).map(|t| t.id).collect();
    let missing: Vec<&Uuid> = expected.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "sort={sort:?}: {} of {} tasks that existed before paging were never visited: {missing:?}",
        missing.len(),
        expected.len()
    );
    assert_sorted(sort, &visited);
    assert!(pages > 1, "the test needs several pages");
    assert!(background_inserts > 0 || pages > 1);

    // Once nothing is inserted any more, paging sees exactly the table.
    let all: Vec<Task> = app
        .all_pages(&user, &query)
        .await
        .into_iter()
        .flat_map(|page| page.items)
        .collect();
    let ids: HashSet<Uuid> = all.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), all.len(), "no task twice in a quiet listing");
    let rows: HashSet<Uuid> = app
        .db()
        .await
        .tasks_of(user.id)
        .await
        .into_iter()
        .filter(|row| {
            let as_task = Task {
                id: row.id,
                title: row.title.clone(),
                description: row.description.clone(),
                completed: row.completed,
                priority: row.priority.clone(),
                due_at: row.due_at.map(|d| d.to_rfc3339()),
                created_at: row.created_at.to_rfc3339(),
                updated_at: row.updated_at.to_rfc3339(),
                version: row.version,
            };
            wanted(&as_task)
        })
        .map(|row| row.id)
        .collect();
    assert_eq!(ids, rows, "a quiet listing holds exactly the matching rows");
    assert_sorted(sort, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_in_the_default_order_visits_every_task_once_while_tasks_are_added() {
    pages_visit_every_task_once_while_inserting(None, &[], |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_by_created_at_visits_every_task_once_while_tasks_are_added() {
    pages_visit_every_task_once_while_inserting(Some("created_at"), &[], |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_by_priority_visits_every_task_once_while_tasks_are_added() {
    pages_visit_every_task_once_while_inserting(Some("priority"), &[], |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_by_due_date_visits_every_task_once_while_tasks_are_added() {
    pages_visit_every_task_once_while_inserting(Some("due_at"), &[], |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_a_search_and_a_filter_visits_every_match_once() {
    pages_visit_every_task_once_while_inserting(
        Some("priority"),
        &[("q", "ALPHA"), ("completed", "false")],
        |task| task.title.to_lowercase().contains("alpha") && !task.completed,
    )
    .await;
}

#[tokio::test]
async fn a_list_shows_only_the_callers_tasks() {
    let (app, [alice, bob]) = TestApp::with_users().await;
    let mine = app.new_task(&alice, &json!({"title": "Alice's"})).await;
    app.new_task(&bob, &json!({"title": "Bob's"})).await;

    let page = app.task_page(&alice, &[]).await;

    assert_eq!(page.items, vec![mine]);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn a_garbled_cursor_is_a_client_error_not_a_500() {
    let (app, user) = TestApp::with_user().await;
    app.new_task(&user, &json!({"title": "One"})).await;

    let response = app
        .list_tasks(&user.token, &[("cursor", "definitely-not-a-cursor")])
        .await;

    let status = response.status();
    assert!(
        status.is_client_error(),
        "expected 400 or 422, got {status}"
    );
    expect_problem(response, status).await;
}
