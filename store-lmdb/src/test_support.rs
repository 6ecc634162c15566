//! What the store's unit tests share: a chain of headers that links but skips proof of work
//! (the store never checks it), and a throw-away store on it.

use std::path::Path;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{CompactTarget, TxMerkleNode};
use headway_core::Network;

use crate::{Durability, HeaderStore, StoreOptions};

/// `len` headers chained on the regtest genesis (index = height), each with its height in
/// the merkle root; no proof of work.
pub(crate) fn chain(len: u32) -> Vec<Header> {
    let mut out = vec![Network::Regtest.params().genesis];
    for i in 1..=len {
        let prev = out[out.len() - 1];
        let mut merkle = [0u8; 32];
        merkle[..4].copy_from_slice(&i.to_le_bytes());
        out.push(Header {
            version: Version::from_consensus(4),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array(merkle),
            time: prev.time + 1,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: i,
        });
    }
    out
}

/// A regtest store in `dir` without fsync (nothing here outlives the test).
pub(crate) fn open_unsynced(dir: &Path) -> HeaderStore {
    let options = StoreOptions {
        durability: Durability::NoSync,
        ..StoreOptions::default()
    };
    HeaderStore::open_with(dir, Network::Regtest, &options).unwrap()
}

/// A complete partition's value (`layout::encode_partition`) holding `entries`
/// (`layout::index_entry`) and, to fill it, entries whose prefix no test hash has
/// (`ffffffff`).
pub(crate) fn partition_value(entries: &[u64]) -> Vec<u8> {
    let filler = (0..crate::layout::PARTITION_HEIGHTS as u64).map(|i| 0xffff_ffff_0000 | i);
    let mut all: Vec<u64> = entries
        .iter()
        .copied()
        .chain(filler)
        .take(crate::layout::PARTITION_HEIGHTS as usize)
        .collect();
    all.sort_unstable();
    crate::layout::encode_partition(&all)
}
