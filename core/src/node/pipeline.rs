//! Validation behind the pipelined request: a full `headers` batch is validated only after
//! the getheaders for the next batch has left, so that the peer serves while we validate.
//!
//! The node asks for the next batch before it validates a full one (`sync.rs`), but its
//! outputs leave only when the driver polls them, which used to be after `handle` had
//! validated the whole batch: the request went out last, and the peer idled through our
//! validation and we through its serving. Now the batch is held here, [`Node::poll`] hands
//! out the request first, and validates the batch only when every output before it has been
//! taken: a driver that sends each output as it polls it (both of ours do) overlaps the two.
//!
//! A full batch of a sync on a chain that has the work (the usual message) is held as it
//! arrived: the request for the next one needs only the links its headers carry, so the
//! double SHA-256 of its headers and the continuity check (Core's "non-continuous headers
//! sequence", still an offence) run behind the request too. Hashing was the largest part of
//! the core thread's work per batch (`perf`), and until then it sat between a batch's arrival
//! and the next request, where the peer idled.
//!
//! The order of everything the node does is unchanged: a held batch is validated before the
//! next input is handled ([`Node::handle`]) and before the next message of the same read
//! (`on_message`), so nothing can see the chain without it. Only state read between `handle`
//! and the `poll` that returns `None` (the chain, the peers) may not include it yet.
//!
//! Measured with `cargo bench -p headway --bench sync_scale` (the commit that added this has
//! the figures before and after, from the same run).

use bitcoin::block::Header;
use bitcoin::BlockHash;
use tracing::debug;

use super::sync::is_continuous;
use super::Node;
use crate::chain::header_hashes;
use crate::output::DisconnectReason;
use crate::peer::PeerId;

/// A full batch whose next request is out, waiting to be validated.
#[derive(Debug)]
pub(super) struct HeldBatch {
    pub(super) peer: PeerId,
    pub(super) headers: Vec<Header>,
    /// `hashes[i]` is the hash of `headers[i]`; `None` for a message held as it arrived,
    /// hashed and checked for continuity when it runs.
    pub(super) hashes: Option<Vec<BlockHash>>,
    pub(super) then: AfterBatch,
}

/// What the node does with a held batch once it is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterBatch {
    /// A full batch of the main sync: progress, as `end_of_batch`.
    Sync,
    /// Headers a presync released for storing (its next request is out): a failure ends the
    /// presync.
    PresyncRelease { full: bool },
    /// A message of a presync in its PRESYNC phase whose next request is out: fed to the
    /// presync now.
    Presync,
}

impl Node {
    /// Holds `batch` until the outputs before it are taken. A batch already held is validated
    /// first (it cannot be: every input runs the held one before it starts).
    pub(super) fn hold_batch(&mut self, batch: HeldBatch) {
        self.run_held_batch();
        self.held = Some(batch);
    }

