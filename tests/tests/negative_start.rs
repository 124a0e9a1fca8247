//! The server refuses to start on a bad configuration: non-zero exit, a
//! message naming the problem, never the password. And nothing it does
//! leaves a SQLite file anywhere in the repository.

use e2e_tests::database::{url_with_param, url_with_password};
use e2e_tests::tree::assert_no_sqlite_files_in_repo;
use e2e_tests::{database_url, start_expecting_failure, ServerEnv};
use uuid::Uuid;

/// Why these tests skip against a front end they do not control.
const BAD_CONFIGURATION: &str = "starts the server with a bad configuration";

/// Starts the server with `env` and checks that it refused: without
/// printing the database password or any of `secrets`, naming the problem
/// with a word of each group in `names`, and leaving no SQLite file behind.
async fn assert_start_refused(env: ServerEnv, secrets: &[&str], names: &[&[&str]]) {
    let start = start_expecting_failure(&env).await;
    start.assert_refused(secrets);
    for words in names {
        start.assert_names(words);
    }
    assert_no_sqlite_files_in_repo();
}

#[tokio::test]
async fn without_database_url_the_server_refuses_to_start() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    let env = ServerEnv::working().unset("DATABASE_URL");
    assert_start_refused(env, &[], &[&["DATABASE_URL"]]).await;
}

#[tokio::test]
async fn a_sqlite_url_is_refused() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    let env = ServerEnv::working().set("DATABASE_URL", "sqlite:///./todo.db");
    assert_start_refused(env, &[], &[&["DATABASE_URL"], &["sqlite", "scheme"]]).await;
}

#[tokio::test]
async fn an_invalid_url_scheme_is_refused() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    let env = ServerEnv::working().set("DATABASE_URL", "invalid://connection");
    assert_start_refused(env, &[], &[&["DATABASE_URL"], &["scheme", "invalid"]]).await;
}

#[tokio::test]
async fn sslmode_disable_is_refused_without_printing_the_password() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    let url = url_with_param(database_url(), "sslmode", "disable");
    let env = ServerEnv::working().set("DATABASE_URL", url);
    assert_start_refused(env, &[], &[&["sslmode"]]).await;
}

#[tokio::test]
async fn a_wrong_database_password_is_refused_without_printing_either_password() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    let wrong = format!("wrong-{}", Uuid::new_v4().simple());
    let env = ServerEnv::working().set("DATABASE_URL", url_with_password(database_url(), &wrong));
    assert_start_refused(env, &[&wrong], &[&["authentication", "password"]]).await;
}

#[tokio::test]
async fn a_short_jwt_secret_is_refused_without_printing_it() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    let short = format!("short-{}", &Uuid::new_v4().simple().to_string()[..20]);
    assert!(short.len() < 32);
    let env = ServerEnv::working().set("JWT_SECRET", short.clone());
    assert_start_refused(env, &[&short], &[&["JWT_SECRET"]]).await;
}

#[tokio::test]
async fn without_jwt_secret_the_server_refuses_to_start() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    let env = ServerEnv::working().unset("JWT_SECRET");
    assert_start_refused(env, &[], &[&["JWT_SECRET"]]).await;
}

#[tokio::test]
async fn no_sqlite_file_exists_anywhere_in_the_repository() {
    e2e_tests::needs_own_server!(BAD_CONFIGURATION);
    // Also after a start pointed at a SQLite file in the working directory.
    let env = ServerEnv::working().set("DATABASE_URL", "sqlite://todo.sqlite");
    let start = start_expecting_failure(&env).await;
    assert!(!start.status.success());

    assert_no_sqlite_files_in_repo();
}
