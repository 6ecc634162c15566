//! The API's line to the running node: the requests it may send ([`NodeLink`], implemented
//! by the binaries over a driver handle), the answers it waits for (peer reports, matched by
//! token), the durably stored tip that the `waitfor*` methods and tip subscribers wait on,
//! and shutdown, which wakes every waiter.
//!
//! The tip here is the store's, not the core's: it moves after the store thread commits a
//! change ([`NodeState::tip_committed`]), so a hash that `waitfornewblock` returns can be
//! looked up with `getblockheader` at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use headway_core::{Event, PeerReport, Request};

pub use crate::chain_view::BlockRef;

/// How long an RPC waits for the node to answer a peer report before giving up: the node
/// answers at once unless its loop is stuck, which is then worth an error.
pub const PEER_REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API asks of the node: implemented by the binaries over their driver's handle.
pub trait NodeLink: Send + Sync + 'static {
    /// Hands `request` to the node.
    fn request(&self, request: Request);
}

/// The node as the API sees it; shared by the RPC workers, the run loop (which hands it every
/// event) and the store thread (which reports every commit).
pub struct NodeState {
    link: Box<dyn NodeLink>,
    tip: Mutex<BlockRef>,
    tip_moved: Condvar,
    stopping: AtomicBool,
    next_token: AtomicU64,
    reports: Mutex<HashMap<u64, SyncSender<PeerReport>>>,
    started: Instant,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState")
            .field("tip", &*self.lock_tip())
            .field("stopping", &self.is_stopping())
            .finish()
    }
}

impl NodeState {
    /// The state of a node whose store holds `tip`, reached through `link`.
    pub fn new(link: Box<dyn NodeLink>, tip: BlockRef) -> NodeState {
        NodeState {
            link,
            tip: Mutex::new(tip),
            tip_moved: Condvar::new(),
            stopping: AtomicBool::new(false),
            next_token: AtomicU64::new(1),
            reports: Mutex::new(HashMap::new()),
            started: Instant::now(),
        }
    }

    /// Hands `request` to the node.
    pub fn request(&self, request: Request) {
        self.link.request(request);
    }

    /// Seconds since this state was made (the node's start), for `uptime`.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn lock_tip(&self) -> MutexGuard<'_, BlockRef> {
        // The guarded value is always whole: a panic elsewhere cannot leave it half-written.
        self.tip.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tip the store holds.
    pub fn tip(&self) -> BlockRef {
        *self.lock_tip()
    }

    /// The store committed a change whose best chain ends at `tip`: wake the waiters.
    pub fn tip_committed(&self, tip: BlockRef) {
        let mut current = self.lock_tip();
        if *current != tip {
            *current = tip;
            self.tip_moved.notify_all();
        }
    }

    /// The node is stopping: every wait returns now, and no new report is asked for.
    pub fn stop_waiting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _guard = self.lock_tip();
        self.tip_moved.notify_all();
        // Dropping the senders ends every pending report wait at once.
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Whether the node is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for the stored tip, `timeout` passes (`None`: no limit) or the
    /// node stops; returns the tip then (Core's `waitfor*` return the tip on timeout too).
    pub fn wait_for_tip(
        &self,
        timeout: Option<Duration>,
        mut done: impl FnMut(&BlockRef) -> bool,
    ) -> BlockRef {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut tip = self.lock_tip();
        loop {
            if done(&tip) || self.is_stopping() {
                return *tip;
            }
            tip = match deadline {
                None => self.tip_moved.wait(tip).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return *tip;
                    }
                    self.tip_moved
                        .wait_timeout(tip, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Asks the node for its connections and waits for the answer; `None` if the node is
    /// stopping or does not answer within [`PEER_REPORT_TIMEOUT`].
    pub fn peer_report(&self) -> Option<PeerReport> {
        if self.is_stopping() {
            return None;
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel(1);
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, tx);
        self.link.request(Request::ReportPeers(token));
        let answer = rx.recv_timeout(PEER_REPORT_TIMEOUT).ok();
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token);
        answer
    }

    /// Takes in one of the node's events: peer reports go to whoever asked.
    pub fn on_event(&self, event: &Event) {
        match event {
            Event::PeerReport(report) => {
                let waiter = self
                    .reports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&report.token);
                if let Some(tx) = waiter {
                    // The asker may have timed out and gone: nothing to do then.
                    let _ = tx.try_send(report.clone());
                }
            }
            Event::ShutdownComplete => self.stop_waiting(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::BlockHash;
    use std::sync::Arc;

    /// A node that answers every report request on another thread, like the run loop.
    struct Answering(Mutex<Option<Arc<NodeState>>>);

    impl NodeLink for Arc<Answering> {
        fn request(&self, request: Request) {
            if let Request::ReportPeers(token) = request {
                let state = self.0.lock().unwrap().clone().unwrap();
                std::thread::spawn(move || {
                    state.on_event(&Event::PeerReport(PeerReport {
                        token,
                        peers: Vec::new(),
                        added: vec!["127.0.0.1:1".parse().unwrap()],
                    }))
                });
            }
        }
    }

    fn block(height: u32) -> BlockRef {
        BlockRef {
            height,
            hash: BlockHash::from_byte_array([height as u8; 32]),
        }
    }

    #[test]
    fn reports_reach_the_asker_and_waits_end_on_commit_timeout_or_stop() {
        let link = Arc::new(Answering(Mutex::new(None)));
        let state = Arc::new(NodeState::new(Box::new(link.clone()), block(0)));
        *link.0.lock().unwrap() = Some(state.clone());
        let report = state.peer_report().expect("answered");
        assert_eq!(report.added.len(), 1);

        let waiter = {
            let state = state.clone();
            std::thread::spawn(move || state.wait_for_tip(None, |t| t.height >= 2))
        };
        state.tip_committed(block(1));
        state.tip_committed(block(2));
        assert_eq!(waiter.join().unwrap(), block(2));

        let started = Instant::now();
        let tip = state.wait_for_tip(Some(Duration::from_millis(50)), |t| t.height >= 9);
        assert_eq!(tip, block(2));
        assert!(started.elapsed() >= Duration::from_millis(50));

        let waiter = {
            let state = state.clone();
            std::thread::spawn(move || state.wait_for_tip(None, |_| false))
        };
        std::thread::sleep(Duration::from_millis(20));
        state.stop_waiting();
        assert_eq!(waiter.join().unwrap(), block(2));
        assert!(state.peer_report().is_none(), "no reports once stopping");
    }
}
