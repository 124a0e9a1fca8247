//! What every connection and every control channel share: the current delay
//! and the fault switches (cut, refuse, partition).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Shared proxy state. Connections read it; control channels change it.
pub(crate) struct State {
    delay_us: AtomicU64,
    /// Bumped to cut every live connection: each one watches it.
    cut_generation: watch::Sender<u64>,
    /// While true, new connections are closed at once (the database is "down").
    refuse: AtomicBool,
    /// While true, bytes are held (not forwarded) in both directions, as on a
    /// partitioned network where TCP keeps retransmitting; released on heal.
    partition: watch::Sender<bool>,
    live: AtomicU64,
    total: AtomicU64,
    /// Flights per direction, over all connections: a flight is a run of
    /// chunks in one direction with no chunk the other way in between. For a
    /// request/response protocol, client flights = round trips.
    flights: [AtomicU64; 2],
    bytes: [AtomicU64; 2],
}

/// Which way a chunk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Client to target.
    Up = 0,
    /// Target to client.
    Down = 1,
}

impl State {
    pub(crate) fn new(delay: Duration) -> Self {
        Self {
            delay_us: AtomicU64::new(duration_us(delay)),
            cut_generation: watch::channel(0).0,
            refuse: AtomicBool::new(false),
            partition: watch::channel(false).0,
            live: AtomicU64::new(0),
            total: AtomicU64::new(0),
            flights: [AtomicU64::new(0), AtomicU64::new(0)],
            bytes: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    pub(crate) fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::Relaxed))
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.delay_us.store(duration_us(delay), Ordering::Relaxed);
    }

    /// Closes every connection open now; later ones are unaffected.
    pub(crate) fn cut_all(&self) {
        self.cut_generation.send_modify(|g| *g += 1);
    }

    pub(crate) fn watch_cuts(&self) -> watch::Receiver<u64> {
        self.cut_generation.subscribe()
    }

    pub(crate) fn refusing(&self) -> bool {
        self.refuse.load(Ordering::Relaxed)
    }

    pub(crate) fn set_refuse(&self, on: bool) {
        self.refuse.store(on, Ordering::Relaxed);
    }

    pub(crate) fn set_partition(&self, on: bool) {
        self.partition.send_replace(on);
    }

    pub(crate) fn watch_partition(&self) -> watch::Receiver<bool> {
        self.partition.subscribe()
    }

    pub(crate) fn opened(&self) {
        self.live.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a chunk of `len` bytes; `starts_flight` when the connection's
    /// previous chunk went the other way (or there was none).
    pub(crate) fn chunk(&self, dir: Direction, len: usize, starts_flight: bool) {
        let i = dir as usize;
        self.bytes[i].fetch_add(len as u64, Ordering::Relaxed);
        if starts_flight {
            self.flights[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn flights(&self, dir: Direction) -> u64 {
        self.flights[dir as usize].load(Ordering::Relaxed)
    }

    /// One line of JSON for `GET /stats`.
    pub(crate) fn stats_json(&self) -> String {
        format!(
            "{{\"delay_ms\":{},\"live\":{},\"total\":{},\"refuse\":{},\"partition\":{},\
             \"up_flights\":{},\"down_flights\":{},\"up_bytes\":{},\"down_bytes\":{}}}",
            self.delay().as_secs_f64() * 1000.0,
            self.live.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            self.refusing(),
            *self.partition.borrow(),
            self.flights(Direction::Up),
            self.flights(Direction::Down),
            self.bytes[0].load(Ordering::Relaxed),
            self.bytes[1].load(Ordering::Relaxed),
        )
    }
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
