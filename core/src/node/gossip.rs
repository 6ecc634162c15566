//! Address gossip, after Core's net_processing.cpp: asking outbound peers for addresses
//! (`getaddr` once after the handshake), taking `addr` and `addrv2` into the book through a
//! per-peer token bucket (`ProcessAddrs`), and answering one `getaddr` per inbound connection
//! from a cached sample of the book (`GETADDR` handling and `CConnman::GetAddresses`).
//!
//! Unlike Core we relay nothing: we serve no blocks, so we do not advertise ourselves and we
//! do not forward the addresses of others (a header node is not where the network should
//! learn addresses). An unsolicited flood costs one token-bucket check per address and at most
//! the book's fixed size.

use std::time::Duration;

use bitcoin::p2p::address::{AddrV2Message, Address};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use tracing::debug;

use super::Node;
use crate::addrbook::{netgroup, KnownAddr, GOSSIP_TIME_PENALTY_SECS};
use crate::output::DisconnectReason;
use crate::peer::{Direction, PeerId};
use crate::time::Time;

/// Most addresses in one addr or addrv2 message, and in a getaddr answer (Core's
/// `MAX_ADDR_TO_SEND`); more is misbehaviour.
pub const MAX_ADDR_TO_SEND: usize = 1000;
/// Share of the book a getaddr answer may give away (Core's `MAX_PCT_ADDR_TO_SEND`).
pub const MAX_PCT_ADDR_TO_SEND: usize = 23;
/// Addresses a peer may send per second once its burst is spent (Core's
/// `MAX_ADDR_RATE_PER_SECOND`).
pub const MAX_ADDR_RATE_PER_SECOND: f64 = 0.1;
/// The token bucket's size (Core's `MAX_ADDR_PROCESSING_TOKEN_BUCKET`).
pub const MAX_ADDR_TOKENS: f64 = MAX_ADDR_TO_SEND as f64;
/// How long a getaddr answer is reused, so that repeated requests from new connections
/// cannot map the whole book (Core's `m_addr_response_caches`: 21 h plus up to 6 h).
pub const ADDR_CACHE_LIFETIME: Duration = Duration::from_secs(21 * 3600);
/// See [`ADDR_CACHE_LIFETIME`].
pub const ADDR_CACHE_JITTER_SECS: u64 = 6 * 3600;
/// Claimed times before this (1973) or more than 10 minutes ahead are replaced by "5 days
/// ago" (Core's `ProcessAddrs`).
const MIN_PLAUSIBLE_TIME: u32 = 100_000_000;
const FUTURE_SLACK_SECS: u64 = 10 * 60;
const UNKNOWN_AGE_SECS: u64 = 5 * 24 * 3600;

/// Per-peer gossip state.
#[derive(Debug, Clone)]
pub(super) struct AddrRelay {
    /// The peer sent sendaddrv2 (BIP155): answer it with addrv2.
    pub(super) wants_addrv2: bool,
    /// We answered its getaddr already (once per connection).
    pub(super) getaddr_answered: bool,
    /// Addresses it may still send before the rate limit applies.
    tokens: f64,
    tokens_at: Time,
}

impl AddrRelay {
    /// Fresh state: one token, as Core starts `m_addr_token_bucket` at 1.
    pub(super) fn new(now: Time) -> AddrRelay {
        AddrRelay {
            wants_addrv2: false,
            getaddr_answered: false,
            tokens: 1.0,
            tokens_at: now,
        }
    }

    /// Refills the bucket for the time since the last message.
    fn refill(&mut self, now: Time) {
        if self.tokens < MAX_ADDR_TOKENS {
            let elapsed = now.saturating_since(self.tokens_at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * MAX_ADDR_RATE_PER_SECOND).min(MAX_ADDR_TOKENS);
        }
        self.tokens_at = now;
    }

