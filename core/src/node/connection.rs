//! What the node knows about one connection: its framing and transport state, the handshake,
//! liveness, and where header sync with it stands. Plain state; the protocol steps that change
//! it live in the node's other modules.

use std::net::SocketAddr;

use bitcoin::BlockHash;

use super::chain_sync::ChainSyncState;
use super::discovery::OutboundKind;
use super::gossip::AddrRelay;
use super::handshake::Handshake;
use super::ping::Ping;
use super::presync;
use super::report::Traffic;
use crate::output::DisconnectReason;
use crate::peer::Direction;
use crate::time::Time;
use crate::transport::Transport;

/// What the node knows about one connection.
#[derive(Debug)]
pub(super) struct Peer {
    pub(super) addr: SocketAddr,
    /// Our end of the connection, if the driver could tell.
    pub(super) local_addr: Option<SocketAddr>,
    pub(super) direction: Direction,
    /// v1 or v2 framing, and for inbound peers the detection of which.
    pub(super) transport: Transport,
    pub(super) handshake: Handshake,
    pub(super) negotiated: bool,
    pub(super) ping: Ping,
    /// Set once we asked the driver to close; further input from the peer is ignored.
    pub(super) closing: Option<DisconnectReason>,
    /// Our getheaders awaiting an answer, with its send time (or the time it last timed out,
    /// if we kept waiting for it).
    pub(super) headers_in_flight: Option<Time>,
    /// The request in flight timed out once and we kept waiting (no other peer could serve):
    /// a new request may replace it.
    pub(super) request_overdue: bool,
    /// The request in flight was made for a round that has ended since (a header from the
    /// future stopped it): its answer is dropped unread.
    pub(super) stale_request: bool,
    /// During initial sync, a block inv from this peer started a download from it (Core's
    /// `m_inv_triggered_getheaders_before_sync`): at most once per peer.
    pub(super) inv_triggered_sync: bool,
    /// The start of the last chain of this peer reported as too low in work: each chain is
    /// reported once.
    pub(super) low_work_reported: Option<BlockHash>,
    /// The highest header we know the peer has (sent it to us, or we to it).
    pub(super) best_known: Option<(u32, BlockHash)>,
    /// The best header the peer itself showed us, in headers (Core's `pindexBestKnownBlock`):
    /// what [`super::chain_sync`] judges it by; what we sent it proves nothing about it.
    pub(super) best_received: Option<(u32, BlockHash)>,
    /// The peer sent sendheaders: announce new tips to it as headers.
    pub(super) prefers_headers: bool,
    /// We sent it sendheaders.
    pub(super) sent_sendheaders: bool,
    /// It announced headers we lack while a getheaders to it was in flight.
    pub(super) more_announced: bool,
    /// Its low-work headers chain being downloaded twice before anything is stored.
    pub(super) presync: Option<Box<presync::HeadersPresync>>,
    /// What an outbound connection is for (`None` for inbound ones).
    pub(super) outbound_kind: Option<OutboundKind>,
    /// Address gossip with it.
    pub(super) addr_relay: AddrRelay,
    /// When the connection came up.
    pub(super) connected_at: Time,
    /// When its headers last moved our tip.
    pub(super) last_useful_headers: Option<Time>,
    /// Whether it keeps up with our tip (automatic outbound peers).
    pub(super) chain_sync: ChainSyncState,
    /// Bytes and times of its traffic, for [`super::report`].
    pub(super) traffic: Traffic,
}

impl Peer {
    /// A connection that just came up: nothing negotiated, nothing asked. Inbound peers have
    /// the transport chosen by [`super::transport_choice`].
    pub(super) fn new(
        addr: SocketAddr,
        direction: Direction,
        transport: Transport,
        handshake: Handshake,
        now: Time,
    ) -> Peer {
        Peer {
            addr,
            local_addr: None,
            direction,
            transport,
            handshake,
            negotiated: false,
            ping: Ping::default(),
            closing: None,
            headers_in_flight: None,
            request_overdue: false,
            stale_request: false,
            inv_triggered_sync: false,
            low_work_reported: None,
            best_known: None,
            best_received: None,
            prefers_headers: false,
            sent_sendheaders: false,
            more_announced: false,
            presync: None,
            outbound_kind: None,
            addr_relay: AddrRelay::new(now),
            connected_at: now,
            last_useful_headers: None,
            chain_sync: ChainSyncState::default(),
            traffic: Traffic::default(),
        }
    }

    pub(super) fn start_height(&self) -> u32 {
        self.handshake
            .peer
            .as_ref()
            .map(|v| u32::try_from(v.start_height).unwrap_or(0))
            .unwrap_or(0)
    }

    /// The best height the peer has shown or claimed.
    pub(super) fn height_hint(&self) -> u32 {
        self.start_height()
            .max(self.best_known.map(|(h, _)| h).unwrap_or(0))
    }

    pub(super) fn supports_sendheaders(&self) -> bool {
        self.handshake
            .peer
            .as_ref()
            .is_some_and(|v| v.supports_sendheaders)
    }
}
