//! [`TestApp`]: one real `todo-server` process per test, on port 0, against
//! the suite's database; or, with `E2E_SERVER_URL`, a client of a front end
//! that is already running (see [`crate::front_end`]).

use std::ops::Deref;
use std::process::ExitStatus;

use serde_json::Value;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::api::{unique_email, unique_password, Api, Task, TestUser};
use crate::database::{TaskRow, TestDb};
use crate::front_end::{assert_own_server, external_jwt_secret, external_url, JWT_SECRET_VAR};
use crate::server::{OutputLog, RunningServer, ServerEnv};

/// A running server, an HTTP client for it (through `Deref` to [`Api`]) and
/// a lazily opened database connection.
///
/// Dropping it kills the process and deletes every user its [`Api`]
/// registered (their sessions and tasks cascade), so a shared Neon branch
/// keeps no test data.
pub struct TestApp {
    api: Api,
    env: ServerEnv,
    /// `None` once stopped, and always against an external front end.
    server: Option<RunningServer>,
    log: OutputLog,
    db: OnceCell<TestDb>,
}

/// Settings for a [`TestApp`] that differ from the defaults.
#[derive(Debug, Default)]
pub struct TestAppBuilder {
    env: ServerEnv,
    /// Names set with [`TestAppBuilder::env`], which an external front end
    /// cannot honour.
    changed: Vec<String>,
}

impl TestAppBuilder {
    /// Sets an environment variable of the server, e.g.
    /// `APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL`.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env = self.env.set(name, value);
        self.changed.push(name.to_owned());
        self
    }

    /// Logs at debug level, the most a secret could leak at.
    pub fn debug_logs(self) -> Self {
        self.env("APP__LOG__LEVEL", "debug")
            .env("RUST_LOG", "debug")
    }

    /// Starts the server (or, with `E2E_SERVER_URL`, connects to it).
    ///
    /// # Panics
    /// When it does not start (with everything it printed), or when settings
    /// were changed for a front end the suite does not control.
    pub async fn spawn(self) -> TestApp {
        let log = OutputLog::default();
        if let Some(url) = external_url() {
            if !self.changed.is_empty() {
                assert_own_server(&format!("sets {}", self.changed.join(", ")));
            }
            // Only the secret the front end signs with, if the tests may
            // know it: nothing else of this environment reaches it.
            let env = match external_jwt_secret() {
                Some(secret) => ServerEnv::empty().set("JWT_SECRET", secret),
                None => ServerEnv::empty(),
            };
            return TestApp {
                api: Api::at(url.to_owned()),
                env,
                server: None,
                log,
                db: OnceCell::new(),
            };
        }
        let server = RunningServer::start(&self.env, &log).await;
        TestApp {
            api: Api::new(server.port()),
            env: self.env,
            server: Some(server),
            log,
            db: OnceCell::new(),
        }
    }
}

impl TestApp {
    /// A server with the default test settings.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// A server with the default test settings and a registered, logged-in
    /// user: how most tests begin.
    pub async fn with_user() -> (TestApp, TestUser) {
        let app = Self::spawn().await;
        let user = app.new_user().await;
        (app, user)
    }

    /// A server with the default test settings, and a fresh email and
    /// password that nobody registered yet.
    pub async fn with_credentials() -> (TestApp, String, String) {
        (Self::spawn().await, unique_email(), unique_password())
    }

    /// A server with the default test settings and `N` registered, logged-in
    /// users.
    pub async fn with_users<const N: usize>() -> (TestApp, [TestUser; N]) {
        let app = Self::spawn().await;
        let mut users = Vec::with_capacity(N);
        for _ in 0..N {
            users.push(app.new_user().await);
        }
        let users = users.try_into().unwrap_or_else(|_| unreachable!("N users"));
        (app, users)
    }

    /// A server with the default test settings, a user and one task of
    /// theirs created from `body`.
    pub async fn with_task(body: Value) -> (TestApp, TestUser, Task) {
        let (app, user) = Self::with_user().await;
        let task = app.new_task(&user, &body).await;
        (app, user, task)
    }

    /// A server with some settings changed.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            env: ServerEnv::working(),
            changed: Vec::new(),
        }
    }

    /// The HTTP client (also reachable through `Deref`).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// A direct connection to the database, opened on first use.
    pub async fn db(&self) -> &TestDb {
        self.db.get_or_init(TestDb::connect).await
    }

    /// The `tasks` row of `id`.
    ///
    /// # Panics
    /// When there is none.
    pub async fn task_row(&self, id: Uuid) -> TaskRow {
        let row = self.db().await.task(id).await;
        row.unwrap_or_else(|| panic!("the row of task {id} exists"))
    }

    /// The JWT secret this server signs with (`E2E_JWT_SECRET` for an
    /// external front end).
    ///
    /// # Panics
    /// For an external front end without `E2E_JWT_SECRET`: such tests begin
    /// with [`crate::needs_jwt_secret!`].
    pub fn jwt_secret(&self) -> &str {
        self.env.get("JWT_SECRET").unwrap_or_else(|| {
            panic!(
                "this test signs tokens with the server's secret: set {JWT_SECRET_VAR}, and \
                 begin the test with `e2e_tests::needs_jwt_secret!()`"
            )
        })
    }

    /// Everything the server processes of this app printed so far, each line
    /// prefixed by `stdout: ` or `stderr: `. Complete after [`Self::stop`].
    pub fn logs(&self) -> String {
        assert_own_server("reads the server's output");
        self.log.text()
    }

    /// The server's process id.
    pub fn server_pid(&self) -> u32 {
        assert_own_server("watches the server process");
        self.server.as_ref().expect("the server is running").pid()
    }

    /// Kills the server with SIGKILL (no chance to clean up) and starts a new
    /// one with the same settings on the same database. Returns how the old
    /// process ended.
    pub async fn kill_and_restart(&mut self) -> ExitStatus {
        assert_own_server("restarts the server");
        let status = self
            .server
            .take()
            .expect("the server is running")
            .kill()
            .await;
        let server = RunningServer::start(&self.env, &self.log).await;
        self.api.point_at(server.port());
        self.server = Some(server);
        status
    }

    /// Kills the server with SIGKILL (no chance to clean up) and waits
    /// for the exit; it is not restarted.
    pub async fn kill(&mut self) -> ExitStatus {
        self.server
            .take()
            .expect("the server is running")
            .kill()
            .await
    }

    /// Stops the server with SIGTERM and waits until it exited and its last
    /// output was read.
    pub async fn stop(&mut self) -> ExitStatus {
        assert_own_server("stops the server");
        self.server
            .take()
            .expect("the server is running")
            .terminate()
            .await
    }
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.as_mut() {
            server.start_kill();
        }
        delete_registered_users(&self.api);
    }
}

/// Deletes the users `api` registered, on a thread of its own (a `Drop`
/// cannot await).
pub(crate) fn delete_registered_users(api: &Api) {
    let emails = api.registered_emails();
    if emails.is_empty() {
        return;
    }
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a cleanup runtime")
            .block_on(async { TestDb::connect().await.delete_users_by_email(&emails).await })
    })
    .join();
    if outcome.is_err() {
        eprintln!("warning: could not delete the users this test registered");
    }
}
