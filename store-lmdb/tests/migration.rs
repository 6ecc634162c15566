//! The migration of schema-1, schema-2 and schema-3 stores to schema 4 at a read-write open:
//! everything survives (best chain, side headers, tip, work, lookups by hash, the address
//! book), the old databases are gone afterwards, a stale partial copy is started over, and a
//! read-only open of an old store is refused in one line without writing; the open that
//! migrates compacts the data file, and one that finds a compaction cut short does it again.
//! The kill tests are in `migration_crash.rs`.

mod support;

use std::path::Path;

use headway_core::addrbook::{AddrBookChange, AddrBookKey};
use headway_core::bitcoin::block::Header;
use headway_core::Network;
use headway_store_lmdb::{HeaderStore, StoreError, SCHEMA_VERSION};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, EnvOpenOptions};
use support::schema1::{self, side_branch, synthetic_chain};
use support::schema3;
use support::{appends, assert_consistent, data_len, open_fast, work_of, COMPACT_FILE};

/// Checks a migrated (or any current) store against what was written.
fn assert_migrated(store: &HeaderStore, best: &[Header], side: &[(u32, Header)]) {
    assert_consistent(store);
    let (loaded, mut loaded_side) = store.load().unwrap();
    assert!(loaded == best, "best chain differs");
    let mut side = side.to_vec();
    side.sort_by_key(|(h, header)| (*h, header.block_hash()));
    loaded_side.sort_by_key(|(h, header)| (*h, header.block_hash()));
    assert_eq!(loaded_side, side);
    let tip = store.tip().unwrap().unwrap();
    assert_eq!(tip.height as usize, best.len() - 1);
    assert_eq!(tip.header, best[best.len() - 1]);
    assert_eq!(tip.work, work_of(best));
    for (height, header) in best.iter().enumerate() {
        assert_eq!(
            store.header_by_hash(&header.block_hash()).unwrap(),
            Some((height as u32, *header, true)),
            "by hash at {height}"
        );
    }
    for (height, header) in &side {
        assert_eq!(
            store.header_by_hash(&header.block_hash()).unwrap(),
            Some((*height, *header, false))
        );
    }
}

#[test]
fn a_schema_1_store_is_migrated_whole_at_a_read_write_open() {
    // Two chunks of 65,536 and a partial third; side headers near the tip.
    let best = synthetic_chain(Network::Mainnet, 140_000);
    let side = side_branch(&best, 139_990, 4);
    let dir = tempfile::tempdir().unwrap();
    schema1::write(dir.path(), Network::Mainnet, &best, &side);
    assert_eq!(schema1::schema(dir.path()), 1);
    let before = data_len(dir.path());

    let store = open_fast(dir.path(), Network::Mainnet);
    assert_migrated(&store, &best, &side);
    // Compacted: LMDB alone would keep the file at its schema-1 size.
    let after = data_len(dir.path());
    assert!(
        after * 2 < before,
        "data file {before} bytes before the migration, {after} after"
    );
    assert!(
        after < 100 * best.len() as u64,
        "{after} bytes for {} headers",
        best.len()
    );
    assert!(!dir.path().join(COMPACT_FILE).exists());
    // The store keeps working: further appends.
    let mut grown = best.clone();
    let more = synthetic_chain(Network::Mainnet, 140_010);
    assert_eq!(more[..grown.len()], grown[..]);
    grown = more;
    store
        .apply(&appends(&grown, 140_001, grown.len(), 4))
        .unwrap();
    assert_consistent(&store);
    drop(store);

    assert_eq!(schema1::schema(dir.path()), SCHEMA_VERSION);
    assert!(!schema1::has_database(dir.path(), "best"));
    assert!(!schema1::has_database(dir.path(), "index"));
    let read_only = HeaderStore::open_read_only(dir.path()).unwrap();
    assert_migrated(&read_only, &grown, &side);
}

