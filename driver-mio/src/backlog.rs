//! The bytes the socket thread has handed to the core thread and the core has not yet handled:
//! the read side's back-pressure.
//!
//! The channel between the threads is unbounded so that the socket thread never blocks; this
//! count bounds it instead. At the limit the socket thread stops reading (every peer: the core
//! is the bottleneck, not any one peer), and the core thread wakes it when its handling takes
//! the count back under the limit.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes in flight to the core before the socket thread stops reading: several full-size
/// messages (4,000,000 bytes at most each), so a busy core is never starved by this bound.
pub(crate) const CORE_BACKLOG_LIMIT: usize = 16 * 1024 * 1024;

/// A shared count of unhandled received bytes with a limit.
#[derive(Debug)]
pub(crate) struct CoreBacklog {
    bytes: AtomicUsize,
    limit: usize,
}

impl CoreBacklog {
    /// An empty backlog that is full at `limit` bytes.
    pub(crate) fn new(limit: usize) -> CoreBacklog {
        CoreBacklog {
            bytes: AtomicUsize::new(0),
            limit,
        }
    }

    /// The socket thread is about to hand `n` bytes to the core.
    pub(crate) fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::AcqRel);
    }

    /// Whether the socket thread must stop reading for now.
    pub(crate) fn is_full(&self) -> bool {
        self.bytes.load(Ordering::Acquire) >= self.limit
    }

    /// The core handled `n` bytes. Returns true when this took the backlog from full to not
    /// full: the socket thread may have stopped reading and must be woken.
    pub(crate) fn handled(&self, n: usize) -> bool {
        let before = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(n))
            })
            .unwrap_or_else(|b| b);
        before >= self.limit && before.saturating_sub(n) < self.limit
    }

    /// Bytes in flight now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_step_from_full_to_not_full_asks_for_a_wake() {
        let backlog = CoreBacklog::new(100);
        backlog.add(60);
        assert!(!backlog.is_full());
        backlog.add(60);
        assert!(backlog.is_full());
        assert!(!backlog.handled(10), "110 is still full");
        assert!(backlog.handled(30), "80 is under the limit again");
        assert!(
            !backlog.handled(30),
            "already under the limit: no second wake"
        );
        assert_eq!(backlog.bytes(), 50);
        assert!(!backlog.handled(500));
        assert_eq!(backlog.bytes(), 0, "never below zero");
    }
}
