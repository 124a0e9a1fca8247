//! The line front end over the application's test kit: every port mocked,
//! the clock fixed, a real TCP socket on 127.0.0.1.

use std::time::Duration;

use adapter_line::{serve, LineSettings};
use application::ports::Readiness;
use application::testkit::{self, FixedReadiness, Harness, TOKEN};
use domain::Title;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server and the means to stop it.
struct Server {
    addr: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

/// Serves `harness` with the default settings as changed by `configure`.
async fn start(harness: Harness, configure: impl FnOnce(&mut LineSettings)) -> Server {
    let mut settings = LineSettings::default();
    configure(&mut settings);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve(listener, harness.services(), settings, async {
        let _ = stopped.await;
    }));
    Server { addr, stop, served }
}

/// One client connection, line by line.
struct Client {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(server: &Server) -> Self {
        let (reader, writer) = TcpStream::connect(server.addr).await.unwrap().into_split();
        Self {
            lines: BufReader::new(reader).lines(),
            writer,
        }
    }

    async fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    /// The next answer line; `None` once the server closed the connection.
    async fn next(&mut self) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("an answer within 10 s")
            .unwrap_or(None)
    }

    async fn ask(&mut self, line: &str) -> String {
        self.send(line).await;
        self.next().await.expect("an answer")
    }
}

/// Answers `line` on a fresh connection to a server over `harness`.
async fn ask_once(harness: Harness, line: &str) -> String {
    let server = start(harness, |_| {}).await;
    Client::connect(&server).await.ask(line).await
}

#[tokio::test]
async fn health_says_whether_the_database_is_ready() {
    assert_eq!(ask_once(Harness::new(), "HEALTH").await, "OK ready");
    let mut harness = Harness::new();
    harness.readiness = down();
    assert_eq!(
        ask_once(harness, "HEALTH").await,
        "ERR unavailable the database is not ready"
    );
}

fn down() -> std::sync::Arc<dyn Readiness> {
    std::sync::Arc::new(FixedReadiness {
        ready: false,
        ..FixedReadiness::default()
    })
}

#[tokio::test]
async fn login_answers_a_token_and_its_expiry() {
    let mut h = Harness::new().allowing_logins();
    h.users
        .expect_find_by_email()
        .returning(|_| Ok(Some(testkit::user().build())));
    h.hasher.expect_verify().returning(|_, _| Ok(true));
    h.sessions
        .expect_create()
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    h.tokens
        .expect_issue()
        .returning(|_, _, _| Ok("the.jwt.token".to_owned()));
    let answer = ask_once(h, "LOGIN ada@example.com pass phrase with spaces").await;
    // The access token's expiry: the test kit's clock plus its access TTL.
    let expires = application::timestamps::rfc3339(&(testkit::t0() + testkit::access_ttl()));
    assert_eq!(answer, format!("OK the.jwt.token {expires}"));
}

#[tokio::test]
async fn login_without_a_password_names_the_missing_field() {
    let answer = ask_once(Harness::new(), "LOGIN ada@example.com").await;
    assert_eq!(
        answer,
        "ERR invalid the request has invalid fields; password: is required"
    );
}

#[tokio::test]
async fn tasks_lists_the_callers_tasks_one_per_line() {
    let mut h = Harness::new().accepting_token();
    let milk = testkit::task().build();
    let mut old = testkit::task().completed(true).version(3).build();
    // A row stored before titles refused line breaks.
    old.title = Title::from_storage("Old\nrow".to_owned()).unwrap();
    let stored = vec![milk.clone(), old.clone()];
    h.tasks
        .expect_list()
        .withf(|principal, _, _| *principal == testkit::principal())
        .returning(move |_, _, _| Ok(stored.clone()));
    let server = start(h, |_| {}).await;
    let mut client = Client::connect(&server).await;
    assert_eq!(client.ask(&format!("TASKS {TOKEN}")).await, "OK 2");
    assert_eq!(
        client.next().await.unwrap(),
        format!("{} open Buy milk", milk.id)
    );
    assert_eq!(
        client.next().await.unwrap(),
        format!("{} done Old\\nrow", old.id)
    );
}

#[tokio::test]
async fn tasks_with_a_bad_token_is_unauthorized() {
    let answer = ask_once(Harness::new().accepting_token(), "TASKS not-a-token").await;
    assert_eq!(answer, "ERR unauthorized a valid bearer token is required");
}

#[tokio::test]
async fn unknown_commands_and_long_lines_are_refused() {
    let server = start(Harness::new(), |s| s.max_line_bytes = 64).await;
    let mut client = Client::connect(&server).await;
    assert_eq!(
        client.ask("DELETE everything").await,
        "ERR bad_request unknown command; use HEALTH, LOGIN, TASKS or QUIT"
    );
    assert_eq!(client.ask("HEALTH").await, "OK ready", "still served");
    assert_eq!(
        client.ask(&"X".repeat(65)).await,
        "ERR bad_request line too long"
    );
    assert_eq!(client.next().await, None, "closed after a line too long");
}

#[tokio::test]
async fn connections_past_the_bound_are_refused() {
    let server = start(Harness::new(), |s| s.max_connections = 1).await;
    let mut first = Client::connect(&server).await;
    assert_eq!(first.ask("HEALTH").await, "OK ready");
    let mut second = Client::connect(&server).await;
    assert_eq!(
        second.next().await.as_deref(),
        Some("ERR unavailable too many connections")
    );
    assert_eq!(second.next().await, None);
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_returns() {
    let server = start(Harness::new(), |_| {}).await;
    let mut client = Client::connect(&server).await;
    assert_eq!(client.ask("HEALTH").await, "OK ready");
    server.stop.send(()).unwrap();
    assert_eq!(client.next().await, None, "the idle connection is closed");
    let served = tokio::time::timeout(Duration::from_secs(10), server.served)
        .await
        .expect("serve returns well within the grace period");
    served.unwrap().unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn settings_out_of_range_are_refused_before_serving() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let settings = LineSettings {
        max_connections: 0,
        ..LineSettings::default()
    };
    let err = serve(listener, Harness::new().services(), settings, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("server.max_connections"), "{err}");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let server = start(Harness::new(), |s| s.idle_timeout_ms = 50).await;
    let mut client = Client::connect(&server).await;
    assert_eq!(client.ask("HEALTH").await, "OK ready");
    assert_eq!(client.next().await, None, "closed once idle");
}
