use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use domain::Timestamp;

use super::RepoError;

/// Counts failed logins per email and per client address in a store every
/// replica shares, so brute force meets one wall however it is spread.
///
/// A login takes a [`Reservation`] *before* the password is checked: one
/// counted attempt on the email's key and one on the client's. A reservation
/// counts as a failure unless it is settled otherwise, so a wrong password
/// needs no further call (and a request abandoned half-way counts as a
/// failure); a right password calls [`LoginLimiter::succeeded`], and an
/// attempt whose password could not be checked at all (hasher busy, store
/// error) calls [`LoginLimiter::release`].
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LoginLimiter: Send + Sync {
    /// Atomically counts one attempt for `email` (already normalized by the
    /// caller) and for `client`, provided both are below their limits within
    /// the window ending at `now`. Parallel calls, on any replica, never
    /// take more reservations than the limit allows.
    ///
    /// # Errors
    /// - `Limited { retry_after }` when the email (from any client) or the
    ///   client (for any email) is at its limit: nothing is counted, and
    ///   `retry_after` (at least one second) is when a slot frees up.
    /// - `Store(_)` when the store cannot answer (`Unavailable` when it is
    ///   unreachable or busy): the login must be refused, never let through.
    async fn reserve(
        &self,
        email: &str,
        client: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<Reservation, LimitError>;

    /// The password was right: clears the email's failures and hands back
    /// the client's slot (the client's other failures stay, or one valid
    /// account would reset a guesser's count).
    ///
    /// # Errors
    /// A `RepoError` when the store cannot answer; the reservation then
    /// stays counted until it leaves the window.
    async fn succeeded(&self, reservation: &Reservation) -> Result<(), RepoError>;

    /// The password was never checked: hands back exactly this reservation's
    /// slots, leaving every other attempt counted.
    ///
    /// # Errors
    /// As for [`LoginLimiter::succeeded`].
    async fn release(&self, reservation: &Reservation) -> Result<(), RepoError>;
}

/// Why [`LoginLimiter::reserve`] took nothing.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("too many failed logins")]
    Limited { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] RepoError),
}

/// One counted attempt, as the limiter stored it: opaque to use cases,
/// handed back to settle it. Keys are SHA-256 digests (fixed size whatever
/// the client sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub email: Slot,
    /// `None` when the client's address is unknown.
    pub client: Option<Slot>,
}

/// A key's digest and the instant its attempt was recorded at (unique per key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub key: [u8; 32],
    pub at: Timestamp,
}
