//! The address book as the store keeps it: records the core encodes and decodes, opaque to the
//! store, and the changes the core hands out for the store to write.
//!
//! The store only moves bytes: a record's key is the address (BIP155 network id, address bytes,
//! port) and its value the entry's fields in a versioned encoding, both owned by the core
//! (`entry.rs`). So the layout can change without touching the store, and a record the core
//! cannot read is skipped at load with a warning instead of failing the whole book.

use std::fmt;

/// The secret that keys the address book's bucket hashing (Core's `nKey`), kept with the book
/// so that buckets stay where they were across restarts, as Core keeps it in `peers.dat`.
///
/// It is drawn from the cryptographic generator, never the nonce generator, and never logged:
/// whoever knows it can aim addresses at chosen buckets. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct AddrBookKey([u8; 32]);

impl AddrBookKey {
    /// A key from its 32 stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> AddrBookKey {
        AddrBookKey(bytes)
    }

    /// The 32 bytes to store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Debug for AddrBookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddrBookKey(<secret>)")
    }
}

/// One address book entry as stored: `key` names the address, `value` holds the rest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddrRecord {
    /// The address: BIP155 network id, address bytes, port (big-endian).
    pub key: Vec<u8>,
    /// The entry's fields in the core's versioned encoding.
    pub value: Vec<u8>,
}

/// A change of the address book for the store to write in one transaction: `upsert` replaces or
/// adds records by key, `remove` deletes keys, and `key` (when set) is the book's secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrBookChange {
    /// The book's secret, written when the book was created (or when it must be rewritten).
    pub key: Option<AddrBookKey>,
    /// Records to write, replacing any with the same key.
    pub upsert: Vec<AddrRecord>,
    /// Keys of records to delete; a missing key is not an error.
    pub remove: Vec<Vec<u8>>,
}

impl AddrBookChange {
    /// Whether writing it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.upsert.is_empty() && self.remove.is_empty()
    }
}

/// The address book as loaded from the store, before the core decodes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredAddrBook {
    /// The book's secret, if one was ever written.
    pub key: Option<AddrBookKey>,
    /// Every record, in key order.
    pub records: Vec<AddrRecord>,
}
