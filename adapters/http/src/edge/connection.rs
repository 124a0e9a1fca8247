//! One client connection: its state as the timers and the bound see it,
//! and the task that serves it with hyper and closes it when a deadline
//! passes, a head is refused, or the server stops.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::answer::refusal_bytes;
use super::head::Refusal;
use super::service::request_service;
use super::stream::GuardedStream;
use super::waiting::Waiting;
use super::Edge;

/// Bound on writing a refusal and closing.
const WRITE_LIMIT: Duration = Duration::from_secs(5);
/// After a refusal, what the client still sends is read and dropped for
/// this long (and this much) before the socket closes: closing with unread
/// bytes makes the kernel reset the connection, which can destroy the
/// answer before the client reads it.
const LINGER_LIMIT: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Where the connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No byte of the next head yet.
    Empty,
    /// Part of a head, the first byte at `since`.
    Partial { since: Instant },
    /// The head was accepted; its body is passing.
    Body,
}

/// Why the edge closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Close {
    /// With a problem answer written by the edge.
    Answer(Refusal),
    /// Without a word (idle, never started, evicted, server stopping).
    Silent,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    in_flight: bool,
    /// A head was accepted on this connection.
    served: bool,
    /// When the last answer was produced.
    idle_since: Option<Instant>,
    close: Option<Close>,
    /// Where this connection is in [`Waiting`], if it is: from the accept
    /// until its first head, and while any later head is partial.
    waiting_key: Option<Instant>,
    /// Read what the client still sends before closing.
    linger: bool,
}

/// State shared by the connection's task, its stream and its service.
pub(crate) struct ConnShared {
    id: u64,
    accepted: Instant,
    waiting: Arc<Waiting>,
    state: Mutex<State>,
    changed: Notify,
}

/// The timeouts that close connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub(crate) header_read: Duration,
    pub(crate) keep_alive: Duration,
}

