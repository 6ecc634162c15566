//! The address book in the store: round trips across reopen, read-only opens, the combined
//! header-and-book transaction, refusals, map growth, and stores written before the book
//! existed (the `schema1-regtest-100` fixture, see its README).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use headway_core::addrbook::{AddrBookChange, AddrBookKey, AddrRecord, StoredAddrBook};
use headway_core::bitcoin::BlockHash;
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{HeaderStore, StoreError, StoreOptions, ADDR_BOOK_MAX_VALUE_LEN};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, EnvOpenOptions};
use support::{appends, assert_consistent, fast_options, open_fast, regtest_chain};

/// The fixture's tip: height 100 of `headway_regtest::chain(100, 7)`.
const FIXTURE_TIP: &str = "5c5d48bfeade5bdd822d7d6122d548d03245a22ed30e29479620ed7dec494d4b";

/// An IPv4 record (BIP155 id 1, 4 address bytes, port) for `i`, with a `len`-byte value.
fn record(i: u32, len: usize, salt: u8) -> AddrRecord {
    let mut key = vec![1];
    key.extend_from_slice(&i.to_be_bytes());
    key.extend_from_slice(&8333u16.to_be_bytes());
    let value = (0..len)
        .map(|j| (j as u8).wrapping_mul(31) ^ (i as u8) ^ salt)
        .collect();
    AddrRecord { key, value }
}

fn secret(byte: u8) -> AddrBookKey {
    AddrBookKey::from_bytes([byte; 32])
}

/// Copies the fixture into a fresh temporary directory.
fn fixture_copy() -> tempfile::TempDir {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1-regtest-100");
    let dir = tempfile::tempdir().unwrap();
    fs::copy(fixture.join("data.mdb"), dir.path().join("data.mdb")).unwrap();
    dir
}

/// The fixture's headers are all there: 101 best headers to the recorded tip, nothing else.
fn assert_fixture_headers(store: &HeaderStore) {
    let tip = store.tip().unwrap().unwrap();
    assert_eq!(tip.height, 100);
    assert_eq!(tip.hash, BlockHash::from_str(FIXTURE_TIP).unwrap());
    let (best, side) = store.load().unwrap();
    assert_eq!(best.len(), 101);
    assert!(side.is_empty());
    assert_eq!(best[100].block_hash(), tip.hash);
    assert_eq!(store.header_at(100).unwrap(), Some(tip.header));
    let chain = store.load_chain().unwrap();
    assert_eq!(chain.tip_hash(), tip.hash);
    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{:#?}", report.problems);
    assert_eq!(report.best_headers, 101);
    assert_eq!(report.side_headers, 0);
}

fn data_file(dir: &Path) -> Vec<u8> {
    fs::read(dir.join("data.mdb")).unwrap()
}

#[test]
fn a_new_store_has_an_empty_book() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    assert_eq!(store.load_addr_book().unwrap(), StoredAddrBook::default());
    drop(store);
    let read_only = HeaderStore::open_read_only(dir.path()).unwrap();
    assert_eq!(
        read_only.load_addr_book().unwrap(),
        StoredAddrBook::default()
    );
}

#[test]
fn records_and_key_round_trip_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    let first = AddrBookChange {
        key: Some(secret(7)),
        upsert: vec![record(3, 40, 0), record(1, 40, 0), record(2, 40, 0)],
        remove: vec![],
    };
    store.write_addr_book(&first).unwrap();
    let loaded = store.load_addr_book().unwrap();
    assert_eq!(loaded.key, Some(secret(7)));
    // In key order, whatever the change's order.
    assert_eq!(
        loaded.records,
        vec![record(1, 40, 0), record(2, 40, 0), record(3, 40, 0)]
    );

    // Replace 2 (twice in one change: the later wins), remove 1, add 4.
    let second = AddrBookChange {
        key: None,
        upsert: vec![record(2, 50, 1), record(4, 30, 0), record(2, 55, 2)],
        remove: vec![record(1, 0, 0).key],
    };
    store.write_addr_book(&second).unwrap();
    let expected = StoredAddrBook {
        key: Some(secret(7)),
        records: vec![record(2, 55, 2), record(3, 40, 0), record(4, 30, 0)],
    };
    assert_eq!(store.load_addr_book().unwrap(), expected);
    assert_consistent(&store);
    drop(store);

    let store = open_fast(dir.path(), Network::Regtest);
    assert_eq!(store.load_addr_book().unwrap(), expected);
    drop(store);
    let read_only = HeaderStore::open_read_only(dir.path()).unwrap();
    assert_eq!(read_only.load_addr_book().unwrap(), expected);
    assert_consistent(&read_only);
}

