//! The todo service's domain: entities and value objects with their rules.
//!
//! Layout:
//! - [`ids`]: UUID v7 identifiers for users, sessions and tasks.
//! - [`email`], [`password`], [`user`]: accounts.
//! - [`session`]: login sessions and when they stop being valid.
//! - [`security_event`]: what happened to an account (event kinds, user agents).
//! - [`task`]: tasks, their fields' rules and the PATCH semantics.
//! - [`task_query`]: filters, sort orders and opaque page cursors for listing.
//! - [`text`]: what counts as blank, and the characters text fields refuse.
//!
//! Every value object has a private field and one validating constructor, so a
//! value that exists is valid everywhere. Nothing here does I/O.

pub mod email;
pub mod ids;
pub mod password;
pub mod security_event;
pub mod session;
pub mod task;
pub mod task_query;
pub mod text;
pub mod user;

/// Instants are UTC with microsecond precision, which is what PostgreSQL keeps.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

pub use email::{Email, EmailError};
pub use ids::{EventId, MailId, SessionId, TaskId, UserId};
pub use password::{Password, PasswordError, PasswordHash};
pub use security_event::{
    ClientInfo, EventCursor, MalformedEventCursor, SecurityEvent, SecurityEventKind,
    UnknownEventKind, UserAgent,
};
pub use session::Session;
pub use task::{Description, NewTask, Priority, Task, TaskPatch, Title, ValidationError};
pub use task_query::{Cursor, CursorError, TaskQuery, TaskSort};
pub use user::{User, UserName};
