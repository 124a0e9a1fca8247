//! One proxied connection: two one-way pipes, each delaying every chunk.
//!
//! A reader stamps each chunk with `read time + delay` and queues it; a
//! writer takes chunks in order and sends each at its stamp. So a chunk is
//! never sent before its time, order is kept, and back-to-back chunks are
//! not delayed twice (the pipe behaves like a long wire, not a slow one).

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::state::{Direction, State};

/// Chunks in flight per direction before the reader waits (backpressure).
const QUEUE_CHUNKS: usize = 4096;
const READ_BUF: usize = 64 * 1024;
/// tokio's timer fires on whole milliseconds, up to 1 ms late; the last
/// stretch before a chunk's time is waited out by yielding instead, so
/// the delay is exact to a few microseconds rather than +0..1 ms.
const SPIN_WINDOW: Duration = Duration::from_micros(1500);

/// Relays `client` to `target` until either side closes or a cut comes.
///
/// With `handshake`, nothing is read from the client for one round trip
/// (twice the delay) after accepting it: a real client's connect() returns
/// only after SYN and SYN-ACK crossed the distance, so its first bytes
/// reach the server 1.5 round trips after it started. Loopback accepts at
/// once; without this, every new connection would look one round trip
/// cheaper than it is.
pub(crate) async fn relay(
    client: TcpStream,
    target: &str,
    handshake: bool,
    state: Arc<State>,
) -> io::Result<()> {
    let mut cuts = state.watch_cuts();
    cuts.mark_unchanged();
    if handshake {
        tokio::time::sleep(2 * state.delay()).await;
    }
    let upstream = TcpStream::connect(target).await?;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let (client_rd, client_wr) = client.into_split();
    let (up_rd, up_wr) = upstream.into_split();
    // The direction of this connection's last chunk, for counting flights.
    let last = Arc::new(AtomicU8::new(NO_CHUNK_YET));
    let forward = pipe(
        client_rd,
        up_wr,
        Direction::Up,
        Arc::clone(&last),
        Arc::clone(&state),
    );
    let backward = pipe(up_rd, client_wr, Direction::Down, last, Arc::clone(&state));
    tokio::select! {
        result = async { tokio::try_join!(forward, backward) } => result.map(|_| ()),
        // Dropping both pipes closes both sockets.
        _ = cuts.changed() => Ok(()),
    }
}

type Chunk = (Instant, Option<Vec<u8>>);

const NO_CHUNK_YET: u8 = u8::MAX;

/// One direction. `None` in the queue is the reader's EOF, passed on as a
/// write shutdown at its own stamp.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    dir: Direction,
    last: Arc<AtomicU8>,
    state: Arc<State>,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(QUEUE_CHUNKS);
    let partition = state.watch_partition();
    let reader = async move {
        let mut buf = vec![0u8; READ_BUF];
        loop {
            let n = from.read(&mut buf).await?;
            let due = Instant::now() + state.delay();
            if n > 0 {
                let previous = last.swap(dir as u8, Ordering::Relaxed);
                state.chunk(dir, n, previous != dir as u8);
            }
            let chunk = (n > 0).then(|| buf[..n].to_vec());
            let eof = chunk.is_none();
            if tx.send((due, chunk)).await.is_err() || eof {
                return Ok::<_, io::Error>(());
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            wait_until(due).await;
            wait_healed(partition.clone()).await;
            match chunk {
                Some(bytes) => to.write_all(&bytes).await?,
                None => {
                    to.shutdown().await?;
                    break;
                }
            }
        }
        Ok::<_, io::Error>(())
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

async fn wait_until(due: Instant) {
    if let Some(coarse) = due.checked_sub(SPIN_WINDOW) {
        if coarse > Instant::now() {
            tokio::time::sleep_until(coarse).await;
        }
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

async fn wait_healed(mut partition: watch::Receiver<bool>) {
    // An error means the state is gone: the process is ending anyway.
    let _ = partition.wait_for(|on| !on).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// An echo server; returns its address.
    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut rd, mut wr) = stream.split();
                    let _ = tokio::io::copy(&mut rd, &mut wr).await;
                });
            }
        });
        addr
    }

    /// A proxy in front of `target`; returns its address.
    async fn proxy(target: String, state: Arc<State>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, state) = (target.clone(), Arc::clone(&state));
                tokio::spawn(async move { relay(client, &target, false, state).await });
            }
        });
        addr
    }

    #[tokio::test]
    async fn many_small_writes_come_back_complete_and_in_order() {
        let state = Arc::new(State::new(Duration::from_millis(2)));
        let addr = proxy(echo_server().await, state).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (mut rd, mut wr) = stream.split();
        let write = async {
            for chunk in sent.chunks(997) {
                wr.write_all(chunk).await.unwrap();
            }
        };
        let mut got = vec![0u8; sent.len()];
        let read = rd.read_exact(&mut got);
        let (_, read) = tokio::join!(write, read);
        read.unwrap();
        assert_eq!(got, sent);
    }

    #[tokio::test]
    async fn each_request_and_its_answer_count_as_one_flight_each_way() {
        let state = Arc::new(State::new(Duration::ZERO));
        let addr = proxy(echo_server().await, Arc::clone(&state)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 3];
        for _ in 0..5 {
            stream.write_all(b"req").await.unwrap();
            stream.read_exact(&mut buf).await.unwrap();
        }
        assert_eq!(state.flights(Direction::Up), 5);
        assert_eq!(state.flights(Direction::Down), 5);
    }

    #[tokio::test]
    async fn a_cut_closes_live_connections_but_not_later_ones() {
        let state = Arc::new(State::new(Duration::ZERO));
        let addr = proxy(echo_server().await, Arc::clone(&state)).await;
        let mut before = TcpStream::connect(&addr).await.unwrap();
        before.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        before.read_exact(&mut buf).await.unwrap();

        state.cut_all();
        assert_eq!(
            before.read(&mut buf).await.unwrap(),
            0,
            "the cut connection reads EOF"
        );

        let mut after = TcpStream::connect(&addr).await.unwrap();
        after.write_all(b"pong").await.unwrap();
        after.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }

    #[tokio::test]
    async fn a_partition_holds_bytes_until_healed() {
        let state = Arc::new(State::new(Duration::ZERO));
        let addr = proxy(echo_server().await, Arc::clone(&state)).await;
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        state.set_partition(true);
        stream.write_all(b"held").await.unwrap();
        let mut buf = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
        assert!(early.is_err(), "nothing may arrive during the partition");
        state.set_partition(false);
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"held");
    }
}
