//! Rebuilding the tree from a store at startup, one header at a time, without hashing the
//! best chain: the hash of each stored best-chain header is the next one's `prev_blockhash`,
//! so a million headers load without a million double SHA-256s (about 0.25 s of the 0.4 s a
//! load took when it hashed them), and without a `Vec` of them all in memory.
//!
//! What is checked: the first header is this network's genesis, byte for byte, and the second
//! links to it; side headers link to a header already loaded. What is trusted: that each best
//! header links to the one below, and proof of work, as the store only holds validated
//! headers written in LMDB transactions. A header damaged inside the store is not caught here
//! (LMDB keeps no checksums); `headway-inspect verify` walks and hashes the whole store.

use bitcoin::block::Header;

use super::tree::Node;
use super::{header_hash, HeaderChain, LoadError};
use crate::params::Params;

/// Builds a [`HeaderChain`] from stored headers: the best chain from genesis in height order
/// ([`ChainLoader::push_best`]), then the side headers, parents first
/// ([`ChainLoader::push_side`]), then [`ChainLoader::finish`].
#[derive(Debug)]
pub struct ChainLoader {
    chain: HeaderChain,
    /// The best-chain header last pushed, not yet in the tree: its hash comes with the next.
    pending: Option<Header>,
    /// Best-chain headers pushed.
    pushed: u64,
    /// Whether the index covers the best chain (built at the first side header or at the end).
    indexed: bool,
    /// Side headers skipped as already known.
    known_side: usize,
}

impl ChainLoader {
    /// A loader for `params`, with room for `capacity` headers.
    pub fn new(params: Params, capacity: usize) -> ChainLoader {
        ChainLoader {
            chain: HeaderChain::with_capacity(params, capacity),
            pending: None,
            pushed: 0,
            indexed: false,
            known_side: 0,
        }
    }

    /// The next best-chain header, in height order from genesis.
    pub fn push_best(&mut self, header: &Header) -> Result<(), LoadError> {
        if self.indexed {
            // Side headers came first: the store's order was not followed.
            return Err(LoadError::BrokenLink(self.pushed as u32));
        }
        match self.pushed {
            0 if *header != self.chain.params.genesis => {
                return Err(LoadError::WrongGenesis {
                    found: header_hash(header),
                    network: self.chain.params.network,
                });
            }
            1 if header.prev_blockhash != self.chain.params.genesis_hash() => {
                return Err(LoadError::BrokenLink(1));
            }
            _ => {}
        }
        if let Some(below) = self.pending.take() {
            self.add_best(&below, header.prev_blockhash)?;
        }
        if self.pushed > 0 {
            self.pending = Some(*header);
        }
        self.pushed += 1;
        Ok(())
    }

    /// Adds the best header one above the tip, whose hash is `hash`.
    fn add_best(&mut self, header: &Header, hash: bitcoin::BlockHash) -> Result<(), LoadError> {
        let chain = &mut self.chain;
        if chain.tree.len() >= super::hash_index::MAX_NODES {
            return Err(LoadError::TooMany);
        }
        let parent = chain.tree.tip();
        let bits = header.bits.to_consensus();
        let node = Node {
            hash,
            parent,
            height: chain.tree.tip_height() + 1,
            time: header.time,
            bits,
        };
        let work = chain
            .tree
            .work
            .tip()
            .saturating_add(chain.proofs.proof(bits));
        chain.tree.push_best_unindexed(node, work);
        chain.push_walk_bits(&node);
        Ok(())
    }

    /// Puts the last best header in and indexes the best chain, once.
    fn close_best(&mut self) -> Result<(), LoadError> {
        if self.indexed {
            return Ok(());
        }
        if let Some(tip) = self.pending.take() {
            self.add_best(&tip, header_hash(&tip))?;
            self.chain.tip_header = tip;
        }
        self.chain.tree.rebuild_index();
        self.indexed = true;
        Ok(())
    }

    /// A side header at `height` (its parent loaded before it). One already known is skipped;
    /// heights are recomputed from the parent.
    pub fn push_side(&mut self, _height: u32, header: &Header) -> Result<(), LoadError> {
        self.close_best()?;
        let chain = &mut self.chain;
        let hash = header_hash(header);
        if chain.tree.lookup(&hash).is_some() {
            self.known_side += 1;
            return Ok(());
        }
        if chain.tree.is_full() {
            return Err(LoadError::TooMany);
        }
        let parent = chain
            .tree
            .lookup(&header.prev_blockhash)
            .ok_or(LoadError::OrphanSide(hash))?;
        let bits = header.bits.to_consensus();
        let node = Node {
            hash,
            parent,
            height: chain.tree.node(parent).height.saturating_add(1),
            time: header.time,
            bits,
        };
        let work = chain
            .tree
            .work_of(parent)
            .saturating_add(chain.proofs.proof(bits));
        chain.tree.push_side(node, work);
        chain.push_walk_bits(&node);
        Ok(())
    }

    /// The loaded chain; the stored best chain is its best chain. An empty load gives the
    /// genesis-only chain.
    pub fn finish(mut self) -> Result<HeaderChain, LoadError> {
        self.close_best()?;
        tracing::debug!(
            network = %self.chain.params.network,
            height = self.chain.tip_height(),
            side = self.chain.tree.len() - self.chain.tree.tip_height() as usize - 1,
            known_side = self.known_side,
            "header chain loaded"
        );
        Ok(self.chain)
    }
}
