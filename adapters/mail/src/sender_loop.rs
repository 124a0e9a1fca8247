//! The outbox sender's task: when it sweeps, and nothing else (what a
//! sweep does is `application`'s `OutboxSender`).

use std::sync::Arc;
use std::time::Duration;

use application::ports::OutboxWaker;
use application::use_cases::OutboxSender;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Wakes the sender after a write that queued mail committed. A wake while
/// the sender is busy is kept (one permit), so none is lost.
#[derive(Debug, Default, Clone)]
pub struct OutboxSignal {
    notify: Arc<Notify>,
}

impl OutboxSignal {
    pub fn new() -> Self {
        Self::default()
    }
}

impl OutboxWaker for OutboxSignal {
    fn wake(&self) {
        self.notify.notify_one();
    }
}

/// The running sender; dropping it (or [`SenderTask::stop`]) ends the
/// task. A mail in flight then is sent again after its lease: at least
/// once.
pub struct SenderTask {
    handle: JoinHandle<()>,
}

impl SenderTask {
    pub fn stop(&self) {
        self.handle.abort();
    }
}

impl Drop for SenderTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// After a failed sweep (database unreachable), retries at these growing
/// delays, then waits for the next wake: a database that stays away is not
/// polled forever.
const FAILED_SWEEP_RETRIES: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(900),
];

/// Starts the sender on the current tokio runtime: one sweep at once, then
/// one after every wake, and one when the earliest pending row is due.
pub fn spawn_sender(sender: Arc<OutboxSender>, signal: &OutboxSignal) -> SenderTask {
    let notify = signal.notify.clone();
    let handle = tokio::spawn(async move {
        let mut failures = 0usize;
        loop {
            let wait = match sender.sweep().await {
                Ok(report) => {
                    failures = 0;
                    if report.delivered + report.retried + report.given_up > 0 {
                        tracing::debug!(?report, "outbox sweep");
                    }
                    report
                        .next_due
                        .map(|due| (due - sender.now()).to_std().unwrap_or(Duration::ZERO))
                }
                Err(err) => {
                    let retry = FAILED_SWEEP_RETRIES.get(failures).copied();
                    failures += 1;
                    tracing::warn!(error = %err.cause_chain(), ?retry, "outbox sweep failed");
                    retry
                }
            };
            match wait {
                // Pending rows: sleep until the earliest is due, or a wake.
                Some(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = notify.notified() => {}
                    }
                }
                // Nothing pending: only a write that queues mail wakes us.
                None => notify.notified().await,
            }
        }
    });
    SenderTask { handle }
}
