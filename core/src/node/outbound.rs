//! Persistent outbound peers (`--connect`): dial them, and redial after every failed dial or
//! disconnect with btcd's backoff (5 s steps, capped at 5 minutes; the count resets once a
//! handshake completes, so a peer that accepts and then drops us still backs off).
//!
//! The issue placed redialling in the driver; it lives here instead because it is a timer-driven
//! decision, not IO: here both drivers share one implementation and the simulation tests run it
//! on virtual time. The driver only carries out `Output::Connect`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::peer::PeerId;
use crate::time::Time;

/// Step of the redial backoff (btcd's `connectionRetryInterval`).
pub const RETRY_STEP: Duration = Duration::from_secs(5);
/// Longest wait between redials (btcd's `maxRetryDuration`).
pub const MAX_RETRY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// A dial is under way.
    Dialing,
    /// Connected as this peer.
    Connected(PeerId),
    /// Waiting to redial at this time.
    Waiting(Time),
}

#[derive(Debug, Clone)]
struct Target {
    state: State,
    failures: u32,
}

/// The addresses we keep connections to.
#[derive(Debug, Clone, Default)]
pub struct PersistentPeers {
    targets: BTreeMap<SocketAddr, Target>,
}

impl PersistentPeers {
    /// Adds `addr`; returns true when it is new and must be dialled now.
    pub fn add(&mut self, addr: SocketAddr) -> bool {
        if self.targets.contains_key(&addr) {
            return false;
        }
        self.targets.insert(
            addr,
            Target {
                state: State::Dialing,
                failures: 0,
            },
        );
        true
    }

    /// Stops keeping `addr`: no more redials (an open connection is left alone).
    pub fn remove(&mut self, addr: &SocketAddr) {
        self.targets.remove(addr);
    }

    /// The addresses we keep, in address order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.targets.keys().copied().collect()
    }

    /// Whether `addr` is one of ours.
    pub fn contains(&self, addr: &SocketAddr) -> bool {
        self.targets.contains_key(addr)
    }

    /// A dial to `addr` succeeded as `peer`.
    pub fn connected(&mut self, addr: SocketAddr, peer: PeerId) {
        if let Some(t) = self.targets.get_mut(&addr) {
            t.state = State::Connected(peer);
        }
    }

    /// `addr` is dialled again at once (a v2 attempt a v1-only peer refused): not a failure.
    pub fn redialing(&mut self, addr: SocketAddr) {
        if let Some(t) = self.targets.get_mut(&addr) {
            t.state = State::Dialing;
        }
    }

    /// The handshake with `addr` completed: the backoff starts over.
    pub fn negotiated(&mut self, addr: SocketAddr) {
        if let Some(t) = self.targets.get_mut(&addr) {
            t.failures = 0;
        }
    }

    /// A dial failed or the connection ended; returns the wait before the next dial.
    pub fn failed(&mut self, addr: SocketAddr, now: Time) -> Option<Duration> {
        let t = self.targets.get_mut(&addr)?;
        t.failures = t.failures.saturating_add(1);
        let wait = RETRY_STEP.saturating_mul(t.failures).min(MAX_RETRY);
        t.state = State::Waiting(now + wait);
        Some(wait)
    }

    /// Addresses whose wait is over; they are marked as dialling.
    pub fn due(&mut self, now: Time) -> Vec<SocketAddr> {
        let mut due = Vec::new();
        for (addr, t) in self.targets.iter_mut() {
            if let State::Waiting(at) = t.state {
                if at <= now {
                    t.state = State::Dialing;
                    due.push(*addr);
                }
            }
        }
        due
    }

    /// The earliest redial time.
    pub fn next_deadline(&self) -> Option<Time> {
        self.targets
            .values()
            .filter_map(|t| match t.state {
                State::Waiting(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Forgets every address (shutdown).
    pub fn clear(&mut self) {
        self.targets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_in_steps_caps_and_resets_after_a_handshake() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut p = PersistentPeers::default();
        assert!(p.add(addr));
        assert!(!p.add(addr));
        let now = Time::from_secs(100);
        assert_eq!(p.failed(addr, now), Some(Duration::from_secs(5)));
        assert_eq!(p.failed(addr, now), Some(Duration::from_secs(10)));
        assert!(p.due(now + Duration::from_secs(9)).is_empty());
        assert_eq!(p.due(now + Duration::from_secs(10)), vec![addr]);
        for _ in 0..100 {
            p.failed(addr, now);
        }
        assert_eq!(p.failed(addr, now), Some(MAX_RETRY));
        p.negotiated(addr);
        assert_eq!(p.failed(addr, now), Some(RETRY_STEP));
    }
}
