//! PostgreSQL (Neon) implementation of the repository ports.
//!
//! Layout:
//! - [`connection_url`]: `DATABASE_URL` under the Neon-only rules (TLS
//!   verified, known parameters only, pooled/direct endpoint).
//! - `tls`: the rustls client configuration (ring, P-256 first).
//! - `pool`: the deadpool pool and the statement runner (one round trip,
//!   timeouts with cancel, replay after a dead connection only where safe,
//!   connections closed with Terminate).
//! - `statements`: statements prepared once per connection (or unnamed),
//!   prepared on first use per connection, re-prepared after 26000/0A000.
//! - [`database`]: [`Database`], the handle bootstrap builds: connect,
//!   migrate, check the schema, ping, pool status, repositories.
//! - `startup`: the first statement, retries with backoff while a compute
//!   wakes, the one-off direct connection for migrations.
//! - `migrations`, `schema_check`: embedded SQL migrations and the
//!   start-up comparison of the live catalog with what the code expects.
//! - `user_repo`, `session_repo`, `task_repo`: the ports, one statement each.
//! - `account_tokens`, `outbox`: mailed single-use tokens (reset,
//!   verification) with their outbox rows, and the outbox's sender side.
//! - `user_repo`, `session_repo`, `task_repo`, `event_repo`: the ports, one
//!   statement each; `event_sql` writes a security event inside another
//!   statement and keeps each user's events bounded.
//! - `login_limiter`: the failed-login limiter, shared by every replica.
//! - `readiness`: the `Readiness` port from what statements learned, so a
//!   probe sends nothing to a healthy (possibly idle) database.
//! - [`errors`]: [`StartupError`] (a message and exit code per class), the
//!   classification of driver and Neon errors, and their runtime mapping
//!   to the ports' errors.
//!
//! The database is Neon (or a local PostgreSQL that behaves like it, see
//! `scripts/neon-local.sh`) and nothing else.

mod account_repo;
mod account_tokens;
pub mod connection_url;
pub mod database;
pub mod errors;
mod event_repo;
mod event_sql;
mod lane;
mod login_limiter;
mod migrations;
mod outbox;
mod pool;
mod readiness;
mod refusals;
mod rows;
mod schema_check;
mod session_repo;
mod settings;
mod startup;
mod statements;
mod task_repo;
mod tls;
mod user_repo;

pub use connection_url::{ConnectionUrl, NeonEndpoint, UrlError};
pub use database::{ConnectionInfo, Database};
pub use errors::StartupError;
pub use login_limiter::LoginLimits;
pub use migrations::MigrationReport;
pub use pool::PoolStatus;
pub use readiness::RETRY_EVERY as READINESS_RETRY_EVERY;
pub use settings::{DatabaseUrl, PostgresSettings};
pub use tls::TlsSetupError;
