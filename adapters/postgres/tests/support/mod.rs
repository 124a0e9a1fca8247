//! Shared helpers for the adapter's integration tests: the local Neon-like
//! PostgreSQL (started by `scripts/neon-local.sh --test`, through the
//! `test-support` crate that the end-to-end suite uses too), fresh users
//! and sessions, and throwaway databases.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

pub mod session_suite;
pub mod suite;

use adapter_postgres::{Database, PostgresSettings};
use application::ports::{
    PendingEvent, Principal, RepoError, RevokeScope, SecurityEventRepo, SessionRepo, TaskRepo,
    TokenDigest, UserRepo,
};
use chrono::{DurationRound, TimeDelta, Utc};
use domain::{
    ClientInfo, Email, PasswordHash, SecurityEventKind, Session, Timestamp, User, UserId,
};
use test_support::{cluster, db_url};
use uuid::Uuid;

/// The direct URL (TLS, channel_binding=require) of the test cluster.
pub fn direct_url() -> &'static str {
    cluster::test_url()
}

/// The same database through PgBouncer in transaction mode.
pub fn pooler_url() -> &'static str {
    cluster::test_pooler_url()
}

/// A superuser over the unix socket (libpq key=value form).
pub fn admin_url() -> &'static str {
    cluster::test_admin_url()
}

/// Settings for tests: small pool, short connect budgets. Waits for a
/// pooled connection and statements get room, as every test of a binary
/// shares one cluster (and the pooler's five server connections) on a
/// loaded machine; the wait stays below the statement timeout, so a
/// connection set-up that hangs until a timeout fails a test instead of
/// only slowing it. Tests of those timeouts set their own.
pub fn settings(url: &str) -> PostgresSettings {
    let mut settings = PostgresSettings::new(url);
    settings.max_size = 4;
    settings.wait_timeout = Duration::from_secs(10);
    settings.statement_timeout = Duration::from_secs(30);
    settings.connect_timeout = Duration::from_secs(10);
    settings.connect_retry_budget = Duration::from_secs(3);
    settings.initial_backoff = Duration::from_millis(50);
    settings
}

/// The test database, migrated once per process, through the direct URL.
pub async fn direct_db() -> Database {
    let db = Database::connect(settings(direct_url()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    db
}

/// The test database through PgBouncer; migrations go through the direct URL.
pub async fn pooler_db() -> Database {
    direct_db().await.close();
    Database::connect(settings(pooler_url()))
        .await
        .expect("connect via pooler")
}

/// Runs SQL as the superuser in the `postgres` database (no parameters:
/// test set-up only).
pub async fn admin(sql: &str) -> Vec<tokio_postgres::SimpleQueryMessage> {
    admin_in("postgres", sql).await
}

/// Runs SQL as the superuser in `database`.
pub async fn admin_in(database: &str, sql: &str) -> Vec<tokio_postgres::SimpleQueryMessage> {
    admin_client(database)
        .await
        .simple_query(sql)
        .await
        .expect("admin sql")
}

/// A superuser session in `database` over the unix socket.
pub async fn admin_client(database: &str) -> tokio_postgres::Client {
    cluster::admin_client(admin_url(), database).await
}

/// `url` aimed at another database on the same server.
pub fn url_for_database(url: &str, database: &str) -> String {
    db_url::with_database(url, database)
}

/// `url` with one more query parameter (`name=value`).
pub fn with_param(url: &str, param: &str) -> String {
    let (name, value) = param.split_once('=').expect("a name=value parameter");
    db_url::with_param(url, name, value)
}

/// A throwaway database owned by `app`; dropped by [`drop_database`].
pub async fn create_database() -> String {
    let name = format!("t_{}", Uuid::now_v7().simple());
    admin(&format!("CREATE DATABASE {name} OWNER app")).await;
    name
}

pub async fn drop_database(name: &str) {
    admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}

/// Now, at PostgreSQL's microsecond precision.
pub fn now() -> Timestamp {
    Utc::now()
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap()
}

pub fn unique_email() -> Email {
    Email::parse(&format!("user-{}@example.com", Uuid::now_v7())).unwrap()
}

pub fn new_user() -> User {
    User::register(
        unique_email(),
        None,
        PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        now(),
    )
}

pub struct Repos {
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub tasks: Arc<dyn TaskRepo>,
    pub events: Arc<dyn SecurityEventRepo>,
}

pub fn repos(db: &Database) -> Repos {
    Repos {
        users: db.user_repo(),
        sessions: db.session_repo(),
        tasks: db.task_repo(),
        events: db.event_repo(),
    }
}

/// A fresh refresh token's digest (any 32 bytes do for storage).
pub fn fresh_digest() -> TokenDigest {
    TokenDigest::of(&Uuid::now_v7().to_string())
}

/// An event of `kind` at `at` from a fixed client.
pub fn event(kind: SecurityEventKind, at: Timestamp) -> PendingEvent {
    PendingEvent::new(kind, at, &client(), None)
}

/// The client the helpers' sessions and events come from.
pub fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.7".parse().unwrap()),
        user_agent: domain::UserAgent::from_header("contract-test/1"),
    }
}

/// Stores `session` with a first refresh token `refresh` (at most ten active).
pub async fn start(repos: &Repos, session: &Session, refresh: &TokenDigest) {
    create_capped(repos, session, refresh, 10).await;
}

/// Stores `session` keeping the user at `max_active` active sessions.
pub async fn create_capped(
    repos: &Repos,
    session: &Session,
    refresh: &TokenDigest,
    max_active: u32,
) {
    repos
        .sessions
        .create(
            session,
            refresh,
            max_active,
            &PendingEvent::new(
                SecurityEventKind::LoginSucceeded,
                session.created_at,
                &client(),
                Some(session.id),
            ),
        )
        .await
        .expect("create session");
}

/// Revokes the principal's own session (a local logout).
pub async fn revoke_current(
    repos: &Repos,
    principal: &Principal,
    at: Timestamp,
) -> Result<u64, RepoError> {
    repos
        .sessions
        .revoke(
            principal,
            RevokeScope::Current,
            at,
            &event(SecurityEventKind::Logout, at),
        )
        .await
}

/// A stored user with an active one-hour session.
pub async fn signed_in(repos: &Repos) -> (User, Session, Principal) {
    let user = new_user();
    repos.users.create(&user).await.expect("create user");
    let session = Session::start(user.id, now(), TimeDelta::hours(1)).from_client(&client());
    start(repos, &session, &fresh_digest()).await;
    let principal = Principal {
        user_id: user.id,
        session_id: session.id,
    };
    (user, session, principal)
}

/// A second session of `user`, started now and revoked at once.
pub async fn revoked_session(repos: &Repos, user: UserId) -> Principal {
    let session = Session::start(user, now(), TimeDelta::hours(1));
    start(repos, &session, &fresh_digest()).await;
    let principal = Principal {
        user_id: user,
        session_id: session.id,
    };
    revoke_current(repos, &principal, now())
        .await
        .expect("revoke session");
    principal
}
