//! Ports: what the use cases need from the outside world.
//!
//! Every port is an object-safe `Send + Sync` trait held as `Arc<dyn …>`.
//! Each method's doc states its contract, including the errors it MUST
//! return; the adapters' tests check exactly that.

mod account_repo;
mod account_tokens;
mod clock;
mod login_limiter;
mod mailer;
mod outbox;
mod password_hasher;
mod readiness;
mod repo_error;
mod secret_source;
mod security_event_repo;
mod session_repo;
mod task_repo;
mod telemetry;
mod token_service;
mod user_repo;

/// Ports speak of stored tokens by their digest only.
pub use crate::opaque_token::TokenDigest;
pub use account_repo::{
    Account, AccountRepo, AccountSummary, DeletedAccount, TaskCursor, LISTED_SESSIONS,
};
pub use account_tokens::{AccountTokenStore, IssuedToken, ResendOutcome};
pub use clock::Clock;
pub use login_limiter::{LimitError, LoginLimiter, Reservation, Slot};
pub use mailer::{Mail, MailError, MailKind, Mailer};
pub use outbox::{Outbox, OutboxMail, OutboxWaker};
pub use password_hasher::{HashError, PasswordHasher};
pub use readiness::{PoolStats, Readiness};
pub use repo_error::RepoError;
pub use secret_source::SecretSource;
pub use security_event_repo::{
    EventPosition, PendingEvent, SecurityEventRepo, KEPT_EVENTS_PER_USER, KEPT_EVENT_DAYS,
};
pub use session_repo::{Refreshed, RevokeScope, SessionRepo};
pub use task_repo::{CreatedTask, IdempotencyKey, Precondition, TaskRepo};
pub use telemetry::Telemetry;
pub use token_service::{TokenError, TokenService};
pub use user_repo::UserRepo;

#[cfg(any(test, feature = "mocks"))]
pub use account_repo::MockAccountRepo;
#[cfg(any(test, feature = "mocks"))]
pub use account_tokens::MockAccountTokenStore;
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use login_limiter::MockLoginLimiter;
#[cfg(any(test, feature = "mocks"))]
pub use mailer::MockMailer;
#[cfg(any(test, feature = "mocks"))]
pub use outbox::{MockOutbox, MockOutboxWaker};
#[cfg(any(test, feature = "mocks"))]
pub use password_hasher::MockPasswordHasher;
#[cfg(any(test, feature = "mocks"))]
pub use readiness::MockReadiness;
#[cfg(any(test, feature = "mocks"))]
pub use secret_source::MockSecretSource;
#[cfg(any(test, feature = "mocks"))]
pub use security_event_repo::MockSecurityEventRepo;
#[cfg(any(test, feature = "mocks"))]
pub use session_repo::MockSessionRepo;
#[cfg(any(test, feature = "mocks"))]
pub use task_repo::MockTaskRepo;
#[cfg(any(test, feature = "mocks"))]
pub use telemetry::MockTelemetry;
#[cfg(any(test, feature = "mocks"))]
pub use token_service::MockTokenService;
#[cfg(any(test, feature = "mocks"))]
pub use user_repo::MockUserRepo;

use domain::{SessionId, UserId};

/// Who is calling, as a verified token says: a user and the session the
/// token names. Whether that session is still active is checked by the
/// repository in the same statement as the work itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
}
