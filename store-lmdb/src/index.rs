//! The best chain's hash index (the `hash_index` database, see `layout.rs`): writing and
//! removing whole partitions, and finding a header by hash, best chain or side. Free functions
//! for the writes, shared with the migration (`migrate.rs`); the lookups are [`HeaderStore`]
//! methods.

use std::ops::Bound;
use std::path::Path;

use bitcoin::block::Header;
use bitcoin::BlockHash;
use heed::types::Bytes;
use heed::{Database, PutFlags, RoTxn, RwTxn};

use crate::best;
use crate::error::StoreError;
use crate::layout::{self, PartitionEntries, PARTITION_HEIGHTS};
use crate::store::HeaderStore;

/// Removes the partitions from `partition` up: what a reorganisation rewrites, or what
/// schema 4 leaves unindexed once the tip is back in `partition` (`layout::indexed_end`).
pub(crate) fn unindex_from(
    db: Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    partition: u16,
) -> Result<(), StoreError> {
    let key = layout::partition_key(partition);
    let bounds = (Bound::Included(key.as_slice()), Bound::Unbounded);
    db.delete_range(txn, &bounds)?;
    Ok(())
}

/// Writes the complete partition `partition` of the best chain in `headers` into `index`
/// (replacing it if it is there), in one put: its 65,536 entries, from each header's
/// successor's `prev_blockhash` (only the partition's top header is hashed). `MDB_APPEND`
/// when the index holds nothing at or above it, the usual case of a partition just completed.
pub(crate) fn write_partition(
    headers: Database<'_, Bytes, Bytes>,
    index: Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    dir: &Path,
    partition: u16,
) -> Result<(), StoreError> {
    let start = layout::partition_start(partition);
    let top = start + (PARTITION_HEIGHTS - 1);
    let mut entries: Vec<u64> = Vec::with_capacity(PARTITION_HEIGHTS as usize);
    let mut top_bytes = None;
    let next = best::visit_bytes(headers, txn, dir, start, top, |height, bytes| {
        if height > start {
            entries.push(layout::index_entry(
                height - 1,
                &layout::prev_hash_of(bytes),
            ));
        }
        if height == top {
            top_bytes = Some(*bytes);
        }
        Ok(())
    })?;
    let top_header = match top_bytes {
        Some(bytes) if next > top => layout::decode_header(&bytes),
        _ => None,
    }
    .ok_or_else(|| StoreError::corrupt(dir, format!("no best-chain header at height {next}")))?;
    entries.push(layout::index_entry(top, &top_header.block_hash()));
    entries.sort_unstable();
    let key = layout::partition_key(partition);
    let append = match index.last(txn)? {
        None => true,
        Some((last, _)) => {
            layout::decode_partition_key(last).ok_or_else(|| {
                StoreError::corrupt(dir, format!("malformed hash index key {last:02x?}"))
            })? < partition
        }
    };
    let flags = if append {
        PutFlags::APPEND
    } else {
        PutFlags::empty()
    };
    index.put_with_flags(txn, flags, &key, &layout::encode_partition(&entries))?;
    Ok(())
}

impl HeaderStore {
    /// Indexes the complete partitions from `from` up to (not including) `to`, none of which
    /// may be indexed yet: each written whole (`write_partition`).
    pub(crate) fn index_partitions(
        &self,
        txn: &mut RwTxn,
        from: u16,
        to: u16,
    ) -> Result<(), StoreError> {
        for partition in from..to {
            write_partition(self.best, self.index, txn, &self.dir, partition)?;
        }
        Ok(())
    }

    /// The entries of stored partition `partition`, if it is stored.
    fn partition<'t>(
        &self,
        txn: &'t RoTxn,
        partition: u16,
    ) -> Result<Option<PartitionEntries<'t>>, StoreError> {
        match self.index.get(txn, &layout::partition_key(partition))? {
            Some(value) => self.entries_of(partition, value).map(Some),
            None => Ok(None),
        }
    }

    /// A stored partition's value as its entries; one that is not a complete partition is
    /// [`StoreError::Corrupt`].
    fn entries_of<'t>(
        &self,
        partition: u16,
        value: &'t [u8],
    ) -> Result<PartitionEntries<'t>, StoreError> {
        PartitionEntries::parse(value).ok_or_else(|| {
            self.corrupt(format!(
                "hash index partition {partition} holds {} bytes, not {}",
                value.len(),
                layout::PARTITION_VALUE_LEN
            ))
        })
    }

    /// Whether the index holds the entry of `hash` at `height`.
    pub(crate) fn is_indexed(
        &self,
        txn: &RoTxn,
        height: u32,
        hash: &BlockHash,
    ) -> Result<bool, StoreError> {
        Ok(self
            .partition(txn, layout::index_partition(height))?
            .is_some_and(|entries| entries.contains(layout::index_entry(height, hash))))
    }

    /// The best-chain header `hash`: (height, header). Searches every indexed partition,
    /// newest first (recent headers are the ones asked for most), and reads the header of each
    /// candidate whose 4-byte prefix matches: only one whose full hash matches is returned, so
    /// a prefix shared by two headers costs a header read, never a wrong answer. Then the
    /// unindexed tail, from the tip down ([`HeaderStore::tail_by_hash`]). A candidate above
    /// the stored chain or a malformed partition is [`StoreError::Corrupt`].
    pub(crate) fn best_by_hash(
        &self,
        txn: &RoTxn,
        hash: &BlockHash,
    ) -> Result<Option<(u32, Header)>, StoreError> {
        for entry in self.index.rev_iter(txn)? {
            let (key, value) = entry?;
            let partition = layout::decode_partition_key(key)
                .ok_or_else(|| self.corrupt(format!("malformed hash index key {key:02x?}")))?;
            let entries = self.entries_of(partition, value)?;
            for offset in entries.candidates(hash) {
                let height = layout::partition_start(partition) | u32::from(offset);
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
        let (entries, overflow_pages) = store
            .read(|txn| {
                let stat = store.index.stat(txn)?;
                Ok((stat.entries, stat.overflow_pages))
            })
            .unwrap();
        // Partitions 0 and 1 are complete; the tip's (heights 131,072 and up) is not indexed.
        // Each is one value of 393,216 bytes: 97 overflow pages.
        assert_eq!(entries, 2);
        assert_eq!(overflow_pages, 2 * 97);
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
        assert_eq!(consistent(&store), 1);
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
        assert_eq!(consistent(&store), 1);
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
