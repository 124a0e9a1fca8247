//! Starting the `todo-server` binary and capturing what it prints.
//!
//! The server announces readiness with exactly one stdout line,
//! `listening on http://127.0.0.1:<port>`. Everything it prints on stdout and
//! stderr is kept (for failure messages and the "no secrets in the logs"
//! checks) and echoed to the test's stderr when `TEST_LOG` is set.

use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::assertions::assert_hides;
use crate::database::{database_url, url_password};
use crate::front_end::assert_own_server;
use crate::paths::{config_dir, crate_dir, server_binary};

/// How long a start may take before the test gives up on it.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
/// How long a signalled server may take to exit.
const EXIT_LIMIT: Duration = Duration::from_secs(30);
const READY_PREFIX: &str = "listening on http://127.0.0.1:";

/// Variables of the test process that would otherwise leak into the server.
fn inherited_setting(name: &str) -> bool {
    name.starts_with("APP_")
        || matches!(
            name,
            "DATABASE_URL" | "TEST_DATABASE_URL" | "JWT_SECRET" | "PORT"
        )
}

/// The environment of one server start. `APP_ENV=test`, `APP_CONFIG_DIR`
/// and `PORT=0` are always set first; the variables here come on top, and
/// none of the test process's own settings (`APP_*`, `DATABASE_URL`, …)
/// is passed on.
#[derive(Clone, Default)]
pub struct ServerEnv {
    vars: Vec<(String, Option<String>)>,
}

impl fmt::Debug for ServerEnv {
    // Values hold the database password and the JWT secret: names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.vars.iter().map(|(name, _)| name))
            .finish()
    }
}

impl ServerEnv {
    /// Nothing but the fixed variables (no database, no JWT secret).
    pub fn empty() -> Self {
        Self::default()
    }

    /// What a working server needs: the suite's database and a fresh
    /// 64-character JWT secret.
    pub fn working() -> Self {
        Self::empty().set("DATABASE_URL", database_url()).set(
            "JWT_SECRET",
            format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
        )
    }

    /// Sets `name` (replacing an earlier value).
    pub fn set(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), Some(value.into())));
        self
    }

    /// Makes sure `name` is not set at all.
    pub fn unset(mut self, name: &str) -> Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), None));
        self
    }

    /// The value given to `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(server_binary());
        command.args(args).current_dir(crate_dir());
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(inherited_setting) {
                command.env_remove(name);
            }
        }
        command
            .env("APP_ENV", "test")
            .env("APP_CONFIG_DIR", config_dir())
            .env("PORT", "0");
        for (name, value) in &self.vars {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

/// Everything the server processes of one [`crate::TestApp`] printed, in
/// order of arrival, each line prefixed with its stream.
#[derive(Clone, Default)]
pub(crate) struct OutputLog(Arc<Mutex<String>>);

impl OutputLog {
    fn push(&self, stream: &str, line: &str) {
        let mut text = self.0.lock().unwrap_or_else(|e| e.into_inner());
        text.push_str(stream);
        text.push_str(": ");
        text.push_str(line);
        text.push('\n');
    }

    pub(crate) fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Reads `reader` line by line until it closes, recording each line; the
/// first readiness line's port goes to `ready`. Returns the stream's text.
fn capture(
    reader: impl AsyncRead + Unpin + Send + 'static,
    stream: &'static str,
    log: OutputLog,
    mut ready: Option<oneshot::Sender<u16>>,
) -> JoinHandle<String> {
    let echo = std::env::var_os("TEST_LOG").is_some();
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        let mut text = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                eprintln!("[todo-server {stream}] {line}");
            }
            log.push(stream, &line);
            text.push_str(&line);
            text.push('\n');
            if let Some(port) = line.trim().strip_prefix(READY_PREFIX) {
                if let (Some(sender), Ok(port)) = (ready.take(), port.parse::<u16>()) {
                    let _ = sender.send(port);
                }
            }
        }
        text
    })
}

/// A started process whose two streams are being recorded.
struct Capturing {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
    /// The port of the readiness line, once printed.
    ready: oneshot::Receiver<u16>,
}

/// Starts `todo-server <args>` with `env`, recording its output in `log`.
fn spawn_capturing(env: &ServerEnv, args: &[&str], log: &OutputLog) -> Capturing {
    let mut child = env
        .command(args)
        .spawn()
        .expect("the server binary can be started");
    let (ready_tx, ready) = oneshot::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    Capturing {
        child,
        stdout: capture(stdout, "stdout", log.clone(), Some(ready_tx)),
        stderr: capture(stderr, "stderr", log.clone(), None),
        ready,
    }
}

/// A server process that announced it is listening.
pub(crate) struct RunningServer {
    child: Child,
    pub(crate) port: u16,
    readers: Vec<JoinHandle<String>>,
}

