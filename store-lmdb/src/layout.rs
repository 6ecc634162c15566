//! The on-disk layout: database names, key and value encodings, and the metadata keys. Every
//! byte format the store reads or writes is defined here and nowhere else, so that a change of
//! layout is a change of [`SCHEMA_VERSION`] in one file. The formats of schema 1, which the
//! migration (`migrate.rs`) reads, are kept in [`v1`].
//!
//! # Schema 4
//!
//! Schema 3 with its hash index packed: `hashes` (a 10-byte key a header) is replaced by
//! `hash_index`, one value a complete partition.
//!
//! | database | key | value |
//! |---|---|---|
//! | `hash_index` | partition `height >> 16`, u16 big-endian ([`partition_key`]), for each complete partition below the tip's | the partition's 65,536 entries ([`index_entry`]: the hash's first 4 bytes ‖ `height & 0xffff`, u16 BE; 6 bytes each), sorted ([`PartitionEntries`]) |
//!
//! Why: schema 3 wrote a complete partition as 65,536 `MDB_APPEND` puts, each of which
//! searches the tree from its root (`mdb_cursor_last`), and as 20-byte leaf nodes (8-byte node
//! header, 10-byte key, 2-byte slot): in a 1M sync those puts and the first touch of their
//! pages were 0.13 s of the store thread's 0.3–0.6 s of CPU on the 2-core bench machine (the
//! sync with the index writes left out: mio 0.55–0.63 s against 0.70–0.76 s, `sync_scale`).
//! One 393,216-byte value is one put and 6 bytes a header on disk. A lookup binary-searches
//! each partition's value in the memory map (16 probes) for the 4-byte prefix, then reads and
//! hashes each candidate's header: two headers of one partition share a 4-byte prefix with
//! probability about 2^-17 (and a lookup meets a false candidate with about 65,536 / 2^32 per
//! partition), which costs one header read and never a wrong answer. A reorganisation below
//! the tip's partition rewrites the partitions above its fork whole (milliseconds each; such
//! reorganisations are deeper than the tail, and rare). The schema-2 and schema-3 migration
//! builds the packed partitions from the best chain's headers (each hash is the next header's
//! `prev_blockhash`), drops `hashes` and sets version 4, in one transaction
//! (`migrate::migrate_packed`).
//!
//! # Schema 3
//!
//! Schema 2's databases and encodings, with one rule changed: the hash index holds the
//! best-chain headers of the *complete* partitions only, the heights below
//! [`indexed_end`]`(tip)`. The newest partition, the one the tip is in (up to 65,536 headers,
//! the "tail"), is not indexed; a lookup by hash that the index does not answer scans the
//! tail from the tip down (a header's hash is the next one's `prev_blockhash`, so the scan
//! compares 32 bytes a header and hashes one), which costs microseconds for a recent header
//! and a few milliseconds for the oldest of a full tail. When the chain enters a new
//! partition, the write that takes it there indexes the partition below in key order with
//! `MDB_APPEND` (full pages, as schema 2's packing did).
//!
//! Why: in schema 2 every header written during a sync was inserted at a random place of the
//! newest partition, and those B-tree inserts were most of the store thread's time:
//! `write_million` wrote 1.22M headers/s with the index and 4.8M/s without it. The schema-2 to
//! schema-3 migration is one transaction that removes the tail's entries.
//!
//! # Schema 2
//!
//! | database | key | value |
//! |---|---|---|
//! | `headers` | group number `height / 51`, u32 big-endian | the group's best-chain headers, 80 bytes each, 1..=51 of them |
//! | `hashes` | `height >> 16` (u16 BE) ‖ first 6 bytes of the hash ‖ `height & 0xffff` (u16 BE) | empty |
//! | `side` | hash, 32 bytes | height (u32 BE) ‖ header (84 bytes) |
//! | `meta` | `network`, `schema`, `tip`, `work`, `migration` | name, version, height ‖ hash, chain work, migration progress |
//! | `addrbook` | address record key; `0x00` ‖ `secret` | record value; the book's 32-byte secret |
//!
//! Why, measured with `write_million` (1,000,000 headers, 2000 a change, 10 changes a
//! commit): schema 1 took 263 bytes a header, schema 2 takes 104.4 (see the crate docs).
//!
//! - **Groups of 51 best-chain headers.** 51 × 80 = 4080 bytes is exactly one LMDB overflow page
//!   (4096 bytes less its 16-byte header), so a full group costs 4096 bytes of data page plus a
//!   22-byte leaf node (8-byte node header, 4-byte key, 8-byte page number, 2-byte slot) shared
//!   by 51 headers: 80.4 bytes a header, against about 95 for one 80-byte value per height key
//!   (a 14-byte node per header). Only the last group is ever rewritten by an append.
//! - **The hash index is partitioned by height.** A random key over the whole chain (schema 1's
//!   32-byte hash) spreads every commit's inserts over nearly every leaf of the index, so each
//!   commit copies the whole index and LMDB keeps the freed copies until two commits later: the
//!   data file held about 2.5 copies of a 68-byte-a-header index. Putting `height >> 16` first
//!   confines a commit's inserts to the newest partition of 65,536 heights (about 2 MB), so
//!   older partitions are never copied again; a 10-byte key with an empty value is a 20-byte
//!   entry (8-byte node header, key, 2-byte slot), about 29 bytes at the 69% fill of random
//!   inserts. When the chain enters a new partition, the one below (now complete, and the last
//!   in key order) is rewritten in key order with `MDB_APPEND`, which fills its pages: 20
//!   bytes a header in every complete partition (the migration writes them that way from the
//!   start). A lookup probes each partition (16 at a million headers, a B-tree seek each).
//! - **A 6-byte prefix, verified.** The first bytes of `to_byte_array()` are the random end of
//!   a hash (the last are zeros on mainnet). Two headers of one partition share a prefix with
//!   probability about 2^-17 per partition; the height in the key keeps both entries, and every
//!   lookup compares the full hash of the header a candidate points to, so a collision costs
//!   one more header read and never returns the wrong header. No DUPSORT is needed: the keys
//!   are distinct.
//! - **Only the best chain is indexed.** Side headers (stale blocks, short reorgs: few) are
//!   keyed by their full hash in `side`, which a lookup by hash reads first.

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Work};
use headway_core::chain::header_bytes;

