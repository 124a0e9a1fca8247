//! A listener that speaks just enough of the PostgreSQL protocol to refuse
//! TLS: it answers every `SSLRequest` with `N`, as a server without TLS
//! does, then reads until the client hangs up.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running fake on `127.0.0.1:<port>`; stops when dropped.
pub struct PostgresWithoutTls {
    pub port: u16,
    accept_loop: JoinHandle<()>,
}

impl PostgresWithoutTls {
    /// Listens on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let port = listener.local_addr().expect("a local address").port();
        let accept_loop = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut ssl_request = [0u8; 8];
                    if socket.read_exact(&mut ssl_request).await.is_ok() {
                        let _ = socket.write_all(b"N").await;
                        let mut rest = [0u8; 1024];
                        while matches!(socket.read(&mut rest).await, Ok(n) if n > 0) {}
                    }
                });
            }
        });
        Self { port, accept_loop }
    }
}

impl Drop for PostgresWithoutTls {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}
