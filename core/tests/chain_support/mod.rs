//! Test support for the chain tests: the real mainnet header files in `core/testdata/`, and a
//! miner of synthetic headers for networks whose pow limit is easy (regtest, simnet).
#![allow(dead_code)]

use std::path::PathBuf;

use headway_core::bitcoin::block::{Header, Version};
use headway_core::bitcoin::consensus::deserialize;
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use headway_core::chain::{header_hash, pow};
use headway_core::{HeaderChain, Time};

/// A clock well after every mainnet header in the test data (2011-03-13).
pub const MAINNET_NOW: Time = Time::from_secs(1_300_000_000);

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Raw consecutive 80-byte headers from a test-data file.
pub fn read_headers(name: &str) -> Vec<Header> {
    let bytes = std::fs::read(testdata(name)).expect("test data file present");
    assert_eq!(bytes.len() % 80, 0, "{name} is whole headers");
    bytes
        .chunks_exact(80)
        .map(|c| deserialize(c).expect("header decodes"))
        .collect()
}

/// The 40,000 mainnet headers from genesis.
pub fn mainnet_headers() -> Vec<Header> {
    read_headers("mainnet-headers-0-39999.bin")
}

/// The retarget boundary records: (height, header) for every 2016k-1 and 2016k.
pub fn retarget_boundaries() -> Vec<(u32, Header)> {
    let bytes =
        std::fs::read(testdata("mainnet-retarget-boundaries.bin")).expect("test data file present");
    assert_eq!(bytes.len() % 84, 0);
    bytes
        .chunks_exact(84)
        .map(|c| {
            let height = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            (height, deserialize(&c[4..]).expect("header decodes"))
        })
        .collect()
}

/// Sets the nonce so the header meets its own nBits (only feasible for easy targets).
pub fn solve(mut h: Header) -> Header {
    let target = pow::decode_compact(h.bits.to_consensus()).value;
    while pow::U256::from_hash(&header_hash(&h)) > target {
        h.nonce = h.nonce.wrapping_add(1);
    }
    h
}

/// A header on `parent` with the given time and bits, solved. `salt` makes siblings differ.
pub fn mine_one(parent: &Header, time: u32, bits: u32, version: i32, salt: u32) -> Header {
    let mut merkle = [0u8; 32];
    merkle[..4].copy_from_slice(&salt.to_le_bytes());
    merkle[4..8].copy_from_slice(&time.to_le_bytes());
    let h = Header {
        version: Version::from_consensus(version),
        prev_blockhash: header_hash(parent),
        merkle_root: TxMerkleNode::from_byte_array(merkle),
        time,
        bits: CompactTarget::from_consensus(bits),
        nonce: 0,
    };
    solve(h)
}

/// `n` regtest-style headers on `parent`, `spacing` seconds apart, bits 0x207fffff,
/// version 4.
pub fn mine_chain(parent: &Header, n: usize, spacing: u32, salt: u32) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::with_capacity(n);
    let mut prev = *parent;
    for _ in 0..n {
        let h = mine_one(&prev, prev.time + spacing, 0x207fffff, 4, salt);
        out.push(h);
        prev = h;
    }
    out
}

/// A header whose hash is above its own target (the next nonce that fails).
pub fn unsolve(mut h: Header) -> Header {
    let target = pow::decode_compact(h.bits.to_consensus()).value;
    while pow::U256::from_hash(&header_hash(&h)) <= target {
        h.nonce = h.nonce.wrapping_add(1);
    }
    h
}

/// Hashes of headers.
pub fn hashes(headers: &[Header]) -> Vec<BlockHash> {
    headers.iter().map(header_hash).collect()
}

/// A clock far enough ahead of synthetic regtest headers.
pub fn regtest_now() -> Time {
    Time::from_secs(2_000_000_000)
}

/// A model of the store: applies persist commands the way `PersistChain` documents them.
#[derive(Debug, Default)]
pub struct StoreModel {
    /// The best chain, genesis first.
    pub best: Vec<Header>,
    /// Everything else, with heights, in insertion order.
    pub side: Vec<(u32, Header)>,
}

impl StoreModel {
    /// A store holding the genesis of `chain`.
    pub fn new(chain: &HeaderChain) -> StoreModel {
        StoreModel {
            best: vec![chain.params().genesis],
            side: vec![],
        }
    }

    /// Writes one persist command.
    pub fn apply(&mut self, p: &headway_core::PersistChain) {
        let keep = p.fork_height as usize + 1;
        assert!(keep <= self.best.len(), "fork height above the stored tip");
        let replaced: Vec<Header> = self.best.drain(keep..).collect();
        for (i, h) in replaced.into_iter().enumerate() {
            self.side.push((keep as u32 + i as u32, h));
        }
        for hash in &p.rejoined {
            let at = self
                .side
                .iter()
                .position(|(_, h)| h.block_hash() == *hash)
                .expect("a rejoining header is stored off the best chain");
            let (_, header) = self.side.remove(at);
            self.best.push(header);
        }
        self.best.extend(p.connected.iter().copied());
        self.side.extend(p.side.iter().copied());
    }
}
