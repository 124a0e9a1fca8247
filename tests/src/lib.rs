//! End-to-end test helpers: the real `todo-server` binary, spawned on port 0
//! against a real PostgreSQL over TLS, driven over HTTP and checked in the
//! database directly. The tests themselves are one binary,
//! `tests/main.rs`, with a module per suite.
//!
//! Layout:
//! - [`paths`]: where the repository, the config and the server binary are,
//!   and the refusal to test a binary older than its sources.
//! - [`front_end`]: the spawned binary, or a running front end named by
//!   `E2E_SERVER_URL` (then the suite is a conformance suite for it).
//! - [`database`]: which database the suite uses (the local test cluster, or
//!   a real Neon branch through `TEST_DATABASE_URL`) and a direct client for
//!   assertions on the `users`, `sessions` and `tasks` rows.
//! - [`server`]: starting the binary with a given environment and capturing
//!   everything it prints.
//! - [`app`]: [`TestApp`], one running server per test, which deletes the
//!   users its test registered when it is dropped.
//! - [`api`]: typed request helpers for every endpoint of the contract;
//!   [`accounts`] adds the account additions (refresh, sessions, export…).
//! - [`tokens`]: reading, tampering with and re-signing JWTs.
//! - [`hostile`]: raw HTTP requests and JWTs under other algorithms for the
//!   security and hostile-input suites.
//! - [`tree`]: the "no SQLite file anywhere in the repository" check.
//! - [`fault_cluster`], [`fault_proxy`] (from `test-support`, shared with
//!   the PostgreSQL adapter's tests), [`write_load`], [`process_stats`]: a
//!   PostgreSQL of the fault tests' own that they may stop, a TCP proxy
//!   that cuts connections, a retrying write load that checks what was
//!   acknowledged, and the server process's RSS.
//! - [`replicas`]: several servers on one database behind HAProxy.
//! - [`black_hole`]: an nftables black hole for one TCP connection, and the
//!   connections a process holds (from `/proc`), for the dead-path suite.
//! - [`mail`]: a database of its own and a server mailing a local SMTP
//!   sink, for the mail suite.

pub mod accounts;
pub mod api;
pub mod app;
pub mod assertions;
pub mod black_hole;
pub mod database;
pub mod front_end;
pub mod hostile;
pub mod mail;
pub mod paths;
pub mod process_stats;
pub mod replicas;
pub mod server;
pub mod tokens;
pub mod tree;
pub mod write_load;

pub use test_support::{db_url, fault_cluster, fault_proxy};

pub use api::{unique_email, Api, Task, TaskPage, TestUser};
pub use app::{TestApp, TestAppBuilder};
pub use database::{database_url, SessionRow, TaskRow, TestDb, UserRow};
pub use server::{start_expecting_failure, FailedStart, ServerEnv};
