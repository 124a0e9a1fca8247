use async_trait::async_trait;
use domain::{Email, Session, Task, TaskId, Timestamp, UserId, UserName};

use super::RepoError;

/// An account as operators see it. It has no password hash on purpose, so
/// that no operator command can print one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub email: Email,
    pub name: Option<UserName>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An account and what hangs off it, read in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub account: Account,
    pub tasks: u64,
    /// Sessions neither revoked nor expired at the `now` of the reading.
    pub active_sessions: u64,
    /// The newest of those (at most [`LISTED_SESSIONS`]), newest first,
    /// with when each was last used and from where.
    pub sessions: Vec<Session>,
}

/// Most active sessions a summary lists.
pub const LISTED_SESSIONS: u32 = 20;

/// What a deletion removed along with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedAccount {
    pub account: Account,
    pub tasks: u64,
    /// Every session row, active or not.
    pub sessions: u64,
}

/// Where the next page of an account's tasks starts: strictly after this
/// task in (creation time, id) order, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCursor {
    pub created_at: Timestamp,
    pub id: TaskId,
}

impl TaskCursor {
    pub fn after(task: &Task) -> Self {
        Self {
            created_at: task.created_at,
            id: task.id,
        }
    }
}

/// Accounts seen whole, by email, for operators (the `admin` commands).
/// Emails are compared as the users table compares them: case-insensitively.
/// Every method is one statement, one round trip.
///
/// # Errors common to every method
/// `Unavailable` when the database cannot be reached in time; `Internal`
/// for anything else. An unknown email is never an error: it is `None`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountRepo: Send + Sync {
    /// The account with `email`, its number of tasks and of sessions active
    /// at `now`, and the newest of those sessions; `None` when no account
    /// has this email.
    async fn summary(
        &self,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<AccountSummary>, RepoError>;

    /// Deletes the account with `email` together with its sessions and
    /// tasks, atomically; `None` when no account has this email.
    async fn delete(&self, email: &Email) -> Result<Option<DeletedAccount>, RepoError>;

    /// Revokes, at `now`, every session of the account with `email` that is
    /// active at `now`, and returns how many; `None` when no account has
    /// this email. A revoked session's tokens are refused from then on.
    async fn revoke_sessions(
        &self,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<u64>, RepoError>;

    /// The account with `email`, or `None`.
    async fn find(&self, email: &Email) -> Result<Option<Account>, RepoError>;

    /// Up to `limit` of the user's stored sessions, active or ended, newest
    /// first, with when each was last used and from where.
    async fn sessions(&self, user_id: UserId, limit: u32) -> Result<Vec<Session>, RepoError>;

    /// Up to `limit` of the user's tasks, oldest first (by creation time,
    /// then id), strictly after `after` when given. Fewer than `limit`
    /// means there are no more.
    async fn tasks_page(
        &self,
        user_id: UserId,
        after: Option<TaskCursor>,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError>;
}
