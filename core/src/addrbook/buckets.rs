//! Where an address sits in the book's tables: Core's keyed bucket arithmetic
//! (`AddrInfo::GetTriedBucket`, `GetNewBucket`, `GetBucketPosition` in addrman.cpp), and the
//! table sizes of addrman_impl.h.
//!
//! The hashing is keyed by the book's secret, so nobody outside can tell which addresses share
//! a bucket, and it goes through network groups, so one group (a /16, one hosting provider) and
//! one source group can only ever fill a fixed share of the book. Core hashes with SHA-256 over
//! the key; we use SipHash-2-4, a keyed PRF built for exactly this (hash flooding), keyed with
//! the first half of the secret, with the second half hashed in front of the data so every bit
//! of the secret counts. The arithmetic that picks buckets (`% 8`, `% 64`, the group inputs)
//! is Core's.

use bitcoin::hashes::siphash24;

use super::netgroup::NetGroup;
use super::record::AddrBookKey;

/// Buckets of the new table (Core's `ADDRMAN_NEW_BUCKET_COUNT`, 2^10).
pub const NEW_BUCKETS: usize = 1 << 10;
/// Buckets of the tried table (Core's `ADDRMAN_TRIED_BUCKET_COUNT`, 2^8).
pub const TRIED_BUCKETS: usize = 1 << 8;
/// Slots per bucket (Core's `ADDRMAN_BUCKET_SIZE`, 2^6).
pub const BUCKET_SIZE: usize = 1 << 6;
/// Tried buckets one address group can reach (Core's `ADDRMAN_TRIED_BUCKETS_PER_GROUP`).
pub const TRIED_BUCKETS_PER_GROUP: u64 = 8;
/// New buckets one source group can reach (Core's `ADDRMAN_NEW_BUCKETS_PER_SOURCE_GROUP`):
/// a source can fill at most 64 × 64 = 4096 of the 65,536 new slots.
pub const NEW_BUCKETS_PER_SOURCE_GROUP: u64 = 64;
/// New-table slots one address may hold (Core's `ADDRMAN_NEW_BUCKETS_PER_ADDRESS`).
pub const NEW_BUCKETS_PER_ADDRESS: u8 = 8;

/// The keyed hash of the book.
#[derive(Clone)]
pub struct Hasher {
    k0: u64,
    k1: u64,
    salt: [u8; 16],
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(<secret>)")
    }
}

impl Hasher {
    /// The hasher keyed by `key`.
    pub fn new(key: &AddrBookKey) -> Hasher {
        let b = key.to_bytes();
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&b[16..]);
        Hasher {
            k0: word(0),
            k1: word(8),
            salt,
        }
    }

    /// A 64-bit keyed hash of `parts`, each length-prefixed so that no two lists of parts
    /// hash the same input.
    fn hash(&self, tag: u8, parts: &[&[u8]]) -> u64 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&self.salt);
        data.push(tag);
        for part in parts {
            data.push(part.len() as u8);
            data.extend_from_slice(part);
        }
        siphash24::Hash::hash_to_u64_with_keys(self.k0, self.k1, &data)
    }

    /// Core's `GetTriedBucket`: `H(key, H(key, address) % 8, group) % 256`.
    pub fn tried_bucket(&self, address_key: &[u8], group: &NetGroup) -> usize {
        let h1 = self.hash(b'a', &[address_key]) % TRIED_BUCKETS_PER_GROUP;
        let h2 = self.hash(b'b', &[group.as_bytes(), &h1.to_le_bytes()]);
        (h2 % TRIED_BUCKETS as u64) as usize
    }

    /// Core's `GetNewBucket`: `H(key, source group, H(key, group, source group) % 64) % 1024`.
    pub fn new_bucket(&self, group: &NetGroup, source_group: &NetGroup) -> usize {
        let h1 = self.hash(b'c', &[group.as_bytes(), source_group.as_bytes()])
            % NEW_BUCKETS_PER_SOURCE_GROUP;
        let h2 = self.hash(b'd', &[source_group.as_bytes(), &h1.to_le_bytes()]);
        (h2 % NEW_BUCKETS as u64) as usize
    }

    /// Core's `GetBucketPosition`: the slot in `bucket` of the new (`is_new`) or tried table.
    pub fn position(&self, is_new: bool, bucket: usize, address_key: &[u8]) -> usize {
        let table = [if is_new { b'N' } else { b'K' }];
        let h = self.hash(b'e', &[&table, &(bucket as u32).to_le_bytes(), address_key]);
        (h % BUCKET_SIZE as u64) as usize
    }
}
