//! The todo service's use cases and the ports they need.
//!
//! Layout:
//! - [`ports`]: the traits adapters implement (repositories, hashing,
//!   tokens, the clock, the login limiter, readiness, telemetry, mail:
//!   `Mailer`, `Outbox`, `AccountTokenStore`; `SecretSource`, the random
//!   bytes behind every opaque token). With the
//!   `mocks` feature, each has a mockall `Mock…` twin for other crates'
//!   tests.
//! - [`use_cases`]: registration, login, logout, token authentication,
//!   the task operations, password reset and email verification
//!   (`RecoveryService`) and the mail outbox's sender logic
//!   (`OutboxSender`). Each validates raw input into domain values and
//!   returns an [`AppError`] whose client message is decided here; a front
//!   end only picks its protocol's code for each kind.
//! - [`opaque_token`]: the tokens clients hold (refresh tokens, mailed
//!   reset and verification tokens) and the digests storage keeps.
//! - [`telemetry`]: the standard failure log and database-error counts.
//! - [`Services`]: everything a front end needs, built once by bootstrap.
//! - `testkit` (feature `mocks`): fixtures, builders and a harness with
//!   every port mocked and a fixed clock, for use-case and front-end tests.
//!
//! Nothing here knows about HTTP, SQL or any driver.

use std::sync::Arc;

pub mod error;
pub mod opaque_token;
pub mod ports;
pub mod telemetry;
#[cfg(any(test, feature = "mocks"))]
pub mod testkit;
pub mod timestamps;
pub mod use_cases;

pub use error::{AppError, FieldError};
pub use ports::Principal;

/// The use cases and probes a front end serves: front-end neutral, so any
/// driving adapter (HTTP, a CLI, a queue consumer) takes the same struct.
#[derive(Clone)]
pub struct Services {
    pub auth: Arc<use_cases::AuthService>,
    pub tasks: Arc<use_cases::TaskService>,
    /// Password reset and email verification by mailed tokens.
    pub recovery: Arc<use_cases::RecoveryService>,
    pub readiness: Arc<dyn ports::Readiness>,
    /// Where the use cases report failures; its counts feed metrics.
    pub telemetry: Arc<telemetry::LoggingTelemetry>,
}