/// The version of this layout, kept under [`META_SCHEMA`]. A store with a newer version is
/// refused untouched; a schema-1 or schema-2 store is migrated on its first read-write open.
pub const SCHEMA_VERSION: u32 = 4;

/// Schema 3: schema 4 with the hash index as one key a header (`hashes`, [`DB_HASHES_V3`]).
pub(crate) const SCHEMA_V3: u32 = 3;

/// Schema 2: schema 3 with every best-chain header indexed, the tail included.
pub(crate) const SCHEMA_V2: u32 = 2;

/// The first height the hash index does not hold when the best chain's tip is at `tip`: the
/// start of the tip's partition. Every best-chain header below it is indexed, none at or
/// above it.
pub(crate) fn indexed_end(tip: u32) -> u32 {
    (tip >> PARTITION_BITS) << PARTITION_BITS
}

/// The named databases of the environment.
pub(crate) const DB_META: &str = "meta";
/// Best chain in groups: group number (u32 big-endian) → up to [`GROUP_HEADERS`] headers.
pub(crate) const DB_HEADERS: &str = "headers";
/// The best chain's hash index: [`partition_key`] → the partition's entries
/// ([`PartitionEntries`]).
pub(crate) const DB_HASH_INDEX: &str = "hash_index";
/// Schemas 2 and 3's hash index (partition ‖ 6-byte hash prefix ‖ low height bits → nothing),
/// which the migration to schema 4 drops.
pub(crate) const DB_HASHES_V3: &str = "hashes";
/// Headers off the best chain: hash (32 bytes) → height (4, big-endian) ‖ header (80). The same
/// format in both schemas.
pub(crate) const DB_SIDE: &str = "side";
/// The address book (see `addrbook.rs`): the core's record key → the core's record value, plus
/// the book's secret under [`ADDR_SECRET_KEY`].
pub(crate) const DB_ADDRBOOK: &str = "addrbook";
/// How many named databases the environment may hold open (LMDB's `max_dbs`: handles this
/// process opens): schema 4's five and, while migrating, schema 1's `best` and `index` and
/// schema 3's `hashes`.
pub(crate) const DB_COUNT: u32 = 8;

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
/// Metadata key, only while a schema-1 store is being migrated: the next height to copy (u32
/// big-endian) ‖ the hash of the header below it (32 bytes), see [`migration_value`].
pub(crate) const META_MIGRATION: &[u8] = b"migration";

