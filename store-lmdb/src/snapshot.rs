//! [`Snapshot`]: several reads of the header store that see one state of it, for readers that
//! combine them (the API's `getblockheader` reads a header, the tip and its neighbours, and
//! must not see a reorg land between two of those reads).
//!
//! A snapshot is one LMDB read transaction, opened through the store's `read` (so a map grown
//! by another process is adopted first). LMDB read transactions never block the writer and
//! never see its uncommitted changes; while one is open the writer cannot reuse the pages it
//! sees, and a map growth in this process waits for it to end, so the closure given to
//! [`HeaderStore::snapshot`] should do its reads and return, not wait on anything.

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};
use heed::RoTxn;

use crate::best;
use crate::error::StoreError;
use crate::layout;
use crate::store::HeaderStore;

/// A consistent view of the store: every read through it sees the same committed state.
/// Created only by [`HeaderStore::snapshot`], valid for the closure's run.
pub struct Snapshot<'a> {
    store: &'a HeaderStore,
    txn: &'a RoTxn<'a>,
}

impl HeaderStore {
    /// Runs `f` with a [`Snapshot`]: one LMDB read transaction, so all of `f`'s reads agree
    /// with each other whatever the node writes meanwhile. Errors of `f` are returned as they
    /// are. `f` must not call [`HeaderStore::apply`] on this store (a map growth would wait
    /// for this transaction to end).
    pub fn snapshot<R>(
        &self,
        f: impl FnOnce(&Snapshot<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.read(|txn| {
            let snapshot = Snapshot { store: self, txn };
            f(&snapshot)
        })
    }
}

impl Snapshot<'_> {
    /// The best chain's tip: (height, hash).
    pub fn tip(&self) -> Result<(u32, BlockHash), StoreError> {
        self.store.read_tip(self.txn)
    }

    /// The cumulative work of the best chain up to and including its tip.
    pub fn tip_work(&self) -> Result<Work, StoreError> {
        self.store.read_work(self.txn)
    }

    /// The best chain's header at `height`; `None` above the tip.
    pub fn header_at(&self, height: u32) -> Result<Option<Header>, StoreError> {
        self.store.best_header(self.txn, height)
    }

    /// A stored header by hash, best chain or side: (height, header, whether it is on the best
    /// chain). The header's full hash is checked: a side header stored under another hash is
    /// [`StoreError::Corrupt`], and of the best-chain candidates whose index prefix matches only
    /// the one with this hash is returned.
    pub fn entry(&self, hash: &BlockHash) -> Result<Option<(u32, Header, bool)>, StoreError> {
        self.store.entry_by_hash(self.txn, hash)
    }

    /// Calls `f` for each best-chain header with height in `from..=to` (clamped to the tip), in
    /// height order, on one cursor: a sequential read of the best chain's groups. Stops at the
    /// first error `f` returns; a gap in the heights is [`StoreError::Corrupt`].
    pub fn for_each_best(
        &self,
        from: u32,
        to: u32,
        f: impl FnMut(u32, &Header) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (tip_height, _) = self.tip()?;
        let to = to.min(tip_height);
        if from > to {
            return Ok(());
        }
        let next = best::visit(self.store.best, self.txn, &self.store.dir, from, to, f)?;
        if next <= to {
            return Err(self
                .store
                .corrupt(format!("best chain lacks height {next}")));
        }
        Ok(())
    }

    /// Every header off the best chain with its height, in the side database's key (hash)
    /// order: a scan of the whole side set, which stale blocks and short reorgs keep small.
    pub fn side_headers(&self) -> Result<Vec<(u32, Header)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.store.side.iter(self.txn)? {
            let (key, value) = entry?;
            let decoded = layout::decode_side_value(value)
                .ok_or_else(|| self.store.corrupt("malformed side header".into()))?;
            if layout::decode_hash(key) != Some(decoded.1.block_hash()) {
                return Err(self
                    .store
                    .corrupt(format!("side header stored under another hash {key:02x?}")));
            }
            out.push(decoded);
        }
        Ok(out)
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

    fn open(dir: &std::path::Path) -> HeaderStore {
        open_unsynced(dir)
    }

    /// A store holding `chain` (index = height) as its best chain, in one change.
    fn store_with(dir: &std::path::Path, chain: &[Header]) -> HeaderStore {
        let store = open(dir);
        store
            .apply(&[PersistChain {
                fork_height: 0,
                rejoined: vec![],
                connected: chain[1..].to_vec(),
                side: vec![],
                tip_work: work_of(chain),
            }])
            .unwrap();
        store
    }