impl RunningServer {
    /// Starts `todo-server serve` and waits for its readiness line.
    ///
    /// # Panics
    /// When it exits or stays silent instead, with everything it printed.
    pub(crate) async fn start(env: &ServerEnv, log: &OutputLog) -> RunningServer {
        let Capturing {
            mut child,
            stdout,
            stderr,
            ready,
        } = spawn_capturing(env, &["serve"], log);
        match tokio::time::timeout(STARTUP_LIMIT, ready).await {
            Ok(Ok(port)) => RunningServer {
                child,
                port,
                readers: vec![stdout, stderr],
            },
            Ok(Err(_stdout_closed)) => {
                let status = tokio::time::timeout(EXIT_LIMIT, child.wait()).await;
                let _ = tokio::time::timeout(EXIT_LIMIT, stderr).await;
                panic!(
                    "todo-server exited before printing `{READY_PREFIX}<port>` (status {status:?}); it printed:\n{}",
                    log.text()
                );
            }
            Err(_elapsed) => {
                let _ = child.kill().await;
                panic!(
                    "todo-server did not print `{READY_PREFIX}<port>` within {STARTUP_LIMIT:?}; it printed:\n{}",
                    log.text()
                );
            }
        }
    }

    /// The port it listens on (on 127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the server has not been reaped yet")
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.pid()).expect("pids fit in i32"));
        kill(pid, signal).unwrap_or_else(|e| panic!("{signal} cannot be sent: {e}"));
    }

    /// SIGKILL, then waits for the exit.
    pub(crate) async fn kill(mut self) -> ExitStatus {
        self.signal(Signal::SIGKILL);
        self.wait().await
    }

    /// SIGTERM (graceful shutdown), then waits for the exit.
    pub(crate) async fn terminate(mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait().await
    }

    /// Waits for the exit and for the last of its output.
    async fn wait(&mut self) -> ExitStatus {
        let status = match tokio::time::timeout(EXIT_LIMIT, self.child.wait()).await {
            Ok(status) => status.expect("waiting for the server"),
            Err(_elapsed) => {
                let _ = self.child.kill().await;
                panic!("todo-server did not exit within {EXIT_LIMIT:?} of the signal");
            }
        };
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(EXIT_LIMIT, reader).await;
        }
        status
    }

    /// Sends SIGKILL without waiting (for `Drop`).
    pub(crate) fn start_kill(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The outcome of a start that was expected to fail.
#[derive(Debug)]
pub struct FailedStart {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl FailedStart {
    /// Both streams, for "never prints the password" checks.
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Fails unless the start was refused properly: a non-zero exit, a
    /// reason on stderr, no readiness line, and neither the database
    /// password nor any of `secrets` anywhere in the output.
    ///
    /// # Panics
    /// With what went wrong and the output (secrets masked).
    pub fn assert_refused(&self, secrets: &[&str]) {
        let output = self.all_output();
        assert!(
            !self.status.success(),
            "the server must exit non-zero, got {}; it printed:\n{output}",
            self.status
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "the server must say why it refused to start (stderr is empty)"
        );
        assert!(
            !output.contains("listening on"),
            "a refused start never listens:\n{output}"
        );
        let password = url_password(database_url()).expect("the database URL has a password");
        let mut hidden = vec![("the database password", password.as_str())];
        hidden.extend(secrets.iter().map(|secret| ("a secret", *secret)));
        assert_hides(&output, &hidden, "a refused start: ");
    }

    /// Fails unless stderr names the problem with one of `words`
    /// (case-insensitively).
    ///
    /// # Panics
    /// Showing stderr.
    pub fn assert_names(&self, words: &[&str]) {
        let stderr = self.stderr.to_lowercase();
        assert!(
            words.iter().any(|w| stderr.contains(&w.to_lowercase())),
            "stderr must name the problem (one of {words:?}):\n{}",
            self.stderr
        );
    }
}

/// Runs `todo-server` (default subcommand) with `env` and waits for it to
/// exit.
///
/// # Panics
/// When it starts listening instead, or neither exits nor listens within
/// the start-up limit; against an external front end (`E2E_SERVER_URL`),
/// which the suite cannot start.
pub async fn start_expecting_failure(env: &ServerEnv) -> FailedStart {
    assert_own_server("starts the server with settings of its own");
    let log = OutputLog::default();
    let Capturing {
        mut child,
        stdout,
        stderr,
        ready: mut ready_rx,
    } = spawn_capturing(env, &[], &log);
    let outcome = tokio::time::timeout(STARTUP_LIMIT, async {
        tokio::select! {
            Ok(port) = &mut ready_rx => Err(port),
            status = child.wait() => Ok(status.expect("waiting for the server")),
        }
    })
    .await;
    let status = match outcome {
        Ok(Ok(status)) => status,
        Ok(Err(port)) => {
            let _ = child.kill().await;
            panic!(
                "todo-server started listening on port {port} although it should have refused to start; it printed:\n{}",
                log.text()
            );
        }
        Err(_elapsed) => {
            let _ = child.kill().await;
            panic!(
                "todo-server neither exited nor listened within {STARTUP_LIMIT:?}; it printed:\n{}",
                log.text()
            );
        }
    };
    FailedStart {
        status,
        stdout: collected(stdout).await,
        stderr: collected(stderr).await,
    }
}

/// What a stream's reader recorded, once the stream closed (empty if it
/// does not within the exit limit).
async fn collected(reader: JoinHandle<String>) -> String {
    tokio::time::timeout(EXIT_LIMIT, reader)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}
