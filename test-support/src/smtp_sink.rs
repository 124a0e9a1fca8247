//! A local SMTP sink for the mail tests: a small tokio server on
//! 127.0.0.1 (port 0) that speaks enough SMTP for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH) and keeps every message
//! it accepted. It can refuse the first N messages with `451` (a
//! transient failure) to test the sender's retries.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

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

#[derive(Default)]
struct State {
    delivered: Vec<Delivered>,
    refusals_left: u32,
    refused: u32,
}

/// The running sink; stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// A sink that accepts every message.
    pub async fn start() -> Self {
        Self::refusing_first(0).await
    }

    /// A sink that answers the first `n` messages `451` (try again later)
    /// and accepts the rest.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn refusing_first(n: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the SMTP sink binds a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let state = Arc::new(Mutex::new(State {
            refusals_left: n,
            ..State::default()
        }));
        let changed = Arc::new(Notify::new());
        let task = {
            let state = state.clone();
            let changed = changed.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let state = state.clone();
                    let changed = changed.clone();
                    tokio::spawn(async move {
                        let _ = session(stream, &state, &changed).await;
                    });
                }
            })
        };
        Self {
            addr,
            state,
            changed,
            task,
        }
    }

    /// `smtp://127.0.0.1:<port>`: plain SMTP, for `APP__MAIL__SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One SMTP connection.
async fn session(stream: TcpStream, state: &Mutex<State>, changed: &Notify) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut mail_from = String::new();
    let mut rcpt_to = Vec::new();
    loop {
        let Some(line) = read_line(&mut lines).await? else {
            return Ok(());
        };
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("RSET") {
            mail_from.clear();
            rcpt_to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = address(&line["MAIL FROM:".len()..]);
            rcpt_to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            rcpt_to.push(address(&line["RCPT TO:".len()..]));
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                let Some(line) = read_line(&mut lines).await? else {
                    return Ok(());
                };
                if line == "." {
                    break;
                }
                let line = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(line);
                data.push_str("\r\n");
                if data.len() > MAX_MESSAGE_BYTES {
                    write.write_all(b"552 message too big\r\n").await?;
                    return Ok(());
                }
            }
            let accepted = {
                let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                if state.refusals_left > 0 {
                    state.refusals_left -= 1;
                    state.refused += 1;
                    false
                } else {
                    state.delivered.push(Delivered {
                        mail_from: mail_from.clone(),
                        rcpt_to: rcpt_to.clone(),
                        data,
                    });
                    true
                }
            };
            changed.notify_waiters();
            if accepted {
                b"250 OK queued\r\n"
            } else {
                b"451 4.3.0 try again later\r\n"
            }
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 command not implemented\r\n"
        };
        write.write_all(reply).await?;
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
async fn read_line(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
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
