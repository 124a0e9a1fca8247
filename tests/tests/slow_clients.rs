//! Slow and idle clients, and request heads refused before routing, against
//! the real binary over raw TCP: a partial head is answered 408 and closed
//! after the header-read timeout, an idle keep-alive is closed, many slow
//! heads are bounded while a normal client is served, a trickling body is
//! 408 (not a 503, not a server error in `/metrics`), and 431/414/400 come
//! with problem bodies.
//!
//! Each server here runs with short timeouts; the waits for the server to
//! act are generous (the machine may be loaded), and only upper bounds.

use std::time::Duration;

use e2e_tests::hostile::raw_http;
use e2e_tests::{unique_email, TestApp};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the server may take to do what its short timeouts ask.
const PATIENCE: Duration = Duration::from_secs(30);
const KIB: usize = 1024;

fn host(app: &TestApp) -> String {
    app.address().trim_start_matches("http://").to_owned()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(host(app))
        .await
        .expect("the server accepts connections")
}

/// One answer read off a connection that may stay open.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// Asserts a problem+json answer with `status`; returns its body.
    fn expect_problem(&self, status: u16, what: &str) -> Value {
        assert_eq!(self.status, status, "{what}: got {}", self.head);
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{what}: a {status} must be application/problem+json, got `{content_type}`"
        );
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{what}: the body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        });
        assert_eq!(
            body["status"].as_u64(),
            Some(u64::from(status)),
            "{what}: {body}"
        );
        assert!(body["title"].is_string(), "{what}: {body}");
        body
    }
}

/// Reads one answer (head, then a `Content-Length` body) within the
/// patience; `None` when the server closed first.
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let read = async {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let mut answer = Answer {
            status,
            head,
            body: bytes[head_end + 4..].to_vec(),
        };
        let length: usize = answer
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while answer.body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.body.extend_from_slice(&chunk[..n]),
            }
        }
        Some(answer)
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .unwrap_or_else(|_| panic!("no answer and no close within {PATIENCE:?}"))
}

/// Waits until the server closes `stream`, returning what it sent first.
async fn closed_by_server(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    if tokio::time::timeout(PATIENCE, read).await.is_err() {
        panic!("{what}: the server kept the connection open for {PATIENCE:?}");
    }
    received
}

/// Whether the server has closed `stream` (without waiting for it).
async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_millis(20), stream.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    )
}

fn parse_answer(bytes: &[u8], what: &str) -> Answer {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "{what}: no answer head in {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no status in {head:?}"));
    Answer {
        status,
        head,
        body: bytes[end + 4..].to_vec(),
    }
}

#[tokio::test]
async fn a_partial_head_is_answered_408_and_closed_after_the_header_timeout() {
    let app = TestApp::builder()
        .env("APP__SERVER__HEADER_READ_TIMEOUT_MS", "2000")
        .spawn()
        .await;
    let host = host(&app);

    let mut partial = connect(&app).await;
    partial
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ").as_bytes())
        .await
        .unwrap();
    let mut silent = connect(&app).await;

    let answer = closed_by_server(&mut partial, "a partial head").await;
    parse_answer(&answer, "a partial head").expect_problem(408, "a partial head");
    let said = closed_by_server(&mut silent, "a connection that sent nothing").await;
    assert!(
        said.is_empty(),
        "a connection that sent nothing is closed without an answer, got {:?}",
        String::from_utf8_lossy(&said)
    );

    // A head that arrives in time is served as before.
    let healthz = app
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::builder()
        .env("APP__SERVER__KEEP_ALIVE_TIMEOUT_MS", "3000")
        .spawn()
        .await;
    let host = host(&app);
    let mut stream = connect(&app).await;
    for round in 0..2 {
        stream
            .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let answer = read_answer(&mut stream)
            .await
            .unwrap_or_else(|| panic!("request {round} on the kept-alive connection: closed"));
        assert_eq!(answer.status, 200, "request {round}: {}", answer.head);
    }
    let said = closed_by_server(&mut stream, "an idle kept-alive connection").await;
    assert!(said.is_empty(), "an idle close says nothing: {said:?}");
}

#[tokio::test]
async fn many_slow_heads_are_bounded_and_a_normal_client_is_still_served() {
    const BOUND: usize = 10;
    const SLOW: usize = 40;
    // The header timeout is long: only the bound closes connections here.
    let app = TestApp::builder()
        .env("APP__SERVER__MAX_WAITING_CONNECTIONS", BOUND.to_string())
        .env("APP__SERVER__HEADER_READ_TIMEOUT_MS", "600000")
        .spawn()
        .await;
    let host = host(&app);

    let slow_head = format!("POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nX-Sl");
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let mut stream = connect(&app).await;
        stream.write_all(slow_head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    // The bound closes connections that have waited a while, as newer ones
    // arrive: keep arriving, slowly, until it has.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let open = loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut open = 0;
        for stream in &mut slow {
            if !is_closed(stream).await {
                open += 1;
            }
        }
        if open <= BOUND || tokio::time::Instant::now() > deadline {
            break open;
        }
        let mut stream = connect(&app).await;
        stream.write_all(slow_head.as_bytes()).await.unwrap();
        slow.push(stream);
    };
    assert!(
        open <= BOUND,
        "{open} of {} slow heads still hold a connection; at most {BOUND} may",
        slow.len()
    );

    // The slow heads that remain do not keep a normal client waiting.
    for _ in 0..3 {
        let healthz = tokio::time::timeout(
            PATIENCE,
            app.request(reqwest::Method::GET, "/healthz").send(),
        )
        .await
        .expect("a normal client is answered while slow heads are held")
        .unwrap();
        assert_eq!(healthz.status(), 200);
    }
}

