//! The best chain's hash index (the `hashes` database, see `layout.rs`): writing and removing
//! entries, and finding a header by hash, best chain or side. Free functions for the writes,
//! shared with the migration (`migrate.rs`); the lookups are [`HeaderStore`] methods.

use std::ops::Bound;

use bitcoin::block::Header;
use bitcoin::BlockHash;
use heed::types::Bytes;
use heed::{Database, PutFlags, RoTxn, RwTxn};

use crate::best;
use crate::error::StoreError;
use crate::layout;
use crate::store::HeaderStore;

/// Removes the entries of the partition of `tip` and above: what schema 3 leaves unindexed
/// (`layout::indexed_end`); at most 65,535 entries in a store that keeps that rule.
pub(crate) fn unindex_tail(
    db: Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    tip: u32,
) -> Result<(), StoreError> {
    let prefix = layout::index_partition(layout::indexed_end(tip)).to_be_bytes();
    let bounds = (Bound::Included(prefix.as_slice()), Bound::Unbounded);
    db.delete_range(txn, &bounds)?;
    Ok(())
}

/// Index keys built at once for one partition: about 640 kB for a full one.
const MAX_KEYS_AT_ONCE: u32 = layout::PARTITION_HEIGHTS;

/// An index key after its 2-byte partition: the hash prefix and the height's low bits, as one
/// big-endian integer (so integers sort as the keys do within a partition).
fn key_rest(key: &[u8; layout::INDEX_KEY_LEN]) -> u64 {
    const _: () = assert!(layout::INDEX_KEY_LEN == 2 + 8, "the rest of a key is a u64");
    let mut rest = [0u8; 8];
    rest.copy_from_slice(&key[2..]);
    u64::from_be_bytes(rest)
}

impl HeaderStore {
    /// Indexes the best-chain headers at heights `from..to` (`to` at most the stored tip: each
    /// hash is the `prev_blockhash` of the header above), none of which may be indexed yet.
    /// Written per partition in key order, with `MDB_APPEND` when nothing is indexed at or
    /// above the partition (the usual case: a partition just completed), which fills the
    /// pages; otherwise (after a reorganisation below the tail) one by one.
    pub(crate) fn index_heights(
        &self,
        txn: &mut RwTxn,
        from: u32,
        to: u32,
    ) -> Result<(), StoreError> {
        let mut start = from;
        while start < to {
            let end = to.min(
                (start / MAX_KEYS_AT_ONCE)
                    .saturating_add(1)
                    .saturating_mul(MAX_KEYS_AT_ONCE),
            );
            // Every key of one pass shares the partition: sorted by the rest, read as one
            // big-endian integer (an integer sort, not one of byte strings: it was a fifth of
            // the store thread's time in a 1M sync, `perf` of the sync_scale bench).
            let partition = layout::index_partition(start);
            let mut rests: Vec<u64> = Vec::with_capacity((end - start) as usize);
            let mut below: Option<u32> = None;
            let next =
                best::visit_bytes(self.best, txn, &self.dir, start, end, |height, bytes| {
                    if let Some(h) = below {
                        rests.push(key_rest(&layout::index_key(
                            h,
                            &layout::prev_hash_of(bytes),
                        )));
                    }
                    below = (height < end).then_some(height);
                    Ok(())
                })?;
            if next <= end {
                return Err(self.corrupt(format!("no best-chain header at height {next}")));
            }
            rests.sort_unstable();
            let keys = rests.into_iter().map(|rest| {
                let mut key = [0u8; layout::INDEX_KEY_LEN];
                key[..2].copy_from_slice(&partition.to_be_bytes());
                key[2..].copy_from_slice(&rest.to_be_bytes());
                key
            });
            let append = match self.index.last(txn)? {
                None => true,
                Some((last, _)) => {
                    layout::decode_index_key(last)
                        .map(|(height, _)| layout::index_partition(height))
                        .ok_or_else(|| {
                            self.corrupt(format!("malformed hash index key {last:02x?}"))
                        })?
                        < partition
                }
            };
            let flags = if append {
                PutFlags::APPEND
            } else {
                PutFlags::empty()
            };
            for key in keys {
                self.index.put_with_flags(txn, flags, &key, &[])?;
            }
            start = end;
        }
        Ok(())
    }

    /// Removes the index entry of the best-chain header `hash` at `height`; whether it was
    /// there.
    pub(crate) fn unindex(
        &self,
        txn: &mut RwTxn,
        height: u32,
        hash: &BlockHash,
    ) -> Result<bool, StoreError> {
        Ok(self.index.delete(txn, &layout::index_key(height, hash))?)
    }

    /// Whether the index holds the entry of `hash` at `height`.
    pub(crate) fn is_indexed(
        &self,
        txn: &RoTxn,
        height: u32,
        hash: &BlockHash,
    ) -> Result<bool, StoreError> {
        Ok(self
            .index
            .get(txn, &layout::index_key(height, hash))?
            .is_some())
    }

