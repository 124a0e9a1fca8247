//! Reused Argon2 working memory.
//!
//! Every verification needs ~19 MiB of blocks. Allocating them per hash
//! either keeps them resident anyway (glibc's arenas: hundreds of MiB after
//! a burst) or, with an allocator that returns memory, page-faults 19 MiB
//! in on every login (a third of login throughput, measured in
//! BENCHMARKS.md). So buffers are kept while logins keep coming and handed
//! back to the system once they have sat unused for a while.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use argon2::Block;

type Shelf = Mutex<Vec<(Vec<Block>, Instant)>>;

#[derive(Clone)]
pub(crate) struct BlockPool {
    shelf: Arc<Shelf>,
}

impl BlockPool {
    /// Buffers unused for `idle` are freed by a background thread, which
    /// ends when the pool is dropped.
    pub(crate) fn new(idle: Duration) -> Self {
        let shelf: Arc<Shelf> = Arc::new(Mutex::new(Vec::new()));
        let weak = Arc::downgrade(&shelf);
        let spawned = std::thread::Builder::new()
            .name("argon2-block-reaper".into())
            .spawn(move || reap(&weak, idle));
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "no reaper thread: idle Argon2 buffers stay allocated");
        }
        Self { shelf }
    }

    /// A buffer of exactly `count` blocks: a kept one, or a new one. Argon2
    /// writes every block before it reads it, so old contents do not matter.
    pub(crate) fn take(&self, count: usize) -> Vec<Block> {
        let mut shelf = self.shelf.lock().unwrap_or_else(|e| e.into_inner());
        match shelf.iter().position(|(blocks, _)| blocks.len() == count) {
            Some(at) => shelf.swap_remove(at).0,
            None => vec![Block::default(); count],
        }
    }

    pub(crate) fn put(&self, blocks: Vec<Block>) {
        let mut shelf = self.shelf.lock().unwrap_or_else(|e| e.into_inner());
        shelf.push((blocks, Instant::now()));
    }

    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.shelf.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn reap(shelf: &Weak<Shelf>, idle: Duration) {
    let tick = (idle / 2).max(Duration::from_millis(10));
    loop {
        std::thread::sleep(tick);
        let Some(shelf) = shelf.upgrade() else {
            return;
        };
        let mut kept = shelf.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(_, since)| since.elapsed() < idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_then_freed_when_idle() {
        let pool = BlockPool::new(Duration::from_millis(50));
        let first = pool.take(8);
        let address = first.as_ptr();
        pool.put(first);
        let again = pool.take(8);
        assert_eq!(
            again.as_ptr(),
            address,
            "the kept buffer is handed out again"
        );
        pool.put(again);
        assert_eq!(pool.kept(), 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.kept() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(pool.kept(), 0, "an idle buffer is freed");
    }

    #[test]
    fn a_buffer_of_another_size_is_not_reused() {
        let pool = BlockPool::new(Duration::from_secs(60));
        pool.put(pool.take(4));
        assert_eq!(pool.take(8).len(), 8);
        assert_eq!(pool.kept(), 1);
    }
}
