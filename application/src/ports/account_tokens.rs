use async_trait::async_trait;
use domain::{ClientInfo, Email, PasswordHash, Timestamp, User};

use super::{Principal, RepoError};
use crate::opaque_token::{OpaqueToken, TokenDigest};

/// A freshly issued single-use token: the raw value goes into the outbox
/// (and the mail), only its digest into `account_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: OpaqueToken,
    pub digest: TokenDigest,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a resend request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendOutcome {
    Queued,
    AlreadyVerified,
    /// The user already has the most outstanding tokens allowed.
    Limited,
}

/// Account changes that queue mail or spend a mailed token. Each method is
/// ONE statement: the change, its token, its outbox row and its security
/// event commit together or not at all.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountTokenStore: Send + Sync {
    /// Stores a new user with their email-verification token, its outbox
    /// row and the `registered` event. Safe to replay.
    ///
    /// # Errors
    /// `EmailTaken` when the email is registered (case-insensitively).
    async fn register(
        &self,
        user: &User,
        verification: &IssuedToken,
        client: &ClientInfo,
    ) -> Result<(), RepoError>;

    /// Runs whether or not `email` has an account, doing the same work:
    /// when it has one with fewer than `max_outstanding` unused, unexpired
    /// reset tokens, stores `reset`, its outbox row and the
    /// `password_reset_requested` event. Returns whether mail was queued.
    async fn request_password_reset(
        &self,
        email: &Email,
        reset: &IssuedToken,
        max_outstanding: u32,
        client: &ClientInfo,
    ) -> Result<bool, RepoError>;

    /// When `digest` names an unused reset token valid at `now`: marks it
    /// (and the user's other reset tokens) used, stores `new_hash`, revokes
    /// every session of the user and writes `password_reset`. Returns
    /// whether the token was good.
    async fn confirm_password_reset(
        &self,
        digest: &TokenDigest,
        new_hash: &PasswordHash,
        now: Timestamp,
        client: &ClientInfo,
    ) -> Result<bool, RepoError>;

    /// When `digest` names an unused verification token valid at `now`:
    /// marks it used, sets `email_verified` and writes `email_verified`.
    /// Returns whether the token was good.
    async fn verify_email(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
        client: &ClientInfo,
    ) -> Result<bool, RepoError>;

    /// Queues another verification mail for the principal's user unless
    /// they are verified or hold `max_outstanding` valid tokens already.
    ///
    /// # Errors
    /// `SessionInactive` when the principal's session is not active at
    /// `verification.created_at`.
    async fn resend_verification(
        &self,
        principal: &Principal,
        verification: &IssuedToken,
        max_outstanding: u32,
    ) -> Result<ResendOutcome, RepoError>;
}
