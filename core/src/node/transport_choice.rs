//! Which transport each connection opens with, and the v1 fallback, as Bitcoin Core decides
//! them:
//!
//! - outbound, v2 when it is on and the address advertised NODE_P2P_V2 (in the book, from
//!   gossip or its last version message) or was asked for by the user (`--connect`,
//!   `--addnode`, `--seednode`, `addnode onetry`); otherwise v1 (Core's `use_v2transport` in
//!   `CConnman::ThreadOpenConnections`, `OpenNetworkConnection` and `AddNode`);
//! - inbound, v1 or v2 as the peer's first 16 bytes say ([`crate::transport::probe()`]);
//! - a v2 dial that the peer closes before sending a byte, once we sent a v1 header's worth,
//!   is a v1-only peer: it is dialled again at once with v1 (Core's `ShouldReconnectV1` and
//!   `PerformReconnections`), and the address is remembered so that it is never tried with v2
//!   again while we run (Core turns v2 off for the added node). So is one that answers our
//!   key in v1 (bcoin sends its version at once).
//!
//! A v2 dial to an address not known to speak v2 (one the user named) is a guess, and its
//! garbage is kept under [`SPECULATIVE_GARBAGE_LEN`]: a v1 peer reads our opening as 24-byte
//! headers with a wrong magic, and bcoin scores each one (+10, `Peer` `parser.on('error')`)
//! and bans the address at 100, which would leave no v1 retry. Core sends up to 4095 bytes to
//! every v2 dial and is banned by bcoin for it; a known v2 peer still gets the full range.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use bitcoin::p2p::ServiceFlags;
use tracing::info;

use super::connection::Peer;
use super::discovery::OutboundKind;
use super::Node;
use crate::peer::{Direction, PeerId};
use crate::transport::{Transport, V2Secrets};

/// Most garbage after our key on a v2 dial to an address not known to speak v2: with the
/// 64-byte key, under 240 bytes, ten 24-byte headers, the ones a v1 peer that bans at ten
/// unreadable headers (bcoin) would read.
pub const SPECULATIVE_GARBAGE_LEN: usize = 240 - 64 - 1;

/// Most v1-only addresses remembered; the oldest is forgotten first (then costs one more v2
/// attempt). Ours: Core keeps the flag only on its added nodes.
pub const V1_ONLY_LIMIT: usize = 4096;

/// The addresses known to speak only v1.
#[derive(Debug, Clone, Default)]
pub(super) struct V1Only {
    addrs: BTreeMap<SocketAddr, ()>,
    order: VecDeque<SocketAddr>,
}

impl V1Only {
    fn insert(&mut self, addr: SocketAddr) {
        if self.addrs.insert(addr, ()).is_some() {
            return;
        }
        self.order.push_back(addr);
        while self.order.len() > V1_ONLY_LIMIT {
            if let Some(old) = self.order.pop_front() {
                self.addrs.remove(&old);
            }
        }
    }

    pub(super) fn contains(&self, addr: &SocketAddr) -> bool {
        self.addrs.contains_key(addr)
    }
}

impl Node {
    /// The services our version message announces ([`super::Config::local_services`]).
    pub(super) fn local_services(&self) -> ServiceFlags {
        self.config.local_services()
    }

    /// The transport a new connection starts with.
    pub(super) fn new_transport(&mut self, addr: SocketAddr, direction: Direction) -> Transport {
        let magic = self.params.magic;
        if !self.config.v2_transport {
            return match direction {
                Direction::Inbound => Transport::inbound(magic, None),
                Direction::Outbound => Transport::v1(magic),
            };
        }
        match direction {
            Direction::Inbound => {
                Transport::inbound(magic, Some(V2Secrets::draw(&mut self.secrets)))
            }
            Direction::Outbound => match self.dial_v2(addr) {
                Some(garbage) => Transport::v2_initiator(
                    magic,
                    V2Secrets::draw_with_garbage(&mut self.secrets, garbage),
                ),
                None => Transport::v1(magic),
            },
        }
    }

    /// Whether to dial `addr` with v2, and if so the most garbage to send.
    fn dial_v2(&self, addr: SocketAddr) -> Option<usize> {
        if self.v1_only.contains(&addr) {
            return None;
        }
        // The book's entry carries what the peer (or gossip about it) advertised.
        let (a, port) = self.book_key(addr);
        let advertised = self
            .discovery
            .book
            .get(&a, port)
            .is_some_and(|e| e.services.has(ServiceFlags::P2P_V2));
        match self.discovery.dialing.get(&addr) {
            _ if advertised => Some(crate::transport::v2::MAX_GARBAGE_LEN),
            Some(OutboundKind::Automatic | OutboundKind::Feeler) => None,
            // Asked for by the user (manual, onetry, seed node): v2 first, as Core.
            Some(OutboundKind::Manual | OutboundKind::AddrFetch) | None => {
                Some(SPECULATIVE_GARBAGE_LEN)
            }
        }
    }

    /// After a dialled peer closed: if it was a v2 attempt that a v1-only peer refused,
    /// remembers the address and dials it again with v1 at once, as the same kind of
    /// connection. Returns whether it did.
    pub(super) fn retry_with_v1(&mut self, id: PeerId, peer: &Peer) -> bool {
        if peer.direction != Direction::Outbound
            || self.shutting_down
            || !peer.transport.should_reconnect_v1()
        {
            return false;
        }
        let addr = peer.addr;
        self.v1_only.insert(addr);
        info!(peer = %id, %addr, "peer refused the v2 transport; retrying with v1");
        match peer.outbound_kind {
            Some(OutboundKind::Manual) | None => self.persistent.redialing(addr),
            Some(kind) => {
                self.discovery.dialing.insert(addr, kind);
            }
        }
        self.connect(addr);
        true
    }
}
