//! What the node tells an application about its connections when asked
//! ([`crate::Request::ReportPeers`]): one [`PeerSummary`] per open connection, the fields of
//! Bitcoin Core's `getpeerinfo` that a header node has, and the added-node list that
//! `addnode` checks against. The answer is an event, so the core stays a pull queue: the
//! application matches it to its question by the token it chose.

use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::p2p::ServiceFlags;

use super::connection::Peer;
use super::discovery::OutboundKind;
use super::presync::PresyncPhase;
use super::Node;
use crate::output::{Event, PeerReport};
use crate::peer::{Direction, PeerId};
use crate::time::Time;

/// What a connection is for, as Core's `ConnectionType` names them (`getpeerinfo`'s
/// `connection_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    /// The peer dialled us.
    Inbound,
    /// One of the automatic outbound slots (Core's `OUTBOUND_FULL_RELAY`; we relay no
    /// transactions, but the slot is that one).
    OutboundFullRelay,
    /// `--connect`, `--addnode` or the RPC's `addnode`.
    Manual,
    /// A short test of an address (Core's `FEELER`).
    Feeler,
    /// A seed node, asked for addresses and left (Core's `ADDR_FETCH`).
    AddrFetch,
}

impl ConnectionKind {
    /// Core's name for it (`ConnectionTypeAsString`).
    pub fn core_name(self) -> &'static str {
        match self {
            ConnectionKind::Inbound => "inbound",
            ConnectionKind::OutboundFullRelay => "outbound-full-relay",
            ConnectionKind::Manual => "manual",
            ConnectionKind::Feeler => "feeler",
            ConnectionKind::AddrFetch => "addr-fetch",
        }
    }
}

/// Bytes and times of one connection's traffic, counted as the core hands bytes to the
/// driver and takes them from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes handed to the driver to send.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_recv: u64,
    /// When we last sent something.
    pub last_send: Option<Time>,
    /// When the peer last sent something.
    pub last_recv: Option<Time>,
}

impl Traffic {
    pub(super) fn sent(&mut self, len: usize, now: Time) {
        self.bytes_sent = self.bytes_sent.saturating_add(len as u64);
        self.last_send = Some(now);
    }

    pub(super) fn received(&mut self, len: usize, now: Time) {
        self.bytes_recv = self.bytes_recv.saturating_add(len as u64);
        self.last_recv = Some(now);
    }
}

/// One open connection, as `getpeerinfo` shows it. Everything the peer said about itself
/// (version, user agent, services, start height) is its claim, not a fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSummary {
    /// The connection.
    pub peer: PeerId,
    /// The remote address.
    pub addr: SocketAddr,
    /// Our end of the connection, if the driver could tell.
    pub local_addr: Option<SocketAddr>,
    /// Who opened it.
    pub direction: Direction,
    /// What it is for.
    pub kind: ConnectionKind,
    /// Whether version and verack went both ways.
    pub negotiated: bool,
    /// The protocol version it announced (0 before its version message).
    pub version: u32,
    /// Its user agent, as sent (untrusted text).
    pub user_agent: String,
    /// The services it announced.
    pub services: ServiceFlags,
    /// The best height it claimed in its version message.
    pub start_height: i32,
    /// The height of the best header it sent us (Core's `synced_headers`).
    pub synced_headers: Option<u32>,
    /// How far the first download of its low-work chain got (Core's `presynced_headers`).
    pub presynced_headers: Option<u32>,
    /// When the connection came up.
    pub connected_at: Time,
    /// Its traffic.
    pub traffic: Traffic,
    /// The last measured ping round trip.
    pub ping: Option<Duration>,
    /// The shortest measured ping round trip.
    pub min_ping: Option<Duration>,
    /// How long the outstanding ping has waited.
    pub ping_wait: Option<Duration>,
    /// Whether it is the peer we sync headers from.
    pub sync_peer: bool,
    /// Its transport (`getpeerinfo`'s `transport_protocol_type`).
    pub transport: crate::transport::TransportProtocol,
    /// The BIP324 session id, for a v2 connection (`getpeerinfo`'s `session_id`): both ends
    /// show the same one, which is how a user checks that no one is in the middle.
    pub session_id: Option<[u8; 32]>,
}

impl Node {
    /// Answers [`crate::Request::ReportPeers`]: every open connection that is not closing,
    /// and the added peers.
    pub(super) fn answer_peer_report(&mut self, token: u64, now: Time) {
        let peers = self
            .peers
            .iter()
            .filter(|(_, p)| p.closing.is_none())
            .map(|(id, p)| self.summary(*id, p, now))
            .collect();
        let added = self.persistent.addrs();
        self.emit(Event::PeerReport(PeerReport {
            token,
            peers,
            added,
        }));
    }

    fn summary(&self, id: PeerId, p: &Peer, now: Time) -> PeerSummary {
        let kind = match (p.direction, p.outbound_kind) {
            (Direction::Inbound, _) => ConnectionKind::Inbound,
            (Direction::Outbound, Some(OutboundKind::Automatic)) => {
                ConnectionKind::OutboundFullRelay
            }
            (Direction::Outbound, Some(OutboundKind::Feeler)) => ConnectionKind::Feeler,
            (Direction::Outbound, Some(OutboundKind::AddrFetch)) => ConnectionKind::AddrFetch,
            (Direction::Outbound, Some(OutboundKind::Manual) | None) => ConnectionKind::Manual,
        };
        let version = p.handshake.peer.as_ref();
        PeerSummary {
            peer: id,
            addr: p.addr,
            local_addr: p.local_addr,
            direction: p.direction,
            kind,
            negotiated: p.negotiated,
            version: version.map_or(0, |v| v.version),
            user_agent: version.map_or_else(String::new, |v| v.user_agent.clone()),
            services: version.map_or(ServiceFlags::NONE, |v| v.services),
            start_height: version.map_or(0, |v| v.start_height),
            synced_headers: p.best_received.map(|(h, _)| h),
            presynced_headers: p
                .presync
                .as_ref()
                .map(|s| s.status())
                .filter(|s| s.phase == PresyncPhase::Presync)
                .map(|s| s.height),
            connected_at: p.connected_at,
            traffic: p.traffic,
            ping: p.ping.last_rtt,
            min_ping: p.ping.min_rtt,
            ping_wait: p
                .ping
                .outstanding
                .map(|(_, sent)| now.saturating_since(sent)),
            sync_peer: self.sync.sync_peer == Some(id),
            transport: p.transport.protocol(),
            session_id: p.transport.session_id(),
        }
    }
}
