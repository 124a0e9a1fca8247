//! What every handler can reach: the use cases, the probes and metrics.

use std::ops::Deref;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use application::ports::Readiness;
use application::telemetry::LoggingTelemetry;
use application::use_cases::{AuthService, RecoveryService, TaskService};

use crate::metrics::Metrics;

/// Cloned for every request (axum hands each stateful layer and extractor
/// its own copy), so it is one `Arc`: one shared count to move per clone
/// instead of one per field.
#[derive(Clone)]
pub(crate) struct AppState(Arc<StateParts>);

impl AppState {
    pub(crate) fn new(parts: StateParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

pub(crate) struct StateParts {
    pub(crate) auth: Arc<AuthService>,
    pub(crate) tasks: Arc<TaskService>,
    pub(crate) recovery: Arc<RecoveryService>,
    pub(crate) readiness: Arc<dyn Readiness>,
    pub(crate) telemetry: Arc<LoggingTelemetry>,
    pub(crate) metrics: Arc<Metrics>,
    /// Set once shutdown begins: `/readyz` answers 503 from then on.
    pub(crate) shutting_down: Arc<AtomicBool>,
    /// The OpenAPI document, rendered once.
    pub(crate) openapi_json: Arc<String>,
    pub(crate) body_limit_bytes: usize,
    pub(crate) trust_forwarded_for: bool,
}
