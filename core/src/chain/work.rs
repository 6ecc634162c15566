//! The cumulative work of every header in the tree, without 16 bytes a node: the best chain's
//! work as a checkpoint every [`WORK_CHECKPOINT_SPACING`] heights (a header's work is its
//! checkpoint plus the block proofs above it, at most 63 additions of a proof that nearly
//! always repeats), the tip's work, and the exact work of each node off the best chain, which
//! are few. A reorganisation moves the work of the nodes it disconnects into the side map and
//! takes that of the nodes it connects out of it, so no node's work is ever lost or
//! recomputed from genesis.
//!
//! The side map is a `BTreeMap`: deterministic (no per-process hash key), and small, because
//! stored side branches need nearly the best chain's work (the anti-DoS threshold).

use std::collections::BTreeMap;

use super::pow;
use super::tree::{Tree, NO_PARENT};

/// Heights between two work checkpoints of the best chain: 16 bytes per 64 headers (a quarter
/// of a byte each), against at most 63 proof additions for a header's work.
pub(super) const WORK_CHECKPOINT_SPACING: u32 = 64;

/// The work records of a tree.
#[derive(Debug, Clone)]
pub(super) struct WorkLedger {
    /// Work of the best chain at heights 0, 64, 128, …, up to the tip.
    checkpoints: Vec<u128>,
    /// Work of the best tip.
    tip: u128,
    /// Work of each node off the best chain, by node index.
    side: BTreeMap<u32, u128>,
}

/// Block proofs of nBits values, keeping the last one: consecutive headers nearly always
/// share nBits, and the 256-bit division is worth skipping.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProofCache(Option<(u32, u128)>);

impl ProofCache {
    /// An empty cache.
    pub const fn new() -> ProofCache {
        ProofCache(None)
    }

    /// The block proof of `bits`.
    pub fn proof(&mut self, bits: u32) -> u128 {
        match self.0 {
            Some((b, proof)) if b == bits => proof,
            _ => {
                let proof = pow::block_proof(&pow::decode_compact(bits).value);
                self.0 = Some((bits, proof));
                proof
            }
        }
    }
}

impl WorkLedger {
    /// The ledger of a tree holding only genesis, of work `genesis`.
    pub fn new(genesis: u128) -> WorkLedger {
        WorkLedger {
            checkpoints: vec![genesis],
            tip: genesis,
            side: BTreeMap::new(),
        }
    }

    /// The best chain grew to `height` (one above the tip), whose header has `work`.
    pub fn extend_best(&mut self, height: u32, work: u128) {
        if height.is_multiple_of(WORK_CHECKPOINT_SPACING) {
            self.checkpoints.push(work);
        }
        self.tip = work;
    }

    /// Records the work of a node off the best chain.
    pub fn set_side(&mut self, idx: u32, work: u128) {
        self.side.insert(idx, work);
    }

    /// Work of the best tip.
    pub fn tip(&self) -> u128 {
        self.tip
    }

    /// Nodes whose work is kept one by one.
    #[cfg(test)]
    pub fn side_len(&self) -> usize {
        self.side.len()
    }
}

impl Tree {
    /// Cumulative work from genesis through node `idx`.
    pub fn work_of(&self, idx: u32) -> u128 {
        let node = self.node(idx);
        if self.is_on_best(idx) {
            return self.best_work(node.height);
        }
        if let Some(work) = self.work.side.get(&idx) {
            return *work;
        }
        // Every node off the best chain has its work in the side map; should one lack it,
        // the walk to the best chain gives it back exactly.
        let mut proofs = ProofCache::new();
        let mut sum = 0u128;
        let mut walk = idx;
        while walk != NO_PARENT && !self.is_on_best(walk) {
            let n = self.node(walk);
            sum = sum.saturating_add(proofs.proof(n.bits));
            walk = n.parent;
        }
        sum.saturating_add(self.best_work(self.node(walk).height))
    }

    /// Work of the best chain at `height` (not above the tip).
    pub fn best_work(&self, height: u32) -> u128 {
        if height >= self.tip_height() {
            return self.work.tip;
        }
        let slot = height / WORK_CHECKPOINT_SPACING;
        let mut work = self
            .work
            .checkpoints
            .get(slot as usize)
            .copied()
            .unwrap_or(0);
        let mut proofs = ProofCache::new();
        for h in slot * WORK_CHECKPOINT_SPACING + 1..=height {
            if let Some(idx) = self.best_at(h) {
                work = work.saturating_add(proofs.proof(self.node(idx).bits));
            }
        }
        work
    }