#[tokio::test]
async fn a_body_trickling_past_its_deadline_is_408_and_not_a_server_error() {
    let app = TestApp::builder()
        .env("APP__SERVER__REQUEST_TIMEOUT_MS", "1500")
        .spawn()
        .await;
    let host = host(&app);
    let email = unique_email();
    let body =
        format!(r#"{{"email": "{email}", "password": "long enough password", "name": "Slow"}}"#)
            .into_bytes();
    let mut stream = connect(&app).await;
    stream
        .write_all(
            format!(
                "POST /api/v1/auth/register HTTP/1.1\r\nHost: {host}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        writer
    });
    let mut received = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") || !received.ends_with(b"}") {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("a trickling body is answered within the patience");
    trickle.abort();
    let answer = parse_answer(&received, "a trickling body");
    answer.expect_problem(408, "a trickling body");
    assert_eq!(
        answer.header("connection"),
        Some("close"),
        "{}",
        answer.head
    );

    let metrics = app
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let server_errors: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("http_requests_total") && line.contains("status=\"5"))
        .collect();
    assert!(
        server_errors.is_empty(),
        "a slow client is not a server error: {server_errors:?}"
    );
    assert!(
        app.db().await.user_by_email(&email).await.is_none(),
        "nothing is registered from a body that never arrived"
    );
}

#[tokio::test]
async fn heads_refused_before_routing_get_problem_bodies() {
    let app = TestApp::spawn().await;
    let host = host(&app);
    let close = "Connection: close\r\n\r\n";

    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n{close}",
        "b".repeat(40 * KIB)
    );
    let many: String = (0..150).map(|i| format!("X-H-{i}: v\r\n")).collect();
    let many_headers = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n{many}{close}");
    let long_uri = format!(
        "GET /api/v1/tasks?q={} HTTP/1.1\r\nHost: {host}\r\n{close}",
        "u".repeat(10 * KIB)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("40 KiB of headers", big_header.into_bytes(), 431),
        ("150 header fields", many_headers.into_bytes(), 431),
        ("a 10 KiB URI", long_uri.into_bytes(), 414),
        (
            "a method that is not a token",
            format!("G\u{7f}T /healthz HTTP/1.1\r\nHost: {host}\r\n{close}").into_bytes(),
            400,
        ),
        (
            "an unknown HTTP version",
            format!("GET /healthz HTTP/9.9\r\nHost: {host}\r\n{close}").into_bytes(),
            400,
        ),
        (
            "a request line without a target",
            format!("GET HTTP/1.1\r\nHost: {host}\r\n{close}").into_bytes(),
            400,
        ),
        (
            "a Content-Length that is not a number",
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1x\r\n{close}"
            )
            .into_bytes(),
            400,
        ),
        (
            "a header name with a space",
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nBad Name: v\r\n{close}").into_bytes(),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let answer = raw_http(app.address(), &request)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        let bytes = [answer.head.as_bytes(), b"\r\n\r\n", &answer.body].concat();
        parse_answer(&bytes, what).expect_problem(status, what);
    }

    // On a kept-alive connection, a refused head after a served request
    // (and its body) is answered too.
    let mut stream = connect(&app).await;
    let login = format!(r#"{{"email": "{}", "password": "x"}}"#, unique_email());
    let login = login.as_bytes();
    stream
        .write_all(
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                login.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.write_all(login).await.unwrap();
    stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let first = read_answer(&mut stream)
        .await
        .expect("the login is answered");
    first.expect_problem(401, "a failed login on a kept-alive connection");
    stream
        .write_all(
            format!(
                "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
                "b".repeat(40 * KIB)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let second = read_answer(&mut stream)
        .await
        .expect("the oversized second head is answered");
    second.expect_problem(431, "an oversized head after a served request");

    let healthz = app
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_and_closes_idle_connections() {
    let mut app = TestApp::builder()
        .env("APP__SERVER__SHUTDOWN_GRACE_MS", "60000")
        .env("APP__SERVER__REQUEST_TIMEOUT_MS", "20000")
        .spawn()
        .await;
    let host = host(&app);

    let mut idle = connect(&app).await;
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_answer(&mut idle).await.expect("answered").status, 200);

    let login = format!(
        r#"{{"email": "{}", "password": "not it at all"}}"#,
        unique_email()
    );
    let (first, rest) = login.as_bytes().split_at(login.len() / 2);
    let mut in_flight = connect(&app).await;
    in_flight
        .write_all(
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                login.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    in_flight.write_all(first).await.unwrap();
    let rest = rest.to_vec();
    let finishing = tokio::spawn(async move {
        // The rest of the body comes after the server was told to stop.
        tokio::time::sleep(Duration::from_secs(2)).await;
        in_flight.write_all(&rest).await.unwrap();
        read_answer(&mut in_flight).await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;

    let status = app.stop().await;
    assert!(
        status.success(),
        "exit status {status}; output:\n{}",
        app.logs()
    );
    let answer = finishing
        .await
        .unwrap()
        .expect("the request in flight is answered before the server exits");
    answer.expect_problem(401, "a login in flight at SIGTERM");
    let said = closed_by_server(&mut idle, "an idle connection at shutdown").await;
    assert!(said.is_empty(), "{said:?}");
}
