//! Accounts and sessions: register, login, and authenticating a bearer
//! token. The other account use cases are `impl AuthService` blocks next
//! to this file: `sessions` (refresh, list, revoke, logout scopes),
//! `account` (password change, export, deletion) and `events`.

use std::sync::Arc;

use domain::{
    ClientInfo, Email, Password, SecurityEventKind, Session, Timestamp, User, UserAgent, UserName,
};
use futures_util::future::{join, select, Either};
use futures_util::pin_mut;

use crate::opaque_token::OpaqueToken;
use crate::ports::{
    Clock, LimitError, LoginLimiter, PasswordHasher, PendingEvent, Principal, RepoError,
    SecretSource, SecurityEventRepo, SessionRepo, TaskRepo, Telemetry, TokenService, UserRepo,
};
use crate::telemetry::{LoggingTelemetry, Reported};
use crate::{AppError, FieldError};

/// A registration as a front end received it: absent fields are `None`
/// and reported here, like every other rule.
#[derive(Debug, Clone, Default)]
pub struct RegisterInput {
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    /// Where the registration came from, for the `registered` event.
    pub client: Option<std::net::IpAddr>,
    /// The client's `User-Agent` (or its equivalent), as received.
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub email: Option<String>,
    pub password: Option<String>,
    /// The client's address, for the per-client failed-login limit and
    /// the session's record.
    pub client: Option<std::net::IpAddr>,
    /// The client's `User-Agent` (or its equivalent), as received.
    pub user_agent: Option<String>,
}

/// Where a request came from, as a front end received it.
pub fn client_info(ip: Option<std::net::IpAddr>, user_agent: Option<&str>) -> ClientInfo {
    ClientInfo {
        ip,
        user_agent: user_agent.and_then(UserAgent::from_header),
    }
}

/// A successful login or refresh: the short-lived bearer token and when it
/// stops working, the refresh token and when the session ends, and who.
pub struct LoggedIn {
    pub access_token: String,
    pub expires_at: Timestamp,
    pub refresh_token: String,
    pub refresh_expires_at: Timestamp,
    pub user: User,
}

pub struct AuthService {
    pub(super) users: Arc<dyn UserRepo>,
    pub(super) sessions: Arc<dyn SessionRepo>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    pub(super) tokens: Arc<dyn TokenService>,
    pub(super) secrets: Arc<dyn SecretSource>,
    pub(super) events: Arc<dyn SecurityEventRepo>,
    pub(super) task_repo: Arc<dyn TaskRepo>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) limiter: Arc<dyn LoginLimiter>,
    pub(super) session_lifetime: chrono::Duration,
    pub(super) access_ttl: chrono::Duration,
    pub(super) telemetry: Arc<dyn Telemetry>,
    pub(super) max_active_sessions: u32,
    /// When set, registration also queues the verification mail and
    /// writes the `registered` event, in the same statement as the user.
    pub(super) verification: Option<Arc<super::RecoveryService>>,
}

/// Active sessions one user may hold unless configured otherwise.
pub const DEFAULT_MAX_ACTIVE_SESSIONS: u32 = 10;

/// How long an access token works unless configured otherwise (seconds).
pub const DEFAULT_ACCESS_TTL_SECS: u32 = 900;

/// The ports the account use cases drive.
pub struct AuthPorts {
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenService>,
    pub secrets: Arc<dyn SecretSource>,
    pub events: Arc<dyn SecurityEventRepo>,
    /// For the export of the caller's tasks.
    pub tasks: Arc<dyn TaskRepo>,
    pub clock: Arc<dyn Clock>,
    pub limiter: Arc<dyn LoginLimiter>,
}

impl AuthService {
    /// Sessions last `session_lifetime` (the refresh token's life); access
    /// tokens [`DEFAULT_ACCESS_TTL_SECS`] unless [`AuthService::with_access_ttl`].
    pub fn new(ports: AuthPorts, session_lifetime: chrono::Duration) -> Self {
        Self {
            users: ports.users,
            sessions: ports.sessions,
            hasher: ports.hasher,
            tokens: ports.tokens,
            secrets: ports.secrets,
            events: ports.events,
            task_repo: ports.tasks,
            clock: ports.clock,
            limiter: ports.limiter,
            session_lifetime,
            access_ttl: chrono::Duration::seconds(i64::from(DEFAULT_ACCESS_TTL_SECS)),
            telemetry: Arc::new(LoggingTelemetry::new()),
            max_active_sessions: DEFAULT_MAX_ACTIVE_SESSIONS,
            verification: None,
        }
    }

    /// Registration stores the user through `recovery`'s store, with the
    /// verification mail and the `registered` event in the same statement.
    pub fn with_email_verification(mut self, recovery: Arc<super::RecoveryService>) -> Self {
        self.verification = Some(recovery);
        self
    }

