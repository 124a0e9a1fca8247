//! Task use cases. Each acts for a [`Principal`]; the repository checks
//! that its session is active in the same statement as the work.

use std::sync::Arc;

use domain::{Cursor, Task, TaskId};

use crate::ports::{Clock, IdempotencyKey, Precondition, Principal, TaskRepo, Telemetry};
use crate::telemetry::{LoggingTelemetry, Reported};
use crate::use_cases::fingerprint;
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
    telemetry: Arc<dyn Telemetry>,
}

impl TaskService {
    /// Failures are logged by a private [`LoggingTelemetry`] until
    /// [`TaskService::with_telemetry`] names a shared one.
    pub fn new(tasks: Arc<dyn TaskRepo>, clock: Arc<dyn Clock>) -> Self {
        Self {
            tasks,
            clock,
            telemetry: Arc::new(LoggingTelemetry::new()),
        }
    }

    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Creates a task. With an idempotency key, a repeat of the same
    /// command (same meaning, however it was spelled) returns the first
    /// task and `created == false`; the same key with another command is a
    /// conflict.
    pub async fn create(
        &self,
        principal: &Principal,
        input: CreateTaskInput,
        idempotency_key: Option<String>,
    ) -> Result<(Task, bool), AppError> {
        self.create_inner(principal, input, idempotency_key)
            .await
            .reported(self.telemetry.as_ref(), "tasks.create")
    }

    async fn create_inner(
        &self,
        principal: &Principal,
        input: CreateTaskInput,
        idempotency_key: Option<String>,
    ) -> Result<(Task, bool), AppError> {
        let key_error = idempotency_key.as_deref().is_some_and(|key| {
            let chars = key.chars().count();
            chars == 0 || chars > MAX_IDEMPOTENCY_KEY_CHARS || key.chars().any(|c| c.is_control())
        });
        if key_error {
            return Err(AppError::validation(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"),
            ));
        }
        let new_task = input.validate()?;
        let idempotency = idempotency_key.map(|key| IdempotencyKey {
            key,
            fingerprint: fingerprint::of_new_task(&new_task),
        });
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
        self.list_inner(principal, input)
            .await
            .reported(self.telemetry.as_ref(), "tasks.list")
    }

    async fn list_inner(
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
        async {
            let id = parse_id(id)?;
            Ok(self.tasks.get(principal, self.clock.now(), id).await?)
        }
        .await
        .reported(self.telemetry.as_ref(), "tasks.get")
    }

    /// Applies a PATCH when `precondition` admits the stored version;
    /// otherwise `PreconditionFailed` and nothing is written. A patch that
    /// changes nothing keeps the version and `updated_at`.
    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        input: UpdateTaskInput,
        precondition: Precondition,
    ) -> Result<Task, AppError> {
        async {
            let id = parse_id(id)?;
            let patch = input.validate()?;
            Ok(self
                .tasks
                .update(principal, self.clock.now(), id, &patch, &precondition)
                .await?)
        }
        .await
        .reported(self.telemetry.as_ref(), "tasks.update")
    }

    /// Deletes a task when `precondition` admits its version.
    pub async fn delete(
        &self,
        principal: &Principal,
        id: &str,
        precondition: Precondition,
    ) -> Result<(), AppError> {
        async {
            let id = parse_id(id)?;
            Ok(self
                .tasks
                .delete(principal, self.clock.now(), id, &precondition)
                .await?)
        }
        .await
        .reported(self.telemetry.as_ref(), "tasks.delete")
    }
}

/// A malformed id names no task: "not found", like any unknown id.
fn parse_id(raw: &str) -> Result<TaskId, AppError> {
    raw.parse().map_err(|_| AppError::NotFound("task"))
}
