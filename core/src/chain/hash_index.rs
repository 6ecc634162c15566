//! The hash index of the header tree: an open-addressing table of `u32` slots, each a node
//! index with a few bits of the node's hash as a tag, over the tree's `Vec` of nodes.
//!
//! Four bytes a slot, at a load of at most 3/4 and at least 3/8 (less right after growth), so
//! 5.3 to 10.7 bytes a header; a table sized for a loaded chain is sized exactly for it (no
//! power of two: the first probe position comes from a multiply-shift, not a mask), with 1/16
//! headroom, so a loaded million headers cost 5.7 bytes each. The tag settles 31 of 32 probes that meet
//! another node without reading that node (a cache miss each), which matters most for the
//! lookup of each new header's own hash, a miss by design.
//!
//! Positions come from hash bytes, which proof of work makes costly to choose; there is no
//! per-process random key, so runs stay deterministic.

use bitcoin::BlockHash;

/// Bits of a slot that hold the node index; the rest hold the tag.
const INDEX_BITS: u32 = 27;

/// The most nodes the index can name: 2^27 − 1 (134 million headers, 2,500 years of blocks
/// at one every ten minutes). The tree refuses headers beyond it ([`HashIndex::is_full`]).
pub(super) const MAX_NODES: usize = (1 << INDEX_BITS) - 1;

const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// A free slot. Slots hold their tag and index inverted ([`pack`]), so that a free slot is
/// zero and a new table is zeroed memory: the allocator hands that out as untouched pages
/// (`calloc` of fresh mapped memory), which the first insert of each page faults in, where a
/// table filled with a non-zero marker is written through in full before the first insert.
/// A sync sizes the table for the whole chain it is told of (5.3 MB at a million headers), so
/// that fill sat between the handshake and the first `getheaders`.
const EMPTY: u32 = 0;

/// The slot of node `idx` with `tag`. Never [`EMPTY`]: the tag has 5 bits and the index is at
/// most [`MAX_NODES`] − 1, so the packed value is below `u32::MAX` and its inverse above 0.
fn pack(tag: u32, idx: u32) -> u32 {
    !((tag << INDEX_BITS) | (idx & INDEX_MASK))
}

/// The tag of an occupied slot.
fn tag_of(slot: u32) -> u32 {
    !slot >> INDEX_BITS
}

/// The node index of an occupied slot.
fn index_of(slot: u32) -> u32 {
    !slot & INDEX_MASK
}

/// The smallest table.
const MIN_SLOTS: usize = 16;

/// A rebuild places its keys a bucket at a time, each bucket the keys whose first probe
/// falls in one run of 2^10 slots (4 KiB of table): the bucket's writes stay in the L1 cache.
const REBUILD_BUCKET_BITS: u32 = 10;

/// A rebuilt table has room for this fraction more keys (1/16) before it grows, so that a
/// loaded chain takes the next headers without doubling at once (5.7 bytes a header instead
/// of 5.3, against 10.7 right after a doubling).
const REBUILD_HEADROOM_DIVISOR: usize = 16;

/// An open-addressing hash set of node indices keyed by the nodes' hashes; linear probing.
#[derive(Clone)]
pub(super) struct HashIndex {
    slots: Vec<u32>,
    len: usize,
}

/// (first probe position source, tag) of a hash: 32 mixed bits for the position, the top bits
/// of a second word for the tag.
fn hash_key(hash: &BlockHash) -> (u32, u32) {
    let b: &[u8; 32] = hash.as_ref();
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    let mut hi = [0u8; 8];
    hi.copy_from_slice(&b[8..16]);
    let mixed = (u64::from_le_bytes(lo) ^ u64::from_le_bytes(hi).rotate_left(29))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) as u32, (mixed as u32) >> INDEX_BITS)
}

/// Slots for `n` keys at a load of 3/4 at most.
fn slots_for(n: usize) -> usize {
    (n.saturating_mul(4) / 3 + 1).max(MIN_SLOTS)
}

impl HashIndex {
    /// An empty index with room for `n` keys before it grows.
    pub fn with_capacity(n: usize) -> HashIndex {
        HashIndex {
            slots: vec![EMPTY; slots_for(n)],
            len: 0,
        }
    }

    /// Keys held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether another node would not fit in a slot's index bits.
    pub fn is_full(&self) -> bool {
        self.len >= MAX_NODES
    }

    /// The first probe position of a hash: a multiply-shift maps 32 bits onto the table.
    fn start(&self, position: u32) -> usize {
        ((u64::from(position) * self.slots.len() as u64) >> 32) as usize
    }

