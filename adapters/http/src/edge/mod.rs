//! The HTTP/1.1 server in front of the router, in place of `axum::serve`:
//! it closes what slow or idle clients hold, and answers what hyper would
//! refuse with an empty body (a bad request line, headers too large or too
//! many, a URI too long) with a problem body instead.
//!
//! Layout:
//! - `serve_connections`: the accept loop and graceful shutdown.
//! - `connection`: one connection's state, timers and closing.
//! - `stream`: the socket as hyper sees it (only accepted heads pass).
//! - `head`: judging a head and following the body after it.
//! - `waiting`: the bound on connections held by unfinished heads.
//! - `service`: the router per request, `ConnectInfo`, the body deadline.
//! - `answer`: the problem answers written without the router.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

mod answer;
mod connection;
mod head;
mod service;
mod stream;
mod waiting;

use connection::Deadlines;
use head::HeadLimits;
use waiting::Waiting;

/// hyper refuses longer request targets on its own (with an empty 414).
pub(crate) const HYPER_MAX_URI: usize = u16::MAX as usize - 1;
/// hyper's own header count, kept on the stack.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How the edge treats connections; part of [`crate::HttpSettings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSettings {
    /// A request head must arrive in full within this (from the accept for
    /// the first request, from its first byte for later ones); a partial
    /// head is then answered 408, a connection that sent nothing is closed.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no new request for this long is closed.
    pub keep_alive_timeout: Duration,
    /// Most connections held by an unfinished request head (new ones that
    /// sent no whole head yet, kept-alive ones part way through their next
    /// head); past it, the one that has waited longest (at least 1 s) is
    /// closed.
    pub max_waiting_connections: usize,
    /// Longest request line (method, target, version): 414 past it.
    pub max_request_line_bytes: usize,
    /// Largest header section: 431 past it.
    pub max_header_bytes: usize,
    /// Most header fields: 431 past it.
    pub max_headers: usize,
}

/// `config/default.toml`'s values (a test in `settings.rs` checks it).
impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            max_waiting_connections: 2048,
            max_request_line_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

impl EdgeSettings {
    fn validate(&self, body_timeout: Duration) -> io::Result<()> {
        let invalid =
            |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()));
        if self.header_read_timeout.is_zero()
            || self.keep_alive_timeout.is_zero()
            || body_timeout.is_zero()
        {
            return invalid("edge timeouts must be greater than 0");
        }
        if self.max_waiting_connections == 0 || self.max_headers == 0 {
            return invalid("edge bounds must be at least 1");
        }
        if !(16..=HYPER_MAX_URI).contains(&self.max_request_line_bytes) {
            return invalid("the request line limit must be between 16 and 65534 bytes");
        }
        if self.max_header_bytes < 1024 {
            return invalid("the header size limit must be at least 1024 bytes");
        }
        Ok(())
    }

    fn limits(&self) -> HeadLimits {
        HeadLimits {
            max_request_line: self.max_request_line_bytes,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
        }
    }
}

/// What every connection task shares.
pub(crate) struct Edge {
    router: Router,
    http: http1::Builder,
    limits: HeadLimits,
    deadlines: Deadlines,
    body_timeout: Duration,
    waiting: Arc<Waiting>,
}

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` resolves, then
/// stops accepting, closes idle connections and waits for requests in
/// flight to be answered. Handlers still get `ConnectInfo<SocketAddr>`.
/// A request body must arrive within `body_timeout` of its head (408
/// otherwise): the router's request timeout, so a slow body is never that
/// timeout's 503.
///
/// # Errors
/// When `settings` are out of range (before anything is served).
pub(crate) async fn serve_connections(
    listener: TcpListener,
    app: Router,
    settings: &EdgeSettings,
    body_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    settings.validate(body_timeout)?;
    let limits = settings.limits();
    let mut http = http1::Builder::new();
    // Only whole, checked heads reach hyper: its buffer needs room for the
    // largest one, its header count must match ours, and the head timer is
    // the edge's.
    http.max_buf_size((limits.max_head_bytes() + 8 * 1024).max(8 * 1024))
        .header_read_timeout(None)
        .keep_alive(true);
    if settings.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        // Any other count makes hyper allocate the header array per request.
        http.max_headers(settings.max_headers);
    }
    let edge = Arc::new(Edge {
        router: app,
        http,
        limits,
        deadlines: Deadlines {
            header_read: settings.header_read_timeout,
            keep_alive: settings.keep_alive_timeout,
        },
        body_timeout,
        waiting: Arc::new(Waiting::new(settings.max_waiting_connections)),
    });
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection::serve(stream, peer, edge.clone(), stopping.clone()));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
            Some(ended) = connections.join_next(), if !connections.is_empty() => log_task_end(ended),
        }
    }
    drop(listener);
    let _ = stop.send(true);
    while let Some(ended) = connections.join_next().await {
        log_task_end(ended);
    }
    Ok(())
}

fn log_task_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(err) = ended {
        if err.is_panic() {
            tracing::error!("a connection task panicked");
        }
    }
}
