//! Resident memory and load time of a large header chain: 1,000,000 regtest headers loaded
//! with `HeaderChain::from_stored` (what a node does at startup from its store), against a
//! baseline of the same headers held as a plain `Vec<Header>` (80 bytes each on the wire, 80
//! in memory): the ratio says what the tree, the hash index and the work cost on top.
//!
//! Run: `cargo bench -p headway-core --bench memory` (Linux: reads /proc/self/statm).

use std::time::Instant;

use headway_core::bitcoin::block::{Header, Version};
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::{CompactTarget, TxMerkleNode};
use headway_core::{HeaderChain, Network};

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

fn mine(n: usize) -> Vec<Header> {
    let params = Network::Regtest.params();
    let mut out = Vec::with_capacity(n + 1);
    out.push(params.genesis);
    let mut prev = params.genesis;
    for i in 0..n {
        let mut h = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array([(i % 251) as u8; 32]),
            time: prev.time + 1,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        };
        while h.validate_pow(h.target()).is_err() {
            h.nonce += 1;
        }
        out.push(h);
        prev = h;
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let before = resident_bytes();
    let headers = mine(N);
    let after_headers = resident_bytes();
    let started = Instant::now();
    // The clone is consumed and freed inside; what stays is the chain alone.
    let chain = HeaderChain::from_stored(Network::Regtest.params(), headers.clone(), Vec::new())
        .expect("mined chain loads");
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
        "from_stored load:     {:.0} ms ({:.2} M headers/s)",
        load.as_secs_f64() * 1e3,
        N as f64 / load.as_secs_f64() / 1e6
    );
    drop(headers);
}
