//! What every handler can reach: the use cases, the probes and metrics.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use application::ports::Readiness;
use application::telemetry::LoggingTelemetry;
use application::use_cases::{AuthService, RecoveryService, TaskService};

use crate::metrics::Metrics;

#[derive(Clone)]
pub(crate) struct AppState {
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
