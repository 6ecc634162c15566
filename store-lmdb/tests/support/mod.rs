//! Test data for the store tests: real mainnet headers from the shared test-data folder, mined
//! regtest branches for forks, and `PersistChain` builders.

#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::consensus::deserialize;
use headway_core::bitcoin::BlockHash;
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};

pub mod child;

/// The compacted copy a compaction writes beside the data file (the crate's `COMPACT_FILE`).
pub const COMPACT_FILE: &str = "data.mdb.compact";

/// The size of the store's data file in `dir`.
pub fn data_len(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join("data.mdb")).unwrap().len()
}

/// The 40,000 first mainnet headers, heights 0..=39999.
pub fn mainnet_headers() -> Vec<Header> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/testdata/mainnet-headers-0-39999.bin");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len(), 40_000 * 80);
    bytes
        .chunks_exact(80)
        .map(|c| deserialize(c).expect("valid header"))
        .collect()
}

/// The summed work of `headers` (genesis included when it is the first).
pub use headway_regtest::work_of;

/// `PersistChain`s that append `chain[from..to]` (heights = indexes) to a best chain ending at
/// height `from - 1`, `batch` headers each.
pub fn appends(chain: &[Header], from: usize, to: usize, batch: usize) -> Vec<PersistChain> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + batch).min(to);
        out.push(PersistChain {
            fork_height: (start - 1) as u32,
            rejoined: vec![],
            connected: chain[start..end].to_vec(),
            side: Vec::new(),
            tip_work: work_of(&chain[..end]),
        });
        start = end;
    }
    out
}

/// Mines `count` regtest headers on top of `parent` (at any height); `salt` makes branches
/// differ.
pub use headway_regtest::mine;

pub mod schema1;
pub mod schema3;

/// A regtest best chain: genesis followed by `len` mined headers (index = height).
pub fn regtest_chain(len: usize, salt: u8) -> Vec<Header> {
    let genesis = Network::Regtest.params().genesis;
    let mut chain = vec![genesis];
    chain.extend(mine(&genesis, len, salt));
    chain
}

/// Test stores skip fsync: durability is LMDB's, and the tests check layout and logic.
pub fn fast_options() -> StoreOptions {
    StoreOptions {
        durability: Durability::NoSync,
        ..StoreOptions::default()
    }
}

/// Opens a read-write store with [`fast_options`].
pub fn open_fast(dir: &std::path::Path, network: Network) -> HeaderStore {
    HeaderStore::open_with(dir, network, &fast_options()).expect("open store")
}

/// Hashes of headers.
pub fn hashes(headers: &[Header]) -> Vec<BlockHash> {
    headers.iter().map(|h| h.block_hash()).collect()
}

/// Asserts `verify` finds nothing wrong.
pub fn assert_consistent(store: &HeaderStore) {
    let report = store.verify().expect("verify reads the store");
    assert!(report.is_consistent(), "problems: {:#?}", report.problems);
}
