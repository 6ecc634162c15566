//! The write path: carrying out [`PersistChain`] changes, many to one write transaction, with
//! the map grown and the transaction retried when LMDB reports it full.

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};
use headway_core::PersistChain;
use heed::RwTxn;

use crate::error::StoreError;
use crate::store::HeaderStore;
use crate::{best, index, layout};

/// The tip as the changes of one transaction move it.
struct TipState {
    height: u32,
    hash: BlockHash,
    work: Work,
}

impl HeaderStore {
    /// Carries out `changes` in order, all in one write transaction: either every change is
    /// stored or none is. A change that does not fit the stored chain (forks above the tip,
    /// its first connected header does not link to the chain below, repeats a best-chain
    /// header, a side header without a stored parent) fails the whole call with
    /// [`StoreError::Mismatch`]. A full map is grown and the transaction retried.
    ///
    /// The links among a change's connected headers are the caller's to keep (the core
    /// validated each one): a header's hash is taken from the next one's `prev_blockhash`,
    /// and only the last of each change is hashed, as [`HeaderStore::load_chain`] trusts the
    /// store's links. [`HeaderStore::verify`] hashes every stored header.
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
        // The index holds the complete partitions, below `indexed_end` of the tip. A
        // reorganisation rewrites the partitions from the one its fork's successor is in: the
        // ones below `kept` hold best-chain headers that no change touched.
        let before = layout::indexed_end(height);
        let mut kept = before;
        for change in changes {
            if change.fork_height < tip.height {
                let first = change.fork_height.saturating_add(1);
                kept = kept.min(layout::partition_start(layout::index_partition(first)));
            }
            self.apply_one(txn, &mut tip, change)?;
        }
        // A chain that ended lower than it began may have its tip in a partition that was
        // complete: the tip's partition is never indexed.
        let end = layout::indexed_end(tip.height);
        let kept = kept.min(end);
        if kept < before {
            index::unindex_from(self.index, txn, layout::index_partition(kept))?;
        }
        // The partitions the chain completed (usually none; one each 65,536 heights), and
        // those a reorganisation rewrote.
        if kept < end {
            self.index_partitions(
                txn,
                layout::index_partition(kept),
                layout::index_partition(end),
            )?;
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
        // Stored side headers that rejoin the best chain right above `fork`, in height order,
        // then the headers new to the store.
        let mut below = fork;
        for hash in &change.rejoined {
            below = below
                .checked_add(1)
                .ok_or_else(|| StoreError::Mismatch("heights overflow u32".into()))?;
            prev_hash = self.rejoin(txn, below, hash)?.block_hash();
        }
        let first = below + 1;
        let new_height = u32::try_from(change.connected.len())
            .ok()
            .and_then(|len| below.checked_add(len))
            .ok_or_else(|| StoreError::Mismatch("heights overflow u32".into()))?;
        // A header that comes back from the side set must leave it; the side set is usually
        // empty, and then no connected header needs looking up there.
        let side_stored = !self.side.is_empty(txn)?;
        if let Some(header) = change.connected.first() {
            if header.prev_blockhash != prev_hash {
                return Err(StoreError::Mismatch(format!(
                    "connected header at height {first} does not link to the header below it"
                )));
            }
        }
        // Each connected header's hash is the next one's `prev_blockhash` (only the last is
        // hashed): the core validated every link, as `ChainLoader` trusts the store's, and
        // `verify` hashes the whole chain. Hashing all of them again was a sixth of this
        // thread's time in a sync.
        let last = change.connected.last().map(Header::block_hash);
        if side_stored {
            let next_prev = change.connected.iter().skip(1).map(|h| h.prev_blockhash);
            for (height, hash) in (first..=new_height).zip(next_prev.chain(last)) {
                self.take_side(txn, height, &hash)?;
            }
        }
        if let Some(hash) = last {
            prev_hash = hash;
        }
        best::append(self.best, txn, &self.dir, first, &change.connected)?;
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

    /// Moves the best-chain headers above `fork` (through `top`) to the side set (`apply_in`
    /// rewrites the index partitions above the fork).
    fn disconnect_above(&self, txn: &mut RwTxn, fork: u32, top: u32) -> Result<(), StoreError> {
        // Not sized from `top`: a corrupt tip record far above the chain must end in the
        // check below, not in a huge allocation.
        let mut moved = Vec::new();
        let next = best::visit(
            self.best,
            txn,
            &self.dir,
            fork + 1,
            top,
            |height, header| {
                moved.push((height, *header));
                Ok(())
            },
        )?;
        if next <= top {
            return Err(self.corrupt(format!("no best-chain header at height {next}")));
        }
        for (height, header) in &moved {
            let hash = header.block_hash();
            self.side.put(
                txn,
                &layout::hash_key(&hash),
                &layout::side_value(*height, header),
            )?;
        }
        best::truncate(self.best, txn, &self.dir, fork + 1)
    }

    /// Promotes the stored side header `hash` to the best chain at `height`, the height right
    /// above the stored best chain: checks that it is stored as a side header at that height
    /// and links to the best-chain header below, takes it out of the side set, indexes it and
    /// appends it. Returns the header. Anything else is [`StoreError::Mismatch`] (nothing of
    /// the transaction should then be committed).
    // Called by `apply_one` once `PersistChain` gains `rejoined` (see there); tested directly.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn rejoin(
        &self,
        txn: &mut RwTxn,
        height: u32,
        hash: &BlockHash,
    ) -> Result<Header, StoreError> {
        let Some((stored_height, header)) = self.side_header(txn, hash)? else {
            return Err(StoreError::Mismatch(format!(
                "header {hash} rejoins the best chain at height {height} but is not stored as a \
                 side header"
            )));
        };
        if stored_height != height {
            return Err(StoreError::Mismatch(format!(
                "header {hash} rejoins the best chain at height {height} but is stored at \
                 height {stored_height}"
            )));
        }
        let below = match height.checked_sub(1) {
            Some(below) => self.best_header(txn, below)?,
            None => None,
        };
        let links = below.is_some_and(|below| below.block_hash() == header.prev_blockhash);
        if !links || best::len(self.best, txn, &self.dir)? != height {
            return Err(StoreError::Mismatch(format!(
                "header {hash} rejoins the best chain at height {height} but does not link to \
                 the best chain's top"
            )));
        }
        self.side.delete(txn, &layout::hash_key(hash))?;
        // Indexed with its partition once that is complete (`apply_in`).
        best::append(self.best, txn, &self.dir, height, &[header])?;
        Ok(header)
    }

