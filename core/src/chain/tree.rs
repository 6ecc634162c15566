//! The storage of the header tree: compact nodes in one `Vec` indexed by `u32`, an
//! open-addressing hash index of `u32` slots over them, and the best chain as node indices by
//! height. Knows nothing of consensus; [`super::HeaderChain`] decides what goes in.
//!
//! Memory per header (x86-64): a [`Node`] is 112 bytes (the header without its prev hash,
//! which the parent's stored hash gives back, plus its own hash, parent, height, skip pointer,
//! cached min-difficulty bits and 128-bit cumulative work); the index holds one `u64` per slot
//! at a load between 3/8 and 3/4 (11 to 21 bytes); the best chain 4 bytes. About 130 to 140
//! bytes a header, plus `Vec` growth slack when not loaded from a store.

use std::fmt;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};

/// The parent of genesis.
pub(super) const NO_PARENT: u32 = u32::MAX;

/// One header in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Node {
    /// This header's hash.
    pub hash: BlockHash,
    /// The header's merkle root.
    pub merkle_root: TxMerkleNode,
    /// The header's version.
    pub version: i32,
    /// The header's timestamp.
    pub time: u32,
    /// The header's nBits.
    pub bits: u32,
    /// The header's nonce.
    pub nonce: u32,
    /// Index of the parent ([`NO_PARENT`] for genesis).
    pub parent: u32,
    /// Height above genesis.
    pub height: u32,
    /// Index of an ancestor further back (Core's `pskip`), for logarithmic ancestor lookup
    /// off the best chain.
    pub skip: u32,
    /// The bits Core's min-difficulty walk-back returns when starting at this node.
    pub last_real_bits: u32,
    /// Cumulative work from genesis through this header.
    pub work: u128,
}

/// Core's `GetSkipHeight`: where a node's skip pointer lands.
fn skip_height(height: u32) -> u32 {
    fn invert_lowest_one(n: u32) -> u32 {
        n & n.wrapping_sub(1)
    }
    if height < 2 {
        return 0;
    }
    if height & 1 == 1 {
        invert_lowest_one(invert_lowest_one(height - 1)) + 1
    } else {
        invert_lowest_one(height)
    }
}

/// An open-addressing hash set of node indices keyed by the nodes' hashes.
///
/// A slot is one `u64`: 32 bits of the hash as a tag above the node index, instead of a
/// (hash, index) pair of 36 bytes. The tag settles almost every probe without touching the
/// node (a cache miss each), which matters most for the lookup of each new header's own
/// hash, a miss by design. The slot comes from hash bytes, which proof of work makes costly
/// to choose; there is no per-process random key, so runs stay deterministic.
#[derive(Clone)]
struct HashIndex {
    slots: Vec<u64>,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

/// (first probe position source, tag) of a hash.
fn hash_key(hash: &BlockHash) -> (u64, u32) {
    let b: &[u8; 32] = hash.as_ref();
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    let mut hi = [0u8; 8];
    hi.copy_from_slice(&b[8..16]);
    let mixed = (u64::from_le_bytes(lo) ^ u64::from_le_bytes(hi).rotate_left(29))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32, mixed as u32)
}

impl HashIndex {
    fn with_capacity(n: usize) -> HashIndex {
        let cap = (n.saturating_mul(4) / 3 + 1).next_power_of_two().max(16);
        HashIndex {
            slots: vec![EMPTY; cap],
            len: 0,
        }
    }

