//! The write path: carrying out [`PersistChain`] changes, many to one write transaction, with
//! the map grown and the transaction retried when LMDB reports it full.

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};
use headway_core::PersistChain;
use heed::{MdbError, PutFlags, RoTxn, RwTxn};

use crate::error::StoreError;
use crate::layout;
use crate::store::HeaderStore;

/// The tip as the changes of one transaction move it.
struct TipState {
    height: u32,
    hash: BlockHash,
    work: Work,
}

impl HeaderStore {
    /// Carries out `changes` in order, all in one write transaction: either every change is
    /// stored or none is. A change that does not fit the stored chain (forks above the tip,
    /// does not link, repeats a best-chain header, a side header without a stored parent) fails
    /// the whole call with [`StoreError::Mismatch`]. A full map is grown and the transaction
    /// retried.
    pub fn apply(&self, changes: &[PersistChain]) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if changes.is_empty() {
            return Ok(());
        }
        self.write(|txn| self.apply_in(txn, changes))
    }

    /// Runs `f` in one write transaction and commits it; when LMDB reports the map full (in `f`
    /// or at the commit) the transaction is aborted, the map grown, and `f` run again from the
    /// start in a new transaction. Every write of the store goes through here.
    pub(crate) fn write<R>(
        &self,
        mut f: impl FnMut(&mut RwTxn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        loop {
            let guard = self.map_shared();
            let result = self
                .env
                .write_txn()
                .map_err(StoreError::from)
                .and_then(|mut txn| {
                    let out = f(&mut txn)?;
                    txn.commit().map_err(StoreError::from)?;
                    Ok(out)
                });
            drop(guard);
            match result {
                Err(e) if e.is_map_full() => self.grow_map()?,
                other => return other,
            }
        }
    }

    pub(crate) fn apply_in(
        &self,
        txn: &mut RwTxn,
        changes: &[PersistChain],
    ) -> Result<(), StoreError> {
        let (height, hash) = self.read_tip(txn)?;
        let work = self.read_work(txn)?;
        let mut tip = TipState { height, hash, work };
        for change in changes {
            self.apply_one(txn, &mut tip, change)?;
        }
        self.meta.put(
            txn,
            layout::META_TIP,
            &layout::tip_value(tip.height, &tip.hash),
        )?;
        self.meta
            .put(txn, layout::META_WORK, &tip.work.to_be_bytes())?;
        tracing::debug!(
            changes = changes.len(),
            tip_height = tip.height,
            "persisted"
        );
        Ok(())
    }

    fn apply_one(
        &self,
        txn: &mut RwTxn,
        tip: &mut TipState,
        change: &PersistChain,
    ) -> Result<(), StoreError> {
        let fork = change.fork_height;
        if fork > tip.height {
            return Err(StoreError::Mismatch(format!(
                "change forks at height {fork}, above the stored tip at {}",
                tip.height
            )));
        }
        let mut prev_hash = if fork == tip.height {
            tip.hash
        } else {
            self.best_header(txn, fork)?
                .ok_or_else(|| self.corrupt(format!("no best-chain header at height {fork}")))?
                .block_hash()
        };
        if fork < tip.height {
            self.disconnect_above(txn, fork, tip.height)?;
        }
        let above = change.rejoined.len() + change.connected.len();
        let new_height = u32::try_from(above)
            .ok()
            .and_then(|len| fork.checked_add(len))
            .ok_or_else(|| StoreError::Mismatch("heights overflow u32".into()))?;
        let mut height = fork;
        for hash in &change.rejoined {
            height += 1;
            prev_hash = self.rejoin(txn, height, hash, &prev_hash)?;
        }
        let first_new = height;
        for (height, header) in (first_new..new_height)
            .map(|h| h + 1)
            .zip(&change.connected)
        {
            if header.prev_blockhash != prev_hash {
                return Err(StoreError::Mismatch(format!(
                    "connected header at height {height} does not link to the header below it"
                )));
            }
            prev_hash = self.connect(txn, height, header)?;
        }
        *tip = TipState {
            height: new_height,
            hash: prev_hash,
            work: change.tip_work,
        };
        for (height, header) in &change.side {
            self.add_side(txn, *height, header)?;
        }
        Ok(())
    }

    /// Moves the best-chain headers above `fork` (through `top`) to the side set.
    fn disconnect_above(&self, txn: &mut RwTxn, fork: u32, top: u32) -> Result<(), StoreError> {
        for height in fork + 1..=top {
            let header = self
                .best_header(txn, height)?
                .ok_or_else(|| self.corrupt(format!("no best-chain header at height {height}")))?;
            let key = layout::hash_key(&header.block_hash());
            self.side
                .put(txn, &key, &layout::side_value(height, &header))?;
            self.index
                .put(txn, &key, &layout::index_value(height, false))?;
        }
        let from = layout::height_key(fork + 1);
        let bounds = (
            std::ops::Bound::Included(from.as_slice()),
            std::ops::Bound::Unbounded,
        );
        self.best.delete_range(txn, &bounds)?;
        Ok(())
    }

    /// A header stored off the best chain joins it at `height`, above `below` (the hash of the
    /// best header under it); returns its hash. It must be stored as a side header at that
    /// height and link to `below`.
    fn rejoin(
        &self,
        txn: &mut RwTxn,
        height: u32,
        hash: &BlockHash,
        below: &BlockHash,
    ) -> Result<BlockHash, StoreError> {
        let (stored_height, header) = self.side_header(txn, hash)?.ok_or_else(|| {
            StoreError::Mismatch(format!(
                "header {hash} rejoins the best chain at height {height} but is not stored off it"
            ))
        })?;
        if stored_height != height || header.prev_blockhash != *below {
            return Err(StoreError::Mismatch(format!(
                "header {hash} rejoins the best chain at height {height} but is stored at height \
                 {stored_height} or does not link to the header below"
            )));
        }
        self.connect(txn, height, &header)
    }

    /// Appends `header` to the best chain at `height` (the new right edge) and indexes it;
    /// returns its hash.
    fn connect(
        &self,
        txn: &mut RwTxn,
        height: u32,
        header: &Header,
    ) -> Result<BlockHash, StoreError> {
        let hash = header.block_hash();
        let key = layout::hash_key(&hash);
        let indexed = layout::index_value(height, true);
        // NO_OVERWRITE finds an existing entry in the same descent that inserts a new one.
        match self
            .index
            .put_with_flags(txn, PutFlags::NO_OVERWRITE, &key, &indexed)
        {
            Ok(()) => {}
            Err(heed::Error::Mdb(MdbError::KeyExist)) => {
                self.promote_side(txn, height, &hash)?;
                self.index.put(txn, &key, &indexed)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.best.put_with_flags(
            txn,
            PutFlags::APPEND,
            &layout::height_key(height),
            &layout::encode_header(header),
        )?;
        Ok(hash)
    }

    /// A header that joins the best chain was stored as a side header: take it out of the side
    /// set. Anything else already indexed is a mismatch.
    fn promote_side(
        &self,
        txn: &mut RwTxn,
        height: u32,
        hash: &BlockHash,
    ) -> Result<(), StoreError> {
        let existing = self.index_entry(txn, hash)?;
        match existing {
            Some((h, false)) if h == height => {
                self.side.delete(txn, &layout::hash_key(hash))?;
                Ok(())
            }
            Some((h, on_best)) => Err(StoreError::Mismatch(format!(
                "header {hash} joins the best chain at height {height} but is stored at height \
                 {h}{}",
                if on_best { " on the best chain" } else { "" }
            ))),
            None => Err(self.corrupt(format!("index entry for {hash} vanished"))),
        }
    }

    /// Stores a side header unless it is already known; its parent must be stored.
    fn add_side(&self, txn: &mut RwTxn, height: u32, header: &Header) -> Result<(), StoreError> {
        let parent = self.index_entry(txn, &header.prev_blockhash)?;
        let parent_ok = matches!(parent, Some((h, _)) if h.checked_add(1) == Some(height));
        if !parent_ok {
            return Err(StoreError::Mismatch(format!(
                "side header at height {height} has no stored parent one height below"
            )));
        }
        let key = layout::hash_key(&header.block_hash());
        let indexed = layout::index_value(height, false);
        match self
            .index
            .put_with_flags(txn, PutFlags::NO_OVERWRITE, &key, &indexed)
        {
            Ok(()) => {
                self.side
                    .put(txn, &key, &layout::side_value(height, header))?;
                Ok(())
            }
            // Already stored (best or side): nothing new to keep.
            Err(heed::Error::Mdb(MdbError::KeyExist)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The index entry of `hash`: (height, on best chain).
    pub(crate) fn index_entry(
        &self,
        txn: &RoTxn,
        hash: &BlockHash,
    ) -> Result<Option<(u32, bool)>, StoreError> {
        match self.index.get(txn, &layout::hash_key(hash))? {
            Some(raw) => layout::decode_index_value(raw)
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("malformed index entry for {hash}"))),
            None => Ok(None),
        }
    }
}
