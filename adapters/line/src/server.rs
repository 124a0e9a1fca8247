//! [`serve`]: the accept loop, one task per connection, shutdown with a
//! grace period. Shaped like `adapter_http::serve`, so bootstrap could
//! call either.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use application::Services;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::protocol::{answer, Answer};
use crate::LineSettings;

/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves the line protocol on `listener` until `shutdown` resolves; then
/// no new connection is accepted, idle ones are closed, and requests in
/// flight get `settings.shutdown_grace_ms` to be answered before this
/// returns.
///
/// # Errors
/// Settings out of range (before anything is served).
pub async fn serve(
    listener: TcpListener,
    services: Services,
    settings: LineSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    settings.validate()?;
    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let (stopping_tx, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let connection = Connection {
                            services: services.clone(),
                            settings: settings.clone(),
                            stopping: stopping.clone(),
                            _slot: slot,
                        };
                        connections.spawn(connection.run(stream, peer));
                    }
                    Err(_) => refuse(stream),
                },
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let drained = tokio::time::timeout(settings.shutdown_grace(), async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tracing::warn!("requests still in flight after the shutdown grace period; closing");
    }
    Ok(())
}

/// Tells a connection past the bound why it is closed, without waiting.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(b"ERR unavailable too many connections\n");
}

/// What one connection's task holds; the slot is freed when it ends.
struct Connection {
    services: Services,
    settings: Arc<LineSettings>,
    stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// Answers lines until the client leaves, idles (or stops reading) too
    /// long, sends a line too long, says QUIT, or shutdown begins between
    /// two requests.
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        let max = self.settings.max_line_bytes;
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            let mut limited = (&mut reader).take(max as u64 + 1);
            let read_line = limited.read_until(b'\n', &mut line);
            let read = tokio::select! {
                read = tokio::time::timeout(self.settings.idle_timeout(), read_line) => read,
                _ = self.stopping.wait_for(|stopping| *stopping) => return,
            };
            let reply = match read {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(_)) if line.last() != Some(&b'\n') => {
                    if line.len() <= max {
                        return; // the client left mid-line
                    }
                    Answer {
                        close: true,
                        ..Answer::bad_request("line too long")
                    }
                }
                Ok(Ok(_)) => match std::str::from_utf8(&line[..line.len() - 1]) {
                    Ok(text) => answer(&self.services, text, peer.ip()).await,
                    Err(_) => Answer::bad_request("the line is not UTF-8"),
                },
            };
            // A client that stops reading is dropped like an idle one.
            let write = writer.write_all(reply.text.as_bytes());
            let written = tokio::time::timeout(self.settings.idle_timeout(), write).await;
            if !matches!(written, Ok(Ok(()))) || reply.close {
                return;
            }
        }
    }
}
