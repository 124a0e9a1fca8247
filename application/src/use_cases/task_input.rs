//! Raw task input as a front end receives it, and its validation into
//! domain values. Every invalid field is reported, not just the first.

use chrono::{DateTime, Timelike, Utc};
use domain::task_query::{MAX_LIMIT, MAX_SEARCH_CHARS};
use domain::{
    Cursor, Description, NewTask, Priority, TaskPatch, TaskQuery, TaskSort, Timestamp, Title,
};

use crate::{AppError, FieldError};

/// A create request's fields, unvalidated.
#[derive(Debug, Clone, Default)]
pub struct CreateTaskInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub completed: Option<bool>,
    pub priority: Option<String>,
    pub due_at: Option<String>,
}

/// A PATCH body's fields: outer `None` is "absent", `Some(None)` is "null".
#[derive(Debug, Clone, Default)]
pub struct UpdateTaskInput {
    pub title: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub completed: Option<Option<bool>>,
    pub priority: Option<Option<String>>,
    pub due_at: Option<Option<String>>,
}

/// A list request's query parameters, as text.
#[derive(Debug, Clone, Default)]
pub struct ListTasksInput {
    pub completed: Option<String>,
    pub q: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub sort: Option<String>,
}

/// Collects field errors while parsing, then yields all of them at once.
#[derive(Default)]
struct Fields(Vec<FieldError>);

impl Fields {
    fn check<T, E: ToString>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| self.0.push(FieldError::new(field, e)))
            .ok()
    }

    fn null(&mut self, field: &str) {
        self.0.push(FieldError::new(field, "must not be null"));
    }

    fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.0))
        }
    }
}

/// RFC 3339, kept to PostgreSQL's microsecond precision; the instant must
/// stay in the four-digit years once in UTC (`domain::task::check_due_at`),
/// so it is answered as RFC 3339 too.
fn parse_due_at(raw: &str) -> Result<Timestamp, String> {
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| "must be an RFC 3339 timestamp".to_owned())?
        .with_timezone(&Utc);
    let micros = parsed.timestamp_subsec_nanos() / 1_000 * 1_000;
    let truncated = parsed
        .with_nanosecond(micros)
        .ok_or_else(|| "is out of range".to_owned())?;
    domain::task::check_due_at(truncated).map_err(|e| e.to_string())
}

impl CreateTaskInput {
    pub fn validate(self) -> Result<NewTask, AppError> {
        let mut fields = Fields::default();
        let title = match self.title {
            Some(raw) => fields.check("title", Title::parse(&raw)),
            None => {
                fields.0.push(FieldError::new("title", "is required"));
                None
            }
        };
        let description = match self.description {
            Some(raw) => fields
                .check("description", Description::parse(&raw))
                .map(Some),
            None => Some(None),
        };
        let priority = match self.priority {
            Some(raw) => fields.check("priority", raw.parse::<Priority>()),
            None => Some(Priority::default()),
        };
        let due_at = match self.due_at {
            Some(raw) => fields.check("due_at", parse_due_at(&raw)).map(Some),
            None => Some(None),
        };
        fields.finish()?;
        match (title, description, priority, due_at) {
            (Some(title), Some(description), Some(priority), Some(due_at)) => Ok(NewTask {
                title,
                description,
                completed: self.completed.unwrap_or(false),
                priority,
                due_at,
            }),
            _ => Err(AppError::validation("body", "is invalid")),
        }
    }
}

impl UpdateTaskInput {
    pub fn validate(self) -> Result<TaskPatch, AppError> {
        let mut fields = Fields::default();
        let mut patch = TaskPatch::default();
        match self.title {
            None => {}
            Some(None) => fields.null("title"),
            Some(Some(raw)) => patch.title = fields.check("title", Title::parse(&raw)),
        }
        match self.description {
            None => {}
            Some(None) => patch.description = Some(None),
            Some(Some(raw)) => {
                patch.description = fields
                    .check("description", Description::parse(&raw))
                    .map(Some)
            }
        }
        match self.completed {
            None => {}
            Some(None) => fields.null("completed"),
            Some(Some(done)) => patch.completed = Some(done),
        }
        match self.priority {
            None => {}
            Some(None) => fields.null("priority"),
            Some(Some(raw)) => patch.priority = fields.check("priority", raw.parse::<Priority>()),
        }
        match self.due_at {
            None => {}
            Some(None) => patch.due_at = Some(None),
            Some(Some(raw)) => patch.due_at = fields.check("due_at", parse_due_at(&raw)).map(Some),
        }
        fields.finish()?;
        Ok(patch)
    }
}

impl ListTasksInput {
    pub fn validate(self) -> Result<TaskQuery, AppError> {
        let mut fields = Fields::default();
        let completed = match self.completed.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                fields
                    .0
                    .push(FieldError::new("completed", "must be true or false"));
                None
            }
        };
        let search = match self.q {
            Some(q) if q.contains('\0') => {
                fields
                    .0
                    .push(FieldError::new("q", "must not contain NUL characters"));
                None
            }
            Some(q) if q.chars().count() > MAX_SEARCH_CHARS => {
                fields.0.push(FieldError::new(
                    "q",
                    format!("must be at most {MAX_SEARCH_CHARS} characters"),
                ));
                None
            }
            Some(q) if q.is_empty() => None,
            other => other,
        };
        let limit = match self.limit.as_deref() {
            None => domain::task_query::DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    fields.0.push(FieldError::new(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ));
                    1
                }
            },
        };
        let sort = match self.sort.as_deref() {
            None => TaskSort::default(),
            Some(raw) => raw.parse::<TaskSort>().unwrap_or_else(|()| {
                fields.0.push(FieldError::new(
                    "sort",
                    "must be one of: created_at, -created_at, due_at, priority",
                ));
                TaskSort::default()
            }),
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => fields.check("cursor", Cursor::decode(raw, sort)),
        };
        fields.finish()?;
        Ok(TaskQuery {
            completed,
            search,
            sort,
            limit,
            after,
        })
    }
}
