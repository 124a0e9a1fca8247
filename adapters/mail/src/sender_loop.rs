//! The outbox sender's task: when it sweeps, and nothing else (what a
//! sweep does is `application`'s `OutboxSender`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use application::ports::OutboxWaker;
use application::use_cases::OutboxSender;
use tokio::sync::{watch, Notify};
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

/// The running sender. [`SenderTask::shutdown`] lets a sweep in progress
/// finish (bounded); dropping it aborts the task. Either way a mail cut off
/// mid-send is sent again after its lease: at least once.
pub struct SenderTask {
    stop: watch::Sender<bool>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl SenderTask {
    /// Stops the sender once the sweep in progress (if any) is done, waiting
    /// at most `grace`; past it the task is aborted.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut handle) = handle {
            if tokio::time::timeout(grace, &mut handle).await.is_err() {
                handle.abort();
                tracing::warn!(
                    ?grace,
                    "the outbox sender was still sending at shutdown; its mail will be sent again after its lease"
                );
            }
        }
    }
}

impl Drop for SenderTask {
    fn drop(&mut self) {
        if let Some(handle) = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            handle.abort();
        }
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
    let (stop, mut stopped) = watch::channel(false);
    let handle = tokio::spawn(async move {
        let mut failures = 0usize;
        while !*stopped.borrow() {
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
            // Pending rows: sleep until the earliest is due, or a wake.
            // Nothing pending: only a write that queues mail wakes us.
            let timer = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = timer => {}
                () = notify.notified() => {}
                _ = stopped.changed() => {}
            }
        }
    });
    SenderTask {
        stop,
        handle: Mutex::new(Some(handle)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use application::ports::{Clock, Mail, MailError, Mailer, Outbox, OutboxMail, RepoError};
    use application::use_cases::{MailTexts, RetryPolicy};
    use async_trait::async_trait;
    use chrono::{TimeZone, Utc};
    use domain::{MailId, Timestamp};

    use super::*;

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
    }

    struct FixedClock;

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            t0()
        }
    }

    /// An empty outbox that counts claims and says when the next row is due.
    #[derive(Default)]
    struct CountingOutbox {
        claims: AtomicUsize,
        next_due: Mutex<Option<Timestamp>>,
    }

    #[async_trait]
    impl Outbox for CountingOutbox {
        async fn claim(
            &self,
            _: Timestamp,
            _: Timestamp,
            _: u32,
        ) -> Result<Vec<OutboxMail>, RepoError> {
            self.claims.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
        async fn remove(&self, _: MailId) -> Result<(), RepoError> {
            Ok(())
        }
        async fn retry_at(&self, _: MailId, _: Timestamp, _: &str) -> Result<(), RepoError> {
            Ok(())
        }
        async fn next_due(&self) -> Result<Option<Timestamp>, RepoError> {
            Ok(*self.next_due.lock().unwrap())
        }
    }

    struct NoMailer;

    #[async_trait]
    impl Mailer for NoMailer {
        async fn send(&self, _: &Mail) -> Result<(), MailError> {
            Ok(())
        }
    }

    fn started(outbox: &Arc<CountingOutbox>) -> (OutboxSignal, SenderTask) {
        let sender = OutboxSender::new(
            outbox.clone(),
            Arc::new(NoMailer),
            Arc::new(FixedClock),
            MailTexts::new("https://todo.example"),
            RetryPolicy::default(),
        );
        let signal = OutboxSignal::new();
        let task = spawn_sender(Arc::new(sender), &signal);
        (signal, task)
    }

    /// Lets the spawned task run until it waits again.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_outbox_is_swept_once_at_start_and_then_only_when_woken() {
        let outbox = Arc::new(CountingOutbox::default());
        let (signal, _task) = started(&outbox);
        settle().await;
        assert_eq!(
            outbox.claims.load(Ordering::SeqCst),
            1,
            "one sweep at start"
        );
        // A day of quiet: no timer, no poll.
        tokio::time::advance(Duration::from_secs(86_400)).await;
        settle().await;
        assert_eq!(
            outbox.claims.load(Ordering::SeqCst),
            1,
            "an idle outbox is never polled"
        );
        signal.wake();
        settle().await;
        assert_eq!(outbox.claims.load(Ordering::SeqCst), 2, "a wake sweeps");
    }

    #[tokio::test(start_paused = true)]
    async fn pending_rows_set_a_timer_until_the_earliest_is_due() {
        let outbox = Arc::new(CountingOutbox::default());
        *outbox.next_due.lock().unwrap() = Some(t0() + chrono::Duration::seconds(30));
        let (_signal, _task) = started(&outbox);
        settle().await;
        assert_eq!(outbox.claims.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(29)).await;
        settle().await;
        assert_eq!(
            outbox.claims.load(Ordering::SeqCst),
            1,
            "not before it is due"
        );
        // Once nothing is pending any more, the timer stops.
        *outbox.next_due.lock().unwrap() = None;
        tokio::time::advance(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(outbox.claims.load(Ordering::SeqCst), 2, "swept when due");
        tokio::time::advance(Duration::from_secs(3600)).await;
        settle().await;
        assert_eq!(
            outbox.claims.load(Ordering::SeqCst),
            2,
            "no timer without pending rows"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_during_a_sweep_is_not_lost() {
        let outbox = Arc::new(CountingOutbox::default());
        let (signal, _task) = started(&outbox);
        // Woken before the first sweep even ran: it runs, then one more.
        signal.wake();
        settle().await;
        assert_eq!(outbox.claims.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_sender_and_no_wake_sweeps_after_it() {
        let outbox = Arc::new(CountingOutbox::default());
        let (signal, task) = started(&outbox);
        settle().await;
        task.shutdown(Duration::from_secs(1)).await;
        signal.wake();
        settle().await;
        assert_eq!(outbox.claims.load(Ordering::SeqCst), 1);
    }
}
