//! Mining regtest headers in tests: the regtest pow limit lets about every second nonce pass.

use headway_core::bitcoin::block::{Header, Version};
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::{CompactTarget, TxMerkleNode};

/// `n` headers extending `parent`, 10 minutes apart; `salt` makes sibling branches differ.
pub fn mine(parent: &Header, n: usize, salt: u32) -> Vec<Header> {
    let mut out = Vec::with_capacity(n);
    let mut prev = *parent;
    for _ in 0..n {
        let mut h = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array([salt as u8; 32]),
            time: prev.time + 600,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: salt.wrapping_mul(1_000_003),
        };
        while h.validate_pow(h.target()).is_err() {
            h.nonce = h.nonce.wrapping_add(1);
        }
        out.push(h);
        prev = h;
    }
    out
}
