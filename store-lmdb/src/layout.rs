//! The on-disk layout: database names, key and value encodings, and the metadata keys. Every
//! byte format the store reads or writes is defined here and nowhere else, so that a change of
//! layout is a change of [`SCHEMA_VERSION`] in one file.

use bitcoin::block::Header;
use bitcoin::consensus::{deserialize, Encodable};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Work};

/// The version of this layout, kept under [`META_SCHEMA`]. A store with another version is
/// refused untouched.
pub const SCHEMA_VERSION: u32 = 1;

/// The named databases of the environment.
pub(crate) const DB_META: &str = "meta";
/// Best chain: big-endian height (4 bytes) → header (80 bytes). Big-endian keys sort by height,
/// so extending the chain is an append at the right edge of the B-tree (`MDB_APPEND`).
pub(crate) const DB_BEST: &str = "best";
/// Headers off the best chain: hash (32 bytes) → height (4, big-endian) ‖ header (80).
pub(crate) const DB_SIDE: &str = "side";
/// Every stored header, best or side: hash (32 bytes) → height (4, big-endian) ‖ flag (1).
pub(crate) const DB_INDEX: &str = "index";
/// The address book (see `addrbook.rs`): the core's record key → the core's record value, plus
/// the book's secret under [`ADDR_SECRET_KEY`]. Added to schema 1 without a version change: a
/// store without it is a store with an empty book, and builds that predate it ignore it.
pub(crate) const DB_ADDRBOOK: &str = "addrbook";
/// How many named databases the environment holds (LMDB's `max_dbs`: handles this process
/// opens, not databases in the file, so builds that open fewer still read a newer store).
pub(crate) const DB_COUNT: u32 = 5;

/// The address book's reserved key prefix. Record keys begin with a BIP155 network id, which is
/// never 0, so no record key can start with it; the store refuses to write one that does.
pub(crate) const ADDR_RESERVED_PREFIX: u8 = 0x00;
/// The address book key of the book's 32-byte secret (starts with [`ADDR_RESERVED_PREFIX`]).
pub(crate) const ADDR_SECRET_KEY: &[u8] = b"\x00secret";
/// The size of the book's secret.
pub(crate) const ADDR_SECRET_LEN: usize = 32;

/// Metadata key: the network name (UTF-8, as [`headway_core::Network::name`]).
pub const META_NETWORK: &[u8] = b"network";
/// Metadata key: the schema version (u32, big-endian).
pub const META_SCHEMA: &[u8] = b"schema";
/// Metadata key: the tip, height (u32 big-endian) ‖ hash (32 bytes).
pub(crate) const META_TIP: &[u8] = b"tip";
/// Metadata key: the tip's cumulative chain work (32 bytes big-endian).
pub(crate) const META_WORK: &[u8] = b"work";

/// Index flag of a header on the best chain.
pub(crate) const FLAG_BEST: u8 = 1;
/// Index flag of a side-chain header.
pub(crate) const FLAG_SIDE: u8 = 0;

/// Serialized header size.
pub(crate) const HEADER_LEN: usize = 80;

/// The key of `height` in the best-chain database.
pub(crate) fn height_key(height: u32) -> [u8; 4] {
    height.to_be_bytes()
}

/// Decodes a best-chain key; `None` if it is not 4 bytes.
pub(crate) fn decode_height(bytes: &[u8]) -> Option<u32> {
    let arr: [u8; 4] = bytes.try_into().ok()?;
    Some(u32::from_be_bytes(arr))
}

/// A header in its 80-byte wire form.
pub(crate) fn encode_header(header: &Header) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    let mut writer: &mut [u8] = &mut out;
    // Writing 80 bytes into an 80-byte slice cannot fail; a failure would leave zeros, which
    // `verify` and every reader would report as a broken link rather than panic.
    let _ = header.consensus_encode(&mut writer);
    out
}

/// Decodes an 80-byte header; `None` if the bytes are not exactly one header.
pub(crate) fn decode_header(bytes: &[u8]) -> Option<Header> {
    if bytes.len() != HEADER_LEN {
        return None;
    }
    deserialize(bytes).ok()
}

