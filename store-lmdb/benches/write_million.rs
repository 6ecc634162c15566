//! Write a million synthetic headers into a fresh store the way the node's store thread does
//! (2000 headers a `PersistChain`, ten changes an `apply`), reopen it and load it back (`load`,
//! the streaming `for_each_stored`, `load_chain`), serve from it (`best_headers` of 2000, as a
//! `getheaders` answer, and lookups by hash); once per durability level, beside a baseline that
//! appends the raw 80-byte headers to a file with one `fdatasync` per batch.
//!
//! Last, a schema-1 store of the same headers (written by the tests' schema-1 writer) is
//! opened with the default options, which migrates it to schema 4: the migration's speed.
//!
//! Run: `cargo bench -p headway-store-lmdb --bench write_million`
//! (`HEADWAY_BENCH_HEADERS=N` for another count). Not a test: it asserts nothing about speed.

use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

use headway_core::bitcoin::block::{Header, Version};
use headway_core::bitcoin::consensus::serialize;
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions, SCHEMA_VERSION};

/// The tests' schema-1 writer (it needs `work_of` from its parent module, below).
#[allow(dead_code)]
#[path = "../tests/support/schema1.rs"]
mod schema1;

const PER_CHANGE: usize = 2000;

/// The summed work of `headers`.
use headway_regtest::work_of;

const CHANGES_PER_APPLY: usize = 10;

/// `count` headers chained on the mainnet genesis (index 0 is genesis). The store does not
/// check proof of work, so these need none.
fn synthetic_chain(count: usize) -> Vec<Header> {
    let genesis = Network::Mainnet.params().genesis;
    let mut chain = Vec::with_capacity(count + 1);
    chain.push(genesis);
    let mut prev = genesis.block_hash();
    for i in 1..=count as u32 {
        let mut merkle = [0u8; 32];
        merkle[..4].copy_from_slice(&i.to_le_bytes());
        let header = Header {
            version: Version::from_consensus(4),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::from_byte_array(merkle),
            time: genesis.time + 600 * i,
            bits: CompactTarget::from_consensus(0x1d00_ffff),
            nonce: i,
        };
        prev = header.block_hash();
        chain.push(header);
    }
    chain
}

fn changes(chain: &[Header]) -> Vec<PersistChain> {
    let mut work = chain[0].work();
    let mut out = Vec::new();
    let mut start = 1;
    while start < chain.len() {
        let end = (start + PER_CHANGE).min(chain.len());
        for header in &chain[start..end] {
            work = work + header.work();
        }
        out.push(PersistChain {
            fork_height: (start - 1) as u32,
            rejoined: vec![],
            connected: chain[start..end].to_vec(),
            side: Vec::new(),
            tip_work: work,
        });
        start = end;
    }
    out
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn bench_store(
    label: &str,
    durability: Durability,
    all: &[PersistChain],
    hashes: &[BlockHash],
    count: usize,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &options).expect("open");
    let start = Instant::now();
    for group in all.chunks(CHANGES_PER_APPLY) {
        store.apply(group).expect("apply");
    }
    let write = start.elapsed();
    let map = store.map_size();
    drop(store);
    let data = std::fs::metadata(dir.path().join("data.mdb"))
        .map(|m| m.len())
        .unwrap_or(0);

    let start = Instant::now();
    let store = HeaderStore::open(dir.path(), Network::Mainnet).expect("reopen");
    let open = start.elapsed();
    let start = Instant::now();
    let (best, side) = store.load().expect("load");
    let load = start.elapsed();
    assert_eq!(best.len(), count + 1);
    assert!(side.is_empty());
    drop((best, side));
    let start = Instant::now();
    let mut streamed = 0usize;
    store
        .for_each_stored(
            |_| {
                streamed += 1;
                Ok(())
            },
            |_, _| Ok(()),
        )
        .expect("for_each_stored");
    let stream = start.elapsed();
    assert_eq!(streamed, count + 1);
    let start = Instant::now();
    let chain = store.load_chain().expect("load_chain");
    let load_chain = start.elapsed();
    drop(chain);
    // Serving: 2000 headers from spread-out heights, and lookups by hash of spread-out
    // headers (a fixed stride, so every run asks the same).
    let serves = 100u32;
    let start = Instant::now();
    for i in 0..serves {
        let from = (i * 7919) % count as u32;
        let got = store.best_headers(from, 2000).expect("best_headers");
        assert!(!got.is_empty());
    }
    let serve = start.elapsed() / serves;
    let lookups = 10_000usize;
    let start = Instant::now();
    for i in 0..lookups {
        let height = (i * 104_729) % (count + 1);
        let found = store
            .header_by_hash(&hashes[height])
            .expect("header_by_hash");
        assert_eq!(found.map(|(h, _, _)| h as usize), Some(height));
    }
    let lookup = start.elapsed() / lookups as u32;
    // The worst lookup by hash: the oldest header of the unindexed tail (the tip's
    // partition), found by scanning it from the tip down.
    let oldest_tail = count - count % 65_536;
    let start = Instant::now();
    let tail_lookups = 20u32;
    for _ in 0..tail_lookups {
        let found = store
            .header_by_hash(&hashes[oldest_tail])
            .expect("header_by_hash");
        assert_eq!(found.map(|(h, _, _)| h as usize), Some(oldest_tail));
    }
    let tail_lookup = start.elapsed() / tail_lookups;
    let start = Instant::now();
    let report = store.verify().expect("verify");
    let verify = start.elapsed();
    assert!(report.is_consistent(), "{:?}", report.problems);

    println!(
        "{label:<20} write {:>7.0} headers/s ({:>5.2} s)  reopen {:>4.1} ms  load {:>6.1} ms  \
         for_each_stored {:>6.1} ms  load_chain {:>6.1} ms  verify {:>6.1} ms  \
         best_headers(2000) {:>6.1} µs  by hash {:>5.1} µs (oldest of the tail {:>6.1} µs)  \
         data.mdb {:>6.1} B/header  map {} MiB",
        rate(count, write),
        write.as_secs_f64(),
        open.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3,
        stream.as_secs_f64() * 1e3,
        load_chain.as_secs_f64() * 1e3,
        verify.as_secs_f64() * 1e3,
        serve.as_secs_f64() * 1e6,
        lookup.as_secs_f64() * 1e6,
        tail_lookup.as_secs_f64() * 1e6,
        data as f64 / count as f64,
        map >> 20,
    );
}

