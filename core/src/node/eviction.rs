//! Making room for an inbound peer when the inbound slots are full, after Core's
//! `SelectNodeToEvict` (node/eviction.cpp): some peers are protected for qualities an attacker
//! cannot fake cheaply, and among the rest the youngest connection of the most crowded network
//! group goes. An attacker with many addresses in one group thus evicts its own connections
//! first.
//!
//! Protected, in this order, as Core does: [`PROTECT_BY_GROUP`] peers by a keyed hash of their
//! network group (so an attacker cannot choose which), [`PROTECT_BY_PING`] with the lowest
//! ping, [`PROTECT_BY_HEADERS`] that most recently gave us headers that moved our tip (Core
//! protects recent block and transaction relayers; headers are what a header node values),
//! then half of the rest by the longest uptime. Core's protections for transaction relay,
//! block-relay-only peers and privacy networks do not apply to us.

use bitcoin::hashes::siphash24;

use super::Node;
use crate::addrbook::netgroup;
use crate::peer::{Direction, PeerId};
use crate::time::Time;

/// Peers protected by network group (Core: 4).
pub const PROTECT_BY_GROUP: usize = 4;
/// Peers protected by lowest ping (Core: 8).
pub const PROTECT_BY_PING: usize = 8;
/// Peers protected by the most recent useful headers (Core: 4 block relayers).
pub const PROTECT_BY_HEADERS: usize = 4;

#[derive(Debug, Clone)]
struct Candidate {
    id: PeerId,
    group: Vec<u8>,
    keyed_group: u64,
    min_ping: Option<std::time::Duration>,
    useful: Option<Time>,
    connected_at: Time,
}

impl Node {
    /// Picks an inbound peer to disconnect so that a new one fits, or `None` when every
    /// inbound peer is protected (the new one is then refused).
    pub(super) fn select_inbound_to_evict(&self, newcomer: PeerId) -> Option<PeerId> {
        let key = self.eviction_key;
        let mut candidates: Vec<Candidate> = self
            .peers
            .iter()
            .filter(|(id, p)| {
                **id != newcomer && p.direction == Direction::Inbound && p.closing.is_none()
            })
            .map(|(id, p)| {
                let addr = netgroup::from_socket(p.addr).0;
                let group = self.discovery.book.group(&addr).as_bytes().to_vec();
                let keyed_group = siphash24::Hash::hash_to_u64_with_keys(key.0, key.1, &group);
                Candidate {
                    id: *id,
                    group,
                    keyed_group,
                    min_ping: p.ping.min_rtt,
                    useful: p.last_useful_headers,
                    connected_at: p.connected_at,
                }
            })
            .collect();
        // Each step sorts the candidates so that the protected ones come last, then drops them.
        protect(&mut candidates, PROTECT_BY_GROUP, |c| c.keyed_group);
        protect(&mut candidates, PROTECT_BY_PING, |c| {
            std::cmp::Reverse(c.min_ping.unwrap_or(std::time::Duration::MAX))
        });
        protect(&mut candidates, PROTECT_BY_HEADERS, |c| c.useful);
        let half = candidates.len() / 2;
        protect(&mut candidates, half, |c| std::cmp::Reverse(c.connected_at));
        // The most crowded group; on a tie, the one whose youngest member is youngest.
        let mut groups: std::collections::BTreeMap<&[u8], (usize, Time, PeerId)> =
            std::collections::BTreeMap::new();
        for c in &candidates {
            let entry = groups.entry(&c.group).or_insert((0, c.connected_at, c.id));
            entry.0 += 1;
            if (c.connected_at, c.id) > (entry.1, entry.2) {
                entry.1 = c.connected_at;
                entry.2 = c.id;
            }
        }
        groups
            .values()
            .max_by_key(|(count, youngest, id)| (*count, *youngest, *id))
            .map(|(_, _, id)| *id)
    }
}

/// Sorts by `key` ascending and removes the last `n` (the best by `key`).
fn protect<K: Ord>(candidates: &mut Vec<Candidate>, n: usize, key: impl Fn(&Candidate) -> K) {
    // Among equals the older connections come last and are protected: a burst of new
    // connections from one place should not push out those that were there first.
    candidates.sort_by(|a, b| {
        key(a)
            .cmp(&key(b))
            .then(b.connected_at.cmp(&a.connected_at))
            .then(b.id.cmp(&a.id))
    });
    let keep = candidates.len().saturating_sub(n);
    candidates.truncate(keep);
}
