use async_trait::async_trait;
use domain::{Task, TaskId, TaskPatch, TaskQuery, Timestamp};

use super::{Principal, RepoError};

/// A client's `Idempotency-Key` with a fingerprint of the request it came
/// with, so a reused key with another body is told apart from a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

/// Which stored versions a write may act on: the policy behind HTTP's
/// `If-Match`, as any front end can express it. The repository enforces it
/// in the same statement as the write, so no other writer slips between a
/// check and the change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Whatever the current version is.
    #[default]
    Any,
    /// Only when the current version is one of these. An empty list admits
    /// nothing: the write fails as a precondition (or is not found).
    OneOf(Vec<i64>),
}

impl Precondition {
    /// Whether a task at `version` may be written.
    pub fn admits(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::OneOf(versions) => versions.contains(&version),
        }
    }

    /// The versions admitted, `None` for any (as a statement parameter).
    pub fn versions(&self) -> Option<&[i64]> {
        match self {
            Self::Any => None,
            Self::OneOf(versions) => Some(versions),
        }
    }
}

/// The outcome of a create: the stored task, and whether this call made it
/// (false when an idempotent retry found the first one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTask {
    pub task: Task,
    pub created: bool,
}

/// Stored tasks. Every method acts for a principal and checks, in the same
/// single statement as its work, that the principal's session is active at
/// `now`; each is one network round trip.
///
/// # Errors common to every method
/// `SessionInactive` when the session is unknown, another user's, revoked or
/// expired at `now`; then nothing is read or written. `Unavailable` when the
/// database cannot be reached in time; `Internal` for anything else.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TaskRepo: Send + Sync {
    /// Stores `task` (owned by the principal's user). With an idempotency
    /// key already used by this user, stores nothing and returns the task
    /// that key created.
    ///
    /// # Errors
    /// `IdempotencyKeyReused` when the key was used with another fingerprint.
    async fn create(
        &self,
        principal: &Principal,
        now: Timestamp,
        task: &Task,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<CreatedTask, RepoError>;

    /// # Errors
    /// `NotFound` when no task has this id or it is another user's.
    async fn get(
        &self,
        principal: &Principal,
        now: Timestamp,
        id: TaskId,
    ) -> Result<Task, RepoError>;

    /// Up to `query.limit` of the user's tasks matching the filters, in the
    /// query's sort order, strictly after `query.after` when given.
    async fn list(
        &self,
        principal: &Principal,
        now: Timestamp,
        query: &TaskQuery,
    ) -> Result<Vec<Task>, RepoError>;

    /// Applies `patch` exactly as `TaskPatch::apply` does, with `now` as
    /// the update time, and returns the new task. A patch that changes
    /// nothing writes nothing and returns the task as stored.
    ///
    /// # Errors
    /// `NotFound` as for `get`; `PreconditionFailed` (with the current
    /// version) when `precondition` does not admit the stored version, and
    /// then nothing changes. Check and write are one statement.
    async fn update(
        &self,
        principal: &Principal,
        now: Timestamp,
        id: TaskId,
        patch: &TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, RepoError>;

    /// # Errors
    /// `NotFound` as for `get`; `PreconditionFailed` as for `update`, and
    /// then nothing is deleted.
    async fn delete(
        &self,
        principal: &Principal,
        now: Timestamp,
        id: TaskId,
        precondition: &Precondition,
    ) -> Result<(), RepoError>;
}