    /// The index of the node with `hash`, where `hash_of` gives a node's hash.
    pub fn find(
        &self,
        hash: &BlockHash,
        hash_of: impl Fn(u32) -> Option<BlockHash>,
    ) -> Option<u32> {
        let (position, tag) = hash_key(hash);
        let n = self.slots.len();
        let mut i = self.start(position);
        loop {
            let slot = *self.slots.get(i)?;
            if slot == EMPTY {
                return None;
            }
            if tag_of(slot) == tag {
                let idx = index_of(slot);
                if hash_of(idx).is_some_and(|h| h == *hash) {
                    return Some(idx);
                }
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Hints the CPU to fetch `hash`'s first probe slot (`headway_prefetch`), for a lookup or
    /// an insert a few headers later: on a table larger than the caches each probe is a miss,
    /// and a prefetch issued ahead overlaps it with the work between. Ordinary loads of a
    /// whole message's slots up front blocked the pipeline on each miss and were evicted
    /// again before use (`perf annotate` of a 1M sync).
    pub fn prefetch(&self, hash: &BlockHash) {
        let (position, _) = hash_key(hash);
        headway_prefetch::prefetch(&self.slots, self.start(position));
    }

    /// Inserts `idx` (whose hash is not yet present, and `idx < MAX_NODES`), growing the table
    /// first when it is three-quarters full; `hash_of` gives the hashes of the nodes already in.
    pub fn insert(
        &mut self,
        hash: &BlockHash,
        idx: u32,
        hash_of: impl Fn(u32) -> Option<BlockHash>,
    ) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(&hash_of);
        }
        self.place(hash, idx);
        self.len += 1;
    }

    fn place(&mut self, hash: &BlockHash, idx: u32) {
        let (position, tag) = hash_key(hash);
        let n = self.slots.len();
        let mut i = self.start(position);
        while self.slots[i] != EMPTY {
            i += 1;
            if i == n {
                i = 0;
            }
        }
        self.slots[i] = pack(tag, idx);
    }

    /// Replaces the contents with the `n` hashes `hashes` gives (node `i` has the `i`-th), in one
    /// sweep of the table: the keys are first grouped by the run of slots their first probe
    /// falls in (a counting pass and a scattering pass over the hashes), then placed a group at
    /// a time, so the writes move through the table once instead of landing at random (a cache
    /// and TLB miss each on a big table). Linear probing finds a key whatever order the keys
    /// went in, so a group needs no order of its own. This replaced a comparison sort of all
    /// the keys, a third of loading a million headers (`perf` of sync_scale's startup leg).
    pub fn rebuild<'a, I>(&mut self, n: usize, hashes: I)
    where
        I: Iterator<Item = &'a BlockHash> + Clone,
    {
        self.slots = vec![EMPTY; slots_for(n + n / REBUILD_HEADROOM_DIVISOR + 1)];
        self.len = 0;
        let cap = self.slots.len();
        let start_of = |hash: &BlockHash| {
            let (position, tag) = hash_key(hash);
            (((u64::from(position) * cap as u64) >> 32) as usize, tag)
        };
        let buckets = ((cap - 1) >> REBUILD_BUCKET_BITS) + 1;
        // Where each bucket's keys begin in `grouped`: counts first, then their running sums.
        let mut begin = vec![0usize; buckets + 1];
        for hash in hashes.clone().take(n) {
            begin[(start_of(hash).0 >> REBUILD_BUCKET_BITS) + 1] += 1;
        }
        for b in 1..=buckets {
            begin[b] += begin[b - 1];
        }
        let mut grouped = vec![(0u32, 0u32); begin[buckets]];
        for (idx, hash) in hashes.take(n).enumerate() {
            let (start, tag) = start_of(hash);
            let next = &mut begin[start >> REBUILD_BUCKET_BITS];
            grouped[*next] = (start as u32, pack(tag, idx as u32));
            *next += 1;
        }
        for (start, slot) in grouped {
            let mut i = start as usize;
            while self.slots[i] != EMPTY {
                i += 1;
                if i == cap {
                    i = 0;
                }
            }
            self.slots[i] = slot;
            self.len += 1;
        }
    }

    /// Room for `n` keys in all before the table grows: a sync that knows its length sizes
    /// the table once instead of doubling it (each doubling re-places every key, a cache miss
    /// each on a big table); `hash_of` gives the hashes of the nodes already in.
    pub fn reserve(&mut self, n: usize, hash_of: impl Fn(u32) -> Option<BlockHash>) {
        let slots = slots_for(n);
        if slots > self.slots.len() {
            self.resize(slots, &hash_of);
        }
    }

    fn grow(&mut self, hash_of: &impl Fn(u32) -> Option<BlockHash>) {
        self.resize(self.slots.len() * 2, hash_of);
    }

    fn resize(&mut self, slots: usize, hash_of: &impl Fn(u32) -> Option<BlockHash>) {
        let bigger = vec![EMPTY; slots];
        let old = std::mem::replace(&mut self.slots, bigger);
        for slot in old.into_iter().filter(|s| *s != EMPTY) {
            let idx = index_of(slot);
            if let Some(hash) = hash_of(idx) {
                self.place(&hash, idx);
            }
        }
    }

    /// Slots in the table.
    #[cfg(test)]
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The longest run of probes any of `hashes` needs (each must be present).
    #[cfg(test)]
    pub fn longest_probe(&self, hashes: &[BlockHash]) -> usize {
        let n = self.slots.len();
        hashes
            .iter()
            .map(|hash| {
                let (position, tag) = hash_key(hash);
                let mut i = self.start(position);
                let mut probes = 1;
                while tag_of(self.slots[i]) != tag {
                    i = (i + 1) % n;
                    probes += 1;
                }
                probes
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256d, Hash};

    fn hashes(n: u32) -> Vec<BlockHash> {
        (0..n)
            .map(|i| BlockHash::from_raw_hash(sha256d::Hash::hash(&i.to_le_bytes())))
            .collect()
    }

    fn hash_of_extra() -> BlockHash {
        BlockHash::from_raw_hash(sha256d::Hash::hash(b"extra"))
    }

    #[test]
    fn grows_at_three_quarters_and_finds_everything_after() {
        let keys = hashes(41);
        let mut index = HashIndex::with_capacity(0);
        assert_eq!(index.slot_count(), 16);
        let mut sizes = Vec::new();
        for (i, hash) in keys.iter().enumerate() {
            index.insert(hash, i as u32, |idx| keys.get(idx as usize).copied());
            sizes.push(index.slot_count());
        }
        // 12 keys fit 16 slots, the 13th doubles them; 24 fit 32, the 25th doubles again.
        assert_eq!(sizes[11], 16);
        assert_eq!(sizes[12], 32);
        assert_eq!(sizes[23], 32);
        assert_eq!(sizes[24], 64);
        assert_eq!(index.len(), 41);
        for (i, hash) in keys.iter().enumerate() {
            assert_eq!(
                index.find(hash, |idx| keys.get(idx as usize).copied()),
                Some(i as u32)
            );
        }
        let unknown = BlockHash::from_raw_hash(sha256d::Hash::hash(b"none"));
        assert_eq!(
            index.find(&unknown, |idx| keys.get(idx as usize).copied()),
            None
        );
    }

    #[test]
    fn a_rebuilt_index_is_sized_exactly_and_spreads_its_keys() {
        let keys = hashes(3000);
        let mut index = HashIndex::with_capacity(0);
        index.rebuild(keys.len(), keys.iter());
        // Three-quarters load with 1/16 headroom, not rounded up to a power of two.
        assert_eq!(index.slot_count(), 4251);
        assert_eq!(index.len(), 3000);
        for (i, hash) in keys.iter().enumerate().step_by(7) {
            assert_eq!(
                index.find(hash, |idx| keys.get(idx as usize).copied()),
                Some(i as u32)
            );
        }
        // Block hashes are uniform; a good key keeps every probe run short at this load (a
        // constant or weak key makes them thousands long).
        let longest = index.longest_probe(&keys);
        assert!(longest < 64, "longest probe run {longest}");
        // The next headers fit without growth; the table grows only past three-quarters.
        let more = hashes(3188);
        for i in 3000..3188 {
            index.insert(&more[i], i as u32, |idx| more.get(idx as usize).copied());
        }
        assert_eq!(index.slot_count(), 4251);
        index.insert(&hash_of_extra(), 3188, |idx| {
            more.get(idx as usize).copied()
        });
        assert_eq!(index.slot_count(), 8502);
    }

    #[test]
    fn tags_use_the_bits_the_index_leaves_free() {
        let keys = hashes(3000);
        let tags: std::collections::BTreeSet<u32> = keys.iter().map(|h| hash_key(h).1).collect();
        assert_eq!(tags.len(), 32, "a 5-bit tag takes every value");
        assert_eq!(MAX_NODES, 134_217_727);
        let last = MAX_NODES as u32 - 1;
        let mut index = HashIndex::with_capacity(2);
        index.insert(&keys[0], last, |_| None);
        assert_eq!(
            index.find(&keys[0], |idx| (idx == last).then_some(keys[0])),
            Some(last)
        );
        for tag in 0..32 {
            for idx in [0, 1, last] {
                let slot = pack(tag, idx);
                assert_ne!(slot, EMPTY, "tag {tag}, index {idx}");
                assert_eq!((tag_of(slot), index_of(slot)), (tag, idx));
            }
        }
    }

    #[test]
    fn a_rebuild_over_many_buckets_finds_every_key_and_only_the_first_n() {
        let keys = hashes(50_000);
        let n = 40_000;
        let mut index = HashIndex::with_capacity(0);
        index.rebuild(n, keys.iter());
        assert_eq!(index.len(), n);
        assert!(
            index.slot_count() >> REBUILD_BUCKET_BITS >= 50,
            "spans many buckets"
        );
        let hash_of = |idx: u32| keys.get(idx as usize).copied();
        for (i, hash) in keys.iter().enumerate() {
            let expected = (i < n).then_some(i as u32);
            assert_eq!(index.find(hash, hash_of), expected, "key {i}");
        }
    }

    #[test]
    fn a_new_table_is_all_free_slots() {
        let index = HashIndex::with_capacity(100_000);
        assert!(index.slots.iter().all(|s| *s == EMPTY));
        assert_eq!(index.find(&hashes(1)[0], |_| None), None);
    }
}