    /// Before the best chain is cut back to `fork_height`: the work of each node above it
    /// goes into the side map, and the checkpoints above it are dropped.
    pub(super) fn disconnect_work(&mut self, fork_height: u32) {
        let at_fork = self.best_work(fork_height);
        let mut work = at_fork;
        let mut proofs = ProofCache::new();
        let above: Vec<u32> = self.best_from(fork_height.saturating_add(1)).to_vec();
        for idx in above {
            work = work.saturating_add(proofs.proof(self.node(idx).bits));
            self.work.side.insert(idx, work);
        }
        let keep = (fork_height / WORK_CHECKPOINT_SPACING) as usize + 1;
        self.work.checkpoints.truncate(keep);
        self.work.tip = at_fork;
    }

    /// After `connected` (in height order) joined the best chain: their work moves out of the
    /// side map into checkpoints and the tip.
    pub(super) fn connect_work(&mut self, connected: &[u32]) {
        let mut proofs = ProofCache::new();
        let mut last = self.work.tip;
        for &idx in connected {
            let node = *self.node(idx);
            let work = self
                .work
                .side
                .remove(&idx)
                .unwrap_or_else(|| last.saturating_add(proofs.proof(node.bits)));
            self.work.extend_best(node.height, work);
            last = work;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::tree::Node;
    use bitcoin::hashes::{sha256d, Hash};
    use bitcoin::BlockHash;

    fn hash(i: u32) -> BlockHash {
        BlockHash::from_raw_hash(sha256d::Hash::hash(&i.to_le_bytes()))
    }

    #[test]
    fn work_survives_reorganisations_both_ways_at_every_height() {
        // Regtest nBits everywhere: every header's proof is 2, so a header's work is
        // 2 (height + 1) whichever branch it is on.
        let genesis = crate::params::Network::Regtest.params().genesis;
        let bits = genesis.bits.to_consensus();
        let proof = ProofCache::new().proof(bits);
        assert_eq!(proof, 2);
        let mut tree = Tree::new(&genesis, genesis.block_hash(), proof, 0);
        let child = |tree: &Tree, key: u32, parent: u32| Node {
            hash: hash(key),
            parent,
            height: tree.node(parent).height + 1,
            time: 0,
            bits,
        };
        let work_at = |height: u32| 2 * (u128::from(height) + 1);
        let mut tip = 0;
        for i in 1..=300 {
            let node = child(&tree, i, tip);
            tip = tree.push_tip(node, work_at(i));
        }
        // A branch from 100 to 330 (longer, so it wins), then the old chain grows past it.
        let mut walk = tree.best_at(100).unwrap_or(0);
        for i in 0..230 {
            let node = child(&tree, 10_000 + i, walk);
            let height = node.height;
            walk = tree.push_side(node, work_at(height));
        }
        let (fork, disconnected, connected) = tree.set_tip(walk);
        assert_eq!((fork, disconnected.len(), connected.len()), (100, 200, 230));
        assert_eq!(tree.work.tip(), work_at(330));
        for h in (0..=330).step_by(7) {
            let idx = tree.best_at(h).unwrap_or(0);
            assert_eq!(tree.work_of(idx), work_at(h), "best at {h}");
        }
        for &idx in &disconnected {
            assert_eq!(tree.work_of(idx), work_at(tree.node(idx).height));
        }
        assert_eq!(tree.work.side_len(), 200);
        let mut old = tree.lookup(&hash(300)).unwrap_or(0);
        for i in 0..40 {
            let node = child(&tree, 20_000 + i, old);
            let height = node.height;
            old = tree.push_side(node, work_at(height));
        }
        let (fork, disconnected, connected) = tree.set_tip(old);
        assert_eq!((fork, disconnected.len(), connected.len()), (100, 230, 240));
        assert_eq!(tree.work.side_len(), 230);
        for h in 0..=340 {
            let idx = tree.best_at(h).unwrap_or(0);
            assert_eq!(tree.work_of(idx), work_at(h), "best at {h}");
        }
        assert_eq!(tree.work.tip(), work_at(340));
    }
}