/// The key of a header in the side and index databases.
pub(crate) fn hash_key(hash: &BlockHash) -> [u8; 32] {
    hash.to_byte_array()
}

/// Decodes a hash key; `None` if it is not 32 bytes.
pub(crate) fn decode_hash(bytes: &[u8]) -> Option<BlockHash> {
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(BlockHash::from_byte_array(arr))
}

/// A side-database value: height ‖ header.
pub(crate) fn side_value(height: u32, header: &Header) -> [u8; 4 + HEADER_LEN] {
    let mut out = [0u8; 4 + HEADER_LEN];
    out[..4].copy_from_slice(&height.to_be_bytes());
    out[4..].copy_from_slice(&encode_header(header));
    out
}

/// Decodes a side-database value.
pub(crate) fn decode_side_value(bytes: &[u8]) -> Option<(u32, Header)> {
    let (height, header) = bytes.split_at_checked(4)?;
    Some((decode_height(height)?, decode_header(header)?))
}

/// An index value: height ‖ flag.
pub(crate) fn index_value(height: u32, on_best: bool) -> [u8; 5] {
    let h = height.to_be_bytes();
    [
        h[0],
        h[1],
        h[2],
        h[3],
        if on_best { FLAG_BEST } else { FLAG_SIDE },
    ]
}

/// Decodes an index value into (height, on best chain).
pub(crate) fn decode_index_value(bytes: &[u8]) -> Option<(u32, bool)> {
    let arr: [u8; 5] = bytes.try_into().ok()?;
    let on_best = match arr[4] {
        FLAG_BEST => true,
        FLAG_SIDE => false,
        _ => return None,
    };
    Some((
        u32::from_be_bytes([arr[0], arr[1], arr[2], arr[3]]),
        on_best,
    ))
}

/// The tip record: height ‖ hash.
pub(crate) fn tip_value(height: u32, hash: &BlockHash) -> [u8; 36] {
    let mut out = [0u8; 36];
    out[..4].copy_from_slice(&height.to_be_bytes());
    out[4..].copy_from_slice(&hash.to_byte_array());
    out
}

/// Decodes the tip record.
pub(crate) fn decode_tip_value(bytes: &[u8]) -> Option<(u32, BlockHash)> {
    let (height, hash) = bytes.split_at_checked(4)?;
    Some((decode_height(height)?, decode_hash(hash)?))
}

/// Decodes a stored chain work.
pub(crate) fn decode_work(bytes: &[u8]) -> Option<Work> {
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(Work::from_be_bytes(arr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use headway_core::Network;

    #[test]
    fn encodings_round_trip() {
        let genesis = Network::Mainnet.params().genesis;
        let hash = genesis.block_hash();
        assert_eq!(decode_header(&encode_header(&genesis)), Some(genesis));
        assert_eq!(
            decode_side_value(&side_value(7, &genesis)),
            Some((7, genesis))
        );
        assert_eq!(decode_index_value(&index_value(9, true)), Some((9, true)));
        assert_eq!(decode_index_value(&index_value(9, false)), Some((9, false)));
        assert_eq!(decode_tip_value(&tip_value(11, &hash)), Some((11, hash)));
        assert_eq!(decode_hash(&hash_key(&hash)), Some(hash));
        assert_eq!(decode_height(&height_key(0x0102_0304)), Some(0x0102_0304));
    }

    #[test]
    fn malformed_values_decode_to_none() {
        assert_eq!(decode_header(&[0u8; 79]), None);
        assert_eq!(decode_index_value(&[0, 0, 0, 1, 7]), None);
        assert_eq!(decode_side_value(&[1, 2]), None);
        assert_eq!(decode_tip_value(&[0u8; 35]), None);
        assert_eq!(decode_work(&[0u8; 31]), None);
    }

    #[test]
    fn height_keys_sort_like_heights() {
        assert!(height_key(255) < height_key(256));
        assert!(height_key(65_535) < height_key(1_000_000));
    }
}
