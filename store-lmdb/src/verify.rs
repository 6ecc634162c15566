//! The consistency check of a store: every stored header links to genesis, the height index,
//! the hash index and the tip record agree, and the stored chain work is the best chain's sum.
//! Crash tests run it after killing a writer; the inspection commands may too.

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Work};
use heed::RoTxn;

use crate::error::StoreError;
use crate::layout;
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
    /// Checks the invariants: the best chain is contiguous from this network's genesis and each
    /// header links to the one below; every side header links to a stored header one height
    /// below (so, by induction, to genesis); the hash index holds exactly the stored headers
    /// with their heights and best/side flags; the tip record names the last best header; the
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
            let indexed = self.index.len(txn)?;
            if indexed != report.best_headers + report.side_headers {
                report.problem(format!(
                    "hash index holds {indexed} entries for {} best and {} side headers",
                    report.best_headers, report.side_headers
                ));
            }
            for problem in self.verify_addr_book(txn, MAX_PROBLEMS)? {
                report.problem(problem);
            }
            Ok(report)
        })
    }

    /// Walks the best chain; returns the last hash and the summed work (`None` after a break).
    fn verify_best(
        &self,
        txn: &RoTxn,
        report: &mut VerifyReport,
    ) -> Result<(Option<BlockHash>, Option<Work>), StoreError> {
        let genesis = self.network.params().genesis_hash();
        let mut prev: Option<BlockHash> = None;
        let mut work: Option<Work> = None;
        for entry in self.best.iter(txn)? {
            let (key, value) = entry?;
            let expected = u32::try_from(report.best_headers).unwrap_or(u32::MAX);
            report.best_headers += 1;
            if layout::decode_height(key) != Some(expected) {
                report.problem(format!(
                    "best chain key {key:02x?} where height {expected} belongs"
                ));
            }
            let Some(header) = layout::decode_header(value) else {
                report.problem(format!("malformed best-chain header at height {expected}"));
                prev = None;
                continue;
            };
            let hash = header.block_hash();
            match prev {
                None if expected == 0 && hash != genesis => report.problem(format!(
                    "height 0 holds {hash}, not the {} genesis",
                    self.network
                )),
                Some(p) if header.prev_blockhash != p => report.problem(format!(
                    "best-chain header at height {expected} does not link"
                )),
                None if expected != 0 => report.problem(format!(
                    "best-chain header at height {expected} follows a gap"
                )),
                _ => {}
            }
            match self.index_entry(txn, &hash) {
                Ok(Some((h, true))) if h == expected => {}
                Ok(other) => report.problem(format!(
                    "index entry of best header {hash} at {expected} is {other:?}"
                )),
                Err(e) => report.problem(format!("index entry of {hash}: {e}")),
            }
            work = Some(match work {
                Some(w) => w + header.work(),
                None => header.work(),
            });
            prev = Some(hash);
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
            match self.index_entry(txn, &hash) {
                Ok(Some((h, false))) if h == height => {}
                Ok(other) => report.problem(format!(
                    "index entry of side header {hash} at {height} is {other:?}"
                )),
                Err(e) => report.problem(format!("index entry of {hash}: {e}")),
            }
            match self.index_entry(txn, &header.prev_blockhash) {
                Ok(Some((h, _))) if h.checked_add(1) == Some(height) => {}
                Ok(other) => report.problem(format!(
                    "side header {hash} at {height}: parent entry is {other:?}"
                )),
                Err(e) => report.problem(format!("parent of side header {hash}: {e}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::block::{Header, Version};
    use bitcoin::{CompactTarget, TxMerkleNode};
    use headway_core::{Network, PersistChain};

    use super::*;
    use crate::{Durability, StoreOptions};

    /// Headers chained on the regtest genesis; the store does not check proof of work.
    fn chain(len: u32) -> Vec<Header> {
        let mut out = vec![Network::Regtest.params().genesis];
        for i in 1..=len {
            let prev = out[out.len() - 1];
            out.push(Header {
                version: Version::from_consensus(4),
                prev_blockhash: prev.block_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: prev.time + 1,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: i,
            });
        }
        out
    }

    fn store_with(headers: &[Header]) -> (tempfile::TempDir, HeaderStore) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            durability: Durability::NoSync,
            ..StoreOptions::default()
        };
        let store = HeaderStore::open_with(dir.path(), Network::Regtest, &options).unwrap();
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
    fn a_missing_index_entry_is_found() {
        let report = damaged(|store, txn| {
            let hash = store.best_header(txn, 4).unwrap().unwrap().block_hash();
            store.index.delete(txn, &layout::hash_key(&hash)).unwrap();
        });
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("index entry of best header")));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("hash index holds 10 entries")));
    }

    #[test]
    fn a_broken_link_and_a_gap_are_found() {
        let report = damaged(|store, txn| {
            let stranger = chain(3)[3];
            let mut other = stranger;
            other.nonce += 1000;
            store
                .best
                .put(txn, &layout::height_key(5), &layout::encode_header(&other))
                .unwrap();
        });
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("height 5 does not link")));
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("height 6 does not link")));

        let report = damaged(|store, txn| {
            store.best.delete(txn, &layout::height_key(3)).unwrap();
        });
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("where height 3 belongs")));
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
            store
                .index
                .put(txn, &key, &layout::index_value(2, false))
                .unwrap();
        });
        assert_eq!(report.side_headers, 1);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("parent entry is None")),
            "{:?}",
            report.problems
        );
    }
}
