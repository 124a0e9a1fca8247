//! The composition root: builds every adapter from the settings and hands
//! them to the use cases. No front end here: [`build_services`] returns
//! the front-end-neutral [`Services`], and the binary hands them to the
//! HTTP adapter's `serve` (or any other driving adapter).

use std::sync::Arc;
use std::time::Duration;

use adapter_postgres::{Database, LoginLimits, PostgresSettings, StartupError};
use adapter_security::{Argon2Hasher, JwtTokenService, OsRandom, SystemClock};
use application::ports::{Clock, Telemetry};
use application::telemetry::LoggingTelemetry;
use application::use_cases::{AuthPorts, AuthService, TaskService};
use application::Services;
use secrecy::ExposeSecret;

use crate::settings::{millis, Settings};

/// Why the service could not start; each is one clear message and an exit
/// code before the port opens.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] StartupError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {cause}")]
    Listen { addr: String, cause: std::io::Error },
}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Database(err) => err.exit_code(),
            Self::Config(_) => 2,
            Self::Listen { .. } => 3,
        }
    }
}

pub fn postgres_settings(settings: &Settings) -> Result<PostgresSettings, StartError> {
    let db = &settings.database;
    let url = db
        .url
        .as_ref()
        .ok_or(StartError::Database(StartupError::MissingUrl))?;
    let mut pg = PostgresSettings::new(url.expose_secret().to_owned());
    pg.require_neon_host = db.require_neon_host;
    pg.max_size = db.max_size;
    pg.wait_timeout = millis(db.wait_timeout_ms);
    pg.connect_timeout = millis(db.connect_timeout_ms);
    pg.connect_retry_budget = millis(db.startup_retry_budget_ms);
    pg.max_lifetime = Duration::from_secs(db.max_lifetime_secs);
    pg.idle_timeout = Duration::from_secs(db.idle_timeout_secs);
    pg.statement_timeout = millis(db.statement_timeout_ms);
    pg.tcp_user_timeout = Duration::from_secs(db.tcp_user_timeout_secs);
    pg.keepalive_idle = Duration::from_secs(db.keepalive_idle_secs);
    pg.prepared_statements = db.prepared_statements;
    pg.pipeline_depth = db.pipeline_depth;
    Ok(pg)
}

/// Connects (with the start-up retries), migrates and checks the schema.
pub async fn prepare_database(settings: &Settings) -> Result<Database, StartError> {
    let database = Database::connect(postgres_settings(settings)?).await?;
    database.migrate().await?;
    database.check_schema().await?;
    Ok(database)
}

/// Every use case, built from the settings over a migrated database.
pub struct Built {
    pub services: Services,
    database: Database,
    /// The outbox sender; stopped before the pool drains.
    mail_sender: adapter_mail::SenderTask,
}

impl Built {
    /// Drains the database pool (every connection sends Terminate, so
    /// PostgreSQL and the pooler log no abrupt disconnect); call once the
    /// front end has stopped.
    pub async fn close(&self) {
        // A send in progress may finish; then nothing touches the pool.
        self.mail_sender
            .shutdown(std::time::Duration::from_secs(5))
            .await;
        self.database.shutdown().await;
    }
}

/// Builds all use cases from `settings`, with no front end: connects,
/// migrates, checks the schema, and wires the adapters into the services.
pub async fn build_services(settings: &Settings) -> Result<Built, StartError> {
    // The hasher computes its dummy hash (tens of ms of CPU) while the
    // database start-up waits on the network.
    let queued_per_cpu = settings.auth.hash_queue_per_cpu;
    let hasher =
        tokio::task::spawn_blocking(move || Argon2Hasher::with_queued_per_cpu(queued_per_cpu));
    let mailer = crate::mail::mailer(&settings.mail)?;
    let database = prepare_database(settings).await?;
    let auth = &settings.auth;
    let secret = auth
        .jwt_secret
        .as_ref()
        .ok_or_else(|| StartError::Config("JWT_SECRET is required".into()))?;
    let tokens = JwtTokenService::new(
        secret.expose_secret().as_bytes(),
        &auth.issuer,
        &auth.audience,
    )
    .map_err(|e| StartError::Config(format!("auth: {e}")))?;
    let hasher = hasher
        .await
        .map_err(|e| StartError::Config(format!("password hasher: {e}")))?
        .map_err(|e| StartError::Config(format!("password hasher: {e}")))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let limiter = database.login_limiter(
        LoginLimits {
            max_failures_per_email: auth.login_max_failures_per_email,
            max_failures_per_client: auth.login_max_failures_per_client,
            window: Duration::from_secs(auth.login_window_secs),
        },
        secret.expose_secret().as_bytes(),
    );
    let session_lifetime = chrono::Duration::seconds(
        i64::try_from(auth.session_ttl_secs)
            .map_err(|_| StartError::Config("auth.session_ttl_secs is too large".into()))?,
    );
    let access_ttl = chrono::Duration::seconds(
        i64::try_from(auth.access_ttl_secs)
            .map_err(|_| StartError::Config("auth.access_ttl_secs is too large".into()))?,
    );
    let telemetry = Arc::new(LoggingTelemetry::new());
    let reported: Arc<dyn Telemetry> = telemetry.clone();
    let hasher: Arc<dyn application::ports::PasswordHasher> = Arc::new(hasher);
    let mail = crate::mail::build(
        &settings.mail,
        mailer,
        &database,
        hasher.clone(),
        clock.clone(),
        reported.clone(),
    );
    let auth_service = AuthService::new(
        AuthPorts {
            users: database.user_repo(),
            sessions: database.session_repo(),
            hasher,
            tokens: Arc::new(tokens),
            secrets: Arc::new(OsRandom),
            events: database.event_repo(),
            tasks: database.task_repo(),
            clock: clock.clone(),
            limiter,
        },
        session_lifetime,
    )
    .with_access_ttl(access_ttl)
    .with_max_active_sessions(auth.max_active_sessions_per_user)
    .with_telemetry(reported.clone())
    .with_email_verification(mail.recovery.clone());
    let task_service = TaskService::new(database.task_repo(), clock).with_telemetry(reported);
    Ok(Built {
        services: Services {
            auth: Arc::new(auth_service),
            tasks: Arc::new(task_service),
            recovery: mail.recovery,
            readiness: database.readiness(),
            telemetry,
        },
        database,
        mail_sender: mail.sender,
    })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing requests in flight");
}
