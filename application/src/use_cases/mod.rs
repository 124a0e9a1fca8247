//! Use cases, grouped by what they act on.

mod account;
mod admin;
mod auth;
mod events;
mod fingerprint;
mod mail_text;
mod outbox_sender;
mod recovery;
mod sessions;
mod task_input;
mod tasks;

#[cfg(test)]
mod account_tests;
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

pub use account::{
    AccountExportSink, ChangePasswordInput, DeleteAccountInput, ACCOUNT_EXPORT_PAGE,
};
pub use admin::{AdminService, ExportSink, SinkError, EXPORTED_SESSIONS, EXPORT_PAGE_SIZE};
pub use auth::{
    client_info, AuthPorts, AuthService, LoggedIn, LoginInput, RegisterInput,
    DEFAULT_ACCESS_TTL_SECS, DEFAULT_MAX_ACTIVE_SESSIONS,
};
pub use events::{EventPage, ListEventsInput, DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT};
pub use mail_text::{MailTexts, RESET_VALID_MINUTES, VERIFICATION_VALID_HOURS};
pub use outbox_sender::{OutboxSender, RetryPolicy, SweepReport};
pub use recovery::{
    EventContext, PasswordResetInput, RecoveryService, ResetConfirmInput, TokenPolicy,
    VerifyEmailInput,
};
pub use sessions::{LogoutInput, RefreshInput, SessionView};
pub use task_input::{CreateTaskInput, ListTasksInput, UpdateTaskInput};
pub use tasks::{TaskPage, TaskService};