/// Serialized header size.
pub(crate) const HEADER_LEN: usize = header_bytes::HEADER_LEN;
/// LMDB's page size on the platforms headway runs on (x86-64, aarch64 Linux: 4 KiB).
pub(crate) const PAGE_SIZE: usize = 4096;
/// LMDB's page header (`PAGEHDRSZ`), which an overflow page spends before its data.
pub(crate) const PAGE_HEADER_LEN: usize = 16;
/// Best-chain headers a group holds: as many as fill one overflow page, `(4096 - 16) / 80`.
pub(crate) const GROUP_HEADERS: u32 = ((PAGE_SIZE - PAGE_HEADER_LEN) / HEADER_LEN) as u32;
/// A full group's value length: 4080 bytes.
pub(crate) const GROUP_LEN: usize = GROUP_HEADERS as usize * HEADER_LEN;
/// Heights a hash-index partition covers: `height >> 16` leads the key.
pub(crate) const PARTITION_BITS: u32 = 16;
/// The heights of one hash-index partition: 65,536.
pub(crate) const PARTITION_HEIGHTS: u32 = 1 << PARTITION_BITS;
/// The hash bytes an index entry keeps (the start of `to_byte_array()`, the random end).
pub(crate) const INDEX_PREFIX_LEN: usize = 4;
/// An index entry's length: prefix ‖ the height's offset in its partition (u16).
pub(crate) const INDEX_ENTRY_LEN: usize = INDEX_PREFIX_LEN + 2;
/// A complete partition's value in `hash_index`: an entry for each of its heights, 393,216
/// bytes (97 overflow pages).
pub(crate) const PARTITION_VALUE_LEN: usize = PARTITION_HEIGHTS as usize * INDEX_ENTRY_LEN;

/// The group of `height` and its place in it.
pub(crate) fn group_of(height: u32) -> (u32, usize) {
    (height / GROUP_HEADERS, (height % GROUP_HEADERS) as usize)
}

/// The first height of group `group` (saturating: no group is that high).
pub(crate) fn group_start(group: u32) -> u32 {
    group.saturating_mul(GROUP_HEADERS)
}

/// The key of a group in `headers`, and of a height in schema 1's `best`: u32 big-endian, so
/// keys sort like numbers.
pub(crate) fn height_key(height: u32) -> [u8; 4] {
    height.to_be_bytes()
}

/// Decodes a 4-byte big-endian key; `None` if it is not 4 bytes.
pub(crate) fn decode_height(bytes: &[u8]) -> Option<u32> {
    let arr: [u8; 4] = bytes.try_into().ok()?;
    Some(u32::from_be_bytes(arr))
}

/// The key of hash-index partition `partition` in `hash_index`: u16 big-endian, so keys sort
/// like partitions.
pub(crate) fn partition_key(partition: u16) -> [u8; 2] {
    partition.to_be_bytes()
}

