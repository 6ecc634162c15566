//! Discouragement: once a peer misbehaved, its IP address may not connect to us again for a
//! day (Bitcoin Core's `BanMan::Discourage`). Like Core, addresses the user asked for and
//! loopback peers are disconnected but never discouraged. The list is bounded: the oldest
//! entry makes room for a new one, so a flood of addresses costs us a fixed amount of memory.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use crate::time::Time;

/// How long a misbehaving address stays discouraged.
pub const DISCOURAGE_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// Most addresses remembered at once.
pub const MAX_DISCOURAGED: usize = 10_000;

/// The addresses that may not connect inbound, each with the time it may again.
#[derive(Debug, Clone, Default)]
pub struct Discouraged {
    until: BTreeMap<IpAddr, Time>,
    order: VecDeque<IpAddr>,
}

impl Discouraged {
    /// Discourages `ip` from `now` on (loopback addresses are exempt).
    pub fn add(&mut self, ip: IpAddr, now: Time) {
        if ip.is_loopback() {
            return;
        }
        if self.until.insert(ip, now + DISCOURAGE_FOR).is_none() {
            self.order.push_back(ip);
        }
        while self.order.len() > MAX_DISCOURAGED {
            if let Some(old) = self.order.pop_front() {
                self.until.remove(&old);
            }
        }
    }

    /// Whether `ip` is discouraged at `now`.
    pub fn contains(&self, ip: &IpAddr, now: Time) -> bool {
        self.until.get(ip).is_some_and(|until| *until > now)
    }

    /// How many addresses are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discouragement_expires_is_bounded_and_spares_loopback() {
        let mut d = Discouraged::default();
        let now = Time::from_secs(1_000);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        d.add(ip, now);
        assert!(d.contains(&ip, now));
        assert!(!d.contains(&ip, now + DISCOURAGE_FOR));
        d.add("127.0.0.1".parse().unwrap(), now);
        assert!(!d.contains(&"127.0.0.1".parse().unwrap(), now));
        for i in 0..(MAX_DISCOURAGED as u32 + 5) {
            d.add(IpAddr::from(i.to_be_bytes()), now);
        }
        assert_eq!(d.len(), MAX_DISCOURAGED);
        assert!(!d.contains(&ip, now), "the oldest entries made room");
    }
}
