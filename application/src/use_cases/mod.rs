//! Use cases, grouped by what they act on.

mod admin;
mod auth;
mod fingerprint;
mod task_input;
mod tasks;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod task_input_tests;
#[cfg(test)]
mod tasks_tests;

pub use admin::{AdminService, ExportSink, SinkError, EXPORT_PAGE_SIZE};
pub use auth::{AuthService, LoggedIn, LoginInput, RegisterInput, DEFAULT_MAX_ACTIVE_SESSIONS};
pub use task_input::{CreateTaskInput, ListTasksInput, UpdateTaskInput};
pub use tasks::{TaskPage, TaskService};