    /// Access tokens work for `ttl` (at least one second), never past
    /// their session's end.
    pub fn with_access_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.access_ttl = ttl.max(chrono::Duration::seconds(1));
        self
    }

    /// At most `max` (at least 1) active sessions per user: a login past it
    /// ends the user's oldest.
    pub fn with_max_active_sessions(mut self, max: u32) -> Self {
        self.max_active_sessions = max.max(1);
        self
    }

    /// Reports failures to `telemetry` instead of a private
    /// [`LoggingTelemetry`].
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Creates an account. Every invalid field is reported at once.
    pub async fn register(&self, input: RegisterInput) -> Result<User, AppError> {
        self.register_inner(input)
            .await
            .reported(self.telemetry.as_ref(), "auth.register")
    }

    async fn register_inner(&self, input: RegisterInput) -> Result<User, AppError> {
        let mut errors = Vec::new();
        let email = match input.email.as_deref() {
            None => {
                errors.push(FieldError::new("email", "is required"));
                None
            }
            Some(raw) => Email::parse(raw)
                .map_err(|e| errors.push(FieldError::new("email", e)))
                .ok(),
        };
        let password = match input.password.as_deref() {
            None => {
                errors.push(FieldError::new("password", "is required"));
                None
            }
            Some(raw) => Password::parse(raw)
                .map_err(|e| errors.push(FieldError::new("password", e)))
                .ok(),
        };
        let name = match input.name.as_deref() {
            None => None,
            // PostgreSQL text cannot hold NUL.
            Some(raw) if raw.contains('\0') => {
                errors.push(FieldError::new("name", "must not contain NUL characters"));
                None
            }
            Some(raw) => UserName::parse(raw)
                .map_err(|e| errors.push(FieldError::new("name", e)))
                .ok(),
        };
        let (Some(email), Some(password)) = (email, password) else {
            return Err(AppError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let hash = self.hasher.hash(&password).await?;
        let user = User::register(email, name, hash, self.clock.now());
        let stored = match &self.verification {
            Some(recovery) => {
                let client = client_info(input.client, input.user_agent.as_deref());
                recovery.register(&user, &client).await
            }
            None => self.users.create(&user).await,
        };
        match stored {
            Ok(()) => Ok(user),
            Err(RepoError::EmailTaken) => Err(AppError::Conflict("email already registered")),
            Err(other) => Err(other.into()),
        }
    }

    /// Checks the credentials and starts a session. Unknown email and wrong
    /// password are the same `InvalidCredentials` after the same amount of
    /// work.
    ///
    /// The limiter's reservation is taken before the hash, in parallel with
    /// the user lookup, so a failed login costs two round trips of latency
    /// (three statements: the last writes `login_failed` when the email is
    /// an account's, and runs for unknown emails too, so both cost the
    /// same) and a successful one two (four statements: the session insert,
    /// with its refresh token and `login_succeeded`, and the limiter's
    /// settlement also run in parallel).
    pub async fn login(&self, input: LoginInput) -> Result<LoggedIn, AppError> {
        self.login_inner(input)
            .await
            .reported(self.telemetry.as_ref(), "auth.login")
    }

    async fn login_inner(&self, input: LoginInput) -> Result<LoggedIn, AppError> {
        let client = client_info(input.client, input.user_agent.as_deref());
        let (email, password) = match (input.email, input.password) {
            (Some(email), Some(password)) => (email, password),
            (email, password) => {
                let mut missing = Vec::new();
                if email.is_none() {
                    missing.push(FieldError::new("email", "is required"));
                }
                if password.is_none() {
                    missing.push(FieldError::new("password", "is required"));
                }
                return Err(AppError::Validation(missing));
            }
        };
        if let Some(retry_after) = self.hasher.busy() {
            // Refused before any database work: a burst stays cheap.
            return Err(AppError::Unavailable { retry_after });
        }
        let now = self.clock.now();
        let parsed = Email::parse(&email).ok();
        // The limiter counts the address as accounts compare it (caseless,
        // NFC); what does not parse still counts, by its trimmed lower case.
        let limiter_key = match &parsed {
            Some(email) => email.as_str().to_owned(),
            None => email.trim().to_lowercase(),
        };
        let find_user = async {
            match &parsed {
                Some(email) => self.users.find_by_email(email).await,
                None => Ok(None),
            }
        };
        let reserve = self.limiter.reserve(&limiter_key, input.client, now);
        pin_mut!(find_user, reserve);
        // The reservation and the lookup run together; a refusal (often
        // answered from the limiter's memory during a flood) ends the login
        // at once instead of waiting for the lookup's round trip.
        let (reserved, user) = match select(reserve, find_user).await {
            Either::Left((reserved @ Err(LimitError::Limited { .. }), _)) => (reserved, Ok(None)),
            Either::Left((reserved, find_user)) => (reserved, find_user.await),
            Either::Right((user, reserve)) => (reserve.await, user),
        };
        let reservation = match reserved {
            Ok(reservation) => reservation,
            Err(LimitError::Limited { retry_after }) => {
                return Err(AppError::TooManyAttempts { retry_after })
            }
            Err(LimitError::Store(err)) => return Err(err.into()),
        };
        let password = Password::for_login(&password);
        let checked = match user {
            Ok(user) => self.check_password(&password, user).await,
            Err(err) => Err(err.into()),
        };
        let user = match checked {
            Ok(Some(user)) => user,
            // Wrong password or unknown email: the reservation stays counted.
            Ok(None) => {
                if let Some(email) = &parsed {
                    self.record_failed_login(email, now, &client).await;
                }
                return Err(AppError::InvalidCredentials);
            }
            Err(err) => {
                // Nothing was checked (hasher busy, store down): hand the
                // slot back so the refusal is not counted as a guess.
                if let Err(release) = self.limiter.release(&reservation).await {
                    tracing::warn!(error = %release, "could not release a login reservation");
                }
                return Err(err);
            }
        };
        let session = Session::start(user.id, now, self.session_lifetime).from_client(&client);
        let refresh_token = self.new_refresh_token()?;
        let event = PendingEvent::new(
            SecurityEventKind::LoginSucceeded,
            now,
            &client,
            Some(session.id),
        );
        let (stored, settled) = join(
            self.sessions.create(
                &session,
                &refresh_token.digest(),
                self.max_active_sessions,
                &event,
            ),
            self.limiter.succeeded(&reservation),
        )
        .await;
        stored?;
        if let Err(err) = settled {
            // The login stands; the slot stays counted until it expires.
            tracing::warn!(error = %err, "could not settle a successful login with the limiter");
        }
        self.logged_in(&session, user, refresh_token, now)
    }

    /// A fresh refresh token (only its digest is ever stored).
    pub(super) fn new_refresh_token(&self) -> Result<OpaqueToken, AppError> {
        Ok(OpaqueToken::from_bytes(&self.secrets.token_bytes()?))
    }

    /// The answer for a session that holds `refresh_token` from `now` on.
    pub(super) fn logged_in(
        &self,
        session: &Session,
        user: User,
        refresh_token: OpaqueToken,
        now: Timestamp,
    ) -> Result<LoggedIn, AppError> {
        let expires_at = session.access_expiry(now, self.access_ttl);
        let access_token = self.tokens.issue(session, now, expires_at)?;
        Ok(LoggedIn {
            access_token,
            expires_at,
            refresh_token: refresh_token.into_exposed(),
            refresh_expires_at: session.expires_at,
            user,
        })
    }

    /// Writes `login_failed` for the account with `email`, if there is one.
    /// The statement runs whether or not there is, so a wrong password and
    /// an unknown email still cost the same; a failure to write is logged,
    /// never answered (the login is refused either way).
    pub(super) async fn record_failed_login(
        &self,
        email: &Email,
        now: Timestamp,
        client: &ClientInfo,
    ) {
        let event = PendingEvent::new(SecurityEventKind::LoginFailed, now, client, None);
        if let Err(err) = self.events.record_for_email(email, &event).await {
            tracing::warn!(error = %err, "could not record a failed login");
        }
    }

    /// `Some(user)` when `password` is theirs; `None` for a wrong password
    /// or no user, after a verify of the same cost either way.
    async fn check_password(
        &self,
        password: &Password,
        user: Option<User>,
    ) -> Result<Option<User>, AppError> {
        match user {
            Some(user) => {
                let ok = self.hasher.verify(password, &user.password_hash).await?;
                Ok(ok.then_some(user))
            }
            None => {
                // Same cost as a real verify, so timing reveals nothing.
                self.hasher
                    .verify(password, &self.hasher.dummy_hash())
                    .await?;
                Ok(None)
            }
        }
    }

    /// Who a bearer token speaks for, judged by the token alone. Task use
    /// cases pass the result to repositories, which check the session in
    /// the same statement as their work.
    pub fn principal(&self, token: &str) -> Result<Principal, AppError> {
        self.tokens
            .verify(token, self.clock.now())
            .map_err(AppError::from)
            .reported(self.telemetry.as_ref(), "auth.principal")
    }

    /// The principal's user, provided its session is active right now.
    pub async fn current_user(&self, principal: &Principal) -> Result<User, AppError> {
        let result = self.sessions.active_user(principal, self.clock.now()).await;
        result
            .map_err(AppError::from)
            .reported(self.telemetry.as_ref(), "auth.current_user")
    }
}

/// Shows everything but the secrets.
impl std::fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("user", &self.user)
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}
