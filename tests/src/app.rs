//! [`TestApp`]: one real `todo-server` process per test, on port 0, against
//! the suite's database.

use std::ops::Deref;
use std::process::ExitStatus;

use tokio::sync::OnceCell;

use crate::api::Api;
use crate::database::TestDb;
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
    server: Option<RunningServer>,
    log: OutputLog,
    db: OnceCell<TestDb>,
}

/// Settings for a [`TestApp`] that differ from the defaults.
#[derive(Debug, Default)]
pub struct TestAppBuilder {
    env: ServerEnv,
}

impl TestAppBuilder {
    /// Sets an environment variable of the server, e.g.
    /// `APP__AUTH__LOGIN_MAX_FAILURES_PER_EMAIL`.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env = self.env.set(name, value);
        self
    }

    /// Starts the server.
    ///
    /// # Panics
    /// When it does not start (with everything it printed).
    pub async fn spawn(self) -> TestApp {
        let log = OutputLog::default();
        let server = RunningServer::start(&self.env, &log).await;
        TestApp {
            api: Api::new(server.port),
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

    /// A server with some settings changed.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            env: ServerEnv::working(),
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

    /// The JWT secret this server signs with.
    pub fn jwt_secret(&self) -> &str {
        self.env
            .get("JWT_SECRET")
            .expect("a TestApp always has a JWT secret")
    }

    /// Everything the server processes of this app printed so far, each line
    /// prefixed by `stdout: ` or `stderr: `. Complete after [`Self::stop`].
    pub fn logs(&self) -> String {
        self.log.text()
    }

    /// Kills the server with SIGKILL (no chance to clean up) and starts a new
    /// one with the same settings on the same database. Returns how the old
    /// process ended.
    pub async fn kill_and_restart(&mut self) -> ExitStatus {
        let status = self
            .server
            .take()
            .expect("the server is running")
            .kill()
            .await;
        let server = RunningServer::start(&self.env, &self.log).await;
        self.api.point_at(server.port);
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
        self.server
            .take()
            .expect("the server is running")
            .terminate()
            .await
    }

    /// Deletes the users this app registered, on a thread of its own (a
    /// `Drop` cannot await).
    fn delete_registered_users(&self) {
        let emails = self.api.registered_emails();
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
        self.delete_registered_users();
    }
}
