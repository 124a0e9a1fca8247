//! The server refuses to start on a bad configuration: non-zero exit, a
//! message naming the problem, never the password. And nothing it does
//! leaves a SQLite file anywhere in the repository.

use e2e_tests::database::{url_password, url_with_param, url_with_password};
use e2e_tests::tree::assert_no_sqlite_files_in_repo;
use e2e_tests::{database_url, start_expecting_failure, FailedStart, ServerEnv};
use uuid::Uuid;

/// The real database password, which no output may contain.
fn real_password() -> String {
    url_password(database_url()).expect("the test database URL has a password")
}

fn assert_refused(start: &FailedStart, secrets: &[&str]) {
    assert!(
        !start.status.success(),
        "the server must exit non-zero, got {}; stderr:\n{}",
        start.status,
        start.stderr
    );
    assert!(
        !start.stderr.trim().is_empty(),
        "the server must say why it refused to start (stderr is empty)"
    );
    let output = start.all_output();
    for secret in secrets {
        assert!(
            !output.contains(secret),
            "the output contains a secret:\n{}",
            output.replace(secret, "<SECRET>")
        );
    }
    assert!(
        !output.contains("listening on"),
        "a refused start never listens:\n{output}"
    );
}

fn assert_names(start: &FailedStart, words: &[&str]) {
    let stderr = start.stderr.to_lowercase();
    assert!(
        words
            .iter()
            .any(|word| stderr.contains(&word.to_lowercase())),
        "stderr must name the problem (one of {words:?}):\n{}",
        start.stderr
    );
}

#[tokio::test]
async fn without_database_url_the_server_refuses_to_start() {
    let env = ServerEnv::working().unset("DATABASE_URL");

    let start = start_expecting_failure(&env).await;

    assert_refused(&start, &[&real_password()]);
    assert_names(&start, &["DATABASE_URL"]);
    assert_no_sqlite_files_in_repo();
}

#[tokio::test]
async fn a_sqlite_url_is_refused() {
    let env = ServerEnv::working().set("DATABASE_URL", "sqlite:///./todo.db");

    let start = start_expecting_failure(&env).await;

    assert_refused(&start, &[&real_password()]);
    assert_names(&start, &["DATABASE_URL"]);
    assert_names(&start, &["sqlite", "scheme"]);
    assert_no_sqlite_files_in_repo();
}

#[tokio::test]
async fn an_invalid_url_scheme_is_refused() {
    let env = ServerEnv::working().set("DATABASE_URL", "invalid://connection");

    let start = start_expecting_failure(&env).await;

    assert_refused(&start, &[&real_password()]);
    assert_names(&start, &["DATABASE_URL"]);
    assert_names(&start, &["scheme", "invalid"]);
    assert_no_sqlite_files_in_repo();
}

#[tokio::test]
async fn sslmode_disable_is_refused_without_printing_the_password() {
    let url = url_with_param(database_url(), "sslmode", "disable");
    let env = ServerEnv::working().set("DATABASE_URL", url);

    let start = start_expecting_failure(&env).await;

    assert_refused(&start, &[&real_password()]);
    assert_names(&start, &["sslmode"]);
    assert_no_sqlite_files_in_repo();
}

#[tokio::test]
async fn a_wrong_database_password_is_refused_without_printing_either_password() {
    let wrong = format!("wrong-{}", Uuid::new_v4().simple());
    let env = ServerEnv::working().set("DATABASE_URL", url_with_password(database_url(), &wrong));

    let start = start_expecting_failure(&env).await;

    assert_refused(&start, &[&real_password(), &wrong]);
    assert_names(&start, &["authentication", "password"]);
    assert_no_sqlite_files_in_repo();
}

#[tokio::test]
async fn a_short_jwt_secret_is_refused_without_printing_it() {
    let short = format!("short-{}", &Uuid::new_v4().simple().to_string()[..20]);
    assert!(short.len() < 32);
    let env = ServerEnv::working().set("JWT_SECRET", short.clone());

    let start = start_expecting_failure(&env).await;

    assert_refused(&start, &[&real_password(), &short]);
    assert_names(&start, &["JWT_SECRET"]);
    assert_no_sqlite_files_in_repo();
}

#[tokio::test]
async fn without_jwt_secret_the_server_refuses_to_start() {
    let env = ServerEnv::working().unset("JWT_SECRET");

    let start = start_expecting_failure(&env).await;

    assert_refused(&start, &[&real_password()]);
    assert_names(&start, &["JWT_SECRET"]);
}

#[tokio::test]
async fn no_sqlite_file_exists_anywhere_in_the_repository() {
    // Also after a start pointed at a SQLite file in the working directory.
    let env = ServerEnv::working().set("DATABASE_URL", "sqlite://todo.sqlite");
    let start = start_expecting_failure(&env).await;
    assert!(!start.status.success());

    assert_no_sqlite_files_in_repo();
}