    /// A header that joins the best chain at `height` may be stored as a side header: take it
    /// out of the side set. Stored as a side header at another height is a mismatch.
    fn take_side(&self, txn: &mut RwTxn, height: u32, hash: &BlockHash) -> Result<(), StoreError> {
        match self.side_header(txn, hash)? {
            None => Ok(()),
            Some((h, _)) if h == height => {
                self.side.delete(txn, &layout::hash_key(hash))?;
                Ok(())
            }
            Some((h, _)) => Err(StoreError::Mismatch(format!(
                "header {hash} joins the best chain at height {height} but is stored at height \
                 {h}"
            ))),
        }
    }

    /// Stores a side header unless it is already known; its parent must be stored one height
    /// below (on the best chain or in the side set).
    fn add_side(&self, txn: &mut RwTxn, height: u32, header: &Header) -> Result<(), StoreError> {
        let parent = &header.prev_blockhash;
        let parent_ok = match height.checked_sub(1) {
            Some(below) => {
                self.best_header(txn, below)?
                    .is_some_and(|h| h.block_hash() == *parent)
                    || matches!(self.side_header(txn, parent)?, Some((h, _)) if h == below)
            }
            None => false,
        };
        if !parent_ok {
            return Err(StoreError::Mismatch(format!(
                "side header at height {height} has no stored parent one height below"
            )));
        }
        let hash = header.block_hash();
        let key = layout::hash_key(&hash);
        let on_best = self
            .best_header(txn, height)?
            .is_some_and(|h| h.block_hash() == hash);
        // Already stored (best or side): nothing new to keep.
        if on_best || self.side.get(txn, &key)?.is_some() {
            return Ok(());
        }
        self.side
            .put(txn, &key, &layout::side_value(height, header))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::block::Header;
    use bitcoin::hashes::Hash;
    use headway_core::PersistChain;

    use super::*;
    use crate::test_support::*;

    use headway_regtest::work_of;

    /// A store with best chain `a` (index = height) whose top above `fork` was replaced by
    /// `b`, so that `a[fork + 1..]` is stored as side headers.
    fn reorged(dir: &std::path::Path, a: &[Header], fork: usize, b: &[Header]) -> HeaderStore {
        let store = open_unsynced(dir);
        store
            .apply(&[PersistChain {
                fork_height: 0,
                rejoined: vec![],
                connected: a[1..].to_vec(),
                side: vec![],
                tip_work: work_of(a),
            }])
            .unwrap();
        store
            .apply(&[PersistChain {
                fork_height: fork as u32,
                rejoined: vec![],
                connected: b.to_vec(),
                side: vec![],
                tip_work: work_of(&a[..=fork]) + work_of(b),
            }])
            .unwrap();
        store
    }

    /// What `apply` will do for a change with `rejoined`: cut back to the fork, rejoin the
    /// side headers one by one, then connect new ones; here by hand, in one transaction.
    fn cut_back(store: &HeaderStore, txn: &mut RwTxn, fork: u32, top: u32) {
        store.disconnect_above(txn, fork, top).unwrap();
    }

    #[test]
    fn rejoin_moves_side_headers_back_in_height_order() {
        // 120 headers so that the fork (height 100) is inside a group of 51 and the rejoined
        // headers cross a group boundary (height 102).
        let a = headway_regtest::chain(120, 1);
        let b = headway_regtest::mine(&a[100], 30, 2); // heights 101..=130
        let dir = tempfile::tempdir().unwrap();
        let store = reorged(dir.path(), &a, 100, &b);
        assert_eq!(store.load().unwrap().1.len(), 20);

        store
            .write(|txn| {
                cut_back(&store, txn, 100, 130);
                for height in 101..=120u32 {
                    let hash = a[height as usize].block_hash();
                    assert_eq!(store.rejoin(txn, height, &hash)?, a[height as usize]);
                }
                let (h, hash) = (120, a[120].block_hash());
                store
                    .meta
                    .put(txn, layout::META_TIP, &layout::tip_value(h, &hash))?;
                store
                    .meta
                    .put(txn, layout::META_WORK, &work_of(&a).to_be_bytes())?;
                Ok(())
            })
            .unwrap();
        let (best, side) = store.load().unwrap();
        assert_eq!(best, a);
        // b's headers went to the side set; a's left it.
        assert_eq!(side.len(), 30);
        assert!(side
            .iter()
            .all(|(h, header)| b[*h as usize - 101] == *header));
        assert_eq!(
            store.header_by_hash(&a[110].block_hash()).unwrap(),
            Some((110, a[110], true))
        );
        let report = store.verify().unwrap();
        assert!(report.is_consistent(), "{:#?}", report.problems);
    }

    #[test]
    fn rejoin_refuses_what_does_not_fit() {
        let a = headway_regtest::chain(60, 1);
        let b = headway_regtest::mine(&a[50], 12, 2); // heights 51..=62
        let dir = tempfile::tempdir().unwrap();
        let store = reorged(dir.path(), &a, 50, &b);
        let mismatch = |height: u32, hash: BlockHash, cut: bool| {
            let result = store.write(|txn| {
                if cut {
                    cut_back(&store, txn, 50, 62);
                }
                store.rejoin(txn, height, &hash).map(|_| ())
            });
            assert!(
                matches!(result, Err(StoreError::Mismatch(_))),
                "{height}: {result:?}"
            );
        };
        // Not cut back: a[51] is stored as a side header but the best chain's top is 62.
        mismatch(51, a[51].block_hash(), false);
        // Cut back, but skipping a height, at the wrong height, or not a side header.
        mismatch(52, a[52].block_hash(), true);
        mismatch(52, a[51].block_hash(), true);
        mismatch(51, b[0].block_hash(), false);
        mismatch(51, BlockHash::all_zeros(), true);
        // Nothing of the failed transactions was kept.
        let report = store.verify().unwrap();
        assert!(report.is_consistent(), "{:#?}", report.problems);
        assert_eq!(store.tip().unwrap().unwrap().height, 62);
        assert_eq!(store.load().unwrap().1.len(), 10);
    }
}
