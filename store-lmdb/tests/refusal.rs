//! Directories the store must refuse, and that it must leave exactly as they were.

mod support;

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use headway_core::Network;
use headway_store_lmdb::{HeaderStore, StoreError, META_SCHEMA, SCHEMA_VERSION};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, EnvOpenOptions};
use support::{appends, mainnet_headers, open_fast};

/// The data file's bytes and modification time.
fn snapshot(dir: &Path) -> (Vec<u8>, SystemTime) {
    let path = dir.join("data.mdb");
    (
        fs::read(&path).unwrap(),
        fs::metadata(&path).unwrap().modified().unwrap(),
    )
}

fn assert_one_line(e: &StoreError) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "multi-line message: {text}");
    assert!(text.contains(": "), "message says nothing to do: {text}");
}

#[test]
fn another_networks_directory_is_refused_untouched() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_fast(dir.path(), Network::Mainnet);
        store.apply(&appends(&chain, 1, 3000, 2000)).unwrap();
    }
    let before = snapshot(dir.path());

    let err = HeaderStore::open(dir.path(), Network::Regtest).unwrap_err();
    match &err {
        StoreError::WrongNetwork { found, wanted, .. } => {
            assert_eq!(found, "mainnet");
            assert_eq!(*wanted, Network::Regtest);
        }
        other => panic!("expected WrongNetwork, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains("created for mainnet, not regtest"), "{text}");
    assert!(text.contains("--network mainnet"), "{text}");
    assert_one_line(&err);
    assert!(snapshot(dir.path()) == before, "data file changed");

    let store = HeaderStore::open(dir.path(), Network::Mainnet).unwrap();
    assert_eq!(store.tip().unwrap().unwrap().height, 2999);
    drop(store);
    let read_only = HeaderStore::open_read_only(dir.path()).unwrap();
    assert_eq!(read_only.network(), Network::Mainnet);
}

#[test]
fn an_unknown_schema_version_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_fast(dir.path(), Network::Regtest));
    {
        // What a future headway with another layout would have written.
        let env = unsafe { EnvOpenOptions::new().max_dbs(8).open(dir.path()) }.unwrap();
        let txn = env.write_txn().unwrap();
        env.create_databases_and_commit(txn, |opener, txn| {
            let meta: Database<Bytes, Bytes> = opener.create_database(txn, Some("meta"))?;
            meta.put(txn, META_SCHEMA, &(SCHEMA_VERSION + 98).to_be_bytes())?;
            Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
        })
        .unwrap();
    }
    let before = snapshot(dir.path());

    let err = HeaderStore::open(dir.path(), Network::Regtest).unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownSchema { found, supported, .. }
            if found == SCHEMA_VERSION + 98 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert_one_line(&err);
    let err = HeaderStore::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::UnknownSchema { .. }), "{err:?}");
    assert!(snapshot(dir.path()) == before, "data file changed");
}

#[test]
fn read_only_open_without_a_store_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let err = HeaderStore::open_read_only(&missing).unwrap_err();
    assert!(matches!(err, StoreError::NoStore { .. }), "{err:?}");
    assert_one_line(&err);
    assert!(!missing.exists());

    let err = HeaderStore::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NoStore { .. }), "{err:?}");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "files were created"
    );
}

#[test]
fn a_garbage_data_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..65_536u32).map(|i| (i * 7 + 3) as u8).collect();
    fs::write(dir.path().join("data.mdb"), &garbage).unwrap();
    let before = snapshot(dir.path());

    let err = HeaderStore::open(dir.path(), Network::Mainnet).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert_one_line(&err);
    let err = HeaderStore::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(snapshot(dir.path()) == before, "data file changed");
}

#[test]
fn another_programs_lmdb_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let env = unsafe { EnvOpenOptions::new().max_dbs(8).open(dir.path()) }.unwrap();
        let txn = env.write_txn().unwrap();
        env.create_databases_and_commit(txn, |opener, txn| {
            let db: Database<Bytes, Bytes> = opener.create_database(txn, Some("other"))?;
            db.put(txn, b"key", b"value")?;
            Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
        })
        .unwrap();
    }
    let before = snapshot(dir.path());
    let err = HeaderStore::open(dir.path(), Network::Mainnet).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert_one_line(&err);
    assert!(snapshot(dir.path()) == before, "data file changed");
}

#[test]
fn a_read_only_store_refuses_writes() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    drop(open_fast(dir.path(), Network::Mainnet));
    let before = snapshot(dir.path());
    let store = HeaderStore::open_read_only(dir.path()).unwrap();
    let err = store.apply(&appends(&chain, 1, 10, 2000)).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly), "{err:?}");
    assert_eq!(store.tip().unwrap().unwrap().height, 0);
    drop(store);
    assert!(snapshot(dir.path()) == before, "data file changed");
}
