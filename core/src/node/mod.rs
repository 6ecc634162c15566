//! The node: one deterministic state machine that owns the peers, the header chain and sync.
//! Inputs come in through [`Node::handle`]; outputs leave through [`Node::poll`].
//!
//! This file owns peer bookkeeping, message dispatch and timers; each connection's state is in
//! `connection`, and the protocol steps live in [`handshake`], [`ping`], `sync` (downloading
//! headers), [`presync`] (screening low-work header chains), `serve` (answering and
//! announcing), [`outbound`] (redialling persistent peers), `negotiation` (driving the
//! handshake), `gossip`, [`discovery`], [`seeding`], `chain_sync` and `eviction` (finding and
//! keeping peers), and `transport_choice` (v1 or v2 for each connection, and the v1
//! fallback); the transports themselves are [`crate::transport`].

mod chain_sync;
mod config;
mod connection;
pub mod discourage;
pub mod discovery;
mod eviction;
mod gossip;
pub mod handshake;
pub mod named_peers;
mod negotiation;
pub mod outbound;
pub mod ping;
mod pipeline;
pub mod presync;
pub mod report;
pub mod seeding;
mod serve;
mod sync;
#[cfg(test)]
mod test_peer;
pub mod transport_choice;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use bitcoin::p2p::message::NetworkMessage;
use tracing::debug;

use crate::chain::HeaderChain;
use crate::input::{Input, Request};
use crate::output::{DisconnectReason, Event, Output};
use crate::params::Params;
use crate::peer::{Direction, PeerId};
use crate::rng::{Rng, SecretRng};
use crate::time::Time;
use crate::transport::TransportError;
use crate::wire::Frame;

pub use self::config::{Config, Reachable};
use self::connection::Peer;
use self::discourage::Discouraged;
use self::discovery::{Discovery, OutboundKind};
use self::handshake::Handshake;
use self::outbound::PersistentPeers;
use self::sync::HeaderSync;

/// Our protocol version (Core's `PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: u32 = 70016;
/// Peers below this are refused (Core's `MIN_PEER_PROTO_VERSION`).
pub const MIN_PEER_PROTOCOL_VERSION: u32 = 31800;
/// Peers from this version understand sendheaders (BIP130).
pub const SENDHEADERS_VERSION: u32 = 70012;
/// Peers from this version understand wtxidrelay and sendaddrv2.
pub const WTXID_RELAY_VERSION: u32 = 70016;
/// Most headers in one headers message (Core's `MAX_HEADERS_RESULTS`).
pub const MAX_HEADERS_RESULTS: usize = 2000;
/// Most entries in a getheaders locator (Core's `MAX_LOCATOR_SZ`).
pub const MAX_LOCATOR_SIZE: usize = 101;
/// Most new headers announced as headers rather than an inv (Core's `MAX_BLOCKS_TO_ANNOUNCE`).
pub const MAX_BLOCKS_TO_ANNOUNCE: usize = 8;

/// The sans-IO node.
#[derive(Debug)]
pub struct Node {
    config: Config,
    params: Params,
    chain: HeaderChain,
    /// Nonces and tie-breaks: everything it draws may be seen on the wire.
    rng: Rng,
    /// Secrets (presync salts and offsets): nothing it draws goes on the wire.
    secrets: SecretRng,
    outputs: VecDeque<Output>,
    peers: BTreeMap<PeerId, Peer>,
    persistent: PersistentPeers,
    discouraged: Discouraged,
    /// The time of the input being handled (for bookkeeping deep in call chains).
    now: Time,
    sync: HeaderSync,
    /// The address book and the outbound slots it fills.
    discovery: Discovery,
    /// When the tip last moved, and the extra slot of a stale tip.
    stale_tip: chain_sync::StaleTip,
    /// Keys the network-group hash of inbound eviction (a secret, as Core's).
    eviction_key: (u64, u64),
    shutting_down: bool,
    shutdown_reported: bool,
    /// Addresses that refused a v2 handshake: dialled with v1 from then on.
    v1_only: transport_choice::V1Only,
    /// The names behind stand-in addresses (peers dialled by name through the proxy).
    named: named_peers::NamedPeers,
    /// A full headers batch waiting behind its pipelined request (`pipeline`).
    held: Option<pipeline::HeldBatch>,
}

