//! Cheap regtest proof of work: the pow limit lets about half of all hashes through, so a valid
//! header takes a couple of double-SHA256 on average.

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{Target, TxMerkleNode};

/// Bumps the nonce until the header meets the target of its own `bits`; gives up after `tries`
/// attempts (returning `false`), so that a header with a hard target cannot stall the fuzzer.
pub fn mine(header: &mut Header, tries: u32) -> bool {
    let target = Target::from_compact(header.bits);
    for _ in 0..tries {
        if header.validate_pow(target).is_ok() {
            return true;
        }
        header.nonce = header.nonce.wrapping_add(1);
    }
    false
}

/// `n` valid regtest headers extending `parent`, ten minutes apart; `salt` (in the merkle
/// root) makes branches mined from the same parent differ. `parent` must carry easy (regtest
/// pow limit) bits, which every header inherits, or this never ends. Meant to be called once per
/// process (the `node` target keeps the result in a `OnceLock`): about two hashes a header.
pub fn mine_chain(parent: &Header, n: usize, salt: u8) -> Vec<Header> {
    let mut out = Vec::with_capacity(n);
    let mut prev = *parent;
    for _ in 0..n {
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array([salt; 32]),
            time: prev.time.saturating_add(600),
            bits: prev.bits,
            nonce: 0,
        };
        // At the regtest pow limit a miss has odds 1/2, so this loop ends after a few tries.
        while !mine(&mut header, 64) {}
        out.push(header);
        prev = header;
    }
    out
}
