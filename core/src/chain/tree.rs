//! The storage of the header tree: compact nodes in one `Vec` indexed by `u32`, the hash index
//! over them ([`super::hash_index`]), the best chain as node indices by height, and the
//! cumulative work ([`super::work`]). Knows nothing of consensus; [`super::HeaderChain`]
//! decides what goes in.
//!
//! Memory per header (x86-64): a [`Node`] is 48 bytes: the hash and what validation, locators
//! and fork choice read (time, nBits, parent, height). The rest of the header (version, merkle
//! root, nonce) is not kept: the store has it, and composes what peers ask for from it
//! (`Output::ServeHeaders`). The index costs 5.3 to 10.7 bytes (4 at a load of 3/8 to 3/4),
//! the best chain 4, work a quarter of a byte (a checkpoint every 64 heights). About 58 bytes
//! a header for a loaded chain, plus `Vec` growth slack while syncing.
//!
//! Nodes have no skip pointer (Core's `pskip`): an ancestor on the best chain is one lookup,
//! and a walk off it stops as soon as it meets the best chain, so it costs the length of the
//! side branch, which the anti-DoS threshold keeps short (a branch must carry nearly the best
//! chain's work to be stored). Walks that long happen once per difficulty period and once per
//! locator, not per header.

use std::fmt;

use bitcoin::block::Header;
use bitcoin::BlockHash;

use super::hash_index::HashIndex;
use super::work::WorkLedger;

/// The parent of genesis.
pub(super) const NO_PARENT: u32 = u32::MAX;

/// One header in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Node {
    /// This header's hash.
    pub hash: BlockHash,
    /// Index of the parent ([`NO_PARENT`] for genesis).
    pub parent: u32,
    /// Height above genesis.
    pub height: u32,
    /// The header's timestamp.
    pub time: u32,
    /// The header's nBits.
    pub bits: u32,
}

/// The nodes, the index over them, the best chain and the work.
#[derive(Clone)]
pub(super) struct Tree {
    pub(super) nodes: Vec<Node>,
    index: HashIndex,
    /// Node index of the best chain's header at each height.
    pub(super) best: Vec<u32>,
    pub(super) work: WorkLedger,
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tree")
            .field("headers", &self.nodes.len())
            .field("best_height", &self.best.len().saturating_sub(1))
            .finish()
    }
}

impl Tree {
    /// A tree holding `genesis` (height 0) with `work`, room reserved for `capacity` nodes.
    pub fn new(genesis: &Header, hash: BlockHash, work: u128, capacity: usize) -> Tree {
        let node = Node {
            hash,
            parent: NO_PARENT,
            height: 0,
            time: genesis.time,
            bits: genesis.bits.to_consensus(),
        };
        let mut tree = Tree {
            nodes: Vec::with_capacity(capacity.max(1)),
            index: HashIndex::with_capacity(capacity),
            best: Vec::with_capacity(capacity.max(1)),
            work: WorkLedger::new(work),
        };
        tree.nodes.push(node);
        tree.index.insert(&hash, 0, |_| Some(hash));
        tree.best.push(0);
        tree
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the index can take no more nodes.
    pub fn is_full(&self) -> bool {
        self.index.is_full()
    }

    /// Room for `more` nodes beyond those held, so that a sync whose length is known ahead
    /// does not grow the vectors by doubling (each doubling holds the old and the new copy
    /// at once).
    pub fn reserve(&mut self, more: usize) {
        self.nodes.reserve_exact(more);
        self.best.reserve_exact(more);
        let nodes = &self.nodes;
        self.index.reserve(nodes.len().saturating_add(more), |i| {
            nodes.get(i as usize).map(|n| n.hash)
        });
    }

    /// The node at `idx` (an index this tree handed out).
    pub fn node(&self, idx: u32) -> &Node {
        // Indices only come from this tree, so this never fails; genesis as a harmless answer
        // keeps the lookup panic-free regardless.
        self.nodes.get(idx as usize).unwrap_or(&self.nodes[0])
    }

    /// The index of the node with `hash`.
    pub fn lookup(&self, hash: &BlockHash) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(hash, |idx| nodes.get(idx as usize).map(|n| n.hash))
    }

