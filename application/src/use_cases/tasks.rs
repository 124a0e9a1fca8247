//! Task use cases. Each acts for a [`Principal`]; the repository checks
//! that its session is active in the same statement as the work.

use std::sync::Arc;

use domain::{Cursor, Task, TaskId};

use crate::ports::{Clock, IdempotencyKey, Principal, TaskRepo};
use crate::use_cases::{CreateTaskInput, ListTasksInput, UpdateTaskInput};
use crate::AppError;

/// One page of a listing and where the next one starts.
#[derive(Debug)]
pub struct TaskPage {
    pub items: Vec<Task>,
    pub next_cursor: Option<String>,
}

pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

pub struct TaskService {
    tasks: Arc<dyn TaskRepo>,
    clock: Arc<dyn Clock>,
}

impl TaskService {
    pub fn new(tasks: Arc<dyn TaskRepo>, clock: Arc<dyn Clock>) -> Self {
        Self { tasks, clock }
    }

    /// Creates a task. With an idempotency key, a repeat returns the first
    /// task and `created == false`.
    pub async fn create(
        &self,
        principal: &Principal,
        input: CreateTaskInput,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<(Task, bool), AppError> {
        if let Some(key) = &idempotency {
            let chars = key.key.chars().count();
            if chars == 0
                || chars > MAX_IDEMPOTENCY_KEY_CHARS
                || key.key.chars().any(|c| c.is_control())
            {
                return Err(AppError::validation(
                    "Idempotency-Key",
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"),
                ));
            }
        }
        let new_task = input.validate()?;
        let now = self.clock.now();
        let task = new_task.into_task(principal.user_id, now);
        let created = self
            .tasks
            .create(principal, now, &task, idempotency)
            .await?;
        Ok((created.task, created.created))
    }

    pub async fn list(
        &self,
        principal: &Principal,
        input: ListTasksInput,
    ) -> Result<TaskPage, AppError> {
        let mut query = input.validate()?;
        let limit = query.limit as usize;
        // One extra row tells whether another page exists.
        query.limit += 1;
        let mut items = self.tasks.list(principal, self.clock.now(), &query).await?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| Cursor::after(last, query.sort).encode())
        } else {
            None
        };
        Ok(TaskPage { items, next_cursor })
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<Task, AppError> {
        let id = parse_id(id)?;
        self.tasks
            .get(principal, self.clock.now(), id)
            .await
            .map_err(AppError::from)
    }

    /// Applies a PATCH. With `expected_version`, a stale version is
    /// `PreconditionFailed` and nothing is written.
    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        input: UpdateTaskInput,
        expected_version: Option<i64>,
    ) -> Result<Task, AppError> {
        let id = parse_id(id)?;
        let patch = input.validate()?;
        self.tasks
            .update(principal, self.clock.now(), id, &patch, expected_version)
            .await
            .map_err(AppError::from)
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<(), AppError> {
        let id = parse_id(id)?;
        self.tasks
            .delete(principal, self.clock.now(), id)
            .await
            .map_err(AppError::from)
    }
}

/// A malformed id names no task: "not found", like any unknown id.
fn parse_id(raw: &str) -> Result<TaskId, AppError> {
    raw.parse().map_err(|_| AppError::NotFound("task"))
}
