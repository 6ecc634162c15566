//! Chains mined on the reference's rules, for the `chain` target to start from near a retarget:
//! each header carries the nBits the reference requires at its time, and its proof of work is
//! ground out (cheap on the networks used: at most a sixteenth of the hashes fail the target
//! of the harder ones). Meant to run once per process (the target keeps the result in a
//! `OnceLock`).

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{CompactTarget, TxMerkleNode};

use crate::reference::ReferenceChain;
use crate::regtest::mine;

/// Seconds between premined headers, except every seventh.
pub const PREMINE_SPACING: u32 = 300;
/// Seconds before every seventh premined header: past the 20-minute rule, so that it is a
/// min-difficulty block where the network allows them.
pub const PREMINE_SLOW_GAP: u32 = 1500;

/// `n` headers on the best chain of `reference`, accepted into it as they are mined; `salt`
/// goes into the merkle root. Every seventh header follows its parent by
/// [`PREMINE_SLOW_GAP`], the others by [`PREMINE_SPACING`].
pub fn premine(reference: &mut ReferenceChain, n: usize, salt: u8) -> Vec<Header> {
    let mut out = Vec::with_capacity(n);
    let mut parent = reference.header(&reference.best_hash()).expect("tip");
    let now = u64::MAX / 2;
    for i in 0..n {
        let height = reference.height(&parent.block_hash()).expect("accepted") + 1;
        let gap = if height.is_multiple_of(7) {
            PREMINE_SLOW_GAP
        } else {
            PREMINE_SPACING
        };
        let time = parent.time + gap;
        let bits = reference
            .required_bits(&parent.block_hash(), time)
            .expect("parent accepted");
        let mut merkle = [salt; 32];
        merkle[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: parent.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array(merkle),
            time,
            bits: CompactTarget::from_consensus(bits),
            nonce: 0,
        };
        while !mine(&mut header, 1 << 16) {}
        reference
            .accept(&header, now)
            .unwrap_or_else(|rule| panic!("premined header {height} breaks {rule:?}"));
        out.push(header);
        parent = header;
    }
    out
}
