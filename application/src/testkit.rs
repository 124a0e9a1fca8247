//! A test kit for whoever extends the service: fixtures and builders for
//! users, sessions and tasks, and a [`Harness`] holding every port mocked
//! with a fixed clock. Behind the `mocks` feature (and in this crate's own
//! tests); the use-case tests and the HTTP adapter's tests both use it, so
//! a new front end's tests can start from the same fixtures.
//!
//! ```ignore
//! let mut h = Harness::new().accepting_token();
//! h.tasks.expect_get().returning(|_, _, _| Ok(task().build()));
//! let services = h.services();
//! ```

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use domain::{
    Description, Email, NewTask, PasswordHash, Priority, Session, SessionId, Task, Timestamp,
    Title, User, UserId, UserName,
};

use crate::ports::{
    MockClock, MockLoginLimiter, MockPasswordHasher, MockSecretSource, MockSecurityEventRepo,
    MockSessionRepo, MockTaskRepo, MockTokenService, MockUserRepo, PoolStats, Principal, Readiness,
    Reservation, Slot, TokenError,
};
use crate::telemetry::LoggingTelemetry;
use crate::use_cases::{AuthPorts, AuthService, TaskService};
use crate::Services;

/// The harness clock's instant: far from today, so code that reads the
/// system clock instead of the `Clock` port shows up.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0)
        .single()
        .expect("a valid instant")
}

/// The only bearer token [`Harness::accepting_token`] accepts.
pub const TOKEN: &str = "valid-token";

/// The random bytes [`Harness::issuing_refresh_tokens`] hands out.
pub const REFRESH_TOKEN_BYTES: [u8; 32] = [0xaa; 32];

/// The refresh token of [`REFRESH_TOKEN_BYTES`]: 43 base64url characters.
pub const REFRESH_TOKEN: &str = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo";

/// The access-token lifetime the harness gives [`AuthService`].
pub fn access_ttl() -> chrono::Duration {
    chrono::Duration::minutes(15)
}

/// The session lifetime the harness gives [`AuthService`].
pub fn session_lifetime() -> chrono::Duration {
    chrono::Duration::hours(1)
}

/// The caller [`TOKEN`] names: one user and session for the whole process.
pub fn principal() -> Principal {
    static PRINCIPAL: OnceLock<Principal> = OnceLock::new();
    *PRINCIPAL.get_or_init(|| Principal {
        user_id: UserId::new(),
        session_id: SessionId::new(),
    })
}

/// A fresh principal (another user), e.g. for ownership tests.
pub fn another_principal() -> Principal {
    Principal {
        user_id: UserId::new(),
        session_id: SessionId::new(),
    }
}

/// Builds a stored [`User`]; by default [`principal`]'s user,
/// `ada@example.com`, registered at [`t0`].
#[derive(Debug, Clone)]
pub struct UserBuilder {
    user: User,
}

pub fn user() -> UserBuilder {
    let mut user = User::register(
        Email::parse("ada@example.com").expect("a valid email"),
        None,
        PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$stored".to_owned()),
        t0(),
    );
    user.id = principal().user_id;
    UserBuilder { user }
}

impl UserBuilder {
    pub fn id(mut self, id: UserId) -> Self {
        self.user.id = id;
        self
    }

    pub fn email(mut self, email: &str) -> Self {
        self.user.email = Email::parse(email).expect("a valid email");
        self
    }

    pub fn name(mut self, name: &str) -> Self {
        self.user.name = Some(UserName::parse(name).expect("a valid name"));
        self
    }

    pub fn password_hash(mut self, phc: &str) -> Self {
        self.user.password_hash = PasswordHash::new(phc.to_owned());
        self
    }

    pub fn build(self) -> User {
        self.user
    }
}

/// A session of `user` started at [`t0`] for [`session_lifetime`].
pub fn session_of(user: &User) -> Session {
    Session::start(user.id, t0(), session_lifetime())
}

/// Builds a stored [`Task`]; by default "Buy milk" (2 litres, high
/// priority) of [`principal`]'s user, created at [`t0`], version 1.
#[derive(Debug, Clone)]
pub struct TaskBuilder {
    task: Task,
}

pub fn task() -> TaskBuilder {
    let task = NewTask {
        title: Title::parse("Buy milk").expect("a valid title"),
        description: Some(Description::parse("2 litres").expect("a valid description")),
        completed: false,
        priority: Priority::High,
        due_at: None,
    }
    .into_task(principal().user_id, t0());
    TaskBuilder { task }
}

impl TaskBuilder {
    pub fn owner(mut self, user_id: UserId) -> Self {
        self.task.user_id = user_id;
        self
    }

    pub fn title(mut self, title: &str) -> Self {
        self.task.title = Title::parse(title).expect("a valid title");
        self
    }

    pub fn description(mut self, description: Option<&str>) -> Self {
        self.task.description =
            description.map(|d| Description::parse(d).expect("a valid description"));
        self
    }

    pub fn completed(mut self, completed: bool) -> Self {
        self.task.completed = completed;
        self
    }

    pub fn priority(mut self, priority: Priority) -> Self {
        self.task.priority = priority;
        self
    }

    pub fn due_at(mut self, due_at: Option<Timestamp>) -> Self {
        self.task.due_at = due_at;
        self
    }

    pub fn created_at(mut self, at: Timestamp) -> Self {
        self.task.created_at = at;
        self.task.updated_at = at;
        self
    }

    pub fn version(mut self, version: i64) -> Self {
        self.task.version = version;
        self
    }

    pub fn build(self) -> Task {
        self.task
    }
}

