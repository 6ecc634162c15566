//! `HeaderStore::map_size` beside a writer that grows the map on another thread. LMDB reads the
//! size through the memory map, which a growth replaces; unguarded, the read landed on the
//! unmapped old map and the process died of SIGSEGV within the first round.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};

use headway_core::Network;
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};
use support::{appends, mainnet_headers};

#[test]
fn map_size_is_safe_while_another_thread_grows_the_map() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        initial_map_size: 64 << 10,
        durability: Durability::NoSync,
    };
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &options).unwrap();
    let start = store.map_size();
    let done = AtomicBool::new(false);
    let mut reads = 0u64;
    let mut largest = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            for change in appends(&chain, 1, chain.len(), 500) {
                store.apply(&[change]).unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        while !done.load(Ordering::Relaxed) {
            largest = largest.max(store.map_size());
            reads += 1;
        }
    });
    assert!(reads > 0);
    assert!(
        largest > start,
        "the map grew while it was read ({start} -> {largest})"
    );
    assert!(store.map_size() >= largest);
}
