//! Use cases, grouped by what they act on.

mod admin;
mod auth;
mod fingerprint;
mod mail_text;
mod outbox_sender;
mod recovery;
mod task_input;
mod tasks;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod outbox_sender_tests;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod task_input_tests;
#[cfg(test)]
mod tasks_tests;

pub use admin::{AdminService, ExportSink, SinkError, EXPORT_PAGE_SIZE};
pub use auth::{AuthService, LoggedIn, LoginInput, RegisterInput, DEFAULT_MAX_ACTIVE_SESSIONS};
pub use mail_text::{MailTexts, RESET_VALID_MINUTES, VERIFICATION_VALID_HOURS};
pub use outbox_sender::{OutboxSender, RetryPolicy, SweepReport};
pub use recovery::{
    PasswordResetInput, RecoveryService, ResetConfirmInput, TokenPolicy, VerifyEmailInput,
};
pub use task_input::{CreateTaskInput, ListTasksInput, UpdateTaskInput};
pub use tasks::{TaskPage, TaskService};