#[test]
fn removing_a_missing_key_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store
        .write_addr_book(&AddrBookChange {
            key: None,
            upsert: vec![record(1, 20, 0)],
            remove: vec![],
        })
        .unwrap();
    store
        .write_addr_book(&AddrBookChange {
            key: None,
            upsert: vec![],
            remove: vec![record(99, 0, 0).key, record(98, 0, 0).key],
        })
        .unwrap();
    let loaded = store.load_addr_book().unwrap();
    assert_eq!(loaded.records, vec![record(1, 20, 0)]);
    assert_eq!(loaded.key, None);
}

#[test]
fn a_key_removed_and_upserted_in_one_change_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store
        .write_addr_book(&AddrBookChange {
            key: None,
            upsert: vec![record(5, 20, 1)],
            remove: vec![record(5, 0, 0).key],
        })
        .unwrap();
    assert_eq!(
        store.load_addr_book().unwrap().records,
        vec![record(5, 20, 1)]
    );
}

#[test]
fn a_change_with_only_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    let only_key = |byte| AddrBookChange {
        key: Some(secret(byte)),
        ..AddrBookChange::default()
    };
    store.write_addr_book(&only_key(1)).unwrap();
    assert_eq!(
        store.load_addr_book().unwrap(),
        StoredAddrBook {
            key: Some(secret(1)),
            records: vec![],
        }
    );
    store.write_addr_book(&only_key(2)).unwrap();
    assert_eq!(store.load_addr_book().unwrap().key, Some(secret(2)));
    // An empty change writes nothing and succeeds.
    store.write_addr_book(&AddrBookChange::default()).unwrap();
    assert_eq!(store.load_addr_book().unwrap().key, Some(secret(2)));
    assert_consistent(&store);
}

#[test]
fn a_big_change_grows_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        initial_map_size: 256 << 10,
        ..fast_options()
    };
    let store = HeaderStore::open_with(dir.path(), Network::Regtest, &options).unwrap();
    let before = store.map_size();
    let records: Vec<AddrRecord> = (0..82_000).map(|i| record(i * 7919, 60, 3)).collect();
    store
        .write_addr_book(&AddrBookChange {
            key: Some(secret(9)),
            upsert: records.clone(),
            remove: vec![],
        })
        .unwrap();
    assert!(
        store.map_size() >= 8 * before,
        "map grew from {before} only to {}",
        store.map_size()
    );
    let mut sorted = records;
    sorted.sort();
    let loaded = store.load_addr_book().unwrap();
    assert_eq!(loaded.key, Some(secret(9)));
    assert!(loaded.records == sorted, "records differ after the write");
    assert_consistent(&store);
    drop(store);

    let store = HeaderStore::open_with(dir.path(), Network::Regtest, &options).unwrap();
    let loaded = store.load_addr_book().unwrap();
    assert_eq!(loaded.records.len(), 82_000);
    assert!(loaded.records == sorted, "records differ after reopen");
}

