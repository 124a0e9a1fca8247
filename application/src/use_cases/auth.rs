//! Accounts and sessions: register, login, logout, and authenticating a
//! bearer token.

use std::sync::Arc;

use domain::{Email, Password, Session, Timestamp, User, UserName};

use crate::ports::{
    Clock, LoginLimiter, PasswordHasher, Principal, RepoError, SessionRepo, Telemetry,
    TokenService, UserRepo,
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
}

#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub email: Option<String>,
    pub password: Option<String>,
    /// The client's address, for the per-client failed-login limit.
    pub client: Option<std::net::IpAddr>,
}

/// A successful login: the bearer token, when it stops working, and who.
#[derive(Debug)]
pub struct LoggedIn {
    pub access_token: String,
    pub expires_at: Timestamp,
    pub user: User,
}

pub struct AuthService {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenService>,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn LoginLimiter>,
    session_lifetime: chrono::Duration,
    telemetry: Arc<dyn Telemetry>,
}

impl AuthService {
    pub fn new(
        users: Arc<dyn UserRepo>,
        sessions: Arc<dyn SessionRepo>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenService>,
        clock: Arc<dyn Clock>,
        limiter: Arc<dyn LoginLimiter>,
        session_lifetime: chrono::Duration,
    ) -> Self {
        Self {
            users,
            sessions,
            hasher,
            tokens,
            clock,
            limiter,
            session_lifetime,
            telemetry: Arc::new(LoggingTelemetry::new()),
        }
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
        match self.users.create(&user).await {
            Ok(()) => Ok(user),
            Err(RepoError::EmailTaken) => Err(AppError::Conflict("email already registered")),
            Err(other) => Err(other.into()),
        }
    }

    /// Checks the credentials and starts a session. Unknown email and wrong
    /// password are the same `Unauthorized` after the same amount of work.
    pub async fn login(&self, input: LoginInput) -> Result<LoggedIn, AppError> {
        self.login_inner(input)
            .await
            .reported(self.telemetry.as_ref(), "auth.login")
    }

    async fn login_inner(&self, input: LoginInput) -> Result<LoggedIn, AppError> {
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
        let now = self.clock.now();
        let limiter_key = email.trim().to_lowercase();
        let client = input.client;
        if let Err(retry_after) = self.limiter.check(&limiter_key, client, now) {
            return Err(AppError::TooManyAttempts { retry_after });
        }
        let password = Password::for_login(&password);
        let user = match Email::parse(&email) {
            Ok(email) => self.users.find_by_email(&email).await?,
            Err(_) => None,
        };
        let verified = match &user {
            Some(user) => self.hasher.verify(&password, &user.password_hash).await?,
            None => {
                // Same cost as a real verify, so timing reveals nothing.
                self.hasher
                    .verify(&password, &self.hasher.dummy_hash())
                    .await?;
                false
            }
        };
        let user = match (user, verified) {
            (Some(user), true) => user,
            _ => {
                self.limiter.record_failure(&limiter_key, client, now);
                return Err(AppError::InvalidCredentials);
            }
        };
        let session = Session::start(user.id, now, self.session_lifetime);
        self.sessions.create(&session).await?;
        self.limiter.record_success(&limiter_key, client);
        let access_token = self.tokens.issue(&session)?;
        Ok(LoggedIn {
            access_token,
            expires_at: session.expires_at,
            user,
        })
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

    /// Revokes the principal's session: its token is refused from now on.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AppError> {
        let result = self.sessions.revoke(principal, self.clock.now()).await;
        result
            .map_err(AppError::from)
            .reported(self.telemetry.as_ref(), "auth.logout")
    }
}
