//! Resident memory and load time of a large header chain: 1,000,000 regtest headers streamed
//! into a `ChainLoader` (what a node does at startup from its store), against a
//! baseline of the same headers held as a plain `Vec<Header>` (80 bytes each on the wire, 80
//! in memory): the ratio says what the tree, the hash index and the work cost on top.
//!
//! Run: `cargo bench -p headway-core --bench memory` (Linux: reads /proc/self/statm).

use std::time::Instant;

use headway_core::bitcoin::block::Header;
use headway_core::{ChainLoader, Network};

const N: usize = 1_000_000;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Genesis and `n` regtest headers, a second apart (600 s would run past the clock).
fn mine(n: usize) -> Vec<Header> {
    headway_regtest::chain_spaced(n, 0, 1)
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let before = resident_bytes();
    let headers = mine(N);
    let after_headers = resident_bytes();
    let started = Instant::now();
    // Streamed as the store streams them at startup: nothing but the chain is allocated.
    let mut loader = ChainLoader::new(Network::Regtest.params(), headers.len());
    for header in &headers {
        loader.push_best(header).expect("mined chain loads");
    }
    let chain = loader.finish().expect("mined chain loads");
    let load = started.elapsed();
    let after_chain = resident_bytes();
    let base_per = after_headers.saturating_sub(before) as f64 / N as f64;
    let chain_per = after_chain.saturating_sub(after_headers) as f64 / N as f64;
    println!("headers: {N}, tip height {}", chain.tip_height());
    println!("baseline Vec<Header>: {base_per:.1} bytes/header resident");
    println!(
        "HeaderChain:          {chain_per:.1} bytes/header resident ({:.2}x baseline)",
        chain_per / base_per
    );
    println!(
        "ChainLoader load:     {:.0} ms ({:.2} M headers/s)",
        load.as_secs_f64() * 1e3,
        N as f64 / load.as_secs_f64() / 1e6
    );
    drop(headers);
}
