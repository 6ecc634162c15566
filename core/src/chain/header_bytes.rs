//! A header's 80-byte serialization (the consensus encoding: version, prev, merkle root,
//! time, bits, nonce, integers little-endian), written and read field by field.
//!
//! Why here and not `bitcoin`'s encoder: the wire decoder, the header hash and the store all
//! convert every header of a sync, and `bitcoin`'s reader and writer go through `io` traits
//! and a `Vec` (the wire decoder alone spent about 60 ns a header there, `perf` of `cargo
//! bench -p headway --bench sync_scale`). One pair of functions for all three, checked
//! against `bitcoin` below.

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};

/// Bytes of a serialized header.
pub const HEADER_LEN: usize = 80;

/// `header` in its 80-byte serialization.
pub fn encode(header: &Header) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..4].copy_from_slice(&header.version.to_consensus().to_le_bytes());
    out[4..36].copy_from_slice(header.prev_blockhash.as_byte_array());
    out[36..68].copy_from_slice(header.merkle_root.as_byte_array());
    out[68..72].copy_from_slice(&header.time.to_le_bytes());
    out[72..76].copy_from_slice(&header.bits.to_consensus().to_le_bytes());
    out[76..80].copy_from_slice(&header.nonce.to_le_bytes());
    out
}

/// The header an 80-byte serialization encodes (every byte string of that length is one).
pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let hash_at = |i: usize| {
        let mut out = [0u8; 32];
        out.copy_from_slice(&b[i..i + 32]);
        out
    };
    Header {
        version: Version::from_consensus(u32_at(0) as i32),
        prev_blockhash: BlockHash::from_byte_array(hash_at(4)),
        merkle_root: TxMerkleNode::from_byte_array(hash_at(36)),
        time: u32_at(68),
        bits: CompactTarget::from_consensus(u32_at(72)),
        nonce: u32_at(76),
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::consensus::encode::{deserialize, serialize};

    use super::*;

    #[test]
    fn matches_bitcoin_both_ways() {
        let bytes = include_bytes!("../../testdata/mainnet-headers-0-39999.bin");
        for chunk in bytes.chunks_exact(HEADER_LEN).take(2000) {
            let header: Header = deserialize(chunk).unwrap();
            let raw: &[u8; HEADER_LEN] = chunk.try_into().unwrap();
            assert_eq!(decode(raw), header);
            assert_eq!(encode(&header).to_vec(), serialize(&header));
        }
        // High bits in every little-endian field.
        let odd = [0xffu8; HEADER_LEN];
        assert_eq!(encode(&decode(&odd)), odd);
        assert_eq!(decode(&odd), deserialize::<Header>(&odd).unwrap());
    }
}
