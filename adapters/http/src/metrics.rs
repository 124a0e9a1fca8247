//! `/metrics` in the Prometheus text format (0.0.4).
//!
//! - `http_requests_total{method,route,status}` and
//!   `http_request_duration_seconds{method,route,status}`: `route` is the
//!   route template (`/api/v1/tasks/{id}`), never the raw path, and
//!   `unmatched` for paths no route serves, so labels stay few.
//! - `db_pool_size`, `db_pool_available`, `db_pool_waiting`,
//!   `db_pool_max_size`: read from the `Readiness` port at each scrape.
//! - `db_errors_total{kind}`: use-case calls that failed on the database,
//!   as the application's telemetry counted them (whatever front end made
//!   the call): `unavailable` (unreachable or pool exhausted) and
//!   `internal` (an internal error of the use cases, almost always storage).
//!
//! Each router has its own registry, so tests never share counters.
//!
//! With a [`MetricsToken`] configured, a scrape must carry it as a bearer
//! token (401 otherwise); without one `/metrics` stays open, for local use.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};

use application::ports::PoolStats;
use application::telemetry::DbErrorCounts;

use crate::problem::ApiError;

/// The bearer token `/metrics` requires, when set. A secret: its `Debug`
/// never shows it.
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// `None` for an empty token, which would protect nothing.
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.trim().is_empty()).then_some(Self(token))
    }
}

/// Compares digests, like [`carries`], so equality leaks no timing either.
impl PartialEq for MetricsToken {
    fn eq(&self, other: &Self) -> bool {
        Sha256::digest(self.0.as_bytes()) == Sha256::digest(other.0.as_bytes())
    }
}

impl Eq for MetricsToken {}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken([redacted])")
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`. Compares
/// digests, so the time taken says nothing about how much of it matched.
fn carries(headers: &HeaderMap, token: &MetricsToken) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some((scheme, given)) = value.to_str().ok().and_then(|v| v.trim().split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && Sha256::digest(given.trim().as_bytes()) == Sha256::digest(token.0.as_bytes())
}

pub(crate) struct Metrics {
    token: Option<MetricsToken>,
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    db_errors: IntCounterVec,
    pool_size: IntGauge,
    pool_available: IntGauge,
    pool_waiting: IntGauge,
    pool_max_size: IntGauge,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl Metrics {
    /// # Errors
    /// 401 when a token is configured and `headers` do not carry it.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match &self.token {
            Some(token) if !carries(headers, token) => Err(ApiError::unauthorized()),
            _ => Ok(()),
        }
    }

    pub(crate) fn new(token: Option<MetricsToken>) -> Self {
        let registry = Registry::new();
        let labels = &["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route template and status.",
            ),
            labels,
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by route template and status.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        )
        .expect("valid metric");
        let db_errors = IntCounterVec::new(
            Opts::new(
                "db_errors_total",
                "Answers caused by a database error: unavailable (503) or internal (500).",
            ),
            &["kind"],
        )
        .expect("valid metric");
        for kind in ["unavailable", "internal"] {
            db_errors.with_label_values(&[kind]);
        }
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let pool_size = gauge("db_pool_size", "Connections the pool holds now.");
        let pool_available = gauge("db_pool_available", "Idle connections ready for use.");
        let pool_waiting = gauge("db_pool_waiting", "Requests waiting for a connection.");
        let pool_max_size = gauge("db_pool_max_size", "Most connections the pool may hold.");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(db_errors.clone()),
            Box::new(pool_size.clone()),
            Box::new(pool_available.clone()),
            Box::new(pool_waiting.clone()),
            Box::new(pool_max_size.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            token,
            registry,
            requests,
            latency,
            db_errors,
            pool_size,
            pool_available,
            pool_waiting,
            pool_max_size,
        }
    }

    pub(crate) fn observe_request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        latency: Duration,
    ) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(latency.as_secs_f64());
    }

    /// The text exposition, with the pool's and the telemetry's numbers
    /// as of now.
    pub(crate) fn render(&self, pool: PoolStats, db_errors: DbErrorCounts) -> String {
        for (kind, total) in [
            ("unavailable", db_errors.unavailable),
            ("internal", db_errors.internal),
        ] {
            let counter = self.db_errors.with_label_values(&[kind]);
            // The telemetry's count only grows; bring the counter up to it.
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.pool_size.set(as_i64(pool.size));
        self.pool_available.set(as_i64(pool.available));
        self.pool_waiting.set(as_i64(pool.waiting));
        self.pool_max_size.set(as_i64(pool.max_size));
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

pub(crate) const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;
