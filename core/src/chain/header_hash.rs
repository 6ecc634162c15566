//! A header's hash: the double SHA-256 of its 80-byte serialization, computed with the
//! SHA-256 compression function on blocks laid out here (two for the header, one for the
//! second hash), so that nothing is buffered or padded at run time.
//!
//! Why: it is the one piece of work a node does for every header it ever sees (its identity,
//! its proof of work, the next header's link), twice for each header a presync admits.
//! `bitcoin_hashes`' streaming engine spends about a third of its time on buffering and
//! padding an 80-byte input; `sha2::compress256` runs only the compression (SHA-NI where the
//! CPU has it, detected at run time). Measured on one core over a million headers: 158 ms with
//! `sha256d::Hash::hash`, 105 ms here (the commit that added this has the run). The result is
//! the same bytes: `matches_bitcoin_over_mainnet_and_edge_headers` below.

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use sha2::digest::generic_array::GenericArray;

use super::header_bytes;

/// SHA-256's initial hash value (FIPS 180-4, §5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
/// The message lengths in bits that close the padding (FIPS 180-4, §5.1.1): the header's 80
/// bytes, then the first digest's 32.
const HEADER_BITS: u64 = 80 * 8;
const DIGEST_BITS: u64 = 32 * 8;

type Block = GenericArray<u8, sha2::digest::typenum::U64>;

/// The double SHA-256 of `header`'s 80-byte serialization (what `Header::block_hash` gives).
pub fn header_hash(header: &Header) -> BlockHash {
    header_bytes_hash(&header_bytes::encode(header))
}

/// The hashes of `headers`, in order: two at a time where the CPU can
/// (`headway-header-hashing`, about a fifth faster), one at a time otherwise.
pub fn header_hashes(headers: &[Header]) -> Vec<BlockHash> {
    let mut out = Vec::with_capacity(headers.len());
    let mut pairs = headers.chunks_exact(2);
    for pair in pairs.by_ref() {
        let (a, b) = (
            header_bytes::encode(&pair[0]),
            header_bytes::encode(&pair[1]),
        );
        match headway_header_hashing::double_sha256_pair(&a, &b) {
            Some([x, y]) => {
                out.push(BlockHash::from_byte_array(x));
                out.push(BlockHash::from_byte_array(y));
            }
            None => {
                out.push(header_bytes_hash(&a));
                out.push(header_bytes_hash(&b));
            }
        }
    }
    out.extend(pairs.remainder().iter().map(header_hash));
    out
}

/// The double SHA-256 of a header's 80-byte serialization.
fn header_bytes_hash(bytes: &[u8; 80]) -> BlockHash {
    let mut blocks = [Block::default(), Block::default()];
    // Cut after 64 bytes, then the padding and the length.
    blocks[0].copy_from_slice(&bytes[..64]);
    blocks[1][..16].copy_from_slice(&bytes[64..]);
    blocks[1][16] = 0x80;
    blocks[1][56..64].copy_from_slice(&HEADER_BITS.to_be_bytes());
    let mut first = IV;
    sha2::compress256(&mut first, &blocks);

    let mut second = Block::default();
    for (word, out) in first.iter().zip(second.chunks_exact_mut(4)) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    second[32] = 0x80;
    second[56..64].copy_from_slice(&DIGEST_BITS.to_be_bytes());
    let mut state = IV;
    sha2::compress256(&mut state, std::slice::from_ref(&second));

    let mut digest = [0u8; 32];
    for (word, out) in state.iter().zip(digest.chunks_exact_mut(4)) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    BlockHash::from_byte_array(digest)
}

#[cfg(test)]
mod tests {
    use bitcoin::block::Version;
    use bitcoin::consensus::encode::deserialize;
    use bitcoin::{CompactTarget, TxMerkleNode};

    use super::*;

    #[test]
    fn matches_bitcoin_over_mainnet_and_edge_headers() {
        let bytes = include_bytes!("../../testdata/mainnet-headers-0-39999.bin");
        for chunk in bytes.chunks_exact(80) {
            let header: Header = deserialize(chunk).unwrap();
            assert_eq!(header_hash(&header), header.block_hash());
        }
        // Every byte position matters, including the ones that straddle the two blocks, and
        // values with high bits set (little-endian fields).
        for i in 0..=255u32 {
            let header = Header {
                version: Version::from_consensus(i32::MIN + i as i32),
                prev_blockhash: BlockHash::from_byte_array([i as u8; 32]),
                merkle_root: TxMerkleNode::from_byte_array([(255 - i) as u8; 32]),
                time: u32::MAX - i,
                bits: CompactTarget::from_consensus(i.wrapping_mul(0x0101_0101)),
                nonce: i.wrapping_mul(0x9e37_79b9),
            };
            assert_eq!(header_hash(&header), header.block_hash(), "case {i}");
        }
    }

    #[test]
    fn hashes_in_pairs_are_each_headers_hash() {
        let bytes = include_bytes!("../../testdata/mainnet-headers-0-39999.bin");
        let headers: Vec<Header> = bytes
            .chunks_exact(80)
            .take(2001)
            .map(|c| deserialize(c).unwrap())
            .collect();
        for n in [0, 1, 2, 3, 2000, 2001] {
            let want: Vec<BlockHash> = headers[..n].iter().map(Header::block_hash).collect();
            assert_eq!(header_hashes(&headers[..n]), want, "{n} headers");
        }
    }
}