    /// Hints the CPU to fetch the hash index's slot for `hash` ahead of its lookup or insert
    /// ([`HashIndex::prefetch`]).
    pub fn prefetch_index(&self, hash: &BlockHash) {
        self.index.prefetch(hash)
    }

    /// Index of the best tip.
    pub fn tip(&self) -> u32 {
        self.best.last().copied().unwrap_or(0)
    }

    /// Height of the best tip.
    pub fn tip_height(&self) -> u32 {
        (self.best.len() - 1) as u32
    }

    /// Index of the best chain's node at `height`.
    pub fn best_at(&self, height: u32) -> Option<u32> {
        self.best.get(height as usize).copied()
    }

    /// Whether node `idx` is on the best chain.
    pub fn is_on_best(&self, idx: u32) -> bool {
        self.best_at(self.node(idx).height) == Some(idx)
    }

    /// The ancestor of `idx` at `height` (`idx` itself if `height` is not below it). O(1) on
    /// the best chain; off it, a walk of parent links until it meets the best chain.
    pub fn ancestor(&self, idx: u32, height: u32) -> u32 {
        let mut walk = idx;
        loop {
            let node = self.node(walk);
            if node.height <= height || node.parent == NO_PARENT {
                return walk;
            }
            if self.best_at(node.height) == Some(walk) {
                return self.best_at(height).unwrap_or(walk);
            }
            walk = node.parent;
        }
    }

    /// The median of the timestamps of `idx` and up to 10 of its ancestors.
    pub fn median_time_past(&self, idx: u32) -> u32 {
        // Filled from the end, oldest first: timestamps mostly rise along a chain, so the
        // sort (an insertion sort at this length) finds them nearly in order. Filled newest
        // first they were in reverse, its worst case: 55 moves a header, a third of
        // `accept_hashed` in a 1M sync (`perf annotate`, sync_scale).
        let mut times = [0u32; super::validate::MEDIAN_TIME_SPAN];
        let mut first = times.len();
        let mut walk = idx;
        while first > 0 && walk != NO_PARENT {
            let node = self.node(walk);
            first -= 1;
            times[first] = node.time;
            walk = node.parent;
        }
        super::validate::median_time_past(&mut times[first..])
    }

    /// The hash of node `idx`'s parent (all zeros for genesis).
    pub fn parent_hash(&self, idx: u32) -> BlockHash {
        let node = self.node(idx);
        if node.parent == NO_PARENT {
            bitcoin::hashes::Hash::all_zeros()
        } else {
            self.node(node.parent).hash
        }
    }

    fn add(&mut self, node: Node) -> u32 {
        let idx = self.nodes.len() as u32;
        self.nodes.push(node);
        let nodes = &self.nodes;
        self.index
            .insert(&node.hash, idx, |i| nodes.get(i as usize).map(|n| n.hash));
        idx
    }

    /// Adds a node whose parent is already in the tree, off the best chain, with its
    /// cumulative `work`. Gives its index.
    pub fn push_side(&mut self, node: Node, work: u128) -> u32 {
        let idx = self.add(node);
        self.work.set_side(idx, work);
        idx
    }

    /// Adds a node whose parent is the best tip, as the new best tip, with its cumulative
    /// `work` (more than the tip's: every header carries some). Gives its index.
    pub fn push_tip(&mut self, node: Node, work: u128) -> u32 {
        let idx = self.add(node);
        self.best.push(idx);
        self.work.extend_best(node.height, work);
        idx
    }

    /// Extends the best chain by a node whose parent is the best tip, without indexing its
    /// hash: for loading a stored best chain, followed by [`Tree::rebuild_index`] before any
    /// lookup.
    pub fn push_best_unindexed(&mut self, node: Node, work: u128) {
        self.best.push(self.nodes.len() as u32);
        self.nodes.push(node);
        self.work.extend_best(node.height, work);
    }