    /// Validates the held batch, if any, with the time of the input that brought it.
    pub(super) fn run_held_batch(&mut self) {
        let Some(batch) = self.held.take() else {
            return;
        };
        let now = self.now;
        let HeldBatch {
            peer,
            headers,
            hashes,
            then,
        } = batch;
        // A message held as it arrived (`on_headers`, `pipeline_presync`) is hashed and checked
        // for continuity (Core's check) now, behind the request; one held with its hashes
        // passed that check before it was held.
        let hashes = match hashes {
            Some(hashes) => hashes,
            None => {
                let hashes = header_hashes(&headers);
                if !is_continuous(&headers, &hashes) {
                    self.disconnect(peer, DisconnectReason::NonContinuousHeaders);
                    return;
                }
                hashes
            }
        };
        match then {
            AfterBatch::Sync => {
                if self.store_headers(now, peer, &headers, &hashes, true) {
                    self.end_of_batch(now, peer, true);
                }
            }
            AfterBatch::Presync => {
                // The request that follows it was certain, so the presync takes the message
                // (whatever its verdict) and there is nothing for the caller to go on with.
                let taken = self.continue_presync_after(now, peer, &headers, &hashes, true);
                if !taken {
                    debug!(peer = %peer, "a held presync message found its presync gone");
                }
            }
            AfterBatch::PresyncRelease { full } => {
                if !self.store_headers(now, peer, &headers, &hashes, full) {
                    // Failed full validation or lies in the future: the peer was dropped or
                    // the round ended; either way this presync is over.
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.presync = None;
                    }
                }
            }
        }
    }

    /// Whether the node holds a batch that the next [`Node::poll`] validates once the outputs
    /// before it are taken. A driver that batches its sends (one wake of its socket thread per
    /// drain) flushes them when this is true, before polling on: otherwise the request the
    /// batch waits behind leaves only after it.
    pub fn validation_pending(&self) -> bool {
        self.held.is_some()
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::p2p::message::NetworkMessage;

    use crate::chain::HeaderChain;
    use crate::input::Input;
    use crate::node::test_peer::{decoded, handshake, receive};
    use crate::node::{Config, Node, MAX_HEADERS_RESULTS};
    use crate::output::{DisconnectReason, Output};
    use crate::params::Network;
    use crate::peer::PeerId;
    use crate::time::Time;
    use crate::wire::encode;

    fn synced_with_peer() -> (Node, Time) {
        let network = Network::Regtest;
        let mut node = Node::new(Config::new(network), HeaderChain::new(network.params()));
        let now = Time::from_secs(1_700_000_000);
        let asked = handshake(&mut node, now, PeerId(1))
            .into_iter()
            .any(|(_, m)| matches!(m, NetworkMessage::GetHeaders(_)));
        assert!(asked, "the only peer becomes the sync peer");
        (node, now)
    }

    fn headers_message(headers: &[bitcoin::block::Header]) -> Vec<u8> {
        encode(
            Network::Regtest.params().magic,
            NetworkMessage::Headers(headers.to_vec()),
        )
    }

    #[test]
    fn a_full_batch_is_validated_after_the_next_request_is_taken() {
        let (mut node, now) = synced_with_peer();
        let chain = headway_regtest::mine(
            &Network::Regtest.params().genesis,
            MAX_HEADERS_RESULTS + 10,
            1,
        );
        receive(
            &mut node,
            now,
            PeerId(1),
            NetworkMessage::Headers(chain[..MAX_HEADERS_RESULTS].to_vec()),
        );
        assert!(node.validation_pending());
        let first = node.poll().expect("an output");
        assert!(
            matches!(decoded(&first), Some(NetworkMessage::GetHeaders(_))),
            "the next request comes first: {first:?}"
        );
        assert_eq!(
            node.chain().tip_height(),
            0,
            "not validated before it is taken"
        );
        let rest: Vec<Output> = std::iter::from_fn(|| node.poll()).collect();
        assert!(!node.validation_pending());
        assert_eq!(node.chain().tip_height(), MAX_HEADERS_RESULTS as u32);
        assert!(rest.iter().any(|o| matches!(o, Output::Persist(p)
            if p.connected.len() == MAX_HEADERS_RESULTS)));
    }

    #[test]
    fn a_held_batch_comes_before_the_next_input() {
        let (mut node, now) = synced_with_peer();
        let chain = headway_regtest::mine(
            &Network::Regtest.params().genesis,
            MAX_HEADERS_RESULTS + 10,
            1,
        );
        receive(
            &mut node,
            now,
            PeerId(1),
            NetworkMessage::Headers(chain[..MAX_HEADERS_RESULTS].to_vec()),
        );
        // The driver did not poll in between: the tail still connects, to the held batch.
        receive(
            &mut node,
            now,
            PeerId(1),
            NetworkMessage::Headers(chain[MAX_HEADERS_RESULTS - 1..].to_vec()),
        );
        let outputs: Vec<Output> = std::iter::from_fn(|| node.poll()).collect();
        assert_eq!(node.chain().tip_height(), (MAX_HEADERS_RESULTS + 10) as u32);
        assert!(!outputs
            .iter()
            .any(|o| matches!(o, Output::Disconnect { .. })));
    }

    #[test]
    fn two_batches_in_one_read_are_validated_in_order() {
        let (mut node, now) = synced_with_peer();
        let chain = headway_regtest::mine(
            &Network::Regtest.params().genesis,
            2 * MAX_HEADERS_RESULTS,
            1,
        );
        let mut bytes = headers_message(&chain[..MAX_HEADERS_RESULTS]);
        bytes.extend(headers_message(&chain[MAX_HEADERS_RESULTS..]));
        node.handle(
            now,
            Input::Received {
                peer: PeerId(1),
                bytes,
            },
        );
        let _: Vec<Output> = std::iter::from_fn(|| node.poll()).collect();
        assert_eq!(node.chain().tip_height(), 2 * MAX_HEADERS_RESULTS as u32);
    }

    #[test]
    fn a_full_batch_that_does_not_chain_is_refused_behind_the_next_request() {
        let (mut node, now) = synced_with_peer();
        let mut chain = headway_regtest::mine(
            &Network::Regtest.params().genesis,
            MAX_HEADERS_RESULTS + 1,
            1,
        );
        // A gap in the middle: the message is full and its first header connects, so it is
        // held unhashed behind the request; the continuity check runs when it does.
        chain.remove(MAX_HEADERS_RESULTS / 2);
        receive(&mut node, now, PeerId(1), NetworkMessage::Headers(chain));
        let first = node.poll().expect("an output");
        assert!(
            matches!(decoded(&first), Some(NetworkMessage::GetHeaders(_))),
            "the next request comes first: {first:?}"
        );
        let rest: Vec<Output> = std::iter::from_fn(|| node.poll()).collect();
        assert!(
            rest.iter()
                .any(|o| matches!(o, Output::Disconnect { peer, reason }
                if *peer == PeerId(1) && *reason == DisconnectReason::NonContinuousHeaders)),
            "refused as Core refuses it: {rest:?}"
        );
        assert!(!rest.iter().any(|o| matches!(o, Output::Persist(_))));
        assert_eq!(node.chain().tip_height(), 0, "nothing of it is taken");
    }
}