    /// The best-chain header `hash`: (height, header). Probes every indexed partition, newest
    /// first (recent headers are the ones asked for most), and reads the header of each
    /// candidate whose 6-byte prefix matches: only one whose full hash matches is returned, so
    /// a prefix shared by two headers costs a header read, never a wrong answer. Then the
    /// unindexed tail, from the tip down ([`HeaderStore::tail_by_hash`]). A candidate above
    /// the stored chain or a malformed key is [`StoreError::Corrupt`].
    pub(crate) fn best_by_hash(
        &self,
        txn: &RoTxn,
        hash: &BlockHash,
    ) -> Result<Option<(u32, Header)>, StoreError> {
        if let Some((last, _)) = self.index.last(txn)? {
            let newest = layout::decode_index_key(last)
                .map(|(height, _)| layout::index_partition(height))
                .ok_or_else(|| self.corrupt(format!("malformed hash index key {last:02x?}")))?;
            for partition in (0..=newest).rev() {
                let prefix = layout::index_prefix(partition, hash);
                for entry in self.index.prefix_iter(txn, &prefix)? {
                    let (key, _) = entry?;
                    let (height, _) = layout::decode_index_key(key).ok_or_else(|| {
                        self.corrupt(format!("malformed hash index key {key:02x?}"))
                    })?;
                    let header =
                        best::header_at(self.best, txn, &self.dir, height)?.ok_or_else(|| {
                            self.corrupt(format!(
                                "hash index names height {height}, above the best chain"
                            ))
                        })?;
                    if header.block_hash() == *hash {
                        return Ok(Some((height, header)));
                    }
                }
            }
        }
        self.tail_by_hash(txn, hash)
    }

    /// The best-chain header `hash` among the unindexed tail (`layout::indexed_end` up to the
    /// tip), searched from the tip down: the tip is hashed, and below it a header is the one
    /// whose successor's `prev_blockhash` is `hash` (confirmed by hashing it), so the cost is
    /// a 32-byte compare a header, in proportion to the depth below the tip.
    fn tail_by_hash(
        &self,
        txn: &RoTxn,
        hash: &BlockHash,
    ) -> Result<Option<(u32, Header)>, StoreError> {
        let (tip, tip_hash) = self.read_tip(txn)?;
        let end = layout::indexed_end(tip);
        if tip_hash == *hash {
            let header = best::header_at(self.best, txn, &self.dir, tip)?
                .ok_or_else(|| self.corrupt(format!("no best-chain header at the tip {tip}")))?;
            return Ok((header.block_hash() == *hash).then_some((tip, header)));
        }
        let mut height = tip;
        while height > end {
            let (group, _) = layout::group_of(height);
            let first = group.saturating_mul(layout::GROUP_HEADERS).max(end + 1);
            // Headers `first..=height` of this group, top down.
            let mut found = None;
            let next = best::visit(self.best, txn, &self.dir, first, height, |h, header| {
                if header.prev_blockhash == *hash {
                    found = Some(h - 1);
                }
                Ok(())
            })?;
            if next <= height {
                return Err(self.corrupt(format!("no best-chain header at height {next}")));
            }
            if let Some(below) = found {
                let header =
                    best::header_at(self.best, txn, &self.dir, below)?.ok_or_else(|| {
                        self.corrupt(format!("no best-chain header at height {below}"))
                    })?;
                return Ok((header.block_hash() == *hash).then_some((below, header)));
            }
            height = first - 1;
        }
        Ok(None)
    }