    fn find(&self, hash: &BlockHash, nodes: &[Node]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let (start, tag) = hash_key(hash);
        let mut i = start as usize & mask;
        loop {
            let slot = *self.slots.get(i)?;
            if slot == EMPTY {
                return None;
            }
            if (slot >> 32) as u32 == tag {
                let idx = slot as u32;
                if nodes.get(idx as usize).is_some_and(|n| n.hash == *hash) {
                    return Some(idx);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts `idx` (whose hash is not yet present).
    fn insert(&mut self, hash: &BlockHash, idx: u32, nodes: &[Node]) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(nodes);
        }
        self.place(hash, idx);
        self.len += 1;
    }

    fn place(&mut self, hash: &BlockHash, idx: u32) {
        let mask = self.slots.len() - 1;
        let (start, tag) = hash_key(hash);
        let mut i = start as usize & mask;
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = (u64::from(tag) << 32) | u64::from(idx);
    }

    /// Replaces the contents with every node of `nodes`, in one pass: slots are filled in
    /// the order of their first probe position, so the writes sweep the table once instead
    /// of landing at random (a cache and TLB miss each on a big table).
    fn rebuild(&mut self, nodes: &[Node]) {
        let cap = (nodes.len().saturating_mul(4) / 3 + 1)
            .next_power_of_two()
            .max(16);
        self.slots = vec![EMPTY; cap];
        self.len = nodes.len();
        let mask = (cap - 1) as u64;
        let mut keyed: Vec<(u64, u64)> = nodes
            .iter()
            .enumerate()
            .map(|(idx, node)| {
                let (start, tag) = hash_key(&node.hash);
                (start & mask, (u64::from(tag) << 32) | idx as u64)
            })
            .collect();
        keyed.sort_unstable_by_key(|(start, _)| *start);
        let mask = cap - 1;
        for (start, slot) in keyed {
            let mut i = start as usize;
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    fn grow(&mut self, nodes: &[Node]) {
        let bigger = vec![EMPTY; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, bigger);
        for slot in old.into_iter().filter(|s| *s != EMPTY) {
            if let Some(node) = nodes.get(slot as u32 as usize) {
                self.place(&node.hash, slot as u32);
            }
        }
    }
}

/// The nodes, the index over them, and the best chain.
#[derive(Clone)]
pub(super) struct Tree {
    nodes: Vec<Node>,
    index: HashIndex,
    /// Node index of the best chain's header at each height.
    best: Vec<u32>,
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
        let bits = genesis.bits.to_consensus();
        let node = Node {
            hash,
            merkle_root: genesis.merkle_root,
            version: genesis.version.to_consensus(),
            time: genesis.time,
            bits,
            nonce: genesis.nonce,
            parent: NO_PARENT,
            height: 0,
            skip: NO_PARENT,
            last_real_bits: bits,
            work,
        };
        let mut tree = Tree {
            nodes: Vec::with_capacity(capacity.max(1)),
            index: HashIndex::with_capacity(capacity),
            best: Vec::with_capacity(capacity.max(1)),
        };
        tree.nodes.push(node);
        tree.index.insert(&hash, 0, &tree.nodes);
        tree.best.push(0);
        tree
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The node at `idx` (an index this tree handed out).
    pub fn node(&self, idx: u32) -> &Node {
        // Indices only come from this tree, so this never fails; genesis as a harmless answer
        // keeps the lookup panic-free regardless.
        self.nodes.get(idx as usize).unwrap_or(&self.nodes[0])
    }

    /// The index of the node with `hash`.
    pub fn lookup(&self, hash: &BlockHash) -> Option<u32> {
        self.index.find(hash, &self.nodes)
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
    /// the best chain; off it, Core's skip-pointer walk, cut short once it meets the best
    /// chain.
    pub fn ancestor(&self, idx: u32, height: u32) -> u32 {
        self.ancestor_counted(idx, height, &mut 0)
    }

    /// [`Tree::ancestor`], counting the nodes it steps through in `steps`: skip pointers keep
    /// that logarithmic in the distance, which is all they are for.
    fn ancestor_counted(&self, idx: u32, height: u32, steps: &mut usize) -> u32 {
        let mut walk = idx;
        loop {
            *steps += 1;
            let node = self.node(walk);
            if node.height <= height {
                return walk;
            }
            if self.best_at(node.height) == Some(walk) {
                return self.best_at(height).unwrap_or(walk);
            }
            let h = node.height;
            let hs = skip_height(h);
            let hs_prev = skip_height(h - 1);
            let take_skip = node.skip != NO_PARENT
                && (hs == height || (hs > height && !(hs_prev + 2 < hs && hs_prev >= height)));
            walk = if take_skip { node.skip } else { node.parent };
        }
    }

    /// The median of the timestamps of `idx` and up to 10 of its ancestors.
    pub fn median_time_past(&self, idx: u32) -> u32 {
        let mut times = [0u32; super::validate::MEDIAN_TIME_SPAN];
        let mut n = 0;
        let mut walk = idx;
        while n < times.len() && walk != NO_PARENT {
            let node = self.node(walk);
            times[n] = node.time;
            n += 1;
            walk = node.parent;
        }
        super::validate::median_time_past(&mut times[..n])
    }

    /// The full header of node `idx` (its prev hash is the parent's hash).
    pub fn header(&self, idx: u32) -> Header {
        let node = self.node(idx);
        let prev_blockhash = if node.parent == NO_PARENT {
            BlockHash::all_zeros()
        } else {
            self.node(node.parent).hash
        };
        Header {
            version: Version::from_consensus(node.version),
            prev_blockhash,
            merkle_root: node.merkle_root,
            time: node.time,
            bits: CompactTarget::from_consensus(node.bits),
            nonce: node.nonce,
        }
    }

    /// Adds a node whose parent is already in the tree, filling in its skip pointer; not
    /// on the best chain yet. Gives its index.
    pub fn push(&mut self, mut node: Node) -> u32 {
        node.skip = if node.parent == NO_PARENT {
            NO_PARENT
        } else {
            self.ancestor(node.parent, skip_height(node.height))
        };
        let idx = self.nodes.len() as u32;
        self.nodes.push(node);
        self.index.insert(&node.hash, idx, &self.nodes);
        idx
    }

    /// Extends the best chain by a node whose parent is the best tip, without indexing its
    /// hash: for loading a stored best chain, followed by [`Tree::rebuild_index`] before any
    /// lookup.
    pub fn push_best_unindexed(&mut self, mut node: Node) {
        node.skip = if node.parent == NO_PARENT {
            NO_PARENT
        } else {
            self.ancestor(node.parent, skip_height(node.height))
        };
        self.best.push(self.nodes.len() as u32);
        self.nodes.push(node);
    }

    /// Indexes every node again, in bulk.
    pub fn rebuild_index(&mut self) {
        self.index.rebuild(&self.nodes);
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

    /// The longest run of probes any of `hashes` needs in an index holding all of them.
    fn longest_probe(index: &HashIndex, hashes: &[BlockHash]) -> usize {
        let mask = index.slots.len() - 1;
        hashes
            .iter()
            .map(|hash| {
                let (start, tag) = hash_key(hash);
                let mut i = start as usize & mask;
                let mut probes = 1;
                while (index.slots[i] >> 32) as u32 != tag {
                    i = (i + 1) & mask;
                    probes += 1;
                }
                probes
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn the_hash_index_grows_at_three_quarters_and_finds_everything_after() {
        let genesis = crate::params::Network::Regtest.params().genesis;
        let mut tree = Tree::new(&genesis, genesis.block_hash(), 2, 0);
        assert_eq!(tree.index.slots.len(), 16);
        let hashes: Vec<BlockHash> = (1u32..=40)
            .map(|i| BlockHash::from_raw_hash(sha256d::Hash::hash(&i.to_le_bytes())))
            .collect();
        let mut sizes = Vec::new();
        for (i, hash) in hashes.iter().enumerate() {
            let node = Node {
                hash: *hash,
                parent: 0,
                height: 1,
                ..*tree.node(0)
            };
            tree.push(node);
            sizes.push((i + 2, tree.index.slots.len()));
        }
        // 12 keys fit 16 slots, the 13th doubles them; 24 fit 32, the 25th doubles again.
        let size_at = |n: usize| sizes.iter().find(|(k, _)| *k == n).map(|(_, s)| *s);
        assert_eq!(size_at(12), Some(16));
        assert_eq!(size_at(13), Some(32));
        assert_eq!(size_at(24), Some(32));
        assert_eq!(size_at(25), Some(64));
        assert_eq!(tree.index.len, 41);
        for (i, hash) in hashes.iter().enumerate() {
            assert_eq!(tree.lookup(hash), Some(i as u32 + 1));
        }
        assert_eq!(tree.lookup(&genesis.block_hash()), Some(0));
        let unknown = BlockHash::from_raw_hash(sha256d::Hash::hash(b"none"));
        assert_eq!(tree.lookup(&unknown), None);
    }

    #[test]
    fn the_hash_index_is_sized_ahead_and_spreads_its_keys() {
        // Room for n at three-quarters load, in a power of two: no growth while loading.
        assert_eq!(HashIndex::with_capacity(0).slots.len(), 16);
        assert_eq!(HashIndex::with_capacity(1000).slots.len(), 2048);
        assert_eq!(HashIndex::with_capacity(1536).slots.len(), 4096);
        assert_eq!(HashIndex::with_capacity(3000).slots.len(), 4096);
        // Block hashes of real headers are uniform; a good key keeps every probe run short
        // at the load the index allows (a constant or weak key makes them thousands long).
        let hashes: Vec<BlockHash> = (0u32..3000)
            .map(|i| BlockHash::from_raw_hash(sha256d::Hash::hash(&i.to_le_bytes())))
            .collect();
        let mut index = HashIndex::with_capacity(hashes.len());
        for (i, hash) in hashes.iter().enumerate() {
            index.place(hash, i as u32);
            index.len += 1;
        }
        let longest = longest_probe(&index, &hashes);
        assert!(longest < 64, "longest probe run {longest}");
        let tags: std::collections::BTreeSet<u32> = hashes.iter().map(|h| hash_key(h).1).collect();
        assert!(tags.len() > 2990, "tags collide: {} distinct", tags.len());
    }

    #[test]
    fn a_rebuilt_index_is_sized_as_a_loaded_one_and_finds_every_node() {
        // 3072 nodes sit exactly at three-quarters of 4096 slots: the rebuild must size for
        // them with room to spare, as `with_capacity` does, or the next header grows it.
        for (nodes, slots) in [(3001usize, 4096usize), (3072, 8192)] {
            let genesis = crate::params::Network::Regtest.params().genesis;
            let mut tree = Tree::new(&genesis, genesis.block_hash(), 2, 0);
            let hashes: Vec<BlockHash> = (1..nodes as u32)
                .map(|i| BlockHash::from_raw_hash(sha256d::Hash::hash(&i.to_le_bytes())))
                .collect();
            for (i, hash) in hashes.iter().enumerate() {
                let node = Node {
                    hash: *hash,
                    parent: i as u32,
                    height: i as u32 + 1,
                    ..*tree.node(0)
                };
                tree.push_best_unindexed(node);
            }
            tree.rebuild_index();
            for idx in (1..nodes as u32).step_by(97) {
                let node = *tree.node(idx);
                let want = slow_ancestor(&tree, node.parent, skip_height(node.height));
                assert_eq!(node.skip, want, "a loaded node's skip pointer");
            }
            assert_eq!(tree.index.slots.len(), slots, "{nodes} nodes");
            assert_eq!(slots, HashIndex::with_capacity(nodes).slots.len());
            assert_eq!(tree.index.len, nodes);
            for (i, hash) in hashes.iter().enumerate() {
                assert_eq!(tree.lookup(hash), Some(i as u32 + 1));
            }
            let written = tree.index.slots.iter().filter(|s| **s != EMPTY).count();
            assert_eq!(written, nodes);
            assert!(longest_probe(&tree.index, &hashes) < 64);
        }
    }

    /// The ancestor of `idx` at `height`, walking parent links one by one.
    fn slow_ancestor(tree: &Tree, mut idx: u32, height: u32) -> u32 {
        while tree.node(idx).height > height {
            idx = tree.node(idx).parent;
        }
        idx
    }

    #[test]
    fn ancestors_off_the_best_chain_follow_parents_and_skips_point_where_core_s_do() {
        let genesis = crate::params::Network::Regtest.params().genesis;
        let mut tree = Tree::new(&genesis, genesis.block_hash(), 2, 0);
        let hash = |i: u32| BlockHash::from_raw_hash(sha256d::Hash::hash(&i.to_le_bytes()));
        let add = |tree: &mut Tree, key: u32, parent: u32| {
            let height = tree.node(parent).height + 1;
            tree.push(Node {
                hash: hash(key),
                parent,
                height,
                ..*tree.node(0)
            })
        };
        // A best chain of 600 and, off its height 10, a side branch of 500 (lookups on the best
        // chain take a shortcut; only a side branch walks the skip pointers).
        let mut tip = 0;
        for i in 1..=600 {
            tip = add(&mut tree, i, tip);
        }
        tree.set_tip(tip);
        let mut side = Vec::new();
        let mut walk = tree.best_at(10).unwrap_or(0);
        for i in 0..500 {
            walk = add(&mut tree, 10_000 + i, walk);
            side.push(walk);
        }
        for &idx in side.iter().chain([tip].iter()) {
            let node = *tree.node(idx);
            assert_eq!(
                node.skip,
                slow_ancestor(&tree, node.parent, skip_height(node.height)),
                "skip of {idx} at height {}",
                node.height
            );
        }
        let mut longest = 0;
        for &idx in side.iter().step_by(7) {
            for height in 0..=tree.node(idx).height {
                let mut steps = 0;
                assert_eq!(
                    tree.ancestor_counted(idx, height, &mut steps),
                    slow_ancestor(&tree, idx, height),
                    "ancestor of {idx} at {height}"
                );
                longest = longest.max(steps);
            }
        }
        // Walking parents would take up to 510 steps here; skips take about 2 log2(510).
        assert!((9..=40).contains(&longest), "longest walk {longest} steps");
    }

    #[test]
    fn skip_heights_match_core() {
        // Values from Core's GetSkipHeight.
        assert_eq!(skip_height(0), 0);
        assert_eq!(skip_height(1), 0);
        assert_eq!(skip_height(2), 0);
        assert_eq!(skip_height(3), 1);
        assert_eq!(skip_height(4), 0);
        assert_eq!(skip_height(6), 4);
        assert_eq!(skip_height(7), 1);
        assert_eq!(skip_height(13), 1);
        assert_eq!(skip_height(15), 9);
        assert_eq!(skip_height(1000), 992);
        assert_eq!(skip_height(1001), 961);
        for h in 2..5000 {
            assert!(skip_height(h) < h);
        }
    }

    #[test]
    fn node_is_112_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 112);
    }
}
