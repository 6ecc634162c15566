//! Regtest header chains for tests, benches and examples, and the tests' real SOCKS5 proxy
//! ([`microsocks`]).
//!
//! Regtest's pow limit (`0x207fffff`) lets about every second hash through, so a valid header
//! costs two double-SHA256 on average and a million of them take about a second. Every test
//! crate of the workspace mined its own until this crate; they now share one miner, so a fix
//! (or a new knob) lands everywhere at once.
//!
//! It depends on `bitcoin` alone, not on `headway-core`, so the core's own unit tests can use
//! it without a dependency cycle. Not published: it is test machinery, not node code.

#![forbid(unsafe_code)]

pub mod microsocks;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{CompactTarget, TxMerkleNode, Work};

/// Regtest's pow limit in compact form, the bits every mined header carries.
pub const REGTEST_BITS: u32 = 0x207f_ffff;

/// Seconds between mined headers by default: the block interval.
pub const SPACING_SECS: u32 = 600;

/// The chain work of `headers` together: the sum of each one's proof (from its nBits), what
/// a store's or a chain's tip work is for a chain of these headers from genesis.
pub fn work_of(headers: &[Header]) -> Work {
    headers
        .iter()
        .map(|h| h.work())
        .fold(Work::from_be_bytes([0; 32]), |a, b| a + b)
}

/// The regtest genesis header (Core's `CRegTestParams`).
pub fn genesis() -> Header {
    bitcoin::constants::genesis_block(bitcoin::Network::Regtest).header
}

/// `count` valid regtest headers extending `parent` (at any height), [`SPACING_SECS`] apart.
/// `salt` goes into every merkle root, so branches mined from one parent with different salts
/// differ; the header's index goes there too, so no two headers of a branch share a root.
pub fn mine(parent: &Header, count: usize, salt: u8) -> Vec<Header> {
    mine_spaced(parent, count, salt, SPACING_SECS)
}

/// [`mine`] with `spacing` seconds between headers. Use 1 for chains longer than about
/// 800,000 headers: at 600 s apart they would run past today's clock, and a node refuses
/// headers more than two hours ahead of it.
pub fn mine_spaced(parent: &Header, count: usize, salt: u8, spacing: u32) -> Vec<Header> {
    let mut out = Vec::with_capacity(count);
    let mut prev = *parent;
    for i in 0..count {
        let mut merkle = [salt; 32];
        merkle[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array(merkle),
            time: prev.time.wrapping_add(spacing),
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        };
        while header.validate_pow(header.target()).is_err() {
            header.nonce = header.nonce.wrapping_add(1);
        }
        out.push(header);
        prev = header;
    }
    out
}

/// A regtest best chain indexed by height: the genesis, then `len` mined headers.
pub fn chain(len: usize, salt: u8) -> Vec<Header> {
    chain_spaced(len, salt, SPACING_SECS)
}

/// [`chain`] with `spacing` seconds between headers (see [`mine_spaced`]).
pub fn chain_spaced(len: usize, salt: u8, spacing: u32) -> Vec<Header> {
    let genesis = genesis();
    let mut out = Vec::with_capacity(len + 1);
    out.push(genesis);
    out.extend(mine_spaced(&genesis, len, salt, spacing));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mined_headers_link_meet_their_target_and_keep_their_spacing() {
        let chain = chain_spaced(50, 7, 1);
        assert_eq!(chain.len(), 51);
        assert_eq!(chain[0].block_hash(), genesis().block_hash());
        for pair in chain.windows(2) {
            assert_eq!(pair[1].prev_blockhash, pair[0].block_hash());
            assert_eq!(pair[1].time, pair[0].time + 1);
            assert!(pair[1].validate_pow(pair[1].target()).is_ok());
        }
        assert_eq!(mine(&chain[0], 1, 7)[0].time, chain[0].time + SPACING_SECS);
    }

    #[test]
    fn salts_tell_branches_apart() {
        let g = genesis();
        let a = mine(&g, 3, 1);
        let b = mine(&g, 3, 2);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.block_hash() != y.block_hash()));
        assert_eq!(mine(&g, 3, 1), a, "mining is deterministic");
    }
}
