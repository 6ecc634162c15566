//! Core's `CompressedHeader` (`headerssync.h`): a redownloaded header without its
//! `prev_blockhash`, 48 bytes instead of 80, for the buffer of headers awaiting release. The
//! buffer holds a contiguous chain, so each header's prev hash is the hash of the one before,
//! and the first one's is kept beside the buffer.

use bitcoin::block::{Header, Version};
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};

/// A header minus its prev hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CompressedHeader {
    version: i32,
    merkle_root: TxMerkleNode,
    time: u32,
    bits: u32,
    nonce: u32,
}

impl CompressedHeader {
    /// `header` without its prev hash.
    pub fn new(header: &Header) -> CompressedHeader {
        CompressedHeader {
            version: header.version.to_consensus(),
            merkle_root: header.merkle_root,
            time: header.time,
            bits: header.bits.to_consensus(),
            nonce: header.nonce,
        }
    }

    /// The full header, whose parent is `prev` (Core's `GetFullHeader`).
    pub fn full(&self, prev: BlockHash) -> Header {
        Header {
            version: Version::from_consensus(self.version),
            prev_blockhash: prev,
            merkle_root: self.merkle_root,
            time: self.time,
            bits: CompactTarget::from_consensus(self.bits),
            nonce: self.nonce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Network;

    #[test]
    fn is_48_bytes_and_gives_the_header_back() {
        assert_eq!(std::mem::size_of::<CompressedHeader>(), 48);
        let genesis = Network::Mainnet.params().genesis;
        let mut child = genesis;
        child.prev_blockhash = genesis.block_hash();
        child.nonce = 7;
        let compressed = CompressedHeader::new(&child);
        assert_eq!(compressed.full(genesis.block_hash()), child);
    }
}