impl ConnShared {
    pub(crate) fn new(waiting: Arc<Waiting>) -> Arc<Self> {
        let conn = Arc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            accepted: Instant::now(),
            waiting,
            state: Mutex::new(State {
                phase: Phase::Empty,
                in_flight: false,
                served: false,
                idle_since: None,
                close: None,
                waiting_key: None,
                linger: false,
            }),
            changed: Notify::new(),
        });
        conn.update(|_| {});
        conn
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state, then keeps its place in [`Waiting`] right and
    /// wakes the connection task.
    fn update(self: &Arc<Self>, change: impl FnOnce(&mut State)) {
        let (old, new) = {
            let mut state = self.lock();
            change(&mut state);
            let new = if state.in_flight || state.close.is_some() {
                None
            } else {
                // An idle kept-alive connection has sent a whole request
                // already: only the keep-alive timeout closes it.
                match state.phase {
                    Phase::Empty if !state.served => Some(self.accepted),
                    Phase::Partial { since } => Some(since),
                    Phase::Empty | Phase::Body => None,
                }
            };
            let old = std::mem::replace(&mut state.waiting_key, new);
            (old, new)
        };
        if old != new {
            for evicted in self.waiting.update(self.id, old, new, self) {
                evicted.evict();
            }
        }
        self.changed.notify_one();
    }

    /// Closed to make room under the bound.
    fn evict(self: &Arc<Self>) {
        tracing::debug!("closing a waiting connection: too many connections are waiting");
        self.update(|state| {
            state.close.get_or_insert(Close::Silent);
        });
    }

    /// The first bytes of a head arrived.
    pub(crate) fn head_started(self: &Arc<Self>) {
        let accepted = self.accepted;
        self.update(|state| {
            if state.phase == Phase::Empty {
                // The first head is timed from the accept.
                let since = if state.served {
                    Instant::now()
                } else {
                    accepted
                };
                state.phase = Phase::Partial { since };
            }
        });
    }

    pub(crate) fn head_accepted(self: &Arc<Self>) {
        self.update(|state| {
            state.phase = Phase::Body;
            state.served = true;
        });
    }

    pub(crate) fn body_finished(self: &Arc<Self>) {
        self.update(|state| state.phase = Phase::Empty);
    }

    /// Nothing after the current request will be read.
    pub(crate) fn last_request(self: &Arc<Self>) {
        self.update(|state| {
            state.close.get_or_insert(Close::Silent);
        });
    }

    pub(crate) fn refuse(self: &Arc<Self>, refusal: Refusal) {
        self.update(|state| {
            state.close.get_or_insert(Close::Answer(refusal));
        });
    }

    pub(crate) fn request_started(self: &Arc<Self>) {
        self.update(|state| state.in_flight = true);
    }

    pub(crate) fn request_answered(self: &Arc<Self>) {
        self.update(|state| {
            state.in_flight = false;
            state.idle_since = Some(Instant::now());
        });
    }

    /// The client may still be sending when the connection closes.
    pub(crate) fn linger(&self) {
        self.lock().linger = true;
    }

    fn closing(&self) -> bool {
        self.lock().close.is_some()
    }

    /// When this connection must be closed if nothing changes.
    fn deadline(&self, limits: Deadlines) -> Option<Instant> {
        let state = self.lock();
        if state.in_flight || state.close.is_some() {
            return None;
        }
        Some(match (state.phase, state.idle_since) {
            (Phase::Partial { since }, _) => since + limits.header_read,
            (Phase::Empty, None) => self.accepted + limits.header_read,
            (Phase::Empty, Some(idle)) => idle + limits.keep_alive,
            (Phase::Body, idle) => idle.unwrap_or(self.accepted) + limits.header_read,
        })
    }

    /// Closes the connection if its deadline has passed.
    fn expire(self: &Arc<Self>, limits: Deadlines) {
        if self.deadline(limits).is_some_and(|at| at <= Instant::now()) {
            self.update(|state| {
                let close = match state.phase {
                    Phase::Partial { .. } => {
                        tracing::debug!("closing a connection: its request head is late");
                        Close::Answer(Refusal::Timeout)
                    }
                    _ => Close::Silent,
                };
                state.close.get_or_insert(close);
            });
        }
    }
}

impl Drop for ConnShared {
    fn drop(&mut self) {
        let key = self.lock().waiting_key.take();
        if let Some(since) = key {
            self.waiting.remove(self.id, since);
        }
    }
}

