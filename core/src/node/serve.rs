//! Serving other nodes: answering getheaders from our best chain and announcing new tips —
//! as headers to peers that asked with sendheaders (up to 8), as an inv of the tip otherwise.
//! A chain below the network's minimum chain work is not served: it is not proven yet.

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};

use tracing::debug;

use super::{Node, MAX_BLOCKS_TO_ANNOUNCE, MAX_HEADERS_RESULTS, MAX_LOCATOR_SIZE};
use crate::output::{DisconnectReason, TipChange};
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
        let headers = if req.locator_hashes.is_empty() {
            // Core: an empty locator asks for the stop header alone.
            match self.chain.height_of(&req.stop_hash) {
                Some(_) if self.chain.is_on_best_chain(&req.stop_hash) => {
                    self.chain.header(&req.stop_hash).into_iter().collect()
                }
                _ => Vec::new(),
            }
        } else {
            self.chain
                .headers_after(&req.locator_hashes, &req.stop_hash, MAX_HEADERS_RESULTS)
        };
        if let Some(last) = headers.last() {
            let hash = last.block_hash();
            if let (Some(height), Some(peer)) =
                (self.chain.height_of(&hash), self.peers.get_mut(&id))
            {
                if peer.best_known.is_none_or(|(h, _)| h < height) {
                    peer.best_known = Some((height, hash));
                }
            }
        }
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

    /// Tells every other negotiated peer about a new tip that came from `source`.
    pub(super) fn announce(&mut self, source: PeerId, change: &TipChange) {
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
        let headers: Vec<_> = if change.connected.len() <= MAX_BLOCKS_TO_ANNOUNCE {
            change
                .connected
                .iter()
                .filter_map(|h| self.chain.header(h))
                .collect()
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
