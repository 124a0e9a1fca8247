//! The end-to-end suite: the real `todo-server` binary (or, with
//! `E2E_SERVER_URL`, any running front end) against the real PostgreSQL
//! over TLS. One test binary with one module per suite; the helpers are the
//! `e2e_tests` library (`tests/src`).
//!
//! A new suite is a file in this folder declared as a module below (e.g.
//! `tests/tests/admin.rs` → `mod admin;`). Cargo builds no other test binary from
//! this folder (`autotests = false` in `tests/Cargo.toml`), so a file
//! without its `mod` line here is not compiled at all.
//!
//! With `E2E_SERVER_URL` the suite tests a front end it did not start
//! (README, "Against another front end"): a test that starts, configures,
//! signals or reads the output of the server begins with
//! `e2e_tests::needs_own_server!("…")` and one that signs tokens with the
//! server's secret with `e2e_tests::needs_jwt_secret!()`, so that it skips
//! there instead of failing.
//!
//! Run one suite or one test with a filter on the module path:
//! `cargo test -p e2e-tests --test main security::` or
//! `cargo test -p e2e-tests --test main paging::a_list_shows_only_the_callers_tasks`.

mod accounts;
mod admin;
mod conditional_requests;
mod dead_path;
mod error_statuses;
mod faults;
mod hash_queue;
mod hostile_input;
mod idempotency;
mod idle;
mod logs;
mod mail_flows;
mod mail_tls;
mod negative_start;
mod overload;
mod paging;
mod registration;
mod replicas;
mod restart;
mod security;
mod sessions;
mod slow_clients;
mod task_persistence;