/// Readiness with a fixed answer and fixed pool numbers.
#[derive(Debug, Clone, Copy)]
pub struct FixedReadiness {
    pub ready: bool,
    pub pool: PoolStats,
}

impl Default for FixedReadiness {
    fn default() -> Self {
        Self {
            ready: true,
            pool: PoolStats {
                size: 7,
                available: 3,
                waiting: 2,
                max_size: 15,
            },
        }
    }
}

#[async_trait]
impl Readiness for FixedReadiness {
    async fn database_ready(&self) -> bool {
        self.ready
    }

    fn pool_stats(&self) -> PoolStats {
        self.pool
    }
}

/// Every port, mocked (strict: a call nobody expected panics), a clock
/// fixed at `now` ([`t0`] unless changed) and real telemetry. Set
/// expectations on the public fields, then build the services.
pub struct Harness {
    pub users: MockUserRepo,
    pub sessions: MockSessionRepo,
    pub hasher: MockPasswordHasher,
    pub tokens: MockTokenService,
    pub secrets: MockSecretSource,
    pub events: MockSecurityEventRepo,
    pub limiter: MockLoginLimiter,
    pub tasks: MockTaskRepo,
    pub readiness: Arc<dyn Readiness>,
    pub telemetry: Arc<LoggingTelemetry>,
    pub now: Timestamp,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// Bare mocks: no expectation at all, the clock at [`t0`].
    pub fn new() -> Self {
        Self {
            users: MockUserRepo::new(),
            sessions: MockSessionRepo::new(),
            hasher: {
                // Never at capacity unless a test replaces the hasher.
                let mut hasher = MockPasswordHasher::new();
                hasher.expect_busy().return_const(None);
                hasher
            },
            tokens: MockTokenService::new(),
            secrets: MockSecretSource::new(),
            events: MockSecurityEventRepo::new(),
            limiter: MockLoginLimiter::new(),
            tasks: MockTaskRepo::new(),
            readiness: Arc::new(FixedReadiness::default()),
            telemetry: Arc::new(LoggingTelemetry::new()),
            now: t0(),
        }
    }

    /// The clock reads `now` instead of [`t0`].
    pub fn at(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    /// [`TOKEN`] verifies as [`principal`]; any other token is invalid.
    pub fn accepting_token(mut self) -> Self {
        self.tokens.expect_verify().returning(|token, _| {
            if token == TOKEN {
                Ok(principal())
            } else {
                Err(TokenError::Invalid)
            }
        });
        self
    }

    /// Every refresh token generated is [`REFRESH_TOKEN`].
    pub fn issuing_refresh_tokens(mut self) -> Self {
        self.secrets
            .expect_token_bytes()
            .returning(|| Ok(REFRESH_TOKEN_BYTES));
        self
    }

    /// The login limiter lets every attempt through and settles quietly;
    /// a refused login's `login_failed` is recorded quietly, and a
    /// successful one gets [`REFRESH_TOKEN`].
    pub fn allowing_logins(mut self) -> Self {
        self.events
            .expect_record_for_email()
            .returning(|_, _| Ok(()));
        self = self.issuing_refresh_tokens();
        self.limiter
            .expect_reserve()
            .returning(|_, _, now| Ok(any_reservation(now)));
        self.limiter.expect_release().returning(|_| Ok(()));
        self.limiter.expect_succeeded().returning(|_| Ok(()));
        self
    }

    /// A clock that always reads `self.now`.
    pub fn clock(&self) -> MockClock {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(self.now);
        clock
    }

    /// The task use cases over the mocked repository.
    pub fn task_service(self) -> TaskService {
        let clock = Arc::new(self.clock());
        TaskService::new(Arc::new(self.tasks), clock).with_telemetry(self.telemetry)
    }

    /// The account use cases over the mocked ports (the task repository
    /// serves their export).
    pub fn auth_service(self) -> AuthService {
        self.split().0
    }

    /// Everything a front end serves, over the mocked ports.
    pub fn services(self) -> Services {
        let readiness = self.readiness.clone();
        let telemetry = self.telemetry.clone();
        let clock = Arc::new(self.clock());
        // Strict mocks: a front-end test that reaches recovery must say so.
        let recovery = crate::use_cases::RecoveryService::new(
            Arc::new(crate::ports::MockAccountTokenStore::new()),
            Arc::new(MockPasswordHasher::new()),
            Arc::new(MockSecretSource::new()),
            clock,
            Arc::new(crate::ports::MockOutboxWaker::new()),
        );
        let (auth, tasks) = self.split();
        Services {
            auth: Arc::new(auth),
            tasks: Arc::new(tasks),
            recovery: Arc::new(recovery),
            readiness,
            telemetry,
        }
    }

    /// The account and task use cases, sharing the mocked task repository.
    fn split(self) -> (AuthService, TaskService) {
        let clock = Arc::new(self.clock());
        let tasks: Arc<MockTaskRepo> = Arc::new(self.tasks);
        let auth = AuthService::new(
            AuthPorts {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(self.tokens),
                secrets: Arc::new(self.secrets),
                events: Arc::new(self.events),
                tasks: tasks.clone(),
                clock: clock.clone(),
                limiter: Arc::new(self.limiter),
            },
            session_lifetime(),
        )
        .with_access_ttl(access_ttl())
        .with_telemetry(self.telemetry.clone());
        let tasks = TaskService::new(tasks, clock).with_telemetry(self.telemetry);
        (auth, tasks)
    }
}

/// A reservation as a permissive limiter hands out; use cases only pass it
/// back.
pub fn any_reservation(now: Timestamp) -> Reservation {
    let slot = |byte| Slot {
        key: [byte; 32],
        at: now,
    };
    Reservation {
        email: slot(1),
        client: Some(slot(2)),
    }
}