    /// Indexes every node again, in bulk.
    pub fn rebuild_index(&mut self) {
        self.index
            .rebuild(self.nodes.len(), self.nodes.iter().map(|n| &n.hash));
    }

    /// Makes `idx` the best tip. Gives the fork height, the nodes that left the best chain
    /// (highest first) and those that joined it (in height order).
    pub fn set_tip(&mut self, idx: u32) -> (u32, Vec<u32>, Vec<u32>) {
        let mut connected = Vec::new();
        let mut walk = idx;
        while walk != NO_PARENT && !self.is_on_best(walk) {
            connected.push(walk);
            walk = self.node(walk).parent;
        }
        connected.reverse();
        let fork_height = self.node(walk).height;
        self.disconnect_work(fork_height);
        let keep = fork_height as usize + 1;
        let disconnected: Vec<u32> = self
            .best
            .get(keep..)
            .unwrap_or(&[])
            .iter()
            .rev()
            .copied()
            .collect();
        self.best.truncate(keep);
        self.best.extend_from_slice(&connected);
        self.connect_work(&connected);
        (fork_height, disconnected, connected)
    }

    /// Indices of the best chain from `from` (inclusive), in height order.
    pub fn best_from(&self, from: u32) -> &[u32] {
        self.best.get(from as usize..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256d, Hash};

    /// The ancestor of `idx` at `height`, walking parent links one by one.
    fn slow_ancestor(tree: &Tree, mut idx: u32, height: u32) -> u32 {
        while tree.node(idx).height > height {
            idx = tree.node(idx).parent;
        }
        idx
    }

    fn hash(i: u32) -> BlockHash {
        BlockHash::from_raw_hash(sha256d::Hash::hash(&i.to_le_bytes()))
    }

    #[test]
    fn ancestors_off_the_best_chain_follow_parents_to_the_best_chain() {
        let genesis = crate::params::Network::Regtest.params().genesis;
        let mut tree = Tree::new(&genesis, genesis.block_hash(), 2, 0);
        let child = |tree: &Tree, key: u32, parent: u32| Node {
            hash: hash(key),
            parent,
            height: tree.node(parent).height + 1,
            ..*tree.node(0)
        };
        let mut tip = 0;
        for i in 1..=600 {
            let node = child(&tree, i, tip);
            tip = tree.push_tip(node, 2 * (u128::from(i) + 1));
        }
        let mut side = Vec::new();
        let mut walk = tree.best_at(10).unwrap_or(0);
        for i in 0..500 {
            let node = child(&tree, 10_000 + i, walk);
            walk = tree.push_side(node, 2 * (u128::from(i) + 12));
            side.push(walk);
        }
        for &idx in side.iter().step_by(7).chain([tip].iter()) {
            for height in (0..=tree.node(idx).height).step_by(3) {
                assert_eq!(
                    tree.ancestor(idx, height),
                    slow_ancestor(&tree, idx, height),
                    "ancestor of {idx} at {height}"
                );
            }
        }
        for (i, &idx) in side.iter().enumerate().step_by(13) {
            assert_eq!(tree.lookup(&hash(10_000 + i as u32)), Some(idx));
            assert!(!tree.is_on_best(idx));
        }
    }

    #[test]
    fn a_loaded_chain_is_indexed_in_bulk() {
        let genesis = crate::params::Network::Regtest.params().genesis;
        let mut tree = Tree::new(&genesis, genesis.block_hash(), 2, 3001);
        for i in 1..3001u32 {
            let node = Node {
                hash: hash(i),
                parent: i - 1,
                height: i,
                ..*tree.node(0)
            };
            tree.push_best_unindexed(node, 2 * (u128::from(i) + 1));
        }
        tree.rebuild_index();
        for i in (1..3001u32).step_by(97) {
            assert_eq!(tree.lookup(&hash(i)), Some(i));
        }
        assert_eq!(tree.lookup(&genesis.block_hash()), Some(0));
        assert_eq!(tree.lookup(&hash(5000)), None);
        assert_eq!(tree.tip_height(), 3000);
    }

    #[test]
    fn node_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 48);
    }
}
