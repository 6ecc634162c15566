//! Stores whose contents break the layout (short values, wrong lengths, a tip record far above
//! the stored chain): every read and write path must answer with an error, never a panic or an
//! abort, and must not write.

mod support;

use std::path::Path;

use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::BlockHash;
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{HeaderStore, StoreError};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, EnvOpenOptions, RwTxn};
use support::{appends, mine, open_fast, regtest_chain, work_of};

/// A regtest store with a best chain of heights 0..=10 and one side header at height 6.
fn good_store(dir: &Path) -> Vec<headway_core::bitcoin::block::Header> {
    let chain = regtest_chain(10, 1);
    let side = mine(&chain[5], 1, 2);
    let store = open_fast(dir, Network::Regtest);
    store.apply(&appends(&chain, 1, chain.len(), 2000)).unwrap();
    store
        .apply(&[PersistChain {
            fork_height: 10,
            rejoined: vec![],
            connected: vec![],
            side: vec![(6, side[0])],
            tip_work: work_of(&chain),
        }])
        .unwrap();
    chain
}

/// Writes raw bytes into the named database `db` of the closed store in `dir`.
fn damage(dir: &Path, db: &str, write: impl FnOnce(&mut RwTxn, Database<Bytes, Bytes>)) {
    // SAFETY: the store is closed; nothing else in this process has the environment open.
    let env = unsafe { EnvOpenOptions::new().max_dbs(8).open(dir) }.unwrap();
    let txn = env.write_txn().unwrap();
    env.create_databases_and_commit(txn, |opener, txn| {
        let database: Database<Bytes, Bytes> = opener.create_database(txn, Some(db))?;
        write(txn, database);
        Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
    })
    .unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Corrupt { .. }) => {}
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_tip_record_far_above_the_chain_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let chain = good_store(dir.path());
    damage(dir.path(), "meta", |txn, meta| {
        let mut tip = [0u8; 36];
        tip[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        tip[4..].copy_from_slice(&chain[10].block_hash().to_byte_array());
        meta.put(txn, b"tip", &tip).unwrap();
    });
    let store = open_fast(dir.path(), Network::Regtest);
    // `load` once reserved room for `tip + 1` headers up front: 343 GB, an allocation abort.
    assert_corrupt(store.load(), "load");
    assert_corrupt(store.load_chain(), "load_chain");
    assert_corrupt(store.tip(), "tip");
    let report = store.verify().unwrap();
    assert!(!report.is_consistent());
    let err = store
        .apply(&appends(&regtest_chain(12, 1), 11, 13, 2000))
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn short_values_are_errors_on_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    let chain = good_store(dir.path());
    // Schema 2 (see layout.rs): group 0 of `headers` holds heights 0..=10; one byte short
    // is no longer whole headers.
    damage(dir.path(), "headers", |txn, headers| {
        headers
            .put(txn, &0u32.to_be_bytes(), &[7u8; 11 * 80 - 1])
            .unwrap();
    });
    // A `hash_index` partition that is not a complete one (6-byte entries, 65,536 of them).
    damage(dir.path(), "hash_index", |txn, index| {
        index.put(txn, &0u16.to_be_bytes(), &[7u8; 11]).unwrap();
    });
    damage(dir.path(), "meta", |txn, meta| {
        meta.put(txn, b"work", &[1u8; 5]).unwrap();
    });
    let store = open_fast(dir.path(), Network::Regtest);
    assert_corrupt(store.load(), "load");
    assert_corrupt(store.header_at(4), "header_at");
    assert_corrupt(store.header_by_hash(&chain[8].block_hash()), "by hash");
    assert_corrupt(store.tip(), "tip");
    assert_corrupt(store.for_each_best(0, 10, |_, _| Ok(())), "for_each_best");
    let report = store.verify().unwrap();
    assert!(report
        .problems
        .iter()
        .any(|p| p.contains("group 0 holds 879 bytes")));
    // A reorg below the damaged height reads the short header to move it aside.
    let branch = mine(&chain[2], 9, 3);
    let err = store
        .apply(&[PersistChain {
            fork_height: 2,
            rejoined: vec![],
            connected: branch,
            side: vec![],
            tip_work: work_of(&chain),
        }])
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    drop(store);
    // Nothing of the failed apply was written: the tip is where it was, the branch unknown.
    let store = HeaderStore::open_read_only(dir.path()).unwrap();
    let tip = store.snapshot(|s| s.tip()).unwrap();
    assert_eq!(tip, (10, chain[10].block_hash()));
    assert_eq!(store.snapshot(|s| s.side_headers()).unwrap().len(), 1);
}

#[test]
fn a_malformed_side_value_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    good_store(dir.path());
    let stray = BlockHash::all_zeros();
    damage(dir.path(), "side", |txn, side| {
        side.put(txn, stray.as_byte_array(), &[1, 2, 3]).unwrap();
    });
    let store = open_fast(dir.path(), Network::Regtest);
    assert_corrupt(store.load(), "load");
    let report = store.verify().unwrap();
    assert!(report
        .problems
        .iter()
        .any(|p| p.contains("malformed side header")));
}