/// Serves one connection until it ends, then closes it properly.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    edge: Arc<Edge>,
    mut stopping: watch::Receiver<bool>,
) {
    let shared = ConnShared::new(edge.waiting.clone());
    let io = TokioIo::new(GuardedStream::new(stream, shared.clone(), edge.limits));
    let service = request_service(edge.router.clone(), peer, shared.clone(), edge.body_timeout);
    let mut conn = edge.http.serve_connection(io, service);
    let mut shutting_down = false;
    let result = loop {
        if !shutting_down && (shared.closing() || *stopping.borrow()) {
            Pin::new(&mut conn).graceful_shutdown();
            shutting_down = true;
        }
        let deadline = shared.deadline(edge.deadlines);
        // The connection first: bytes that already arrived count before a
        // deadline or an eviction is acted on.
        tokio::select! {
            biased;
            result = poll_fn(|cx| conn.poll_without_shutdown(cx)) => break result,
            () = sleep_until(deadline) => shared.expire(edge.deadlines),
            () = shared.changed.notified() => {}
            _ = stopping.changed(), if !shutting_down => {
                Pin::new(&mut conn).graceful_shutdown();
                shutting_down = true;
            }
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
    let (close, linger) = {
        let state = shared.lock();
        (state.close.clone(), state.linger)
    };
    // No longer waiting for anything: out of the bound's count.
    shared.update(|state| {
        state.close.get_or_insert(Close::Silent);
    });
    let guarded = conn.into_parts().io.into_inner();
    let linger = linger || guarded.mid_body();
    finish(guarded.into_inner(), close, linger).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes the edge's answer, if any, and closes the socket.
async fn finish(mut stream: TcpStream, close: Option<Close>, linger: bool) {
    let answered = if let Some(Close::Answer(refusal)) = &close {
        let bytes = refusal_bytes(refusal);
        let _ = tokio::time::timeout(WRITE_LIMIT, stream.write_all(&bytes)).await;
        true
    } else {
        false
    };
    let _ = tokio::time::timeout(WRITE_LIMIT, stream.shutdown()).await;
    if answered || linger {
        let drain = async {
            let mut scratch = [0u8; 8192];
            let mut total = 0;
            while total < LINGER_BYTES {
                match stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_LIMIT, drain).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::waiting::MIN_WAIT;

    const LIMITS: Deadlines = Deadlines {
        header_read: Duration::from_secs(10),
        keep_alive: Duration::from_secs(60),
    };

    fn close_of(conn: &ConnShared) -> Option<Close> {
        conn.lock().close.clone()
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_bound_the_longest_waiting_connection_is_closed() {
        let waiting = Arc::new(Waiting::new(2));
        let first = ConnShared::new(waiting.clone());
        tokio::time::advance(Duration::from_millis(1)).await;
        let second = ConnShared::new(waiting.clone());
        tokio::time::advance(MIN_WAIT).await;
        let third = ConnShared::new(waiting.clone());
        assert_eq!(close_of(&first), Some(Close::Silent));
        assert_eq!(close_of(&second), None);
        assert_eq!(close_of(&third), None);

        // A connection being served does not count.
        second.head_started();
        second.head_accepted();
        second.request_started();
        let fourth = ConnShared::new(waiting.clone());
        assert_eq!(close_of(&third), None);
        assert_eq!(close_of(&fourth), None);

        // A burst of new connections goes over the bound for a moment.
        let fifth = ConnShared::new(waiting.clone());
        assert_eq!(close_of(&third), None);
        tokio::time::advance(MIN_WAIT).await;
        let sixth = ConnShared::new(waiting.clone());
        assert_eq!(close_of(&third), Some(Close::Silent));
        assert_eq!(close_of(&fourth), Some(Close::Silent));
        assert_eq!(close_of(&fifth), None);
        assert_eq!(close_of(&sixth), None);

        // An idle kept-alive connection sent a whole request: not counted.
        second.body_finished();
        second.request_answered();
        tokio::time::advance(MIN_WAIT).await;
        let seventh = ConnShared::new(waiting.clone());
        assert_eq!(close_of(&fifth), Some(Close::Silent));
        assert_eq!(close_of(&second), None);
        assert_eq!(close_of(&seventh), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_head_gets_408_at_the_header_deadline_and_an_idle_one_closes_silently() {
        let waiting = Arc::new(Waiting::new(10));
        let conn = ConnShared::new(waiting);
        assert_eq!(
            conn.deadline(LIMITS),
            Some(conn.accepted + LIMITS.header_read)
        );
        conn.head_started();
        tokio::time::advance(LIMITS.header_read).await;
        conn.expire(LIMITS);
        assert_eq!(close_of(&conn), Some(Close::Answer(Refusal::Timeout)));

        let idle = ConnShared::new(Arc::new(Waiting::new(10)));
        idle.head_started();
        idle.head_accepted();
        idle.request_started();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            idle.deadline(LIMITS),
            None,
            "no deadline while a request is served"
        );
        idle.body_finished();
        idle.request_answered();
        let answered = Instant::now();
        assert_eq!(idle.deadline(LIMITS), Some(answered + LIMITS.keep_alive));
        tokio::time::advance(LIMITS.keep_alive).await;
        idle.expire(LIMITS);
        assert_eq!(close_of(&idle), Some(Close::Silent));
    }
}
