//! Real mainnet headers through the store and back: load, tip, lookups, iteration, reopen.

mod support;

use headway_core::bitcoin::consensus::serialize;
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::BlockHash;
use headway_core::Network;
use headway_store_lmdb::{HeaderStore, StoreError};
use support::{appends, assert_consistent, mainnet_headers, open_fast, work_of};

#[test]
fn forty_thousand_mainnet_headers_round_trip_byte_identical() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    // The default options: the durability a node runs with.
    let store = HeaderStore::open(dir.path(), Network::Mainnet).unwrap();
    for group in appends(&chain, 1, chain.len(), 2000).chunks(5) {
        store.apply(group).unwrap();
    }

    let (best, side) = store.load().unwrap();
    assert!(side.is_empty());
    assert_eq!(best.len(), 40_000);
    let stored: Vec<u8> = best.iter().flat_map(serialize).collect();
    let original = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/testdata/mainnet-headers-0-39999.bin"),
    )
    .unwrap();
    assert!(stored == original, "loaded bytes differ from the file");

    let tip = store.tip().unwrap().expect("a tip");
    assert_eq!(tip.height, 39_999);
    assert_eq!(tip.hash, chain[39_999].block_hash());
    assert_eq!(tip.header, chain[39_999]);
    assert_eq!(tip.work, work_of(&chain));

    assert_eq!(
        store.header_at(0).unwrap(),
        Some(Network::Mainnet.params().genesis)
    );
    assert_eq!(store.header_at(33_333).unwrap(), Some(chain[33_333]));
    assert_eq!(
        store
            .header_at(33_333)
            .unwrap()
            .map(|h| h.block_hash().to_string()),
        Some("000000002dd5588a74784eaa7ab0507a18ad16a236e7b1ce69f00d7ddfb5d0a6".to_string())
    );
    assert_eq!(store.header_at(40_000).unwrap(), None);
    let h = chain[11_111].block_hash();
    assert_eq!(
        store.header_by_hash(&h).unwrap(),
        Some((11_111, chain[11_111], true))
    );
    assert_eq!(store.header_by_hash(&BlockHash::all_zeros()).unwrap(), None);

    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{:#?}", report.problems);
    assert_eq!(report.best_headers, 40_000);
    assert_eq!(report.side_headers, 0);
    assert_eq!(report.tip_height, 39_999);
}

#[test]
fn for_each_best_visits_the_range_in_order_clamped_to_the_tip() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Mainnet);
    store.apply(&appends(&chain, 1, 5000, 2000)).unwrap();

    let mut seen = Vec::new();
    store
        .for_each_best(4990, 60_000, |height, header| {
            seen.push((height, *header));
            Ok(())
        })
        .unwrap();
    let expected: Vec<_> = (4990..5000).map(|h| (h, chain[h as usize])).collect();
    assert_eq!(seen, expected);

    let mut count = 0;
    store
        .for_each_best(0, 4999, |_, _| {
            count += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(count, 5000);

    let mut none = 0;
    store
        .for_each_best(6000, 7000, |_, _| {
            none += 1;
            Ok(())
        })
        .unwrap();
    store
        .for_each_best(10, 9, |_, _| {
            none += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(none, 0);

    let mut visited = 0;
    let stopped = store.for_each_best(0, 100, |height, _| {
        visited += 1;
        if height == 3 {
            Err(StoreError::Callback("stop here".into()))
        } else {
            Ok(())
        }
    });
    assert!(matches!(stopped, Err(StoreError::Callback(_))));
    assert_eq!(visited, 4);
}

#[test]
fn reopen_resumes_where_it_left_off() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = HeaderStore::open(dir.path(), Network::Mainnet).unwrap();
        store.apply(&appends(&chain, 1, 20_000, 2000)).unwrap();
    }
    {
        let store = HeaderStore::open(dir.path(), Network::Mainnet).unwrap();
        let tip = store.tip().unwrap().unwrap();
        assert_eq!((tip.height, tip.hash), (19_999, chain[19_999].block_hash()));
        assert_eq!(tip.work, work_of(&chain[..20_000]));
        store.apply(&appends(&chain, 20_000, 40_000, 2000)).unwrap();
    }
    let store = HeaderStore::open(dir.path(), Network::Mainnet).unwrap();
    let (best, side) = store.load().unwrap();
    assert_eq!(best, chain);
    assert!(side.is_empty());
    assert_eq!(store.tip().unwrap().unwrap().work, work_of(&chain));
    assert_consistent(&store);
}

#[test]
fn a_new_store_holds_only_genesis() {
    for network in [Network::Mainnet, Network::Testnet4, Network::Regtest] {
        let dir = tempfile::tempdir().unwrap();
        let store = open_fast(dir.path(), network);
        let genesis = network.params().genesis;
        assert_eq!(store.network(), network);
        let tip = store.tip().unwrap().unwrap();
        assert_eq!(tip.height, 0);
        assert_eq!(tip.hash, genesis.block_hash());
        assert_eq!(tip.work, genesis.work());
        assert_eq!(store.load().unwrap(), (vec![genesis], vec![]));
        assert_eq!(
            store.header_by_hash(&genesis.block_hash()).unwrap(),
            Some((0, genesis, true))
        );
        assert_consistent(&store);
        // An empty apply is a no-op.
        store.apply(&[]).unwrap();
        assert_eq!(store.tip().unwrap().unwrap().height, 0);
    }
}

#[test]
fn the_store_can_move_to_another_thread() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HeaderStore>();
    assert_send_sync::<StoreError>();

    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    let handle = std::thread::spawn(move || store.tip().map(|t| t.map(|t| t.height)));
    assert_eq!(handle.join().unwrap().unwrap(), Some(0));
}

#[test]
fn load_chain_rebuilds_the_stored_tree() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Mainnet);
    let fresh = store.load_chain().unwrap();
    assert_eq!(fresh.tip_height(), 0);
    assert_eq!(fresh.tip_hash(), Network::Mainnet.params().genesis_hash());

    store.apply(&appends(&chain, 1, chain.len(), 2000)).unwrap();
    drop(store);
    let store = HeaderStore::open_read_only(dir.path()).unwrap();
    let loaded = store.load_chain().unwrap();
    assert_eq!(loaded.tip_height(), 39_999);
    assert_eq!(loaded.tip_hash(), chain[39_999].block_hash());
    assert_eq!(loaded.tip_work(), work_of(&chain));
    assert_eq!(loaded.tip_work(), store.tip().unwrap().unwrap().work);
    assert_eq!(loaded.hash_at(20_000), Some(chain[20_000].block_hash()));
}
