//! The standard [`Telemetry`]: logs the cause of every internal failure and
//! counts database failures, whichever front end the call came through.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ports::Telemetry;
use crate::AppError;

/// Database failures seen by the use cases since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbErrorCounts {
    /// Unreachable database, lost connection or exhausted pool (retryable).
    pub unavailable: u64,
    /// Internal failures: almost always storage, never shown to clients.
    pub internal: u64,
}

/// Logs through `tracing` and counts; front ends read the counts for their
/// own metrics (the HTTP adapter: `db_errors_total` on `/metrics`).
#[derive(Debug, Default)]
pub struct LoggingTelemetry {
    unavailable: AtomicU64,
    internal: AtomicU64,
}

impl LoggingTelemetry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn db_errors(&self) -> DbErrorCounts {
        DbErrorCounts {
            unavailable: self.unavailable.load(Ordering::Relaxed),
            internal: self.internal.load(Ordering::Relaxed),
        }
    }
}

impl Telemetry for LoggingTelemetry {
    fn record_failure(&self, use_case: &'static str, error: &AppError) {
        match error {
            AppError::Internal(_) => {
                self.internal.fetch_add(1, Ordering::Relaxed);
                tracing::error!(use_case, error = %error.cause_chain(), "internal error");
            }
            AppError::Unavailable { .. } => {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(use_case, "database unavailable");
            }
            _ => {}
        }
    }
}

/// Reports a use case's failure on its way out.
pub(crate) trait Reported: Sized {
    fn reported(self, telemetry: &dyn Telemetry, use_case: &'static str) -> Self;
}

impl<T> Reported for Result<T, AppError> {
    fn reported(self, telemetry: &dyn Telemetry, use_case: &'static str) -> Self {
        if let Err(err) = &self {
            telemetry.record_failure(use_case, err);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn database_failures_are_counted_by_kind_and_others_are_not() {
        let telemetry = LoggingTelemetry::new();
        telemetry.record_failure("tasks.get", &AppError::Internal("boom".into()));
        telemetry.record_failure(
            "tasks.get",
            &AppError::Unavailable {
                retry_after: Duration::from_secs(1),
            },
        );
        telemetry.record_failure("tasks.get", &AppError::NotFound("task"));
        assert_eq!(
            telemetry.db_errors(),
            DbErrorCounts {
                unavailable: 1,
                internal: 1
            }
        );
    }
}
