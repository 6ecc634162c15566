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

/// Indexes the best-chain header `hash` at `height`.
pub(crate) fn put(
    db: Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    height: u32,
    hash: &BlockHash,
) -> Result<(), StoreError> {
    db.put(txn, &layout::index_key(height, hash), &[])?;
    Ok(())
}

/// Best-chain index entries gathered over one write transaction and written together in key
/// order ([`IndexBatch::flush`]).
///
/// The hash index is keyed by a hash prefix, so the entries of consecutive heights land on
/// random leaf pages of their partition; written one by one as they come, each entry searches
/// the tree from its root into a page the previous one rarely touched. Sorted first, an
/// apply's entries walk each page once, in order. Measured with `cargo bench -p
/// headway-store-lmdb --bench write_million` (20,000 headers an apply): see the commit that
/// added this.
#[derive(Debug, Default)]
pub(crate) struct IndexBatch {
    keys: Vec<[u8; layout::INDEX_KEY_LEN]>,
    /// Partitions whose first height is among `keys`: the partition below each is complete
    /// once the keys before it in order are written, and is packed then.
    starts: Vec<u16>,
}

impl IndexBatch {
    /// Gathers the entry of the best-chain header `hash` at `height`.
    pub(crate) fn push(&mut self, height: u32, hash: &BlockHash) {
        if height > 0 && height.is_multiple_of(layout::PARTITION_HEIGHTS) {
            self.starts.push(layout::index_partition(height));
        }
        self.keys.push(layout::index_key(height, hash));
    }

    /// Writes the gathered entries in key order, packing each partition that became complete
    /// before the first entry above it ([`HeaderStore::index_best`]'s rule, so the result is
    /// the same as writing them one by one in height order), and empties the batch. Called
    /// before anything in the transaction reads or removes index entries.
    pub(crate) fn flush(&mut self, store: &HeaderStore, txn: &mut RwTxn) -> Result<(), StoreError> {
        self.keys.sort_unstable();
        self.starts.sort_unstable();
        let mut starts = self.starts.iter().peekable();
        for key in &self.keys {
            let partition = u16::from_be_bytes([key[0], key[1]]);
            while let Some(&&start) = starts.peek() {
                if start > partition {
                    break;
                }
                store.pack_partition(txn, start - 1)?;
                starts.next();
            }
            store.index.put(txn, key, &[])?;
        }
        for &start in starts {
            // A partition start without its own entry cannot be gathered; kept for safety.
            store.pack_partition(txn, start - 1)?;
        }
        self.keys.clear();
        self.starts.clear();
        Ok(())
    }
}

impl HeaderStore {
    /// Indexes the best-chain header `hash` at `height`, as [`put`]; when `height` is the first
    /// of its partition, the partition below (complete now) is packed first
    /// ([`HeaderStore::pack_partition`]).
    pub(crate) fn index_best(
        &self,
        txn: &mut RwTxn,
        height: u32,
        hash: &BlockHash,
    ) -> Result<(), StoreError> {
        if height > 0 && height.is_multiple_of(layout::PARTITION_HEIGHTS) {
            self.pack_partition(txn, layout::index_partition(height) - 1)?;
        }
        put(self.index, txn, height, hash)
    }

    /// Rewrites the entries of `partition` in key order with `MDB_APPEND`, so that its pages
    /// are full (random inserts leave them about 69% full). Only while `partition` is the last
    /// in key order: a newer entry makes it [`StoreError::Corrupt`] (`MDB_APPEND` refuses a
    /// key below the last).
    pub(crate) fn pack_partition(&self, txn: &mut RwTxn, partition: u16) -> Result<(), StoreError> {
        let prefix = partition.to_be_bytes();
        let mut keys = Vec::new();
        for entry in self.index.prefix_iter(txn, &prefix)? {
            let (key, _) = entry?;
            keys.push(key.to_vec());
        }
        let bounds = (Bound::Included(prefix.as_slice()), Bound::Unbounded);
        let next = partition.checked_add(1).map(u16::to_be_bytes);
        if let Some(next) = next {
            if self
                .index
                .get_greater_than_or_equal_to(txn, &next)?
                .is_some()
            {
                return Err(self.corrupt(format!(
                    "hash index holds entries above partition {partition} before it is complete"
                )));
            }
        }
        self.index.delete_range(txn, &bounds)?;
        for key in &keys {
            self.index.put_with_flags(txn, PutFlags::APPEND, key, &[])?;
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

    /// The best-chain header `hash`: (height, header). Probes every partition, newest first
    /// (recent headers are the ones asked for most), and reads the header of each candidate
    /// whose 6-byte prefix matches: only one whose full hash matches is returned, so a prefix
    /// shared by two headers costs a header read, never a wrong answer. A candidate above the
    /// stored chain or a malformed key is [`StoreError::Corrupt`].
    pub(crate) fn best_by_hash(
        &self,
        txn: &RoTxn,
        hash: &BlockHash,
    ) -> Result<Option<(u32, Header)>, StoreError> {
        let Some((last, _)) = self.index.last(txn)? else {
            return Ok(None);
        };
        let newest = layout::decode_index_key(last)
            .map(|(height, _)| layout::index_partition(height))
            .ok_or_else(|| self.corrupt(format!("malformed hash index key {last:02x?}")))?;
        for partition in (0..=newest).rev() {
            let prefix = layout::index_prefix(partition, hash);
            for entry in self.index.prefix_iter(txn, &prefix)? {
                let (key, _) = entry?;
                let (height, _) = layout::decode_index_key(key)
                    .ok_or_else(|| self.corrupt(format!("malformed hash index key {key:02x?}")))?;
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
    use bitcoin::block::{Header, Version};
    use bitcoin::hashes::Hash;
    use bitcoin::{CompactTarget, TxMerkleNode};
    use headway_core::{Network, PersistChain};

    use crate::{Durability, HeaderStore, StoreOptions};

    /// `len` headers chained on the regtest genesis (index = height); no proof of work.
    fn chain(len: u32) -> Vec<Header> {
        let mut out = vec![Network::Regtest.params().genesis];
        for i in 1..=len {
            let prev = out[out.len() - 1];
            let mut merkle = [0u8; 32];
            merkle[..4].copy_from_slice(&i.to_le_bytes());
            out.push(Header {
                version: Version::from_consensus(4),
                prev_blockhash: prev.block_hash(),
                merkle_root: TxMerkleNode::from_byte_array(merkle),
                time: prev.time + 1,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: i,
            });
        }
        out
    }

    #[test]
    fn complete_partitions_are_packed_and_still_found() {
        let headers = chain(140_000);
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            durability: Durability::NoSync,
            ..StoreOptions::default()
        };
        let store = HeaderStore::open_with(dir.path(), Network::Regtest, &options).unwrap();
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
        // apply's gathered entries (`IndexBatch` packs partition 0 before writing above it).
        for group in changes.chunks(7) {
            store.apply(group).unwrap();
        }
        let (entries, leaf_pages) = store
            .read(|txn| {
                let stat = store.index.stat(txn)?;
                Ok((stat.entries, stat.leaf_pages))
            })
            .unwrap();
        assert_eq!(entries, 140_001);
        // 20 bytes an entry in 4080-byte pages: 687 pages if all were full; random inserts
        // alone would need about 990.
        let full = (140_001 * 20usize).div_ceil(4080);
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
        let report = store.verify().unwrap();
        assert!(report.is_consistent(), "{:#?}", report.problems);
    }
}
