//! The composition root: builds every adapter from the settings, hands them
//! to the use cases, binds the listener and serves until told to stop.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use adapter_crypto::{Argon2Hasher, JwtTokenService, SystemClock};
use adapter_http::{HttpSettings, PoolStats, Readiness, Services};
use adapter_postgres::{Database, LoginLimits, PostgresSettings, StartupError};
use application::ports::Clock;
use application::use_cases::{AuthService, TaskService};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

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
    Ok(pg)
}

/// Connects (with the start-up retries), migrates and checks the schema.
pub async fn prepare_database(settings: &Settings) -> Result<Database, StartError> {
    let database = Database::connect(postgres_settings(settings)?).await?;
    database.migrate().await?;
    database.check_schema().await?;
    Ok(database)
}

/// A built service: database ready, listener bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    database: Database,
    shutdown_grace: Duration,
}

impl Application {
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        // The hasher computes its dummy hash (tens of ms of CPU) while the
        // database start-up waits on the network.
        let queued_per_cpu = settings.auth.hash_queue_per_cpu;
        let hasher =
            tokio::task::spawn_blocking(move || Argon2Hasher::with_queued_per_cpu(queued_per_cpu));
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
        let auth_service = AuthService::new(
            database.user_repo(),
            database.session_repo(),
            Arc::new(hasher),
            Arc::new(tokens),
            clock.clone(),
            limiter,
            session_lifetime,
        )
        .with_max_active_sessions(auth.max_active_sessions_per_user);
        let task_service = TaskService::new(database.task_repo(), clock);
        let server = &settings.server;
        let http = HttpSettings {
            request_timeout: millis(server.request_timeout_ms),
            body_limit_bytes: server.body_limit_bytes,
            cors_allowed_origins: server.cors_allowed_origins.clone(),
            trust_forwarded_for: server.trust_forwarded_for,
        };
        let router = adapter_http::router(
            Services {
                auth: Arc::new(auth_service),
                tasks: Arc::new(task_service),
                readiness: Arc::new(DatabaseReadiness(database.clone())),
            },
            http,
        );
        let addr = format!("{}:{}", server.host, server.port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|cause| StartError::Listen { addr, cause })?;
        Ok(Self {
            listener,
            router,
            database,
            shutdown_grace: millis(server.shutdown_grace_ms),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives
    /// requests in flight the grace period, and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        });
        let grace = self.shutdown_grace;
        let mut serve = Box::pin(serve.into_future());
        let result = tokio::select! {
            result = &mut serve => result,
            () = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "requests still in flight after the shutdown grace period; closing");
                Ok(())
            }
        };
        self.database.close();
        result
    }
}

/// `/readyz` and `/metrics` see the pool through this.
struct DatabaseReadiness(Database);

#[async_trait]
impl Readiness for DatabaseReadiness {
    async fn database_ready(&self) -> bool {
        self.0.ping(Duration::from_secs(2)).await
    }

    fn pool_stats(&self) -> PoolStats {
        let status = self.0.pool_status();
        PoolStats {
            size: status.size,
            available: status.available,
            waiting: status.waiting,
            max_size: status.max_size,
        }
    }
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
