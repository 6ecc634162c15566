//! The best chain's hash index (the `hashes` database, see `layout.rs`): writing and removing
//! entries, and finding a header by hash, best chain or side. Free functions for the writes,
//! shared with the migration (`migrate.rs`); the lookups are [`HeaderStore`] methods.

use bitcoin::block::Header;
use bitcoin::BlockHash;
use heed::types::Bytes;
use heed::{Database, RoTxn, RwTxn};

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

impl HeaderStore {
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