    fn reorg(best: &[Header], fork: usize, branch: &[Header]) -> PersistChain {
        PersistChain {
            fork_height: fork as u32,
            rejoined: vec![],
            connected: branch.to_vec(),
            side: vec![],
            tip_work: work_of(&best[..=fork]) + work_of(branch),
        }
    }

    fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
        match result {
            Err(StoreError::Corrupt { .. }) => {}
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn snapshot_reads_agree_with_the_store() {
        let chain = headway_regtest::chain(3000, 1);
        let branch = headway_regtest::mine(&chain[2900], 120, 2); // heights 2901..=3020
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &chain);
        store.apply(&[reorg(&chain, 2900, &branch)]).unwrap();
        let best: Vec<Header> = chain[..=2900].iter().chain(&branch).copied().collect();
        let (loaded_best, loaded_side) = store.load().unwrap();
        assert_eq!(loaded_best, best);

        store
            .snapshot(|snap| {
                assert_eq!(snap.tip()?, (3020, branch[119].block_hash()));
                assert_eq!(snap.tip_work()?, work_of(&best));
                assert_eq!(snap.header_at(0)?, Some(chain[0]));
                assert_eq!(snap.header_at(3020)?, Some(branch[119]));
                assert_eq!(snap.header_at(3021)?, None);
                let side = &chain[2950];
                assert_eq!(snap.entry(&side.block_hash())?, Some((2950, *side, false)));
                assert_eq!(
                    snap.entry(&best[1500].block_hash())?,
                    Some((1500, best[1500], true))
                );
                assert_eq!(snap.entry(&BlockHash::from_byte_array([7; 32]))?, None);

                let mut seen = Vec::new();
                snap.for_each_best(0, u32::MAX, |height, header| {
                    assert_eq!(height as usize, seen.len());
                    seen.push(*header);
                    Ok(())
                })?;
                assert_eq!(seen, best);
                let mut middle = Vec::new();
                snap.for_each_best(1000, 1009, |height, header| {
                    middle.push((height, *header));
                    Ok(())
                })?;
                assert_eq!(
                    middle,
                    (1000..=1009)
                        .map(|h| (h, best[h as usize]))
                        .collect::<Vec<_>>()
                );
                let mut none = 0;
                snap.for_each_best(3021, 4000, |_, _| {
                    none += 1;
                    Ok(())
                })?;
                snap.for_each_best(10, 9, |_, _| {
                    none += 1;
                    Ok(())
                })?;
                assert_eq!(none, 0);

                let mut side_headers = snap.side_headers()?;
                side_headers.sort_by_key(|(h, _)| *h);
                assert_eq!(side_headers, loaded_side);
                assert_eq!(side_headers.len(), 100); // old heights 2901..=3000
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_callback_error_stops_the_walk_and_comes_back_unchanged() {
        let chain = headway_regtest::chain(50, 1);
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &chain);
        let mut calls = 0;
        let result = store.snapshot(|snap| {
            snap.for_each_best(0, 50, |height, _| {
                calls += 1;
                if height == 9 {
                    return Err(StoreError::Callback("stop".into()));
                }
                Ok(())
            })
        });
        assert!(matches!(result, Err(StoreError::Callback(m)) if m == "stop"));
        assert_eq!(calls, 10);
    }

    #[test]
    fn a_snapshot_keeps_its_state_while_the_writer_reorgs() {
        let chain = headway_regtest::chain(200, 1);
        let branch = headway_regtest::mine(&chain[150], 60, 2); // heights 151..=210
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &chain);
        store
            .snapshot(|snap| {
                assert_eq!(snap.tip()?, (200, chain[200].block_hash()));
                // The writer does not wait for readers: the reorg commits while we read.
                std::thread::scope(|s| {
                    s.spawn(|| store.apply(&[reorg(&chain, 150, &branch)]).unwrap())
                        .join()
                        .unwrap()
                });
                assert_eq!(store.tip().unwrap().unwrap().height, 210);
                assert_eq!(snap.tip()?, (200, chain[200].block_hash()));
                assert_eq!(snap.tip_work()?, work_of(&chain));
                assert_eq!(snap.header_at(180)?, Some(chain[180]));
                assert_eq!(snap.header_at(205)?, None);
                assert_eq!(
                    snap.entry(&chain[180].block_hash())?,
                    Some((180, chain[180], true))
                );
                assert_eq!(snap.entry(&branch[0].block_hash())?, None);
                assert!(snap.side_headers()?.is_empty());
                Ok(())
            })
            .unwrap();
        store
            .snapshot(|snap| {
                assert_eq!(snap.tip()?.0, 210);
                assert_eq!(
                    snap.entry(&chain[180].block_hash())?,
                    Some((180, chain[180], false))
                );
                assert_eq!(snap.side_headers()?.len(), 50);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let chain = headway_regtest::chain(20, 1);
        let side = headway_regtest::mine(&chain[10], 1, 2)[0];
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), &chain);
        store
            .apply(&[PersistChain {
                fork_height: 20,
                rejoined: vec![],
                connected: vec![],
                side: vec![(11, side)],
                tip_work: work_of(&chain),
            }])
            .unwrap();
        let damage = |f: &dyn Fn(&mut heed::RwTxn) -> Result<(), heed::Error>| {
            store.write(|txn| Ok(f(txn)?)).unwrap();
        };

        // A best-chain group that is not whole headers.
        let group0 = layout::height_key(0);
        let good_group = store.snapshot(|s| {
            let mut out = Vec::new();
            s.for_each_best(0, 20, |_, h| {
                out.extend_from_slice(&layout::encode_header(h));
                Ok(())
            })?;
            Ok(out)
        });
        let good_group = good_group.unwrap();
        damage(&|txn| store.best.put(txn, &group0, &good_group[..83]));
        assert_corrupt(store.snapshot(|s| s.header_at(0)), "header_at");
        assert_corrupt(
            store.snapshot(|s| s.entry(&chain[0].block_hash())),
            "entry of a malformed best header",
        );
        assert_corrupt(
            store.snapshot(|s| s.for_each_best(0, 20, |_, _| Ok(()))),
            "for_each_best over a malformed group",
        );

        // The chain ending before the tip, and a group missing in the middle.
        damage(&|txn| store.best.put(txn, &group0, &good_group[..80 * 20]));
        assert_corrupt(
            store.snapshot(|s| s.for_each_best(15, 20, |_, _| Ok(()))),
            "for_each_best with the tip missing",
        );
        let long = headway_regtest::mine(&chain[20], 40, 1); // heights 21..=60, groups 0 and 1
        damage(&|txn| store.best.put(txn, &group0, &good_group));
        store
            .apply(&[PersistChain {
                fork_height: 20,
                rejoined: vec![],
                connected: long.clone(),
                side: vec![],
                tip_work: work_of(&chain) + work_of(&long),
            }])
            .unwrap();
        let long_group = store.snapshot(|s| {
            let mut out = Vec::new();
            s.for_each_best(0, 50, |_, h| {
                out.extend_from_slice(&layout::encode_header(h));
                Ok(())
            })?;
            Ok(out)
        });
        let long_group = long_group.unwrap();
        damage(&|txn| store.best.delete(txn, &group0).map(|_| ()));
        assert_corrupt(
            store.snapshot(|s| s.for_each_best(10, 55, |_, _| Ok(()))),
            "for_each_best with a gap",
        );
        assert_corrupt(
            store.snapshot(|s| s.entry(&long[10].block_hash())),
            "a tail header whose group is gone",
        );
        damage(&|txn| store.best.put(txn, &group0, &long_group));

        // An index entry that names the wrong height is no answer (the full hash is checked):
        // the header is found where it is (in the unindexed tail here), and verify reports
        // the entry.
        damage(&|txn| {
            let hash = chain[3].block_hash();
            let value = partition_value(&[layout::index_entry(4, &hash)]);
            store.index.put(txn, &layout::partition_key(0), &value)
        });
        assert_eq!(
            store.snapshot(|s| s.entry(&chain[3].block_hash())).unwrap(),
            Some((3, chain[3], true))
        );
        let report = store.verify().unwrap();
        assert!(report
            .problems
            .iter()
            .any(|p| p.contains("hash index holds 1 partitions")));

        // A side header stored under another hash.
        damage(&|txn| {
            let wrong = side.block_hash();
            store.side.put(
                txn,
                &layout::hash_key(&wrong),
                &layout::side_value(11, &chain[11]),
            )
        });
        assert_corrupt(
            store.snapshot(|s| s.entry(&side.block_hash())),
            "side under another hash",
        );

        // A malformed side value, and a malformed tip and work record.
        damage(&|txn| {
            store
                .side
                .put(txn, &layout::hash_key(&side.block_hash()), &[0; 10])
        });
        assert_corrupt(store.snapshot(|s| s.side_headers()), "side_headers");
        assert_corrupt(
            store.snapshot(|s| s.entry(&side.block_hash())),
            "malformed side",
        );
        damage(&|txn| store.meta.put(txn, layout::META_TIP, &[0; 5]));
        assert_corrupt(store.snapshot(|s| s.tip()), "tip");
        damage(&|txn| store.meta.put(txn, layout::META_WORK, &[0; 5]));
        assert_corrupt(store.snapshot(|s| s.tip_work()), "tip_work");
    }
}