#[test]
fn the_address_book_and_a_genesis_only_store_survive_the_migration() {
    let best = synthetic_chain(Network::Regtest, 0);
    let dir = tempfile::tempdir().unwrap();
    schema1::write(dir.path(), Network::Regtest, &best, &[]);
    {
        // A book written by a schema-1 build: the same database, untouched by the migration.
        let env = unsafe { EnvOpenOptions::new().max_dbs(8).open(dir.path()) }.unwrap();
        let txn = env.write_txn().unwrap();
        env.create_databases_and_commit(txn, |opener, txn| {
            let book: Database<Bytes, Bytes> = opener.create_database(txn, Some("addrbook"))?;
            book.put(txn, b"\x00secret", &[9u8; 32])?;
            Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
        })
        .unwrap();
    }
    let store = open_fast(dir.path(), Network::Regtest);
    assert_migrated(&store, &best, &[]);
    assert_eq!(
        store.load_addr_book().unwrap().key,
        Some(AddrBookKey::from_bytes([9; 32]))
    );
    store
        .write_addr_book(&AddrBookChange {
            key: Some(AddrBookKey::from_bytes([3; 32])),
            ..AddrBookChange::default()
        })
        .unwrap();
}

#[test]
fn a_read_only_open_of_a_schema_1_store_is_refused_untouched() {
    let best = synthetic_chain(Network::Mainnet, 500);
    let dir = tempfile::tempdir().unwrap();
    schema1::write(dir.path(), Network::Mainnet, &best, &[]);
    let before = std::fs::read(dir.path().join("data.mdb")).unwrap();
    let err = HeaderStore::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NeedsMigration { .. }), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.contains("schema version 1") && text.contains(": "),
        "{text}"
    );
    assert!(std::fs::read(dir.path().join("data.mdb")).unwrap() == before);
    // Another network is still refused first, and nothing is migrated then.
    let err = HeaderStore::open(dir.path(), Network::Regtest).unwrap_err();
    assert!(matches!(err, StoreError::WrongNetwork { .. }), "{err:?}");
    assert_eq!(schema1::schema(dir.path()), 1);
}

/// Writes raw entries into the `meta`, `headers` and `hashes` databases of the closed store
/// in `dir`.
fn poke(dir: &Path, f: impl FnOnce(&mut heed::RwTxn, [Database<Bytes, Bytes>; 3])) {
    let env = unsafe { EnvOpenOptions::new().max_dbs(8).open(dir) }.unwrap();
    let txn = env.write_txn().unwrap();
    env.create_databases_and_commit(txn, |opener, txn| {
        let dbs = ["meta", "headers", "hashes"].map(|name| opener.create_database(txn, Some(name)));
        let [meta, headers, hashes] = dbs;
        f(txn, [meta?, headers?, hashes?]);
        Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
    })
    .unwrap();
    env.prepare_for_closing().wait();
}

#[test]
fn a_partial_copy_of_another_chain_is_started_over() {
    // What a schema-1 build leaves when it reorged the store below a copy that a killed
    // migration had made: a progress record whose header below is no longer there.
    let best = synthetic_chain(Network::Mainnet, 70_000);
    let other = synthetic_chain(Network::Regtest, 100);
    let dir = tempfile::tempdir().unwrap();
    schema1::write(dir.path(), Network::Mainnet, &best, &[]);
    poke(dir.path(), |txn, [meta, headers, hashes]| {
        let mut group = Vec::new();
        for header in &other[..51] {
            group.extend_from_slice(&headway_core::bitcoin::consensus::serialize(header));
        }
        headers.put(txn, &0u32.to_be_bytes(), &group).unwrap();
        hashes.put(txn, &[0u8; 10], &[]).unwrap();
        let mut record = 51u32.to_be_bytes().to_vec();
        record.extend_from_slice(&[7u8; 32]);
        meta.put(txn, b"migration", &record).unwrap();
    });
    let store = open_fast(dir.path(), Network::Mainnet);
    assert_migrated(&store, &best, &[]);

    // And a copy without a record (never ours) is cleared too.
    let dir = tempfile::tempdir().unwrap();
    schema1::write(dir.path(), Network::Mainnet, &best[..1000], &[]);
    poke(dir.path(), |txn, [_, _, hashes]| {
        hashes.put(txn, &[1u8; 10], &[]).unwrap();
    });
    let store = open_fast(dir.path(), Network::Mainnet);
    assert_migrated(&store, &best[..1000], &[]);
}

