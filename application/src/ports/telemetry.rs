use crate::AppError;

/// Where use cases report their failures, so every front end gets the same
/// logs of internal causes and the same database-error counts without
/// doing anything itself.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Telemetry: Send + Sync {
    /// `use_case` (e.g. `"tasks.create"`) failed with `error`. Called once
    /// per failed use-case call, whatever the kind of error.
    fn record_failure(&self, use_case: &'static str, error: &AppError);
}
