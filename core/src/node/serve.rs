//! Serving other nodes: answering getheaders from our best chain and announcing new tips —
//! as headers to peers that asked with sendheaders (up to 8), as an inv of the tip otherwise.
//! A chain below the network's minimum chain work is not served: it is not proven yet.
//!
//! The core keeps no full headers: it decides which heights a getheaders gets and asks the
//! store for them ([`Output::ServeHeaders`]); the store's answer comes back as
//! [`crate::Request::SendHeaders`] and goes out as one `headers` message. Announcements carry
//! headers of the message that brought them, which the core still holds at that moment.

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::BlockHash;

use tracing::debug;

use super::{Node, MAX_BLOCKS_TO_ANNOUNCE, MAX_HEADERS_RESULTS, MAX_LOCATOR_SIZE};
use crate::output::{DisconnectReason, Output, ServeHeaders, TipChange};
use crate::peer::PeerId;

impl Node {
    pub(super) fn on_getheaders(&mut self, id: PeerId, req: GetHeadersMessage) {
        if req.locator_hashes.len() > MAX_LOCATOR_SIZE {
            self.disconnect(
                id,
                DisconnectReason::LocatorTooLarge(req.locator_hashes.len()),
            );
            return;
        }
        if self.chain.tip_work() < self.params.minimum_chain_work {
            // Core (`ProcessMessage`, GETHEADERS): "active chain has too little work; sending
            // empty response", so the peer moves on without taking us for unresponsive. During
            // our own presync or on a fresh node, what we hold is not proven to be the chain.
            debug!(peer = %id, "our chain is below the minimum chain work: answering getheaders empty");
            self.send(id, NetworkMessage::Headers(Vec::new()));
            return;
        }
        // Core: an empty locator asks for the stop header alone (`headers_after` does that).
        let range =
            self.chain
                .headers_after(&req.locator_hashes, &req.stop_hash, MAX_HEADERS_RESULTS);
        if range.count == 0 {
            self.send(id, NetworkMessage::Headers(Vec::new()));
            return;
        }
        let last = range.first.saturating_add(range.count - 1);
        if let (Some(hash), Some(peer)) = (self.chain.hash_at(last), self.peers.get_mut(&id)) {
            if peer.best_known.is_none_or(|(h, _)| h < last) {
                peer.best_known = Some((last, hash));
            }
        }
        debug!(peer = %id, first = range.first, count = range.count, "serving headers from the store");
        self.outputs.push_back(Output::ServeHeaders(ServeHeaders {
            peer: id,
            first: range.first,
            count: range.count,
        }));
    }

    /// The store's answer to an [`Output::ServeHeaders`]: one `headers` message, unless the
    /// peer has gone or is closing. More than a message can hold is cut to the limit.
    pub(super) fn on_headers_read(&mut self, id: PeerId, mut headers: Vec<Header>) {
        match self.peers.get(&id) {
            Some(peer) if peer.closing.is_none() => {}
            _ => return,
        }
        headers.truncate(MAX_HEADERS_RESULTS);
        self.send(id, NetworkMessage::Headers(headers));
    }

    /// Tells every other negotiated peer that lacks it about our tip, as an inv.
    pub(super) fn announce_tip(&mut self, source: PeerId) {
        let (height, tip) = (self.chain.tip_height(), self.chain.tip_hash());
        let targets: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| **id != source && p.negotiated && p.closing.is_none())
            .filter(|(_, p)| p.best_known.is_none_or(|(_, h)| h != tip))
            .map(|(id, _)| *id)
            .collect();
        for id in targets {
            self.send(id, NetworkMessage::Inv(vec![Inventory::Block(tip)]));
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.best_known = Some((height, tip));
            }
        }
    }

    /// Tells every other negotiated peer about a new tip that came from `source` in the
    /// message `headers` (with their `hashes`).
    pub(super) fn announce(
        &mut self,
        source: PeerId,
        change: &TipChange,
        headers: &[Header],
        hashes: &[BlockHash],
    ) {
        let targets: Vec<(PeerId, bool)> = self
            .peers
            .iter()
            .filter(|(id, p)| **id != source && p.negotiated && p.closing.is_none())
            .filter(|(_, p)| p.best_known.is_none_or(|(_, h)| h != change.tip))
            .map(|(id, p)| (*id, p.prefers_headers))
            .collect();
        if targets.is_empty() || change.tip == bitcoin::BlockHash::all_zeros() {
            return;
        }
        // Every connected header must be in the message; one that joined from a branch held
        // before (a reorganisation onto it) is not, and the tip then goes as an inv.
        let headers: Vec<Header> = if change.connected.len() <= MAX_BLOCKS_TO_ANNOUNCE {
            let found: Vec<Header> = change
                .connected
                .iter()
                .filter_map(|c| hashes.iter().position(|h| h == c))
                .filter_map(|i| headers.get(i).copied())
                .collect();
            if found.len() == change.connected.len() {
                found
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        for (id, prefers_headers) in targets {
            if prefers_headers && !headers.is_empty() {
                self.send(id, NetworkMessage::Headers(headers.clone()));
            } else {
                self.send(id, NetworkMessage::Inv(vec![Inventory::Block(change.tip)]));
            }
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.best_known = Some((change.tip_height, change.tip));
            }
        }
    }
}