    /// Takes a token for one address; false when the peer is over its rate.
    fn take(&mut self) -> bool {
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// Whether an address announces a node worth keeping: a full or pruned node (Core's
/// `MayHaveUsefulAddressDB` or `HasAllDesirableServiceFlags`).
pub(super) fn useful(services: ServiceFlags) -> bool {
    services.has(ServiceFlags::NETWORK) || services.has(ServiceFlags::NETWORK_LIMITED)
}

impl Node {
    /// Asks an outbound peer for addresses, once, right after the handshake; the answer may
    /// then use a whole token bucket (Core adds `MAX_ADDR_TO_SEND` tokens when it sends
    /// getaddr).
    pub(super) fn send_getaddr(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.addr_relay.tokens += MAX_ADDR_TOKENS;
        self.send(id, NetworkMessage::GetAddr);
    }

    /// An addr message (pre-BIP155 form).
    pub(super) fn on_addr(&mut self, now: Time, id: PeerId, list: Vec<(u32, Address)>) {
        let count = list.len();
        let candidates = list.into_iter().filter_map(|(time, a)| {
            let sa = a.socket_addr().ok()?;
            let (addr, port) = netgroup::from_socket(sa);
            Some(KnownAddr {
                addr,
                port,
                services: a.services,
                time,
            })
        });
        self.on_addresses(now, id, count, candidates.collect());
    }

    /// An addrv2 message (BIP155).
    pub(super) fn on_addrv2(&mut self, now: Time, id: PeerId, list: Vec<AddrV2Message>) {
        let count = list.len();
        let candidates = list.into_iter().map(|m| KnownAddr {
            addr: netgroup::canonical(m.addr),
            port: m.port,
            services: m.services,
            time: m.time,
        });
        self.on_addresses(now, id, count, candidates.collect());
    }

    /// Core's `ProcessAddrs`, without relaying.
    fn on_addresses(&mut self, now: Time, id: PeerId, count: usize, mut list: Vec<KnownAddr>) {
        if count > MAX_ADDR_TO_SEND {
            self.disconnect(id, DisconnectReason::TooManyAddresses(count));
            return;
        }
        let Some(addr) = self.peers.get(&id).map(|p| p.addr) else {
            return;
        };
        let source = self.book_key(addr).0;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.addr_relay.refill(now);
        // Core shuffles first, so that a rate-limited message keeps a random part of itself.
        for i in (1..list.len()).rev() {
            let j = self.secrets.below(i + 1);
            list.swap(i, j);
        }
        let now_secs = now.as_secs();
        let mut kept = Vec::with_capacity(list.len());
        let mut limited = 0usize;
        for mut c in list {
            if !peer.addr_relay.take() {
                limited += 1;
                continue;
            }
            if !useful(c.services) {
                continue;
            }
            if c.time <= MIN_PLAUSIBLE_TIME || u64::from(c.time) > now_secs + FUTURE_SLACK_SECS {
                c.time = u32::try_from(now_secs.saturating_sub(UNKNOWN_AGE_SECS)).unwrap_or(0);
            }
            if netgroup::to_socket(&c.addr, c.port)
                .is_some_and(|sa| self.discouraged.contains(&sa.ip(), now))
            {
                continue;
            }
            kept.push(c);
        }
        let fetch_done =
            peer.outbound_kind == Some(super::discovery::OutboundKind::AddrFetch) && count > 1;
        let added = self.discovery.book.add(
            &kept,
            &source,
            GOSSIP_TIME_PENALTY_SECS,
            now,
            &mut self.secrets,
        );
        debug!(peer = %id, %addr, received = count, rate_limited = limited, added,
            book = self.discovery.book.len(), "addresses received");
        if added > 0 {
            self.discovery.request_fill(now);
        }
        if fetch_done {
            // A seed node's job is done once it has answered (Core's addr-fetch connections).
            self.disconnect(id, DisconnectReason::AddrFetchDone);
        }
    }

    /// Answers an inbound peer's first getaddr from the cached sample; outbound peers and
    /// repeats are ignored, as Core does (answering outbound peers would let them fingerprint
    /// us across connections).
    pub(super) fn on_getaddr(&mut self, now: Time, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.direction != Direction::Inbound || peer.addr_relay.getaddr_answered {
            debug!(peer = %id, addr = %peer.addr, "getaddr ignored");
            return;
        }
        peer.addr_relay.getaddr_answered = true;
        let wants_v2 = peer.addr_relay.wants_addrv2;
        let sample = self.cached_addresses(now);
        if sample.is_empty() {
            return;
        }
        let msg = if wants_v2 {
            NetworkMessage::AddrV2(
                sample
                    .iter()
                    .map(|k| AddrV2Message {
                        time: k.time,
                        services: k.services,
                        addr: k.addr.clone(),
                        port: k.port,
                    })
                    .collect(),
            )
        } else {
            // The old format carries only IP addresses.
            NetworkMessage::Addr(
                sample
                    .iter()
                    .filter_map(|k| {
                        let sa = netgroup::to_socket(&k.addr, k.port)?;
                        Some((k.time, Address::new(&sa, k.services)))
                    })
                    .collect(),
            )
        };
        self.send(id, msg);
    }

    /// The getaddr answer, drawn afresh once the cache has expired.
    fn cached_addresses(&mut self, now: Time) -> Vec<KnownAddr> {
        if let Some((expires, sample)) = &self.discovery.addr_cache {
            if *expires > now {
                return sample.clone();
            }
        }
        let sample = self.discovery.book.sample(
            MAX_ADDR_TO_SEND,
            MAX_PCT_ADDR_TO_SEND,
            now,
            &mut self.secrets,
        );
        let jitter = self.secrets.below(ADDR_CACHE_JITTER_SECS as usize) as u64;
        let expires = now + ADDR_CACHE_LIFETIME + Duration::from_secs(jitter);
        self.discovery.addr_cache = Some((expires, sample.clone()));
        sample
    }
}
