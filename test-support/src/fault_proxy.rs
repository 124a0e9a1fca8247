//! A TCP proxy between the server under test and PostgreSQL that can cut
//! every live connection and refuse new ones on demand: the network between
//! the service and Neon failing, without touching the database itself (so
//! other tests on the same cluster are unaffected).
//!
//! Bytes pass through untouched (TLS and SCRAM end to end), so the server
//! keeps verifying the database's certificate for `localhost`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running proxy on `127.0.0.1:<port>`; stops (closing everything) when
/// dropped.
pub struct CutProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

struct Shared {
    target: SocketAddr,
    refusing: AtomicBool,
    live: AtomicUsize,
    accepted: AtomicUsize,
    /// Bumped on every cut; each connection ends when it changes.
    cuts: watch::Sender<u64>,
}

impl CutProxy {
    /// Starts forwarding a free loopback port to `target`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy binds a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let shared = Arc::new(Shared {
            target,
            refusing: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            cuts: watch::channel(0).0,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        CutProxy {
            port,
            shared,
            accept,
        }
    }

    /// The port the server should connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every live connection in both directions, now.
    pub fn cut_all(&self) {
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// While on, new connections are closed as soon as they are accepted
    /// (the database looks gone); off, they are forwarded again.
    pub fn refuse(&self, on: bool) {
        self.shared.refusing.store(on, Ordering::SeqCst);
    }

    /// Connections being forwarded now.
    pub fn live_connections(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Connections forwarded since the start.
    pub fn forwarded_connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if shared.refusing.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        // Subscribed before the spawn: a cut from now on ends this one too.
        let mut cut = shared.cuts.subscribe();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(shared.target).await else {
                return;
            };
            shared.accepted.fetch_add(1, Ordering::SeqCst);
            shared.live.fetch_add(1, Ordering::SeqCst);
            relay(client, upstream, &mut cut).await;
            shared.live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Copies both ways until either side closes or a cut comes; then both
/// sockets are dropped, which closes them.
async fn relay(mut client: TcpStream, mut upstream: TcpStream, cut: &mut watch::Receiver<u64>) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = cut.changed() => {}
    }
}