impl Node {
    /// A node starting from `chain` (genesis only, or what the store held).
    pub fn new(config: Config, chain: HeaderChain) -> Node {
        let mut params = chain.params().clone();
        if let Some(work) = config.minimum_chain_work {
            params.minimum_chain_work = work;
        }
        let rng = Rng::from_seed(config.seed);
        let mut secrets = SecretRng::from_seed(&config.secret_seed);
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&secrets.next_u64().to_le_bytes());
        }
        let eviction_key = (secrets.next_u64(), secrets.next_u64());
        let discovery = Discovery::new(
            crate::addrbook::AddrBookKey::from_bytes(key),
            params.network.is_local(),
            config.discovery,
            config.dns_seeds.clone(),
            config.seed_nodes.clone(),
        );
        Node {
            config,
            params,
            chain,
            rng,
            secrets,
            outputs: VecDeque::new(),
            peers: BTreeMap::new(),
            persistent: PersistentPeers::default(),
            discouraged: Discouraged::default(),
            now: Time::ZERO,
            sync: HeaderSync::default(),
            discovery,
            stale_tip: chain_sync::StaleTip::default(),
            eviction_key,
            shutting_down: false,
            shutdown_reported: false,
            v1_only: transport_choice::V1Only::default(),
            named: named_peers::NamedPeers::default(),
            held: None,
        }
    }

    /// Feeds one input that happened at `now`, then runs every timer that is due.
    pub fn handle(&mut self, now: Time, input: Input) {
        // A batch held behind its pipelined request came before this input.
        self.run_held_batch();
        self.now = now;
        match input {
            Input::Connected {
                peer,
                addr,
                local_addr,
                direction,
            } => self.on_connected(now, peer, addr, local_addr, direction),
            Input::ConnectFailed { addr, error } => self.on_connect_failed(now, addr, error),
            Input::Received { peer, bytes } => self.on_received(now, peer, &bytes),
            Input::Disconnected { peer, error } => self.on_disconnected(now, peer, error),
            Input::Resolved { host, addrs } => self.on_resolved(now, host, addrs),
            Input::Tick => {}
            Input::Request(request) => self.on_request(now, request),
        }
        self.run_timers(now);
    }

    /// The next output, `None` when there is nothing more to do until the next input.
    ///
    /// A full headers batch is validated here, once the outputs before it (the request for
    /// the next batch among them) have been taken: see [`Node::validation_pending`].
    #[must_use]
    pub fn poll(&mut self) -> Option<Output> {
        if self.outputs.is_empty() {
            self.run_held_batch();
        }
        self.outputs.pop_front()
    }

    /// When the driver must call [`Node::handle`] with [`Input::Tick`] at the latest.
    pub fn next_deadline(&self) -> Option<Time> {
        let mut next = self.persistent.next_deadline();
        for t in [self.discovery.next_deadline(), self.chain_sync_deadline()]
            .into_iter()
            .flatten()
        {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        let mut consider = |t: Option<Time>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for peer in self.peers.values().filter(|p| p.closing.is_none()) {
            if !peer.negotiated {
                consider(Some(peer.handshake.deadline));
                continue;
            }
            consider(peer.ping.next_ping_at(self.config.ping_interval));
            consider(peer.ping.timeout_at(self.config.ping_timeout));
            consider(
                peer.headers_in_flight
                    .map(|t| t + self.config.headers_timeout),
            );
        }
        next
    }

    /// The header chain as it stands.
    pub fn chain(&self) -> &HeaderChain {
        &self.chain
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes received from `peer` and not yet decoded: never more than one partial frame or
    /// packet (`FRAME_HEADER_LEN + MAX_MESSAGE_LENGTH`, or v2's `MAX_CONTENTS_LEN` + 20) plus
    /// the last chunk handed in.
    pub fn buffered(&self, peer: PeerId) -> Option<usize> {
        self.peers.get(&peer).map(|p| p.transport.buffered())
    }

    /// Connections currently open, with their address and whether the handshake completed.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, SocketAddr, bool)> + '_ {
        self.peers.iter().map(|(id, p)| (*id, p.addr, p.negotiated))
    }

    fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn send(&mut self, peer: PeerId, msg: NetworkMessage) {
        debug!(peer = %peer, command = %msg.cmd(), "send");
        if let Some(p) = self.peers.get_mut(&peer) {
            p.transport.send(msg);
        }
        self.flush(peer);
    }

    /// Hands the driver what the peer's transport has to send (messages, or v2 handshake
    /// bytes).
    fn flush(&mut self, peer: PeerId) {
        let now = self.now;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let bytes = p.transport.take_outgoing();
        if bytes.is_empty() {
            return;
        }
        p.traffic.sent(bytes.len(), now);
        self.outputs.push_back(Output::Send { peer, bytes });
    }

    /// Asks the driver to dial `addr` (by the name behind it, if it is a stand-in).
    fn connect(&mut self, addr: SocketAddr) {
        let host = self.named.get(&addr).map(|n| n.host.clone());
        self.outputs.push_back(Output::Connect { addr, host });
    }

    /// Asks the driver to close `peer`, once; a misbehaving peer is reported as such.
    fn disconnect(&mut self, id: PeerId, reason: DisconnectReason) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.closing.is_some() {
            return;
        }
        peer.closing = Some(reason.clone());
        let addr = peer.addr;
        debug!(peer = %id, %addr, %reason, "disconnecting");
        if reason.is_misbehaviour() {
            if !self.persistent.contains(&addr) {
                self.discouraged.add(addr.ip(), self.now);
            }
            self.emit(Event::PeerMisbehaved {
                peer: id,
                addr,
                reason: reason.clone(),
            });
        }
        self.outputs
            .push_back(Output::Disconnect { peer: id, reason });
        self.sync_peer_lost(id);
    }

    /// Keeps a connection to `addr` from now on, dialling it now if it is new.
    fn add_persistent(&mut self, addr: SocketAddr) {
        if !self.shutting_down && self.persistent.add(addr) {
            self.connect(addr);
        }
    }

    fn on_request(&mut self, now: Time, request: Request) {
        match request {
            Request::AddPeer(addr) => self.add_persistent(addr),
            Request::AddNamedPeer { host, port } => {
                let addr = self.named.pin(host, port);
                self.add_persistent(addr);
            }
            Request::RemovePeer(addr) => self.persistent.remove(&addr),
            Request::ConnectOnce(addr) => {
                // Core's `OpenNetworkConnection` does nothing for an address already connected.
                let connected = self
                    .peers
                    .values()
                    .any(|p| p.addr == addr && p.closing.is_none());
                if !self.shutting_down && !connected {
                    self.connect(addr);
                }
            }
            Request::Disconnect(peer) => self.disconnect(peer, DisconnectReason::Requested),
            Request::ReportPeers(token) => self.answer_peer_report(token, now),
            Request::SendHeaders { peer, headers } => self.on_headers_read(peer, headers),
            Request::Shutdown => {
                self.persist_addr_book(now);
                self.discovery.stop();
                self.shutting_down = true;
                self.persistent.clear();
                let ids: Vec<PeerId> = self.peers.keys().copied().collect();
                for id in ids {
                    self.disconnect(id, DisconnectReason::Shutdown);
                }
                self.maybe_finish_shutdown();
            }
        }
    }

    fn maybe_finish_shutdown(&mut self) {
        if self.shutting_down && self.peers.is_empty() && !self.shutdown_reported {
            self.shutdown_reported = true;
            // What the closing connections changed in the book (their last-seen times) goes
            // out before the node reports it is done.
            let now = self.now;
            self.persist_addr_book(now);
            self.emit(Event::ShutdownComplete);
        }
    }

    fn on_connected(
        &mut self,
        now: Time,
        id: PeerId,
        addr: SocketAddr,
        local_addr: Option<SocketAddr>,
        direction: Direction,
    ) {
        let inbound = self
            .peers
            .values()
            .filter(|p| p.direction == Direction::Inbound && p.closing.is_none())
            .count();
        let transport = self.new_transport(addr, direction);
        self.peers.insert(
            id,
            Peer::new(
                addr,
                direction,
                transport,
                Handshake::new(now + self.config.handshake_timeout),
                now,
            ),
        );
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.local_addr = local_addr;
        }
        self.emit(Event::PeerConnected {
            peer: id,
            addr,
            direction,
        });
        if self.shutting_down {
            self.disconnect(id, DisconnectReason::Shutdown);
            return;
        }
        if direction == Direction::Inbound && self.discouraged.contains(&addr.ip(), now) {
            self.disconnect(id, DisconnectReason::Discouraged);
            return;
        }
        if direction == Direction::Inbound && inbound >= self.config.max_inbound {
            match self.select_inbound_to_evict(id) {
                Some(victim) => self.disconnect(victim, DisconnectReason::EvictedInbound),
                None => {
                    self.disconnect(
                        id,
                        DisconnectReason::TooManyInbound(self.config.max_inbound),
                    );
                    return;
                }
            }
        }
        if direction == Direction::Outbound {
            let kind = self.outbound_connected(addr);
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.outbound_kind = Some(kind);
            }
            self.persistent.connected(addr, id);
            // A v2 transport sends its key and garbage now; our version waits in it for the
            // handshake.
            self.flush(id);
            self.send_version(now, id);
        }
    }

    fn on_connect_failed(&mut self, now: Time, addr: SocketAddr, error: String) {
        if self.shutting_down {
            return;
        }
        if let Some(kind) = self.outbound_failed(addr) {
            debug!(%addr, ?kind, %error, "dial failed");
            self.discovery.request_fill(now + discovery::DIAL_PACE);
            return;
        }
        if let Some(retry_in) = self.persistent.failed(addr, now) {
            self.emit(Event::ConnectFailed {
                addr,
                error,
                retry_in,
            });
        }
    }

    fn on_disconnected(&mut self, now: Time, id: PeerId, error: Option<String>) {
        let Some(peer) = self.peers.remove(&id) else {
            return;
        };
        let reason = peer.closing.clone().unwrap_or_else(|| {
            DisconnectReason::Closed(error.unwrap_or_else(|| "closed by peer".to_string()))
        });
        self.emit(Event::PeerDisconnected {
            peer: id,
            addr: peer.addr,
            reason,
        });
        self.sync_peer_lost(id);
        if self.retry_with_v1(id, &peer) {
            self.maybe_finish_shutdown();
            return;
        }
        if peer.direction == Direction::Outbound && peer.negotiated {
            self.outbound_ended(peer.addr, now);
        }
        if peer.direction == Direction::Outbound && !self.shutting_down {
            if peer.outbound_kind == Some(OutboundKind::Manual) {
                self.persistent.failed(peer.addr, now);
            } else {
                self.discovery.request_fill(now + discovery::DIAL_PACE);
            }
        }
        if peer.negotiated {
            self.report_peers();
        }
        self.maybe_finish_shutdown();
        self.maybe_start_sync(now);
    }

    fn on_received(&mut self, now: Time, id: PeerId, bytes: &[u8]) {
        match self.peers.get_mut(&id) {
            Some(peer) if peer.closing.is_none() => {
                peer.traffic.received(bytes.len(), now);
                peer.transport.receive(bytes);
            }
            _ => return,
        }
        // The v2 handshake answers as it goes (our terminator and version packet, then the
        // messages that waited for it).
        self.flush(id);
        loop {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            if peer.closing.is_some() {
                return;
            }
            match peer.transport.next_frame() {
                Ok(Some(Frame::Message(msg))) => self.on_message(now, id, msg),
                Ok(Some(Frame::Rejected(why))) => {
                    // Core drops such a frame and keeps the peer (see `wire`).
                    debug!(peer = %id, addr = %peer.addr, %why, "message dropped");
                }
                Ok(None) => return,
                Err(TransportError::Wire(e)) => {
                    self.disconnect(id, DisconnectReason::Wire(e));
                    return;
                }
                Err(TransportError::V2(e)) => {
                    self.disconnect(id, DisconnectReason::V2Transport(e));
                    return;
                }
                Err(TransportError::V2Off) => {
                    self.disconnect(id, DisconnectReason::V2Handshake);
                    return;
                }
            }
        }
    }

    fn on_message(&mut self, now: Time, id: PeerId, msg: NetworkMessage) {
        // A batch held from an earlier message of the same read comes first.
        self.run_held_batch();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        debug!(peer = %id, addr = %peer.addr, command = %msg.cmd(), "received");
        if !peer.negotiated {
            self.on_handshake_message(now, id, msg);
            return;
        }
        match msg {
            NetworkMessage::Ping(nonce) => self.send(id, NetworkMessage::Pong(nonce)),
            NetworkMessage::Pong(nonce) => {
                let addr = peer.addr;
                if let Some(rtt) = peer.ping.on_pong(nonce, now) {
                    self.emit(Event::PingMeasured {
                        peer: id,
                        addr,
                        rtt,
                    });
                }
            }
            NetworkMessage::SendHeaders => peer.prefers_headers = true,
            NetworkMessage::Headers(headers) => self.on_headers(now, id, headers),
            NetworkMessage::GetHeaders(req) => self.on_getheaders(id, req),
            NetworkMessage::Inv(inv) => self.on_inv(now, id, &inv),
            NetworkMessage::Addr(list) => self.on_addr(now, id, list),
            NetworkMessage::AddrV2(list) => self.on_addrv2(now, id, list),
            NetworkMessage::GetAddr => self.on_getaddr(now, id),
            // A second version or verack is ignored, as Core does; so is anything we do not use.
            _ => {}
        }
    }

    fn send_ping(&mut self, now: Time, id: PeerId) {
        let nonce = self.rng.nonzero_u64();
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.ping.sent(nonce, now);
        }
        self.send(id, NetworkMessage::Ping(nonce));
    }

    fn run_timers(&mut self, now: Time) {
        for addr in self.persistent.due(now) {
            self.connect(addr);
        }
        self.run_discovery(now);
        self.check_chain_sync(now);
        let mut expired = Vec::new();
        let mut pings = Vec::new();
        let mut stalled = Vec::new();
        for (id, peer) in self.peers.iter().filter(|(_, p)| p.closing.is_none()) {
            if !peer.negotiated {
                if peer.handshake.deadline <= now {
                    expired.push((
                        *id,
                        DisconnectReason::HandshakeTimeout(self.config.handshake_timeout),
                    ));
                }
                continue;
            }
            if peer
                .ping
                .timeout_at(self.config.ping_timeout)
                .is_some_and(|t| t <= now)
            {
                expired.push((*id, DisconnectReason::PingTimeout(self.config.ping_timeout)));
                continue;
            }
            if peer
                .ping
                .next_ping_at(self.config.ping_interval)
                .is_some_and(|t| t <= now)
            {
                pings.push(*id);
            }
            if peer
                .headers_in_flight
                .is_some_and(|t| t + self.config.headers_timeout <= now)
            {
                stalled.push(*id);
            }
        }
        for (id, reason) in expired {
            self.disconnect(id, reason);
        }
        for id in pings {
            self.send_ping(now, id);
        }
        for id in stalled {
            self.on_headers_timeout(now, id);
        }
    }
}
