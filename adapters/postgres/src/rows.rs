//! Reading domain values back from result rows. Stored data that breaks a
//! domain rule is a storage failure (`Internal`), never a panic.

use application::ports::RepoError;
use domain::{
    Description, Email, EventId, PasswordHash, SecurityEvent, SecurityEventKind, Session,
    SessionId, Task, TaskId, Timestamp, Title, User, UserAgent, UserId, UserName,
};
use tokio_postgres::Row;
use uuid::Uuid;

/// The task columns, in the order [`task_at`] reads them.
pub(crate) const TASK_COLUMNS: &str =
    "id, user_id, title, description, completed, priority, due_at, created_at, updated_at, version";
pub(crate) const TASK_COLUMN_COUNT: usize = 10;

/// The user columns, in the order [`user_at`] reads them.
pub(crate) const USER_COLUMNS: &str =
    "id, email, name, password_hash, created_at, updated_at, email_verified";

fn corrupt(what: &str, err: impl std::fmt::Display) -> RepoError {
    RepoError::Internal(format!("stored {what} is invalid: {err}").into())
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
) -> Result<T, RepoError> {
    row.try_get(idx)
        .map_err(|e| RepoError::Internal(Box::new(e)))
}

/// The task whose columns start at `start` (see [`TASK_COLUMNS`]), or
/// `None` when its id is NULL (an outer join found nothing).
pub(crate) fn task_at(row: &Row, start: usize) -> Result<Option<Task>, RepoError> {
    let Some(id) = get::<Option<Uuid>>(row, start)? else {
        return Ok(None);
    };
    let title: String = get(row, start + 2)?;
    let description: Option<String> = get(row, start + 3)?;
    let priority: String = get(row, start + 5)?;
    Ok(Some(Task {
        id: TaskId::from_uuid(id),
        user_id: UserId::from_uuid(get(row, start + 1)?),
        // Read under the rules it was written with: a row stored before a
        // text rule was tightened stays readable.
        title: Title::from_storage(title).map_err(|e| corrupt("title", e))?,
        description: description
            .map(Description::from_storage)
            .transpose()
            .map_err(|e| corrupt("description", e))?,
        completed: get(row, start + 4)?,
        priority: priority.parse().map_err(|e| corrupt("priority", e))?,
        due_at: get::<Option<Timestamp>>(row, start + 6)?,
        created_at: get(row, start + 7)?,
        updated_at: get(row, start + 8)?,
        version: get(row, start + 9)?,
    }))
}

/// The user whose columns start at `start` (see [`USER_COLUMNS`]).
pub(crate) fn user_at(row: &Row, start: usize) -> Result<User, RepoError> {
    let email: String = get(row, start + 1)?;
    let name: Option<String> = get(row, start + 2)?;
    Ok(User {
        id: UserId::from_uuid(get(row, start)?),
        email: Email::parse(&email).map_err(|e| corrupt("email", e))?,
        name: name
            .map(UserName::from_storage)
            .transpose()
            .map_err(|e| corrupt("name", e))?,
        password_hash: PasswordHash::new(get(row, start + 3)?),
        created_at: get(row, start + 4)?,
        updated_at: get(row, start + 5)?,
        email_verified: get(row, start + 6)?,
    })
}

/// The session columns, in the order [`session_at`] reads them.
pub(crate) const SESSION_COLUMNS: &str =
    "id, user_id, created_at, expires_at, revoked_at, last_used_at, user_agent, ip";

/// [`SESSION_COLUMNS`] qualified by `alias`.
pub(crate) fn session_columns_of(alias: &str) -> String {
    SESSION_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The session whose columns start at `start`, or `None` when its id is
/// NULL (an outer join found nothing).
pub(crate) fn session_at(row: &Row, start: usize) -> Result<Option<Session>, RepoError> {
    let Some(id) = get::<Option<Uuid>>(row, start)? else {
        return Ok(None);
    };
    let user_agent: Option<String> = get(row, start + 6)?;
    Ok(Some(Session {
        id: SessionId::from_uuid(id),
        user_id: UserId::from_uuid(get(row, start + 1)?),
        created_at: get(row, start + 2)?,
        expires_at: get(row, start + 3)?,
        revoked_at: get(row, start + 4)?,
        last_used_at: get(row, start + 5)?,
        user_agent: user_agent.as_deref().and_then(UserAgent::from_header),
        ip: get(row, start + 7)?,
    }))
}

/// The event columns, in the order [`event_at`] reads them.
pub(crate) const EVENT_COLUMNS: &str = "id, user_id, type, at, ip, user_agent, session_id";

/// The event whose columns start at `start`, or `None` when its id is NULL.
pub(crate) fn event_at(row: &Row, start: usize) -> Result<Option<SecurityEvent>, RepoError> {
    let Some(id) = get::<Option<Uuid>>(row, start)? else {
        return Ok(None);
    };
    let kind: String = get(row, start + 2)?;
    let user_agent: Option<String> = get(row, start + 5)?;
    Ok(Some(SecurityEvent {
        id: EventId::from_uuid(id),
        user_id: UserId::from_uuid(get(row, start + 1)?),
        kind: SecurityEventKind::parse(&kind).map_err(|e| corrupt("event type", e))?,
        at: get(row, start + 3)?,
        ip: get(row, start + 4)?,
        user_agent: user_agent.as_deref().and_then(UserAgent::from_header),
        session_id: get::<Option<Uuid>>(row, start + 6)?.map(SessionId::from_uuid),
    }))
}

/// The answer of a statement gated by `task_repo::SESSION_CTE`: its first
/// column says whether the principal's session was active.
pub(crate) fn session_ok(row: &Row) -> Result<(), RepoError> {
    if get::<bool>(row, 0)? {
        Ok(())
    } else {
        Err(RepoError::SessionInactive)
    }
}

/// The items of a gated listing: every row starts with the session's
/// `ok` (no rows at all: not active), the item's columns from 1, absent
/// when the session has none.
pub(crate) fn active_rows<T>(
    rows: &[Row],
    item: fn(&Row, usize) -> Result<Option<T>, RepoError>,
) -> Result<Vec<T>, RepoError> {
    match rows.first() {
        Some(first) => session_ok(first)?,
        None => return Err(RepoError::SessionInactive),
    }
    rows.iter()
        .filter_map(|row| item(row, 1).transpose())
        .collect()
}
