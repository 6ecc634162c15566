//! The consistency check of a store: every stored header links to genesis, the height index,
//! the hash index and the tip record agree, and the stored chain work is the best chain's sum.
//! Crash tests run it after killing a writer; the inspection commands may too.

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Work};
use heed::RoTxn;

use crate::error::StoreError;
use crate::layout::{self, GROUP_LEN, HEADER_LEN};
use crate::store::HeaderStore;

/// At most this many problems are listed; a badly broken store would otherwise list millions.
const MAX_PROBLEMS: usize = 100;

/// What [`HeaderStore::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The tip height recorded in the metadata.
    pub tip_height: u32,
    /// The tip hash recorded in the metadata.
    pub tip_hash: BlockHash,
    /// Headers on the best chain, genesis included.
    pub best_headers: u64,
    /// Headers off the best chain.
    pub side_headers: u64,
    /// Every broken invariant found (at most 100), one line each; empty for a good store.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether no invariant is broken.
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        }
    }
}

impl HeaderStore {
    /// Checks the invariants: the best chain is contiguous from this network's genesis, in
    /// groups that are full but for the last, and each header links to the one below; every
    /// side header links to a stored header one height below (so, by induction, to genesis)
    /// and is not also on the best chain; the hash index holds exactly the complete partitions
    /// below the tip's (`layout::indexed_end`), each with every best-chain header of it at its
    /// height; the tip record names the last best header; the
    /// stored work is the sum of the best chain's work; the address book's secret, if stored,
    /// is 32 bytes, no other reserved key is used and no record value is over the store's bound
    /// (the records themselves are the core's and not checked). Broken invariants are listed in
    /// the report; an `Err` means the store could not be read at all.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.read(|txn| {
            let mut report = VerifyReport {
                tip_height: 0,
                tip_hash: BlockHash::all_zeros(),
                best_headers: 0,
                side_headers: 0,
                problems: Vec::new(),
            };
            match self.read_tip(txn) {
                Ok((height, hash)) => {
                    report.tip_height = height;
                    report.tip_hash = hash;
                }
                Err(e) => report.problem(format!("tip record: {e}")),
            }
            let stored_work = match self.read_work(txn) {
                Ok(work) => Some(work),
                Err(e) => {
                    report.problem(format!("chain work record: {e}"));
                    None
                }
            };
            let (last_hash, work) = self.verify_best(txn, &mut report)?;
            if report.best_headers != u64::from(report.tip_height) + 1 {
                report.problem(format!(
                    "best chain holds {} headers but the tip is at height {}",
                    report.best_headers, report.tip_height
                ));
            }
            if last_hash != Some(report.tip_hash) {
                report.problem(format!(
                    "tip record names {} but the highest best-chain header is {last_hash:?}",
                    report.tip_hash
                ));
            }
            if let (Some(stored), Some(summed)) = (stored_work, work) {
                if stored != summed {
                    report.problem(format!(
                        "stored chain work {stored:?} is not the best chain's sum {summed:?}"
                    ));
                }
            }
            self.verify_side(txn, &mut report)?;
            let expected = layout::index_partition(layout::indexed_end(report.tip_height));
            let mut indexed = 0u64;
            for entry in self.index.iter(txn)? {
                let (key, _) = entry?;
                indexed += 1;
                match layout::decode_partition_key(key) {
                    Some(partition) if partition >= expected => report.problem(format!(
                        "hash index partition {partition} is stored, but only the {expected} \
                         complete partitions below the tip's are indexed"
                    )),
                    Some(_) => {}
                    None => report.problem(format!("malformed hash index key {key:02x?}")),
                }
            }
            if indexed != u64::from(expected) {
                report.problem(format!(
                    "hash index holds {indexed} partitions for the {expected} complete ones below \
                     the tip's"
                ));
            }
            for problem in self.verify_addr_book(txn, MAX_PROBLEMS)? {
                report.problem(problem);
            }
            Ok(report)
        })
    }

    /// Walks the best chain's groups; returns the last hash and the summed work (`None` after
    /// a break).
    fn verify_best(
        &self,
        txn: &RoTxn,
        report: &mut VerifyReport,
    ) -> Result<(Option<BlockHash>, Option<Work>), StoreError> {
        let genesis = self.network.params().genesis_hash();
        let indexed_end = layout::indexed_end(report.tip_height);
        let mut prev: Option<BlockHash> = None;
        let mut work: Option<Work> = None;
        let mut expected_group = 0u32;
        // The group before this one held fewer than 51 headers: only the last group may.
        let mut short_group: Option<u32> = None;
        for entry in self.best.iter(txn)? {
            let (key, value) = entry?;
            let group = layout::decode_height(key);
            if let Some(short) = short_group.take() {
                report.problem(format!(
                    "best chain group {short} is short but not the last"
                ));
            }
            if group != Some(expected_group) {
                report.problem(format!(
                    "best chain key {key:02x?} where group {expected_group} belongs"
                ));
                prev = None;
            }
            expected_group = group.unwrap_or(expected_group).saturating_add(1);
            let first = layout::group_start(group.unwrap_or(0));
            if value.is_empty()
                || !value.len().is_multiple_of(HEADER_LEN)
                || value.len() > GROUP_LEN
            {
                report.problem(format!(
                    "best chain group {} holds {} bytes, not whole headers",
                    group.unwrap_or(0),
                    value.len()
                ));
                report.best_headers += (value.len() / HEADER_LEN) as u64;
                prev = None;
                continue;
            }
            if value.len() < GROUP_LEN {
                short_group = group;
            }
            for (height, bytes) in (first..).zip(value.chunks_exact(HEADER_LEN)) {
                report.best_headers += 1;
                let Some(header) = layout::decode_header(bytes) else {
                    report.problem(format!("malformed best-chain header at height {height}"));
                    prev = None;
                    continue;
                };
                let hash = header.block_hash();
                match prev {
                    None if height == 0 && hash != genesis => report.problem(format!(
                        "height 0 holds {hash}, not the {} genesis",
                        self.network
                    )),
                    Some(p) if header.prev_blockhash != p => report.problem(format!(
                        "best-chain header at height {height} does not link"
                    )),
                    None if height != 0 => report.problem(format!(
                        "best-chain header at height {height} follows a gap"
                    )),
                    _ => {}
                }
                match (self.is_indexed(txn, height, &hash), height < indexed_end) {
                    (Ok(true), true) | (Ok(false), false) => {}
                    (Ok(false), true) => report.problem(format!(
                        "index entry of best header {hash} at {height} is missing"
                    )),
                    (Ok(true), false) => report.problem(format!(
                        "best header {hash} at {height} is indexed, in the tip's partition"
                    )),
                    (Err(e), _) => report.problem(format!("index entry of {hash}: {e}")),
                }
                work = Some(match work {
                    Some(w) => w + header.work(),
                    None => header.work(),
                });
                prev = Some(hash);
            }
        }
        Ok((prev, work))
    }

    fn verify_side(&self, txn: &RoTxn, report: &mut VerifyReport) -> Result<(), StoreError> {
        for entry in self.side.iter(txn)? {
            let (key, value) = entry?;
            report.side_headers += 1;
            let Some((height, header)) = layout::decode_side_value(value) else {
                report.problem(format!("malformed side header under key {key:02x?}"));
                continue;
            };
            let hash = header.block_hash();
            if layout::decode_hash(key) != Some(hash) {
                report.problem(format!("side header {hash} stored under another key"));
            }
            match self.best_header(txn, height) {
                Ok(Some(best)) if best.block_hash() == hash => report.problem(format!(
                    "side header {hash} at {height} is also on the best chain"
                )),
                Ok(_) => {}
                Err(e) => report.problem(format!("best chain at {height}: {e}")),
            }
            let parent = &header.prev_blockhash;
            let below = height.checked_sub(1);
            let on_best = match below {
                Some(below) => self
                    .best_header(txn, below)
                    .ok()
                    .flatten()
                    .is_some_and(|h| h.block_hash() == *parent),
                None => false,
            };
            let in_side = match self.side_header(txn, parent) {
                Ok(Some((h, _))) => Some(h) == below,
                _ => false,
            };
            if !on_best && !in_side {
                report.problem(format!(
                    "side header {hash} at {height}: no parent stored one height below"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::block::Header;
    use headway_core::PersistChain;

    use super::*;
    use crate::test_support::*;

    fn store_with(headers: &[Header]) -> (tempfile::TempDir, HeaderStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = open_unsynced(dir.path());
        let work = headers
            .iter()
            .fold(Work::from_be_bytes([0; 32]), |w, h| w + h.work());
        store
            .apply(&[PersistChain {
                fork_height: 0,
                rejoined: vec![],
                connected: headers[1..].to_vec(),
                side: vec![],
                tip_work: work,
            }])
            .unwrap();
        (dir, store)
    }

    /// Rewrites group 0 (heights 0..=10 of [`chain`]`(10)`) with the header at `height`
    /// replaced by `header`, or removed (the later ones shift down) when `None`.
    fn replace_header(
        store: &HeaderStore,
        txn: &mut heed::RwTxn,
        height: usize,
        header: Option<&Header>,
    ) {
        let key = layout::height_key(0);
        let mut group = store.best.get(txn, &key).unwrap().unwrap().to_vec();
        let at = height * HEADER_LEN..(height + 1) * HEADER_LEN;
        match header {
            Some(header) => {
                group.splice(at, layout::encode_header(header));
            }
            None => {
                group.drain(at);
            }
        }
        store.best.put(txn, &key, &group).unwrap();
    }

    /// Runs `damage` in a raw write transaction, then verifies.
    fn damaged(damage: impl FnOnce(&HeaderStore, &mut heed::RwTxn)) -> VerifyReport {
        let headers = chain(10);
        let (_dir, store) = store_with(&headers);
        assert!(store.verify().unwrap().is_consistent());
        let mut txn = store.env.write_txn().unwrap();
        damage(&store, &mut txn);
        txn.commit().unwrap();
        store.verify().unwrap()
    }

    #[test]
    fn a_good_store_has_no_problems() {
        let headers = chain(10);
        let (_dir, store) = store_with(&headers);
        let report = store.verify().unwrap();
        assert!(report.is_consistent(), "{:?}", report.problems);
        assert_eq!(report.best_headers, 11);
        assert_eq!(report.tip_height, 10);
        assert_eq!(report.tip_hash, headers[10].block_hash());
    }

    #[test]
    fn an_index_entry_in_the_tips_partition_is_found() {
        let report = damaged(|store, txn| {
            let hash = store.best_header(txn, 4).unwrap().unwrap().block_hash();
            let value = partition_value(&[layout::index_entry(4, &hash)]);
            store
                .index
                .put(txn, &layout::partition_key(0), &value)
                .unwrap();
        });
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("is indexed, in the tip's partition")));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("hash index partition 0 is stored")));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("hash index holds 1 partitions for the 0")));
    }

    #[test]
    fn a_missing_index_entry_and_a_short_partition_are_found() {
        // A complete partition (65,536 heights) and a few headers above it.
        let headers = chain(65_540);
        let (_dir, store) = store_with(&headers);
        assert!(store.verify().unwrap().is_consistent());
        let mut txn = store.env.write_txn().unwrap();
        let entries: Vec<u64> = (0..layout::PARTITION_HEIGHTS)
            .filter(|&height| height != 4)
            .map(|height| layout::index_entry(height, &headers[height as usize].block_hash()))
            .collect();
        store
            .index
            .put(
                &mut txn,
                &layout::partition_key(0),
                &partition_value(&entries),
            )
            .unwrap();
        txn.commit().unwrap();
        let report = store.verify().unwrap();
        assert_eq!(
            report.problems,
            vec![format!(
                "index entry of best header {} at 4 is missing",
                headers[4].block_hash()
            )]
        );
        let mut txn = store.env.write_txn().unwrap();
        let value = partition_value(&entries);
        store
            .index
            .put(&mut txn, &layout::partition_key(0), &value[6..])
            .unwrap();
        txn.commit().unwrap();
        let report = store.verify().unwrap();
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("hash index partition 0 holds 393210 bytes, not 393216")));
    }

    #[test]
    fn a_broken_link_and_a_gap_are_found() {
        let report = damaged(|store, txn| {
            let stranger = chain(3)[3];
            let mut other = stranger;
            other.nonce += 1000;
            replace_header(store, txn, 5, Some(&other));
        });
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("height 5 does not link")));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("height 6 does not link")));

        let report = damaged(|store, txn| replace_header(store, txn, 3, None));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("height 3 does not link")));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("best chain holds 10 headers")));

        // A short group that is not the last.
        let headers = chain(60);
        let (_dir, store) = store_with(&headers);
        let mut txn = store.env.write_txn().unwrap();
        let group = store
            .best
            .get(&txn, &layout::height_key(0))
            .unwrap()
            .unwrap();
        let shorter = group[..HEADER_LEN * 50].to_vec();
        store
            .best
            .put(&mut txn, &layout::height_key(0), &shorter)
            .unwrap();
        txn.commit().unwrap();
        let report = store.verify().unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("group 0 is short but not the last")),
            "{:#?}",
            report.problems
        );
    }

    #[test]
    fn a_tip_record_that_disagrees_is_found() {
        let report = damaged(|store, txn| {
            let hash = store.best_header(txn, 9).unwrap().unwrap().block_hash();
            store
                .meta
                .put(txn, layout::META_TIP, &layout::tip_value(9, &hash))
                .unwrap();
        });
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("best chain holds 11 headers")));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("tip record names")));
    }

    #[test]
    fn wrong_chain_work_is_found() {
        let report = damaged(|store, txn| {
            store.meta.put(txn, layout::META_WORK, &[0u8; 32]).unwrap();
        });
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("stored chain work")));
    }

    #[test]
    fn an_orphan_side_header_is_found() {
        let report = damaged(|store, txn| {
            let mut orphan = chain(2)[2];
            orphan.prev_blockhash = BlockHash::all_zeros();
            let key = layout::hash_key(&orphan.block_hash());
            store
                .side
                .put(txn, &key, &layout::side_value(2, &orphan))
                .unwrap();
        });
        assert_eq!(report.side_headers, 1);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("no parent stored one height below")),
            "{:?}",
            report.problems
        );
    }
}
