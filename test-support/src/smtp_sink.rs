//! A local SMTP sink for the mail tests: a small tokio server on
//! 127.0.0.1 (port 0) that speaks enough SMTP for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT, and over TLS AUTH PLAIN/LOGIN) and keeps
//! every message it accepted.
//!
//! Three kinds: plain SMTP (no STARTTLS, no AUTH; it can refuse the first
//! N messages with `451` to test the sender's retries), implicit TLS
//! (`smtps://`) and STARTTLS, the last two with a `localhost` certificate
//! from a CA of their own ([`crate::server_cert`]). They record the verbs
//! received and whether each came encrypted, the SNI names and failed
//! handshakes, and the credentials of AUTH, so tests can show that nothing
//! (and no password) crossed in plain text.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::server_cert::ServerCert;

/// Largest message kept; a bigger one is refused with 552.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Longest command or data line read.
const MAX_LINE_BYTES: usize = 8 * 1024;

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA (headers and body), dot-unstuffed.
    pub data: String,
}

impl Delivered {
    /// The body after the header block, with quoted-printable soft line
    /// breaks undone (so a long link reads as one).
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if quoted {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        }
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        head.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The value of the `token` query parameter of the first link in the
    /// body whose path is `page` (`/reset-password`, `/verify-email`).
    pub fn token_for(&self, page: &str) -> Option<String> {
        let body = self.body();
        let at = body.find(&format!("{page}?token="))?;
        let rest = &body[at + page.len() + "?token=".len()..];
        let token: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!token.is_empty()).then_some(token)
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One AUTH exchange the sink saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSeen {
    pub user: String,
    pub password: String,
    /// Whether the connection was encrypted when the credentials came.
    pub over_tls: bool,
}

/// One command the sink received: its verb only (never its arguments,
/// which may hold credentials) and whether it came over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub verb: String,
    pub over_tls: bool,
}

#[derive(Default)]
struct State {
    delivered: Vec<Delivered>,
    refusals_left: u32,
    refused: u32,
    commands: Vec<Command>,
    auths: Vec<AuthSeen>,
    server_names: Vec<Option<String>>,
    failed_handshakes: u32,
}

/// How the sink secures its connections.
#[derive(Clone)]
enum Mode {
    /// Plain SMTP; STARTTLS is not offered.
    Plain,
    /// TLS from the first byte (`smtps://`).
    ImplicitTls(TlsAcceptor),
    /// Plain greeting, STARTTLS offered and required before MAIL.
    StartTls(TlsAcceptor),
}

/// The running sink; stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    task: JoinHandle<()>,
    /// Kept alive (its files) while the sink runs; `None` for plain SMTP.
    cert: Option<ServerCert>,
    kind: Kind,
}

