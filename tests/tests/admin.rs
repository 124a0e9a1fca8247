//! `todo-server admin …` end to end: the real binary against the real
//! database, on accounts made through the HTTP API of a real server.

use std::process::{Output, Stdio};
use std::time::Duration;

use e2e_tests::api::{expect_json, unique_password};
use e2e_tests::paths::{config_dir, crate_dir, server_binary};
use e2e_tests::{database_url, unique_email, Task, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How long one admin command may take (it connects, checks and exits).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// What one admin command did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `todo-server admin <args>` with the same settings as `app`'s
/// server (its database and JWT secret, `APP_ENV=test`) and nothing else
/// from the test's environment; stdin is not a terminal.
async fn admin_with(vars: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(server_binary());
    command
        .arg("admin")
        .args(args)
        .current_dir(crate_dir())
        .env_clear()
        .env("APP_ENV", "test")
        .env("APP_CONFIG_DIR", config_dir())
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    within_limit(args, command.output(), "the server binary can be run").await
}

/// Waits up to [`COMMAND_LIMIT`] for the output of `admin <args>`; `what`
/// says what must work for it to be had.
async fn within_limit(
    args: &[&str],
    output: impl std::future::Future<Output = std::io::Result<Output>>,
    what: &str,
) -> Run {
    tokio::time::timeout(COMMAND_LIMIT, output)
        .await
        .unwrap_or_else(|_| {
            panic!("todo-server admin {args:?} did not exit within {COMMAND_LIMIT:?}")
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .into()
}

/// Like [`admin`], on a pseudo-terminal (util-linux `script`) that types
/// `answer`; the terminal merges stdout and stderr into `stdout`.
async fn admin_on_terminal(app: &TestApp, args: &[&str], answer: &str) -> Run {
    let quote = |arg: &str| format!("'{}'", arg.replace('\'', r"'\''"));
    let binary = server_binary();
    let line: Vec<String> = std::iter::once(binary.to_string_lossy().as_ref())
        .chain(std::iter::once("admin"))
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let mut command = Command::new("script");
    command
        .args([
            "--quiet",
            "--return",
            "--command",
            &line.join(" "),
            "/dev/null",
        ])
        .current_dir(crate_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("APP_ENV", "test")
        .env("APP_CONFIG_DIR", config_dir())
        .env("DATABASE_URL", database_url())
        .env("JWT_SECRET", app.jwt_secret())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .expect("util-linux `script` runs (it gives the command a terminal)");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(answer.as_bytes())
        .await
        .expect("the answer can be typed");
    drop(stdin);
    within_limit(args, child.wait_with_output(), "script can be waited for").await
}

async fn admin(app: &TestApp, args: &[&str]) -> Run {
    admin_with(
        &[
            ("DATABASE_URL", database_url()),
            ("JWT_SECRET", app.jwt_secret()),
        ],
        args,
    )
    .await
}

/// A user with two tasks and two logins, one of them logged out again:
/// one active session (`user.token`) and one revoked.
async fn user_with_tasks(app: &TestApp) -> (TestUser, Vec<Task>) {
    let user = app.new_user().await;
    let mut tasks = Vec::new();
    for title in ["Buy milk", "Write report"] {
        tasks.push(app.new_task(&user, &json!({ "title": title })).await);
    }
    let second = expect_json(app.login(&user.email, &user.password).await, StatusCode::OK).await;
    let second = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.logout(&second).await.status(), StatusCode::NO_CONTENT);
    (user, tasks)
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(run.code, Some(code), "{run:?}");
}

#[tokio::test]
async fn user_show_prints_the_account_with_its_tasks_and_active_sessions_never_the_hash() {
    let app = TestApp::spawn().await;
    let (user, _) = user_with_tasks(&app).await;
    let stored = app.db().await.user_by_email(&user.email).await.unwrap();

    // Emails are compared as registration compares them.
    let run = admin(&app, &["user", "show", &user.email.to_uppercase()]).await;

    assert_exit(&run, 0);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    // The one active session, with when and where it was used.
    let session = lines.pop().unwrap_or_default();
    assert!(
        session.starts_with("  session ")
            && session.contains("  last used ")
            && session.contains("  ip 127.0.0.1  agent "),
        "{run:?}"
    );
    assert_eq!(
        lines,
        [
            format!("id:              {}", user.id),
            format!("email:           {}", user.email),
            "name:            -".to_owned(),
            format!(
                "created:         {}",
                stored
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            "tasks:           2".to_owned(),
            "active sessions: 1".to_owned(),
        ],
        "{run:?}"
    );
    let everything = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !everything.contains(&stored.password_hash) && !everything.contains("$argon2"),
        "{run:?}"
    );
}

#[tokio::test]
async fn sessions_revoke_makes_every_token_of_the_user_401_at_once() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let second = expect_json(app.login(&user.email, &user.password).await, StatusCode::OK).await;
    let second = second["access_token"].as_str().unwrap().to_owned();
    let bystander = app.new_user().await;
    for token in [&user.token, &second, &bystander.token] {
        assert_eq!(app.me(token).await.status(), StatusCode::OK);
    }

    let run = admin(&app, &["sessions", "revoke", &user.email]).await;

    assert_exit(&run, 0);
    assert_eq!(
        run.stdout,
        format!("revoked 2 active sessions of {}\n", user.email),
        "{run:?}"
    );
    for token in [&user.token, &second] {
        assert_eq!(app.me(token).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.list_tasks(token, &[]).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Revoked, not deleted by the command; but any login (another test's
    // too) purges revoked rows, so a row may already be gone. None is active.
    let sessions = app.db().await.sessions_of(user.id).await;
    assert!(
        sessions.iter().all(|s| s.revoked_at.is_some()),
        "{sessions:?}"
    );
    // Another user's session is untouched.
    assert_eq!(app.me(&bystander.token).await.status(), StatusCode::OK);
    // Logging in again works: the account itself is intact.
    expect_json(app.login(&user.email, &user.password).await, StatusCode::OK).await;

    let again = admin(&app, &["sessions", "revoke", &user.email]).await;
    assert_exit(&again, 0);
    assert_eq!(
        again.stdout,
        format!("revoked 1 active session of {}\n", user.email)
    );
}

#[tokio::test]
async fn export_prints_the_user_and_every_task_as_the_api_shows_them() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let mut created = Vec::new();
    for body in [
        json!({ "title": "Buy milk" }),
        json!({ "title": "Call Ada", "description": "about the engine", "priority": "high",
                "due_at": "2031-05-01T09:30:00Z", "completed": true }),
        json!({ "title": "ünïcödé ✓ \"quoted\"" }),
    ] {
        created.push(app.new_task(&user, &body).await);
    }
    let other = app.new_user().await;
    app.new_task(&other, &json!({ "title": "not theirs" }))
        .await;

    let run = admin(&app, &["export", &user.email]).await;

    assert_exit(&run, 0);
    let export: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("the export is one JSON document ({e}): {run:?}"));
    assert_eq!(export["user"]["id"], user.id.to_string());
    assert_eq!(export["user"]["email"], user.email);
    assert!(export["user"].get("password_hash").is_none(), "{export}");
    // Its sessions, with when and where each was used.
    let sessions = export["sessions"].as_array().expect("sessions");
    assert!(!sessions.is_empty(), "{export}");
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert!(sessions[0]["last_used_at"].is_string(), "{export}");
    let tasks: Vec<Task> = serde_json::from_value(export["tasks"].clone()).unwrap();
    assert_eq!(tasks, created, "oldest first, exactly as the API answered");
}

#[tokio::test]
async fn export_pages_through_more_tasks_than_one_statement_reads() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    // 1203 tasks (more than two pages of 500), written directly; many share
    // a creation time so that paging must break ties by id.
    let inserted = app
        .db()
        .await
        .client()
        .execute_typed(
            "INSERT INTO tasks (id, user_id, title, created_at, updated_at)
             SELECT gen_random_uuid(), $1, 'bulk ' || n,
                    timestamptz '2030-01-01 00:00:00+00' + (n / 7) * interval '1 second',
                    timestamptz '2030-01-01 00:00:00+00'
             FROM generate_series(1, 1203) AS n",
            &[(&user.id, Type::UUID)],
        )
        .await
        .expect("bulk insert");
    assert_eq!(inserted, 1203);

    let run = admin(&app, &["export", &user.email]).await;

    assert_exit(&run, 0);
    let export: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let exported: Vec<Uuid> = export["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Uuid::parse_str(t["id"].as_str().unwrap()).unwrap())
        .collect();
    let stored = app.db().await.task_ids_of(user.id).await;
    assert_eq!(exported.len(), 1203);
    assert_eq!(
        exported, stored,
        "every task once, oldest first, ties by id"
    );
}

#[tokio::test]
async fn user_delete_with_yes_deletes_the_account_its_sessions_and_tasks() {
    let app = TestApp::spawn().await;
    let (user, tasks) = user_with_tasks(&app).await;
    let bystander = app.new_user().await;
    let kept = app.new_task(&bystander, &json!({ "title": "kept" })).await;

    let run = admin(&app, &["user", "delete", &user.email, "--yes"]).await;

    assert_exit(&run, 0);
    // The active session and the revoked one, unless a login elsewhere
    // already purged the revoked row (logins purge dead sessions).
    let counted = ["1 session", "2 sessions"].map(|sessions| {
        format!(
            "deleted account {} ({}) with 2 tasks and {sessions}\n",
            user.email, user.id
        )
    });
    assert!(counted.contains(&run.stdout), "{run:?}");
    let db = app.db().await;
    assert_eq!(db.users_with_email(&user.email).await, 0);
    assert!(db.sessions_of(user.id).await.is_empty());
    assert!(db.tasks_of(user.id).await.is_empty());
    for task in &tasks {
        assert!(db.task(task.id).await.is_none());
    }
    assert_eq!(app.me(&user.token).await.status(), StatusCode::UNAUTHORIZED);
    // Nothing of another account went with it.
    assert!(db.task(kept.id).await.is_some());
    assert_eq!(app.me(&bystander.token).await.status(), StatusCode::OK);
    // The email is free again.
    assert_eq!(
        app.register(&user.email, &unique_password()).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn user_delete_without_yes_and_without_a_terminal_refuses_and_keeps_everything() {
    let app = TestApp::spawn().await;
    let (user, tasks) = user_with_tasks(&app).await;

    let run = admin(&app, &["user", "delete", &user.email]).await;

    assert_exit(&run, 41);
    assert!(run.stdout.is_empty(), "{run:?}");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("todo-server: not deleted: ") && last.contains("--yes"),
        "{run:?}"
    );
    let db = app.db().await;
    assert_eq!(db.users_with_email(&user.email).await, 1);
    assert_eq!(db.tasks_of(user.id).await.len(), tasks.len());
    assert_eq!(app.me(&user.token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn user_delete_on_a_terminal_asks_and_deletes_only_after_yes() {
    let app = TestApp::spawn().await;
    let (user, _) = user_with_tasks(&app).await;
    let args = ["user", "delete", user.email.as_str()];

    let declined = admin_on_terminal(&app, &args, "y\n").await;

    assert_exit(&declined, 41);
    assert!(
        declined.stdout.contains(&format!(
            "Delete account {} ({}) with 2 tasks and 1 active session?",
            user.email, user.id
        )),
        "{declined:?}"
    );
    assert!(
        declined.stdout.contains("todo-server: not deleted"),
        "{declined:?}"
    );
    assert_eq!(app.db().await.users_with_email(&user.email).await, 1);

    let accepted = admin_on_terminal(&app, &args, "yes\n").await;

    assert_exit(&accepted, 0);
    assert!(
        accepted
            .stdout
            .contains(&format!("deleted account {}", user.email)),
        "{accepted:?}"
    );
    assert_eq!(app.db().await.users_with_email(&user.email).await, 0);
}

#[tokio::test]
async fn every_command_on_an_unknown_email_exits_40_naming_it() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let email = email.as_str();

    for args in [
        vec!["user", "show", email],
        vec!["user", "delete", email, "--yes"],
        vec!["sessions", "revoke", email],
        vec!["export", email],
    ] {
        let run = admin(&app, &args).await;

        assert_exit(&run, 40);
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert_eq!(
            run.stderr.lines().last(),
            Some(format!("todo-server: no account with email {email}").as_str()),
            "{args:?}: {run:?}"
        );
    }
}

#[tokio::test]
async fn a_malformed_email_exits_2_naming_the_argument() {
    let app = TestApp::spawn().await;

    let run = admin(&app, &["user", "show", "not-an-email"]).await;

    assert_exit(&run, 2);
    assert_eq!(
        run.stderr.lines().last(),
        Some("todo-server: invalid email: must be a valid email address"),
        "{run:?}"
    );
}

#[tokio::test]
async fn admin_keeps_the_start_up_rules_of_serve() {
    let app = TestApp::spawn().await;
    let email = unique_email();

    let no_url = admin_with(
        &[("JWT_SECRET", app.jwt_secret())],
        &["user", "show", &email],
    )
    .await;
    assert_exit(&no_url, 10);
    assert!(
        no_url
            .stderr
            .contains("todo-server: DATABASE_URL is not set"),
        "{no_url:?}"
    );

    let sqlite = admin_with(
        &[
            ("DATABASE_URL", "sqlite://todo.db"),
            ("JWT_SECRET", app.jwt_secret()),
        ],
        &["export", &email],
    )
    .await;
    assert_exit(&sqlite, 11);

    let no_secret = admin_with(
        &[("DATABASE_URL", database_url())],
        &["user", "show", &email],
    )
    .await;
    assert_exit(&no_secret, 2);
    assert!(
        no_secret.stderr.contains("JWT_SECRET is required"),
        "{no_secret:?}"
    );
    assert!(
        !format!("{no_url:?}{sqlite:?}{no_secret:?}").contains(app.jwt_secret()),
        "secrets never printed"
    );
}
