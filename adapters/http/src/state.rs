//! What every handler can reach: the use cases, the probes and metrics.

use std::sync::Arc;

use application::use_cases::{AuthService, TaskService};

use crate::metrics::Metrics;
use crate::Readiness;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) auth: Arc<AuthService>,
    pub(crate) tasks: Arc<TaskService>,
    pub(crate) readiness: Arc<dyn Readiness>,
    pub(crate) metrics: Arc<Metrics>,
    /// The OpenAPI document, rendered once.
    pub(crate) openapi_json: Arc<String>,
    pub(crate) body_limit_bytes: usize,
    pub(crate) trust_forwarded_for: bool,
}
