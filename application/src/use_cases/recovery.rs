//! Password reset and email verification by mailed single-use tokens.
//!
//! Every write that queues mail is one statement (the change, its token,
//! its outbox row and its security event together, see
//! [`AccountTokenStore`]); once it committed, the in-process sender is
//! woken ([`OutboxWaker`]) and delivers the mail.
//!
//! A reset request does the same work whether or not the account exists:
//! a token is drawn and hashed and the statement runs either way, and the
//! answer is the same. No password is hashed on that path at all.

use std::sync::Arc;

use std::net::IpAddr;

use domain::{ClientInfo, Email, User};

use crate::opaque_token::OpaqueToken;
use crate::ports::{
    AccountTokenStore, Clock, IssuedToken, OutboxWaker, PasswordHasher, Principal, RepoError,
    ResendOutcome, SecretSource, Telemetry, TokenError,
};
use crate::telemetry::{LoggingTelemetry, Reported};
use crate::use_cases::account::new_password_field;
use crate::use_cases::auth::client_info;
use crate::use_cases::mail_text::{RESET_VALID_MINUTES, VERIFICATION_VALID_HOURS};
use crate::{AppError, FieldError};

/// How long tokens last and how many may be outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    pub reset_ttl: chrono::Duration,
    pub verification_ttl: chrono::Duration,
    /// Unused, unexpired tokens of one purpose a user may hold: requests
    /// past it are answered the same but send nothing (no mail bombing).
    pub max_outstanding: u32,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            reset_ttl: chrono::Duration::minutes(RESET_VALID_MINUTES),
            verification_ttl: chrono::Duration::hours(VERIFICATION_VALID_HOURS),
            max_outstanding: 3,
        }
    }
}

/// Where a request came from, as a front end received it; the use case
/// keeps the user agent by the rule every event follows ([`client_info`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl EventContext {
    fn client(&self) -> ClientInfo {
        client_info(self.ip, self.user_agent.as_deref())
    }
}

#[derive(Debug, Clone, Default)]
pub struct PasswordResetInput {
    pub email: Option<String>,
    pub context: EventContext,
}

#[derive(Debug, Clone, Default)]
pub struct ResetConfirmInput {
    pub token: Option<String>,
    pub new_password: Option<String>,
    pub context: EventContext,
}

#[derive(Debug, Clone, Default)]
pub struct VerifyEmailInput {
    pub token: Option<String>,
    pub context: EventContext,
}

pub struct RecoveryService {
    store: Arc<dyn AccountTokenStore>,
    hasher: Arc<dyn PasswordHasher>,
    secrets: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
    waker: Arc<dyn OutboxWaker>,
    policy: TokenPolicy,
    telemetry: Arc<dyn Telemetry>,
}

impl RecoveryService {
    pub fn new(
        store: Arc<dyn AccountTokenStore>,
        hasher: Arc<dyn PasswordHasher>,
        secrets: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
        waker: Arc<dyn OutboxWaker>,
    ) -> Self {
        Self {
            store,
            hasher,
            secrets,
            clock,
            waker,
            policy: TokenPolicy::default(),
            telemetry: Arc::new(LoggingTelemetry::new()),
        }
    }

    pub fn with_policy(mut self, policy: TokenPolicy) -> Self {
        self.policy = TokenPolicy {
            max_outstanding: policy.max_outstanding.max(1),
            ..policy
        };
        self
    }

    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    fn issue(
        &self,
        created_at: domain::Timestamp,
        ttl: chrono::Duration,
    ) -> Result<IssuedToken, TokenError> {
        let token = OpaqueToken::from_bytes(&self.secrets.token_bytes()?);
        Ok(IssuedToken {
            digest: token.digest(),
            token,
            created_at,
            expires_at: created_at + ttl,
        })
    }

