//! Tasks: the fields' rules, creation, and the PATCH semantics.

use std::fmt;
use std::str::FromStr;

use crate::{TaskId, Timestamp, UserId};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;

/// Why one field's value is refused; the message is shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must be one of: low, medium, high")]
    UnknownPriority,
    #[error("must not contain NUL characters")]
    NulCharacter,
}

/// PostgreSQL text cannot hold NUL, so it is refused up front instead of
/// failing in the database.
fn reject_nul(raw: &str) -> Result<(), ValidationError> {
    if raw.contains('\0') {
        Err(ValidationError::NulCharacter)
    } else {
        Ok(())
    }
}

/// A task title: 1..=200 characters, not blank after trimming. The text is
/// kept as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        reject_nul(raw)?;
        if raw.trim().is_empty() {
            return Err(ValidationError::Blank);
        }
        if raw.chars().count() > MAX_TITLE_CHARS {
            return Err(ValidationError::TooLong {
                max: MAX_TITLE_CHARS,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: at most 5000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        reject_nul(raw)?;
        if raw.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ValidationError::TooLong {
                max: MAX_DESCRIPTION_CHARS,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// Position in the `sort=priority` order: high first.
    pub fn rank(self) -> i16 {
        match self {
            Self::High => 0,
            Self::Medium => 1,
            Self::Low => 2,
        }
    }
}

impl FromStr for Priority {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            _ => Err(ValidationError::UnknownPriority),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub user_id: UserId,
    pub title: Title,
    pub description: Option<Description>,
    pub completed: bool,
    pub priority: Priority,
    pub due_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Starts at 1 and grows by one on every change; the HTTP ETag.
    pub version: i64,
}

/// The validated fields of a task to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub title: Title,
    pub description: Option<Description>,
    pub completed: bool,
    pub priority: Priority,
    pub due_at: Option<Timestamp>,
}

impl NewTask {
    pub fn into_task(self, user_id: UserId, now: Timestamp) -> Task {
        Task {
            id: TaskId::new(),
            user_id,
            title: self.title,
            description: self.description,
            completed: self.completed,
            priority: self.priority,
            due_at: self.due_at,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// A partial update with the contract's PATCH rules: `None` leaves a field
/// unchanged; for the optional fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskPatch {
    pub title: Option<Title>,
    pub description: Option<Option<Description>>,
    pub completed: Option<bool>,
    pub priority: Option<Priority>,
    pub due_at: Option<Option<Timestamp>>,
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The task after this patch. A patch that changes some value bumps the
    /// version and moves `updated_at` to `now`; one that changes nothing
    /// (empty, or every field already at its value) keeps both, so the
    /// client's ETag stays valid.
    /// The PostgreSQL adapter's update statement mirrors this function.
    pub fn apply(&self, task: &Task, now: Timestamp) -> Task {
        if self.is_empty() {
            return task.clone();
        }
        let mut next = task.clone();
        if let Some(title) = &self.title {
            next.title = title.clone();
        }
        if let Some(description) = &self.description {
            next.description = description.clone();
        }
        if let Some(completed) = self.completed {
            next.completed = completed;
        }
        if let Some(priority) = self.priority {
            next.priority = priority;
        }
        if let Some(due_at) = self.due_at {
            next.due_at = due_at;
        }
        if next == *task {
            // Every named field already holds its value: nothing changes.
            return next;
        }
        next.version += 1;
        next.updated_at = now;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use proptest::prelude::*;

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn sample_task() -> Task {
        NewTask {
            title: Title::parse("Buy milk").unwrap(),
            description: Some(Description::parse("2 litres").unwrap()),
            completed: false,
            priority: Priority::Medium,
            due_at: Some(t0()),
        }
        .into_task(UserId::new(), t0())
    }

    #[test]
    fn title_rules() {
        assert_eq!(Title::parse("   "), Err(ValidationError::Blank));
        assert_eq!(Title::parse(""), Err(ValidationError::Blank));
        assert!(Title::parse(&"t".repeat(200)).is_ok());
        assert_eq!(
            Title::parse(&"t".repeat(201)),
            Err(ValidationError::TooLong { max: 200 })
        );
        assert_eq!(Title::parse(" padded ").unwrap().as_str(), " padded ");
        assert_eq!(Title::parse("a\0b"), Err(ValidationError::NulCharacter));
    }

    #[test]
    fn description_rules() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"d".repeat(5000)).is_ok());
        assert!(Description::parse(&"d".repeat(5001)).is_err());
    }

    #[test]
    fn priority_parses_only_the_three_names() {
        assert_eq!("high".parse::<Priority>(), Ok(Priority::High));
        assert_eq!(
            "HIGH".parse::<Priority>(),
            Err(ValidationError::UnknownPriority)
        );
        assert_eq!(Priority::default(), Priority::Medium);
    }

    #[test]
    fn new_task_starts_at_version_1() {
        let task = sample_task();
        assert_eq!(task.version, 1);
        assert_eq!(task.created_at, task.updated_at);
    }

    #[test]
    fn absent_fields_are_unchanged_and_null_clears() {
        let task = sample_task();
        let later = t0() + Duration::minutes(5);
        let patch = TaskPatch {
            completed: Some(true),
            description: Some(None),
            due_at: Some(None),
            ..TaskPatch::default()
        };
        let next = patch.apply(&task, later);
        assert!(next.completed);
        assert_eq!(next.description, None);
        assert_eq!(next.due_at, None);
        assert_eq!(next.title, task.title);
        assert_eq!(next.priority, task.priority);
        assert_eq!(next.version, 2);
        assert_eq!(next.updated_at, later);
        assert_eq!(next.created_at, task.created_at);
    }

    #[test]
    fn empty_patch_changes_nothing() {
        let task = sample_task();
        assert_eq!(
            TaskPatch::default().apply(&task, t0() + Duration::hours(1)),
            task
        );
    }

    proptest! {
        #[test]
        fn title_parser_never_panics_and_keeps_text(raw in any::<String>()) {
            if let Ok(title) = Title::parse(&raw) {
                prop_assert_eq!(title.as_str(), raw.as_str());
                prop_assert!(!raw.trim().is_empty());
            }
        }
    }
}
