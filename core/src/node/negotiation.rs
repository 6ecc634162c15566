//! The version/verack exchange as the node drives it: sending our version, taking the peer's
//! handshake messages (the state itself is in [`super::handshake`]), and what follows once a
//! connection is negotiated: the book hears of it, feelers leave, outbound peers are asked for
//! addresses, the first ping goes out and sync starts.

use bitcoin::p2p::message::NetworkMessage;
use tracing::debug;

use super::discovery::OutboundKind;
use super::handshake::{self, VersionOutcome};
use super::Node;
use crate::output::{DisconnectReason, Event};
use crate::peer::{Direction, PeerId};
use crate::time::Time;

impl Node {
    pub(super) fn send_version(&mut self, now: Time, id: PeerId) {
        let Some(addr) = self.peers.get(&id).map(|p| p.addr) else {
            return;
        };
        let nonce = self.rng.nonzero_u64();
        let msg = handshake::version_message(
            addr,
            self.local_services(),
            now,
            nonce,
            &self.config.user_agent,
            self.chain.tip_height(),
        );
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.handshake.our_nonce = Some(nonce);
        }
        self.send(id, NetworkMessage::Version(msg));
    }

    pub(super) fn on_handshake_message(&mut self, now: Time, id: PeerId, msg: NetworkMessage) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let got_version = peer.handshake.peer.is_some();
        match msg {
            NetworkMessage::Version(v) => {
                let addr = peer.addr;
                let services = self.local_services();
                let ua = self.config.user_agent.clone();
                let height = self.chain.tip_height();
                let nonce = self.rng.nonzero_u64();
                let own = |n: u64| {
                    self.peers
                        .iter()
                        .any(|(other, p)| *other != id && p.handshake.our_nonce == Some(n))
                };
                let own_nonce = own(v.nonce);
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                let outcome = peer.handshake.on_version(
                    &v,
                    |_| own_nonce,
                    || handshake::version_message(addr, services, now, nonce, &ua, height),
                );
                match outcome {
                    Ok(VersionOutcome::Reply(msgs)) => {
                        for m in msgs {
                            self.send(id, m);
                        }
                    }
                    Ok(VersionOutcome::Ignored) => {}
                    Err(reason) => {
                        self.disconnect(id, reason);
                        return;
                    }
                }
            }
            NetworkMessage::Verack if got_version => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.handshake.verack_received = true;
                }
            }
            NetworkMessage::SendHeaders if got_version => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.prefers_headers = true;
                }
            }
            NetworkMessage::SendAddrV2 if got_version => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.addr_relay.wants_addrv2 = true;
                }
            }
            other if got_version && handshake::is_pre_verack_negotiation(&other) => {}
            other => {
                debug!(peer = %id, command = %other.cmd(), "ignored before the handshake completed")
            }
        }
        let complete = self
            .peers
            .get(&id)
            .is_some_and(|p| p.handshake.is_complete());
        if complete {
            self.on_negotiated(now, id);
        }
    }

    fn on_negotiated(&mut self, now: Time, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.negotiated = true;
        let Some(v) = peer.handshake.peer.clone() else {
            return;
        };
        let (addr, direction) = (peer.addr, peer.direction);
        debug!(peer = %id, %addr, %direction, version = v.version, user_agent = %v.user_agent,
            services = %v.services, start_height = v.start_height, "peer negotiated");
        let kind = peer.outbound_kind;
        let transport = peer.transport.protocol();
        if direction == Direction::Outbound {
            self.persistent.negotiated(addr);
            self.outbound_negotiated(addr, v.services);
        }
        self.emit(Event::PeerNegotiated {
            peer: id,
            addr,
            direction,
            version: v.version,
            user_agent: v.user_agent,
            services: v.services,
            start_height: v.start_height,
            transport,
        });
        match kind {
            Some(OutboundKind::Feeler) => {
                self.disconnect(id, DisconnectReason::FeelerDone);
                return;
            }
            Some(_) => self.send_getaddr(id),
            None => {}
        }
        self.report_peers();
        self.send_ping(now, id);
        if kind == Some(OutboundKind::AddrFetch) {
            return;
        }
        self.on_peer_ready_for_sync(now, id);
    }

    /// Reports the peer counts (an info line in the binaries).
    pub(super) fn report_peers(&mut self) {
        let negotiated = |d: Direction| {
            self.peers
                .values()
                .filter(|p| p.negotiated && p.closing.is_none() && p.direction == d)
                .count()
        };
        let (outbound, inbound) = (
            negotiated(Direction::Outbound),
            negotiated(Direction::Inbound),
        );
        self.emit(Event::PeersChanged {
            outbound,
            inbound,
            book_new: self.discovery.book.new_len(),
            book_tried: self.discovery.book.tried_len(),
        });
    }
}