    /// Stores a new user together with their verification mail and the
    /// `registered` event (called by registration), then wakes the sender.
    pub(crate) async fn register(&self, user: &User, client: &ClientInfo) -> Result<(), RepoError> {
        let verification = self
            .issue(user.created_at, self.policy.verification_ttl)
            .map_err(|e| RepoError::Internal(Box::new(e)))?;
        self.store.register(user, &verification, client).await?;
        self.waker.wake();
        Ok(())
    }

    /// Mails a reset link when `email` has an account; answers the same,
    /// after the same work, when it has none.
    pub async fn request_password_reset(&self, input: PasswordResetInput) -> Result<(), AppError> {
        self.request_inner(input)
            .await
            .reported(self.telemetry.as_ref(), "recovery.request_password_reset")
    }

    async fn request_inner(&self, input: PasswordResetInput) -> Result<(), AppError> {
        let raw = input
            .email
            .ok_or_else(|| AppError::validation("email", "is required"))?;
        let email = Email::parse(&raw).map_err(|e| AppError::validation("email", e))?;
        let reset = self.issue(self.clock.now(), self.policy.reset_ttl)?;
        let queued = self
            .store
            .request_password_reset(
                &email,
                &reset,
                self.policy.max_outstanding,
                &input.context.client(),
            )
            .await?;
        if queued {
            self.waker.wake();
        }
        Ok(())
    }

    /// Sets a new password with a mailed reset token; every session of the
    /// user ends.
    pub async fn confirm_password_reset(&self, input: ResetConfirmInput) -> Result<(), AppError> {
        self.confirm_inner(input)
            .await
            .reported(self.telemetry.as_ref(), "recovery.confirm_password_reset")
    }

    async fn confirm_inner(&self, input: ResetConfirmInput) -> Result<(), AppError> {
        let mut errors = Vec::new();
        if input.token.is_none() {
            errors.push(FieldError::new("token", "is required"));
        }
        let password = new_password_field(input.new_password.as_deref(), &mut errors);
        let (Some(raw_token), Some(password), true) = (input.token, password, errors.is_empty())
        else {
            return Err(AppError::Validation(errors));
        };
        // A string that cannot be one of our tokens is refused before the
        // (deliberately slow) hash.
        let token = OpaqueToken::parse(&raw_token).ok_or(AppError::InvalidToken)?;
        let hash = self.hasher.hash(&password).await?;
        let done = self
            .store
            .confirm_password_reset(
                &token.digest(),
                &hash,
                self.clock.now(),
                &input.context.client(),
            )
            .await?;
        done.then_some(()).ok_or(AppError::InvalidToken)
    }

    /// Marks the user's address verified with a mailed verification token.
    pub async fn verify_email(&self, input: VerifyEmailInput) -> Result<(), AppError> {
        self.verify_inner(input)
            .await
            .reported(self.telemetry.as_ref(), "recovery.verify_email")
    }

    async fn verify_inner(&self, input: VerifyEmailInput) -> Result<(), AppError> {
        let raw = input
            .token
            .ok_or_else(|| AppError::validation("token", "is required"))?;
        let token = OpaqueToken::parse(&raw).ok_or(AppError::InvalidToken)?;
        let done = self
            .store
            .verify_email(&token.digest(), self.clock.now(), &input.context.client())
            .await?;
        done.then_some(()).ok_or(AppError::InvalidToken)
    }

    /// Mails the principal a new verification link, unless they are
    /// verified or already hold the most outstanding links allowed (the
    /// answer is the same: nothing tells the two apart from success).
    pub async fn resend_verification(&self, principal: &Principal) -> Result<(), AppError> {
        self.resend_inner(principal)
            .await
            .reported(self.telemetry.as_ref(), "recovery.resend_verification")
    }

    async fn resend_inner(&self, principal: &Principal) -> Result<(), AppError> {
        let verification = self.issue(self.clock.now(), self.policy.verification_ttl)?;
        let outcome = self
            .store
            .resend_verification(principal, &verification, self.policy.max_outstanding)
            .await?;
        if outcome == ResendOutcome::Queued {
            self.waker.wake();
        }
        Ok(())
    }
}