#[test]
fn schema_2_and_3_stores_get_their_index_packed_and_become_schema_4() {
    // Two complete partitions of 65,536 heights and a tail above them; side headers.
    let best = synthetic_chain(Network::Mainnet, 140_000);
    let side = side_branch(&best, 139_990, 4);
    for schema in [2, 3] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open_fast(dir.path(), Network::Mainnet);
            store.apply(&appends(&best, 1, best.len(), 2000)).unwrap();
            store
                .apply(&[headway_core::PersistChain {
                    fork_height: best.len() as u32 - 1,
                    rejoined: vec![],
                    connected: vec![],
                    side: side.clone(),
                    tip_work: work_of(&best),
                }])
                .unwrap();
            assert_consistent(&store);
        }
        schema3::downgrade(dir.path(), &best, schema);
        schema3::assert_holds(dir.path(), &best, schema, 1);
        let err = HeaderStore::open_read_only(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::NeedsMigration { found, .. } if found == schema),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&format!(
                "schema version {schema}, which this headway upgrades to version {SCHEMA_VERSION}"
            )),
            "{err}"
        );
        assert_eq!(schema1::schema(dir.path()), schema);

        let before = data_len(dir.path());
        let store = open_fast(dir.path(), Network::Mainnet);
        assert_migrated(&store, &best, &side);
        drop(store);
        // The key-a-header index was about 14 bytes a header of the file: compacted away.
        let after = data_len(dir.path());
        assert!(
            after + 10 * best.len() as u64 <= before,
            "schema {schema}: data file {before} bytes before the migration, {after} after"
        );
        assert!(!dir.path().join(COMPACT_FILE).exists());
        assert_eq!(schema1::schema(dir.path()), SCHEMA_VERSION);
        assert!(!schema1::has_database(dir.path(), "hashes"));
        assert!(schema1::has_database(dir.path(), "hash_index"));
    }
    assert_eq!(SCHEMA_VERSION, 4);
}

#[test]
fn a_partial_copy_by_a_schema_3_build_is_started_over() {
    // A build of schema 3 that began migrating a schema-1 store left its copy of the first
    // partition: groups, its index in `hashes` (schema 3's keys), and a progress record that
    // matches the chain. Resumed as it is, partition 0 would never be indexed packed.
    let best = synthetic_chain(Network::Mainnet, 70_000);
    let dir = tempfile::tempdir().unwrap();
    schema1::write(dir.path(), Network::Mainnet, &best, &[]);
    let copied = 65_536;
    poke(dir.path(), |txn, [meta, headers, hashes]| {
        for (group, chunk) in best[..copied].chunks(51).enumerate() {
            let bytes: Vec<u8> = chunk
                .iter()
                .flat_map(headway_core::bitcoin::consensus::serialize)
                .collect();
            headers
                .put(txn, &(group as u32).to_be_bytes(), &bytes)
                .unwrap();
        }
        for (height, header) in best[..copied].iter().enumerate() {
            let key = schema3::key(height, &header.block_hash());
            hashes.put(txn, &key, &[]).unwrap();
        }
        let mut record = (copied as u32).to_be_bytes().to_vec();
        record.extend_from_slice(best[copied - 1].block_hash().as_ref());
        meta.put(txn, b"migration", &record).unwrap();
    });
    let store = open_fast(dir.path(), Network::Mainnet);
    assert_migrated(&store, &best, &[]);
    drop(store);
    assert!(!schema1::has_database(dir.path(), "hashes"));
}

/// A compaction cut short leaves its copy beside the data file: never read, and the next
/// read-write open removes it and compacts again; a read-only open leaves it alone.
#[test]
fn a_compaction_cut_short_is_done_again_at_the_next_open() {
    // Past the first partition, so that the lookups below do not all scan the tail.
    let best = synthetic_chain(Network::Mainnet, 70_000);
    let side = side_branch(&best, 69_990, 3);
    let dir = tempfile::tempdir().unwrap();
    schema1::write(dir.path(), Network::Mainnet, &best, &side);
    drop(open_fast(dir.path(), Network::Mainnet));
    let compacted = data_len(dir.path());
    // What a kill in the middle of the copy leaves: the start of a copy.
    let partial = std::fs::read(dir.path().join("data.mdb")).unwrap();
    std::fs::write(dir.path().join(COMPACT_FILE), &partial[..partial.len() / 3]).unwrap();

    let read_only = HeaderStore::open_read_only(dir.path()).unwrap();
    assert_migrated(&read_only, &best, &side);
    drop(read_only);
    assert!(
        dir.path().join(COMPACT_FILE).exists(),
        "a read-only open writes nothing"
    );

    let store = open_fast(dir.path(), Network::Mainnet);
    assert_migrated(&store, &best, &side);
    drop(store);
    assert!(!dir.path().join(COMPACT_FILE).exists());
    assert!(data_len(dir.path()) <= compacted);
    let store = open_fast(dir.path(), Network::Mainnet);
    assert_migrated(&store, &best, &side);
}
