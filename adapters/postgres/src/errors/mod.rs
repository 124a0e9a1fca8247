//! Start-up errors and the classification of driver errors.
//!
//! tokio-postgres's `Display` says only "db error" or "error performing TLS
//! handshake", so everything here decides by SQLSTATE (`code()`) and by
//! walking the `source()` chain (io kinds, rustls errors), never by the
//! driver's `Display`. Two texts are matched because they have no code: the
//! driver's own "server does not support TLS" / "did not use channel binding"
//! causes, and Neon's proxy messages, which all arrive as SQLSTATE XX000.
//!
//! - [`startup`]: [`StartupError`], its messages and exit codes.
//! - `classify`: what a driver error means (transient, TLS, auth, Neon).
//! - `runtime`: statement and checkout failures as [`RepoError`]s.
//!
//! [`RepoError`]: application::ports::RepoError

mod classify;
mod runtime;
pub mod startup;

pub(crate) use classify::{
    chain_text, classify_connect_error, classify_pool_error, ConnectFailure,
};
pub(crate) use runtime::{is_connection_lost, pool_repo_error, repo_error, RETRY_AFTER};
pub(crate) use startup::startup_error;
pub use startup::StartupError;