fn bench_raw_file(chain: &[Header], count: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("headers.bin");
    let mut file = File::create(&path).expect("create");
    let start = Instant::now();
    for batch in chain[1..].chunks(PER_CHANGE * CHANGES_PER_APPLY) {
        let bytes: Vec<u8> = batch.iter().flat_map(serialize).collect();
        file.write_all(&bytes).expect("write");
        file.sync_data().expect("fdatasync");
    }
    let write = start.elapsed();
    let start = Instant::now();
    let bytes = std::fs::read(&path).expect("read back");
    let read = start.elapsed();
    println!(
        "{:<28} write {:>9.0} headers/s ({:>6.2} s)  read back {:>6.1} ms  {:>6.1} B/header",
        "raw file append + fdatasync",
        rate(count, write),
        write.as_secs_f64(),
        read.as_secs_f64() * 1e3,
        bytes.len() as f64 / count as f64,
    );
}

fn bench_migration(chain: &[Header], count: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Instant::now();
    schema1::write(dir.path(), Network::Mainnet, chain, &[]);
    let written = start.elapsed();
    let size = |dir: &std::path::Path| {
        std::fs::metadata(dir.join("data.mdb"))
            .map(|m| m.len())
            .unwrap_or(0) as f64
            / count as f64
    };
    let before = size(dir.path());
    let start = Instant::now();
    let store = HeaderStore::open(dir.path(), Network::Mainnet).expect("open and migrate");
    let migrate = start.elapsed();
    assert_eq!(
        store.tip().expect("tip").expect("a tip").height as usize,
        count
    );
    drop(store);
    println!(
        "{:<20} migrate {:>7.0} headers/s ({:>5.2} s; schema-1 store written in {:.2} s)  \
         data.mdb {before:.1} -> {:.1} B/header (the open compacts the file after the \
         migration; the time includes it)",
        format!("schema 1 -> {SCHEMA_VERSION} (Full)"),
        rate(count, migrate),
        migrate.as_secs_f64(),
        written.as_secs_f64(),
        size(dir.path()),
    );
}

fn main() {
    let count: usize = std::env::var("HEADWAY_BENCH_HEADERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let start = Instant::now();
    let chain = synthetic_chain(count);
    let all = changes(&chain);
    println!(
        "{count} synthetic headers, {PER_CHANGE} a change, {CHANGES_PER_APPLY} changes an apply \
         (generated in {:.2} s)",
        start.elapsed().as_secs_f64()
    );
    let hashes: Vec<BlockHash> = chain.iter().map(|h| h.block_hash()).collect();
    bench_store("Full (default)", Durability::Full, &all, &hashes, count);
    bench_store("NoMetaSync", Durability::NoMetaSync, &all, &hashes, count);
    bench_store(
        "NoSync (no fsync)",
        Durability::NoSync,
        &all,
        &hashes,
        count,
    );
    bench_raw_file(&chain, count);
    bench_migration(&chain, count);
}