#[test]
fn headers_and_book_commit_together() {
    let chain = regtest_chain(30, 1);
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    let change = AddrBookChange {
        key: Some(secret(4)),
        upsert: vec![record(1, 30, 0)],
        remove: vec![],
    };
    store
        .apply_with_addr_book(&appends(&chain, 1, 20, 10), &change)
        .unwrap();
    assert_eq!(store.tip().unwrap().unwrap().height, 19);
    assert_eq!(
        store.load_addr_book().unwrap().records,
        vec![record(1, 30, 0)]
    );

    // A header batch that does not fit: the book change in the same call is not written either.
    let misfit = vec![PersistChain {
        fork_height: 25,
        rejoined: vec![],
        connected: chain[26..].to_vec(),
        side: vec![],
        tip_work: support::work_of(&chain),
    }];
    let bigger = AddrBookChange {
        key: None,
        upsert: vec![record(2, 30, 0)],
        remove: vec![record(1, 0, 0).key],
    };
    let err = store.apply_with_addr_book(&misfit, &bigger).unwrap_err();
    assert!(matches!(err, StoreError::Mismatch(_)), "{err:?}");
    assert_eq!(
        store.load_addr_book().unwrap().records,
        vec![record(1, 30, 0)]
    );
    assert_eq!(store.tip().unwrap().unwrap().height, 19);

    // Either part alone.
    store.apply_with_addr_book(&[], &bigger).unwrap();
    assert_eq!(
        store.load_addr_book().unwrap().records,
        vec![record(2, 30, 0)]
    );
    store
        .apply_with_addr_book(&appends(&chain, 20, 31, 10), &AddrBookChange::default())
        .unwrap();
    assert_eq!(store.tip().unwrap().unwrap().height, 30);
    assert_consistent(&store);
}

#[test]
fn bad_changes_are_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store
        .write_addr_book(&AddrBookChange {
            key: Some(secret(1)),
            upsert: vec![record(1, 10, 0)],
            remove: vec![],
        })
        .unwrap();
    let before = store.load_addr_book().unwrap();
    let good = record(2, 10, 0);
    let bad_changes = [
        // A record that would overwrite the secret.
        AddrRecord {
            key: b"\x00secret".to_vec(),
            value: vec![0; 32],
        },
        AddrRecord {
            key: vec![],
            value: vec![1],
        },
        AddrRecord {
            key: vec![2; 600],
            value: vec![1],
        },
        AddrRecord {
            key: vec![1, 2, 3],
            value: vec![0; ADDR_BOOK_MAX_VALUE_LEN + 1],
        },
    ];
    for bad in bad_changes {
        let change = AddrBookChange {
            key: Some(secret(2)),
            upsert: vec![good.clone(), bad],
            remove: vec![],
        };
        let err = store.write_addr_book(&change).unwrap_err();
        assert!(matches!(err, StoreError::BadAddrChange(_)), "{err:?}");
        assert!(!err.to_string().contains('\n'));
        let err = store.apply_with_addr_book(&[], &change).unwrap_err();
        assert!(matches!(err, StoreError::BadAddrChange(_)), "{err:?}");
    }
    let remove_secret = AddrBookChange {
        key: None,
        upsert: vec![],
        remove: vec![b"\x00secret".to_vec()],
    };
    let err = store.write_addr_book(&remove_secret).unwrap_err();
    assert!(matches!(err, StoreError::BadAddrChange(_)), "{err:?}");
    assert_eq!(store.load_addr_book().unwrap(), before);
    // A value of exactly the bound is fine.
    store
        .write_addr_book(&AddrBookChange {
            key: None,
            upsert: vec![record(3, ADDR_BOOK_MAX_VALUE_LEN, 0)],
            remove: vec![],
        })
        .unwrap();
    assert_eq!(store.load_addr_book().unwrap().records.len(), 2);
}

#[test]
fn a_read_only_store_refuses_book_writes() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_fast(dir.path(), Network::Regtest));
    let before = data_file(dir.path());
    let store = HeaderStore::open_read_only(dir.path()).unwrap();
    let change = AddrBookChange {
        key: Some(secret(1)),
        upsert: vec![record(1, 10, 0)],
        remove: vec![],
    };
    let err = store.write_addr_book(&change).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly), "{err:?}");
    let err = store.apply_with_addr_book(&[], &change).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly), "{err:?}");
    drop(store);
    assert!(data_file(dir.path()) == before, "data file changed");
}

