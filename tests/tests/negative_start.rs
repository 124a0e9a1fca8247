//! The server refuses to start on a bad configuration: non-zero exit, a
//! message naming the problem, never the password. And nothing it does
//! leaves a SQLite file anywhere in the repository.

use e2e_tests::database::{url_with_param, url_with_password};
use e2e_tests::tree::assert_no_sqlite_files_in_repo;
use e2e_tests::{database_url, start_expecting_failure, ServerEnv};
use uuid::Uuid;

/// Starts the server with `env` and checks that it refused: without
/// printing the database password or any of `secrets`, naming the problem
/// with a word of each group in `names`, and leaving no SQLite file behind.
/// Skips (returns) against a front end the suite does not start.
async fn assert_start_refused(env: ServerEnv, secrets: &[&str], names: &[&[&str]]) {
    e2e_tests::needs_own_server!("starts the server with a bad configuration");
    let start = start_expecting_failure(&env).await;
    start.assert_refused(secrets);
    for words in names {
        start.assert_names(words);
    }
    assert_no_sqlite_files_in_repo();
}

/// The working environment with `name` set to `value`.
fn with(name: &str, value: impl Into<String>) -> ServerEnv {
    ServerEnv::working().set(name, value)
}

#[tokio::test]
async fn without_database_url_the_server_refuses_to_start() {
    let env = ServerEnv::working().unset("DATABASE_URL");
    assert_start_refused(env, &[], &[&["DATABASE_URL"]]).await;
}

#[tokio::test]
async fn a_sqlite_url_is_refused() {
    let names: &[&[&str]] = &[&["DATABASE_URL"], &["sqlite", "scheme"]];
    assert_start_refused(with("DATABASE_URL", "sqlite:///./todo.db"), &[], names).await;
}

#[tokio::test]
async fn an_invalid_url_scheme_is_refused() {
    let names: &[&[&str]] = &[&["DATABASE_URL"], &["scheme", "invalid"]];
    assert_start_refused(with("DATABASE_URL", "invalid://connection"), &[], names).await;
}

#[tokio::test]
async fn sslmode_disable_is_refused_without_printing_the_password() {
    let url = url_with_param(database_url(), "sslmode", "disable");
    assert_start_refused(with("DATABASE_URL", url), &[], &[&["sslmode"]]).await;
}

#[tokio::test]
async fn a_wrong_database_password_is_refused_without_printing_either_password() {
    let wrong = format!("wrong-{}", Uuid::new_v4().simple());
    let env = with("DATABASE_URL", url_with_password(database_url(), &wrong));
    assert_start_refused(env, &[&wrong], &[&["authentication", "password"]]).await;
}

#[tokio::test]
async fn a_short_jwt_secret_is_refused_without_printing_it() {
    let short = format!("short-{}", &Uuid::new_v4().simple().to_string()[..20]);
    assert!(short.len() < 32);
    assert_start_refused(
        with("JWT_SECRET", short.clone()),
        &[&short],
        &[&["JWT_SECRET"]],
    )
    .await;
}

#[tokio::test]
async fn without_jwt_secret_the_server_refuses_to_start() {
    let names: &[&[&str]] = &[&["JWT_SECRET"]];
    assert_start_refused(ServerEnv::working().unset("JWT_SECRET"), &[], names).await;
}

#[tokio::test]
async fn no_sqlite_file_exists_anywhere_in_the_repository() {
    e2e_tests::needs_own_server!("starts the server with a bad configuration");
    // Also after a start pointed at a SQLite file in the working directory.
    let start = start_expecting_failure(&with("DATABASE_URL", "sqlite://todo.sqlite")).await;
    assert!(!start.status.success());

    assert_no_sqlite_files_in_repo();
}
