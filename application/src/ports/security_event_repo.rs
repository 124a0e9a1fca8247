use async_trait::async_trait;
use domain::{
    ClientInfo, Email, EventId, SecurityEvent, SecurityEventKind, SessionId, Timestamp, UserId,
};

use super::{Principal, RepoError};

/// An event a repository writes in the same statement as the change it
/// records; the repository fills in the user (it knows whose row changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub id: EventId,
    pub kind: SecurityEventKind,
    pub at: Timestamp,
    pub client: ClientInfo,
    pub session_id: Option<SessionId>,
}

impl PendingEvent {
    pub fn new(
        kind: SecurityEventKind,
        at: Timestamp,
        client: &ClientInfo,
        session_id: Option<SessionId>,
    ) -> Self {
        Self {
            id: EventId::new(),
            kind,
            at,
            client: client.clone(),
            session_id,
        }
    }

    /// The stored event once the user is known.
    pub fn for_user(&self, user_id: UserId) -> SecurityEvent {
        SecurityEvent {
            id: self.id,
            user_id,
            kind: self.kind,
            at: self.at,
            ip: self.client.ip,
            user_agent: self.client.user_agent.clone(),
            session_id: self.session_id,
        }
    }
}

/// Where the next page of events starts: strictly older than this event
/// in (at, id) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPosition {
    pub at: Timestamp,
    pub id: EventId,
}

/// Newest events a user keeps; each insert deletes what is beyond it.
pub const KEPT_EVENTS_PER_USER: u32 = 1000;
/// Days an event is kept; each insert deletes the user's older ones.
pub const KEPT_EVENT_DAYS: u32 = 90;

/// Stored security events. Every insert (here and in the other
/// repositories' statements that write an event) also deletes the user's
/// events beyond the newest [`KEPT_EVENTS_PER_USER`] and those older than
/// [`KEPT_EVENT_DAYS`] days, so the table stays bounded per user without a
/// background job.
///
/// # Errors common to every method
/// `Unavailable` when the database cannot be reached in time; `Internal`
/// for anything else.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SecurityEventRepo: Send + Sync {
    /// Stores `event` for the account with `email` (compared as the users
    /// table compares it), when there is one: an event with no other write
    /// to ride on, e.g. `login_failed`. One statement, the same work
    /// whether or not the account exists; no account is not an error.
    async fn record_for_email(&self, email: &Email, event: &PendingEvent) -> Result<(), RepoError>;

    /// Up to `limit` of the principal's events, newest first (by `at`,
    /// then id), strictly older than `before` when given; checked against
    /// the principal's session in the same statement.
    ///
    /// # Errors
    /// `SessionInactive` when the session is not active at `now`.
    async fn page(
        &self,
        principal: &Principal,
        now: Timestamp,
        before: Option<EventPosition>,
        limit: u32,
    ) -> Result<Vec<SecurityEvent>, RepoError>;
}