/// Decodes a partition key; `None` if it is not 2 bytes.
pub(crate) fn decode_partition_key(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

/// The partition of `height` in the hash index.
pub(crate) fn index_partition(height: u32) -> u16 {
    (height >> PARTITION_BITS) as u16
}

/// The first height of partition `partition`.
pub(crate) fn partition_start(partition: u16) -> u32 {
    u32::from(partition) << PARTITION_BITS
}

/// The index entry of the best-chain header `hash` at `height`, as the integer entries sort by:
/// the hash's first [`INDEX_PREFIX_LEN`] bytes (big-endian) above the height's low 16 bits.
pub(crate) fn index_entry(height: u32, hash: &BlockHash) -> u64 {
    (u64::from(hash_prefix(hash)) << 16) | u64::from(height & 0xffff)
}

/// The first [`INDEX_PREFIX_LEN`] bytes of `hash` (of `to_byte_array()`, the random end), as an
/// integer: what an entry is searched by.
pub(crate) fn hash_prefix(hash: &BlockHash) -> u32 {
    const _: () = assert!(INDEX_PREFIX_LEN == 4, "a prefix is a u32");
    let bytes = hash.as_byte_array();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A complete partition's value from its entries ([`index_entry`], sorted ascending): each as
/// [`INDEX_ENTRY_LEN`] big-endian bytes.
pub(crate) fn encode_partition(entries: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * INDEX_ENTRY_LEN);
    for entry in entries {
        out.extend_from_slice(&entry.to_be_bytes()[8 - INDEX_ENTRY_LEN..]);
    }
    out
}

/// A complete partition's value, read in place from the memory map: [`PARTITION_HEIGHTS`]
/// entries in ascending order (`encode_partition`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartitionEntries<'a>(&'a [u8]);

impl<'a> PartitionEntries<'a> {
    /// The entries of a stored value; `None` unless it is exactly [`PARTITION_VALUE_LEN`]
    /// bytes (a complete partition).
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() == PARTITION_VALUE_LEN).then_some(PartitionEntries(bytes))
    }

    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len() / INDEX_ENTRY_LEN
    }

    /// Entry `i` (below [`Self::len`]) as an integer.
    pub(crate) fn get(&self, i: usize) -> u64 {
        let mut out = [0u8; 8];
        out[8 - INDEX_ENTRY_LEN..]
            .copy_from_slice(&self.0[i * INDEX_ENTRY_LEN..(i + 1) * INDEX_ENTRY_LEN]);
        u64::from_be_bytes(out)
    }

    /// The first position whose entry is at least `entry` (binary search; [`Self::len`] if
    /// none is).
    fn lower_bound(&self, entry: u64) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if self.get(mid) < entry {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// Whether `entry` is present.
    pub(crate) fn contains(&self, entry: u64) -> bool {
        let at = self.lower_bound(entry);
        at < self.len() && self.get(at) == entry
    }

    /// The heights' low 16 bits of the entries whose prefix is `hash`'s: the candidates a
    /// lookup reads and checks by full hash (usually none or one).
    pub(crate) fn candidates(&self, hash: &BlockHash) -> impl Iterator<Item = u16> + 'a {
        let prefix = u64::from(hash_prefix(hash));
        let this = *self;
        (this.lower_bound(prefix << 16)..this.len())
            .map(move |i| this.get(i))
            .take_while(move |entry| entry >> 16 == prefix)
            .map(|entry| (entry & 0xffff) as u16)
    }
}

/// A header in its 80-byte wire form (the core's codec, `headway_core::chain::header_bytes`).
pub(crate) fn encode_header(header: &Header) -> [u8; HEADER_LEN] {
    header_bytes::encode(header)
}

/// Decodes an 80-byte header; `None` if the bytes are not exactly one header.
pub(crate) fn decode_header(bytes: &[u8]) -> Option<Header> {
    Some(header_bytes::decode(bytes.try_into().ok()?))
}

/// The `prev_blockhash` of a header's 80-byte serialization, undecoded: the hash of the header
/// below it, which is what the hash index is built from.
pub(crate) fn prev_hash_of(bytes: &[u8; HEADER_LEN]) -> BlockHash {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[4..36]);
    BlockHash::from_byte_array(out)
}

/// The key of a header in the side database (and in schema 1's index).
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

/// The migration record: the next height to copy ‖ the hash of the header below it, by which
/// a resumed migration tells that the schema-1 chain it copies is still the one it started on.
/// The same format as the tip record.
pub(crate) fn migration_value(next: u32, below: &BlockHash) -> [u8; 36] {
    tip_value(next, below)
}

/// Decodes the migration record.
pub(crate) fn decode_migration_value(bytes: &[u8]) -> Option<(u32, BlockHash)> {
    decode_tip_value(bytes)
}

/// Decodes a stored chain work.
pub(crate) fn decode_work(bytes: &[u8]) -> Option<Work> {
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(Work::from_be_bytes(arr))
}