#[test]
fn a_malformed_stored_secret_is_ignored_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store
        .write_addr_book(&AddrBookChange {
            key: Some(secret(1)),
            upsert: vec![record(1, 10, 0)],
            remove: vec![],
        })
        .unwrap();
    drop(store);
    {
        // Damage written behind the store's back: a short secret and a stray reserved key.
        let env = unsafe { EnvOpenOptions::new().max_dbs(8).open(dir.path()) }.unwrap();
        let txn = env.write_txn().unwrap();
        env.create_databases_and_commit(txn, |opener, txn| {
            let db: Database<Bytes, Bytes> = opener.create_database(txn, Some("addrbook"))?;
            db.put(txn, b"\x00secret", &[1; 31])?;
            db.put(txn, b"\x00other", b"x")?;
            Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
        })
        .unwrap();
    }
    let store = HeaderStore::open_read_only(dir.path()).unwrap();
    let loaded = store.load_addr_book().unwrap();
    assert_eq!(loaded.key, None);
    assert_eq!(loaded.records, vec![record(1, 10, 0)]);
    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 2, "{:#?}", report.problems);
    assert!(report
        .problems
        .iter()
        .any(|p| p.contains("secret is 31 bytes")));
    assert!(report.problems.iter().any(|p| p.contains("reserved key")));
}

#[test]
fn a_store_written_before_the_book_gains_it() {
    let dir = fixture_copy();
    let store = open_fast(dir.path(), Network::Regtest);
    assert_fixture_headers(&store);
    assert_eq!(store.load_addr_book().unwrap(), StoredAddrBook::default());
    let change = AddrBookChange {
        key: Some(secret(5)),
        upsert: vec![record(10, 60, 0), record(11, 60, 0)],
        remove: vec![],
    };
    store.write_addr_book(&change).unwrap();
    let expected = StoredAddrBook {
        key: Some(secret(5)),
        records: vec![record(10, 60, 0), record(11, 60, 0)],
    };
    assert_eq!(store.load_addr_book().unwrap(), expected);
    assert_fixture_headers(&store);
    drop(store);

    let store = open_fast(dir.path(), Network::Regtest);
    assert_fixture_headers(&store);
    assert_eq!(store.load_addr_book().unwrap(), expected);
    drop(store);
    let read_only = HeaderStore::open_read_only(dir.path()).unwrap();
    assert_fixture_headers(&read_only);
    assert_eq!(read_only.load_addr_book().unwrap(), expected);
}

#[test]
fn a_read_only_open_of_a_store_without_the_book_asks_for_the_migration_first() {
    // The fixture is schema 1: a read-only open refuses it in one line and writes nothing;
    // the read-write open migrates it (and adds the book), after which read-only works.
    let dir = fixture_copy();
    let before = data_file(dir.path());
    let err = HeaderStore::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NeedsMigration { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains('\n') && text.contains("schema version 1"),
        "{text}"
    );
    assert!(
        data_file(dir.path()) == before,
        "a read-only open wrote the data file"
    );
    drop(open_fast(dir.path(), Network::Regtest));
    let store = HeaderStore::open_read_only(dir.path()).unwrap();
    assert_fixture_headers(&store);
    assert_eq!(store.load_addr_book().unwrap(), StoredAddrBook::default());
    let err = store
        .write_addr_book(&AddrBookChange {
            key: Some(secret(1)),
            ..AddrBookChange::default()
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly), "{err:?}");
    drop(store);

    // Header writes keep working on the upgraded store, beside the book.
    let store = open_fast(dir.path(), Network::Regtest);
    assert_eq!(store.load_addr_book().unwrap(), StoredAddrBook::default());
    let (best, _) = store.load().unwrap();
    let mut chain = best;
    chain.extend(headway_regtest::mine(&chain[100], 5, 9));
    store.apply(&appends(&chain, 101, 106, 5)).unwrap();
    assert_eq!(store.tip().unwrap().unwrap().height, 105);
    assert_consistent(&store);
}