/// Which of the three sinks this is (what [`SmtpSink::url`] names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    ImplicitTls,
    StartTls,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// A plain-SMTP sink that accepts every message (and offers neither
    /// STARTTLS nor AUTH).
    pub async fn start() -> Self {
        Self::refusing_first(0).await
    }

    /// A plain-SMTP sink that answers the first `n` messages `451` (try
    /// again later) and accepts the rest.
    pub async fn refusing_first(n: u32) -> Self {
        Self::spawn(Mode::Plain, n, None, Kind::Plain).await
    }

    /// A sink speaking TLS from the first byte with a `localhost`
    /// certificate from a CA of its own ([`Self::ca_file`]); it offers AUTH
    /// PLAIN and LOGIN.
    pub async fn implicit_tls() -> Self {
        let cert = ServerCert::generate();
        let acceptor = TlsAcceptor::from(cert.server_config());
        Self::spawn(
            Mode::ImplicitTls(acceptor),
            0,
            Some(cert),
            Kind::ImplicitTls,
        )
        .await
    }

    /// A sink that greets in plain text, offers STARTTLS, and answers
    /// `530` to MAIL before the upgrade; after it, like
    /// [`Self::implicit_tls`] (AUTH only over TLS).
    pub async fn starttls() -> Self {
        let cert = ServerCert::generate();
        let acceptor = TlsAcceptor::from(cert.server_config());
        Self::spawn(Mode::StartTls(acceptor), 0, Some(cert), Kind::StartTls).await
    }

    /// # Panics
    /// When no loopback port can be bound.
    async fn spawn(mode: Mode, refusals: u32, cert: Option<ServerCert>, kind: Kind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the SMTP sink binds a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let state = Arc::new(Mutex::new(State {
            refusals_left: refusals,
            ..State::default()
        }));
        let changed = Arc::new(Notify::new());
        let task = {
            let shared = Shared {
                state: state.clone(),
                changed: changed.clone(),
            };
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let shared = shared.clone();
                    let mode = mode.clone();
                    tokio::spawn(async move {
                        let _ = connection(stream, mode, &shared).await;
                    });
                }
            })
        };
        Self {
            addr,
            state,
            changed,
            task,
            cert,
            kind,
        }
    }

    /// The URL for `APP__MAIL__SMTP_URL`: `smtp://127.0.0.1:<port>` for a
    /// plain sink, `smtps://localhost:<port>` or
    /// `smtp://localhost:<port>?tls=required` for the TLS ones (the name
    /// the certificate is for).
    pub fn url(&self) -> String {
        let port = self.addr.port();
        match self.kind {
            Kind::ImplicitTls => format!("smtps://localhost:{port}"),
            Kind::StartTls => format!("smtp://localhost:{port}?tls=required"),
            Kind::Plain => format!("smtp://{}", self.addr),
        }
    }

    /// [`Self::url`] with `user:password@` in it (both URL-safe as given).
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        let url = self.url();
        let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", &url));
        format!("{scheme}://{user}:{password}@{rest}")
    }

    /// The CA that signed the TLS sink's certificate (PEM file); `None`
    /// for a plain sink.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.cert.as_ref().map(ServerCert::ca_file)
    }

    /// Every message accepted so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.lock().delivered.clone()
    }

    /// Messages accepted for `recipient`.
    pub fn delivered_to(&self, recipient: &str) -> Vec<Delivered> {
        self.delivered()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(recipient)))
            .collect()
    }

    /// Messages refused with 451 so far.
    pub fn refused(&self) -> u32 {
        self.lock().refused
    }

    /// Every command received so far (verbs only), in order.
    pub fn commands(&self) -> Vec<Command> {
        self.lock().commands.clone()
    }

    /// Every AUTH exchange completed so far.
    pub fn auths(&self) -> Vec<AuthSeen> {
        self.lock().auths.clone()
    }

    /// The SNI server name of each completed TLS handshake (`None` when
    /// the client sent none).
    pub fn server_names(&self) -> Vec<Option<String>> {
        self.lock().server_names.clone()
    }

    /// TLS handshakes that failed (e.g. the client refused the certificate).
    pub fn failed_handshakes(&self) -> u32 {
        self.lock().failed_handshakes
    }

    /// Waits (at most `limit`) until a message for `recipient` whose body
    /// contains `marker` arrives, and returns it.
    ///
    /// # Panics
    /// When none arrives in time.
    pub async fn wait_for(&self, recipient: &str, marker: &str, limit: Duration) -> Delivered {
        let found = tokio::time::timeout(limit, async {
            loop {
                let notified = self.changed.notified();
                if let Some(mail) = self
                    .delivered_to(recipient)
                    .into_iter()
                    .find(|m| m.body().contains(marker))
                {
                    return mail;
                }
                notified.await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "no mail for {recipient} containing {marker:?} within {limit:?}; the sink holds {} message(s), refused {}",
                self.delivered().len(),
                self.refused()
            )
        })
    }

    /// Waits (at most `limit`) until `seen` holds for the sink's state
    /// (e.g. a failed handshake was recorded); false when it never does.
    pub async fn wait_until(&self, limit: Duration, seen: impl Fn(&Self) -> bool) -> bool {
        tokio::time::timeout(limit, async {
            loop {
                let notified = self.changed.notified();
                if seen(self) {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_waiters();
    }
}

/// One TCP connection, secured as `mode` says.
async fn connection(stream: TcpStream, mode: Mode, shared: &Shared) -> std::io::Result<()> {
    match mode {
        Mode::Plain => {
            let mut lines = BufReader::new(stream);
            greet(&mut lines).await?;
            dialogue(lines, Phase::Plain, shared).await.map(|_| ())
        }
        Mode::ImplicitTls(acceptor) => {
            let tls = handshake(&acceptor, stream, shared).await?;
            let mut lines = BufReader::new(tls);
            greet(&mut lines).await?;
            dialogue(lines, Phase::Tls, shared).await.map(|_| ())
        }
        Mode::StartTls(acceptor) => {
            let mut lines = BufReader::new(stream);
            greet(&mut lines).await?;
            match dialogue(lines, Phase::BeforeStartTls, shared).await? {
                End::Closed => Ok(()),
                End::Upgrade(stream) => {
                    let tls = handshake(&acceptor, stream, shared).await?;
                    dialogue(BufReader::new(tls), Phase::Tls, shared)
                        .await
                        .map(|_| ())
                }
            }
        }
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    shared: &Shared,
) -> std::io::Result<TlsStream<TcpStream>> {
    match acceptor.accept(stream).await {
        Ok(tls) => {
            let name = tls.get_ref().1.server_name().map(str::to_owned);
            shared.update(|s| s.server_names.push(name));
            Ok(tls)
        }
        Err(err) => {
            shared.update(|s| s.failed_handshakes += 1);
            Err(err)
        }
    }
}

async fn greet<S: AsyncRead + AsyncWrite + Unpin>(lines: &mut BufReader<S>) -> std::io::Result<()> {
    reply(lines, b"220 sink ESMTP ready\r\n").await
}

/// Writes one reply and flushes it (a TLS stream holds writes until then).
async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut BufReader<S>,
    bytes: &[u8],
) -> std::io::Result<()> {
    lines.get_mut().write_all(bytes).await?;
    lines.get_mut().flush().await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Plain SMTP that offers no STARTTLS.
    Plain,
    /// Plain SMTP that offers STARTTLS and wants it before MAIL.
    BeforeStartTls,
    /// Encrypted: AUTH is offered.
    Tls,
}

/// How a dialogue ended.
enum End<S> {
    Closed,
    /// The client asked for STARTTLS and got `220`: the raw stream to
    /// upgrade.
    Upgrade(S),
}

/// The SMTP commands of one connection (or of its part before or after
/// STARTTLS).
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    mut lines: BufReader<S>,
    phase: Phase,
    shared: &Shared,
) -> std::io::Result<End<S>> {
    let over_tls = phase == Phase::Tls;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    loop {
        let Some(line) = read_line(&mut lines).await? else {
            return Ok(End::Closed);
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        shared.update(|s| {
            s.commands.push(Command {
                verb: verb.clone(),
                over_tls,
            });
        });
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => match phase {
                Phase::Plain => b"250-sink\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n",
                Phase::BeforeStartTls => {
                    b"250-sink\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SIZE 1048576\r\n"
                }
                Phase::Tls => {
                    b"250-sink\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 1048576\r\n"
                }
            },
            "STARTTLS" if phase == Phase::BeforeStartTls => {
                reply(&mut lines, b"220 2.0.0 go ahead\r\n").await?;
                return Ok(End::Upgrade(lines.into_inner()));
            }
            "AUTH" => {
                let seen = auth(&mut lines, &line).await?;
                match seen {
                    Some((user, password)) => {
                        shared.update(|s| {
                            s.auths.push(AuthSeen {
                                user,
                                password,
                                over_tls,
                            });
                        });
                        if over_tls {
                            b"235 2.7.0 authenticated\r\n"
                        } else {
                            b"538 5.7.11 encryption required\r\n"
                        }
                    }
                    None => b"501 5.5.2 cannot decode the credentials\r\n",
                }
            }
            "HELO" | "NOOP" => b"250 OK\r\n",
            "RSET" => {
                mail_from.clear();
                rcpt_to.clear();
                b"250 OK\r\n"
            }
            "MAIL" if phase == Phase::BeforeStartTls => b"530 5.7.0 issue STARTTLS first\r\n",
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                mail_from = address(&line["MAIL FROM:".len()..]);
                rcpt_to.clear();
                b"250 OK\r\n"
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                rcpt_to.push(address(&line["RCPT TO:".len()..]));
                b"250 OK\r\n"
            }
            "DATA" => {
                reply(&mut lines, b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let Some(data) = read_data(&mut lines).await? else {
                    return Ok(End::Closed);
                };
                if data.len() > MAX_MESSAGE_BYTES {
                    reply(&mut lines, b"552 message too big\r\n").await?;
                    return Ok(End::Closed);
                }
                let mut accepted = false;
                shared.update(|state| {
                    if state.refusals_left > 0 {
                        state.refusals_left -= 1;
                        state.refused += 1;
                    } else {
                        state.delivered.push(Delivered {
                            mail_from: mail_from.clone(),
                            rcpt_to: rcpt_to.clone(),
                            data,
                        });
                        accepted = true;
                    }
                });
                if accepted {
                    b"250 OK queued\r\n"
                } else {
                    b"451 4.3.0 try again later\r\n"
                }
            }
            "QUIT" => {
                reply(&mut lines, b"221 bye\r\n").await?;
                return Ok(End::Closed);
            }
            _ => b"502 command not implemented\r\n",
        };
        reply(&mut lines, answer).await?;
    }
}

/// The message after DATA up to the lone dot, dot-unstuffed; `None` when
/// the stream ends first. Stops reading past [`MAX_MESSAGE_BYTES`].
async fn read_data<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut BufReader<S>,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    loop {
        let Some(line) = read_line(lines).await? else {
            return Ok(None);
        };
        if line == "." {
            return Ok(Some(data));
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        data.push_str(line);
        data.push_str("\r\n");
        if data.len() > MAX_MESSAGE_BYTES {
            return Ok(Some(data));
        }
    }
}

/// The user and password of `AUTH PLAIN [initial]` or `AUTH LOGIN`
/// (asking for what the command line did not carry); `None` when they
/// do not decode.
async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
    lines: &mut BufReader<S>,
    command: &str,
) -> std::io::Result<Option<(String, String)>> {
    let mut words = command.split_whitespace().skip(1);
    let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
    let initial = words.next().map(str::to_owned);
    let decode = |text: &str| {
        BASE64
            .decode(text.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
    };
    match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(response) => response,
                None => {
                    reply(lines, b"334 \r\n").await?;
                    read_line(lines).await?.unwrap_or_default()
                }
            };
            Ok(decode(&response).and_then(|plain| {
                let mut parts = plain.split('\0').skip(1);
                Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
            }))
        }
        "LOGIN" => {
            let user = match initial {
                Some(user) => user,
                None => {
                    reply(lines, b"334 VXNlcm5hbWU6\r\n").await?;
                    read_line(lines).await?.unwrap_or_default()
                }
            };
            reply(lines, b"334 UGFzc3dvcmQ6\r\n").await?;
            let password = read_line(lines).await?.unwrap_or_default();
            Ok(decode(&user).zip(decode(&password)))
        }
        _ => Ok(None),
    }
}

/// `<a@b>` (with optional parameters after it) as `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(open), Some(close)) if open < close => arg[open + 1..close].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or_default().to_owned(),
    }
}

/// One line without its CRLF; `None` at the end of the stream. Bounded.
async fn read_line<S: AsyncRead + Unpin>(
    lines: &mut BufReader<S>,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let read = tokio::io::AsyncReadExt::take(&mut *lines, MAX_LINE_BYTES as u64)
        .read_until(b'\n', &mut buf)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}