/// Schema 1, as the migration reads it (and as test support writes it).
pub(crate) mod v1 {
    /// The schema version of this layout.
    pub(crate) const SCHEMA_VERSION: u32 = 1;
    /// Best chain: big-endian height (4 bytes, [`super::height_key`]) → header (80 bytes).
    pub(crate) const DB_BEST: &str = "best";
    /// Every stored header, best or side: hash (32 bytes) → height (4, big-endian) ‖ flag (1).
    pub(crate) const DB_INDEX: &str = "index";
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::block::Version;
    use bitcoin::consensus::{deserialize, serialize};
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
        assert_eq!(decode_tip_value(&tip_value(11, &hash)), Some((11, hash)));
        assert_eq!(
            decode_migration_value(&migration_value(12, &hash)),
            Some((12, hash))
        );
        assert_eq!(decode_hash(&hash_key(&hash)), Some(hash));
        assert_eq!(decode_height(&height_key(0x0102_0304)), Some(0x0102_0304));
        for partition in [0, 1, 15, u16::MAX] {
            assert_eq!(
                decode_partition_key(&partition_key(partition)),
                Some(partition)
            );
            assert_eq!(index_partition(partition_start(partition)), partition);
        }
        // Genesis's hash starts 6f e2 8c 0a (the random end of 000000000019d6...).
        assert_eq!(index_entry(0x1_0005, &hash), 0x6fe2_8c0a_0005);
    }

    #[test]
    fn a_partition_finds_its_entries_and_only_them() {
        let hashes: Vec<BlockHash> = headway_regtest::chain(PARTITION_HEIGHTS as usize, 9)
            .iter()
            .take(PARTITION_HEIGHTS as usize)
            .map(Header::block_hash)
            .collect();
        let mut entries: Vec<u64> = hashes
            .iter()
            .enumerate()
            .map(|(height, hash)| index_entry(height as u32, hash))
            .collect();
        // Two heights sharing a prefix: both are candidates.
        let shared = BlockHash::from_byte_array({
            let mut bytes = [0xaa; 32];
            bytes[..4].copy_from_slice(&hashes[7].as_byte_array()[..4]);
            bytes
        });
        entries[8] = index_entry(8, &shared);
        entries.sort_unstable();
        let value = encode_partition(&entries);
        assert_eq!(value.len(), PARTITION_VALUE_LEN);
        assert!(PartitionEntries::parse(&value[1..]).is_none());
        let packed = PartitionEntries::parse(&value).unwrap();
        assert_eq!(packed.len(), PARTITION_HEIGHTS as usize);
        for (height, hash) in hashes.iter().enumerate().skip(9).step_by(97) {
            assert_eq!(
                packed.candidates(hash).collect::<Vec<_>>(),
                vec![height as u16]
            );
            assert!(packed.contains(index_entry(height as u32, hash)));
            assert!(!packed.contains(index_entry(height as u32 + 1, hash)));
        }
        let mut both: Vec<u16> = packed.candidates(&hashes[7]).collect();
        both.sort_unstable();
        assert_eq!(both, vec![7, 8]);
        let absent = BlockHash::from_byte_array([0xff; 32]);
        assert_eq!(packed.candidates(&absent).count(), 0);
        assert_eq!(
            packed
                .candidates(&BlockHash::from_byte_array([0; 32]))
                .count(),
            0
        );
    }

    #[test]
    fn the_header_codec_is_the_consensus_one() {
        for header in headway_regtest::chain(20, 3) {
            assert_eq!(encode_header(&header).to_vec(), serialize(&header));
            let odd = Header {
                version: Version::from_consensus(-7),
                ..header
            };
            let bytes = serialize(&odd);
            assert_eq!(decode_header(&bytes), Some(deserialize(&bytes).unwrap()));
        }
    }

    #[test]
    fn malformed_values_decode_to_none() {
        assert_eq!(decode_header(&[0u8; 79]), None);
        assert_eq!(decode_side_value(&[1, 2]), None);
        assert_eq!(decode_tip_value(&[0u8; 35]), None);
        assert_eq!(decode_work(&[0u8; 31]), None);
        assert_eq!(decode_partition_key(&[0u8; 3]), None);
    }

    #[test]
    fn keys_sort_like_heights_and_groups_fill_an_overflow_page() {
        assert!(height_key(255) < height_key(256));
        assert!(height_key(65_535) < height_key(1_000_000));
        assert_eq!(GROUP_HEADERS, 51);
        assert_eq!(GROUP_LEN + PAGE_HEADER_LEN, PAGE_SIZE);
        assert_eq!(group_of(50), (0, 50));
        assert_eq!(group_of(51), (1, 0));
        assert_eq!(group_start(2), 102);
        assert!(partition_key(0x00ff) < partition_key(0x0100));
        assert_eq!(PARTITION_VALUE_LEN, 393_216);
    }
}