    /// A stored header by hash, side set first (one lookup by full hash) and then the best
    /// chain's index: (height, header, whether it is on the best chain).
    pub(crate) fn entry_by_hash(
        &self,
        txn: &RoTxn,
        hash: &BlockHash,
    ) -> Result<Option<(u32, Header, bool)>, StoreError> {
        if let Some((height, header)) = self.side_header(txn, hash)? {
            if header.block_hash() != *hash {
                return Err(self.corrupt(format!("side header stored under another hash {hash}")));
            }
            return Ok(Some((height, header, false)));
        }
        Ok(self
            .best_by_hash(txn, hash)?
            .map(|(height, header)| (height, header, true)))
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::block::Header;
    use bitcoin::hashes::Hash;
    use headway_core::PersistChain;

    use crate::test_support::{chain, open_unsynced};
    use crate::HeaderStore;

    #[test]
    fn complete_partitions_are_packed_and_still_found() {
        let headers = chain(140_000);
        let dir = tempfile::tempdir().unwrap();
        let store = open_unsynced(dir.path());
        let mut work = headers[0].work();
        let mut changes = Vec::new();
        for (i, batch) in headers[1..].chunks(2000).enumerate() {
            for h in batch {
                work = work + h.work();
            }
            changes.push(PersistChain {
                fork_height: (i * 2000) as u32,
                rejoined: vec![],
                connected: batch.to_vec(),
                side: vec![],
                tip_work: work,
            });
        }
        // Seven changes an apply: the partition boundary at 65,536 falls inside the fifth
        // apply, which indexes partition 0 at its end.
        for group in changes.chunks(7) {
            store.apply(group).unwrap();
        }
        let (entries, leaf_pages) = store
            .read(|txn| {
                let stat = store.index.stat(txn)?;
                Ok((stat.entries, stat.leaf_pages))
            })
            .unwrap();
        // Partitions 0 and 1 are complete; the tip's (heights 131,072 and up) is not indexed.
        assert_eq!(entries, 131_072);
        // 20 bytes an entry in 4080-byte pages: 643 pages if all were full; random inserts
        // would need about 930.
        let full = (131_072 * 20usize).div_ceil(4080);
        assert!(
            leaf_pages < full * 115 / 100,
            "{leaf_pages} leaf pages for {full} full ones"
        );
        for height in (0..=140_000).step_by(7) {
            let hash = headers[height].block_hash();
            assert_eq!(
                store.header_by_hash(&hash).unwrap(),
                Some((height as u32, headers[height], true))
            );
        }
        let tip = headers[140_000].block_hash();
        assert_eq!(
            store.header_by_hash(&tip).unwrap().map(|(h, _, _)| h),
            Some(140_000),
            "the tip, unindexed, is found"
        );
        assert_eq!(
            store
                .header_by_hash(&bitcoin::BlockHash::all_zeros())
                .unwrap(),
            None
        );
        let report = store.verify().unwrap();
        assert!(report.is_consistent(), "{:#?}", report.problems);
    }

    /// `len` headers on top of `base`, told apart from any other branch by `salt`.
    fn branch(base: &Header, len: u32, salt: u32) -> Vec<Header> {
        let mut out: Vec<Header> = Vec::new();
        for i in 0..len {
            let prev = out.last().copied().unwrap_or(*base);
            let mut header = prev;
            header.prev_blockhash = prev.block_hash();
            header.time = prev.time + 1;
            header.nonce = salt.wrapping_mul(1_000_003).wrapping_add(i);
            out.push(header);
        }
        out
    }

    #[test]
    fn reorganisations_across_a_partition_boundary_keep_exactly_the_complete_partitions_indexed() {
        let headers = chain(65_600);
        let dir = tempfile::tempdir().unwrap();
        let store = open_unsynced(dir.path());
        let work = |n: u64| {
            bitcoin::Work::from_be_bytes({
                let mut be = [0u8; 32];
                be[24..].copy_from_slice(&(2 * n).to_be_bytes());
                be
            })
        };
        store
            .apply(&[PersistChain {
                fork_height: 0,
                rejoined: vec![],
                connected: headers[1..].to_vec(),
                side: vec![],
                tip_work: work(65_601),
            }])
            .unwrap();
        let consistent = |store: &HeaderStore| {
            let report = store.verify().unwrap();
            assert!(report.is_consistent(), "{:#?}", report.problems);
            store.read(|txn| Ok(store.index.len(txn)?)).unwrap()
        };
        assert_eq!(consistent(&store), 65_536);
        // A longer branch from below the boundary: the entries above the fork are rebuilt.
        let long = branch(&headers[65_500], 150, 1);
        store
            .apply(&[PersistChain {
                fork_height: 65_500,
                rejoined: vec![],
                connected: long.clone(),
                side: vec![],
                tip_work: work(65_651),
            }])
            .unwrap();
        assert_eq!(consistent(&store), 65_536);
        assert_eq!(
            store.header_by_hash(&long[10].block_hash()).unwrap(),
            Some((65_511, long[10], true))
        );
        assert_eq!(
            store
                .header_by_hash(&headers[65_511].block_hash())
                .unwrap()
                .map(|(h, _, best)| (h, best)),
            Some((65_511, false)),
            "the old header is a side header now"
        );
        // A change that ends below the boundary (the store takes the core's word for the
        // work): partition 0 is the tip's again and holds no entries.
        let short = branch(&headers[65_500], 20, 2);
        store
            .apply(&[PersistChain {
                fork_height: 65_500,
                rejoined: vec![],
                connected: short.clone(),
                side: vec![],
                tip_work: work(70_000),
            }])
            .unwrap();
        let report = store.verify().unwrap();
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.contains("stored chain work")),
            "only the claimed work is off: {:#?}",
            report.problems
        );
        assert_eq!(store.read(|txn| Ok(store.index.len(txn)?)).unwrap(), 0);
        assert_eq!(
            store.header_by_hash(&headers[7].block_hash()).unwrap(),
            Some((7, headers[7], true)),
            "found in the tail"
        );
    }
}
