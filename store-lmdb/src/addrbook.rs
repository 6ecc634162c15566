//! The address book in the store: this module owns the `addrbook` database, its loading
//! ([`HeaderStore::load_addr_book`]), its writing ([`HeaderStore::write_addr_book`], and
//! [`HeaderStore::apply_with_addr_book`] for a header batch and a book change in one
//! transaction) and its part of [`HeaderStore::verify`].
//!
//! # Layout
//!
//! One named database, `addrbook`, beside the header databases:
//!
//! | key | value |
//! |---|---|
//! | [`AddrRecord::key`] (BIP155 network id 1..=6, address bytes, port) | [`AddrRecord::value`] |
//! | `0x00` ‖ `secret` (reserved) | the book's [`AddrBookKey`], 32 bytes |
//!
//! The store does not interpret records: their bytes belong to the core. It only relies on a
//! record key never starting with `0x00` (a BIP155 network id is never 0), so every key that
//! starts with `0x00` is reserved for the store; the secret is the only one used so far. One
//! database instead of a second one for the secret keeps the book in one B-tree and one
//! `max_dbs` slot, and loading is one range scan that starts past the reserved keys. A change
//! whose record key starts with `0x00` is refused ([`StoreError::BadAddrChange`]), so a record
//! can never overwrite the secret.
//!
//! # Old stores
//!
//! Stores written before the address book existed (schema 1 without `addrbook`) keep schema
//! version 1: a read-write open adds the empty database in one transaction of its own after the
//! metadata checks pass, and a read-only open of such a store loads an empty book. Builds that
//! predate the book open newer stores unchanged: they never open `addrbook`.
//!
//! # Crash safety
//!
//! Every change is one LMDB transaction: [`HeaderStore::write_addr_book`] writes the secret, the
//! removals and the upserts of one [`AddrBookChange`] together or not at all, and
//! [`HeaderStore::apply_with_addr_book`] writes a header batch and a book change together. A
//! killed process or a power loss (within the limits of the store's [`crate::Durability`]) leaves
//! the book as of the last commit, never half a change. A full map is grown and the whole
//! transaction retried, as for header writes.
//!
//! # Bounds
//!
//! The core caps the book (about 82,000 entries, values under 100 bytes). The store does not
//! enforce the cap, but bounds what it loads: at most [`ADDR_BOOK_MAX_RECORDS`] records, each
//! value at most [`ADDR_BOOK_MAX_VALUE_LEN`] bytes (longer values are refused on write and
//! skipped on load), so a damaged or hostile data file cannot make loading allocate without
//! limit.

use std::ops::Bound;

use headway_core::addrbook::{AddrBookChange, AddrBookKey, AddrRecord, StoredAddrBook};
use headway_core::PersistChain;
use heed::{RoTxn, RwTxn};

use crate::error::StoreError;
use crate::layout::{self, ADDR_RESERVED_PREFIX, ADDR_SECRET_KEY, ADDR_SECRET_LEN};
use crate::store::{HeaderStore, RawDb};

/// The most records [`HeaderStore::load_addr_book`] returns (about 1.6 times the core's cap);
/// records past it, in key order, are left out with a warning.
pub const ADDR_BOOK_MAX_RECORDS: usize = 131_072;

/// The longest record value the store writes or loads, in bytes (the core's are under 100).
pub const ADDR_BOOK_MAX_VALUE_LEN: usize = 512;

/// The first key past the reserved range: where the records begin.
const FIRST_RECORD_KEY: [u8; 1] = [ADDR_RESERVED_PREFIX + 1];

/// An [`AddrBookChange`] checked once and ready to be written (again, after a map growth).
struct CheckedChange<'a> {
    key: Option<[u8; ADDR_SECRET_LEN]>,
    remove: &'a [Vec<u8>],
    /// Sorted by key (writing in key order touches each B-tree page once); stable, so of two
    /// records with one key the later in the change is written last and wins.
    upsert: Vec<&'a AddrRecord>,
}

impl HeaderStore {
    /// The address book as stored: the secret if one was written, and the records in key order
    /// (at most [`ADDR_BOOK_MAX_RECORDS`], values over [`ADDR_BOOK_MAX_VALUE_LEN`] skipped with a
    /// warning). Works on read-only stores. A store without an address book database (written
    /// before it existed, opened read-only) gives an empty book, as does a new store. A stored
    /// secret of the wrong length is left out with a warning (the core then makes a new one)
    /// and reported by [`HeaderStore::verify`].
    pub fn load_addr_book(&self) -> Result<StoredAddrBook, StoreError> {
        let Some(db) = self.addrbook else {
            return Ok(StoredAddrBook::default());
        };
        self.read(|txn| {
            let key = match db.get(txn, ADDR_SECRET_KEY)? {
                None => None,
                Some(raw) => match <[u8; ADDR_SECRET_LEN]>::try_from(raw) {
                    Ok(bytes) => Some(AddrBookKey::from_bytes(bytes)),
                    Err(_) => {
                        tracing::warn!(
                            dir = %self.dir.display(),
                            len = raw.len(),
                            "address book secret has the wrong length; ignored"
                        );
                        None
                    }
                },
            };
            let stored = usize::try_from(db.len(txn)?).unwrap_or(usize::MAX);
            let mut records = Vec::with_capacity(stored.min(ADDR_BOOK_MAX_RECORDS));
            let mut oversized = 0u64;
            let mut left_out = false;
            for entry in db.range(txn, &records_range())? {
                let (key, value) = entry?;
                if value.len() > ADDR_BOOK_MAX_VALUE_LEN {
                    oversized += 1;
                    continue;
                }
                if records.len() == ADDR_BOOK_MAX_RECORDS {
                    left_out = true;
                    break;
                }
                records.push(AddrRecord {
                    key: key.to_vec(),
                    value: value.to_vec(),
                });
            }
            if oversized > 0 {
                tracing::warn!(
                    dir = %self.dir.display(),
                    oversized,
                    max = ADDR_BOOK_MAX_VALUE_LEN,
                    "address book records with oversized values skipped"
                );
            }
            if left_out {
                tracing::warn!(
                    dir = %self.dir.display(),
                    stored,
                    max = ADDR_BOOK_MAX_RECORDS,
                    "address book holds more records than the store loads; the rest left out"
                );
            }
            tracing::debug!(records = records.len(), "address book loaded");
            Ok(StoredAddrBook { key, records })
        })
    }

    /// Writes `change` in one write transaction: the secret (when set), then the removals (a
    /// missing key is fine), then the upserts (replacing records with the same key; of two
    /// upserts with one key the later wins; a key both removed and upserted ends up stored).
    /// Either all of it is stored or none. A full map is grown and the transaction retried. An
    /// empty change writes nothing. Refuses, before writing anything, a record key that is
    /// empty, longer than LMDB's key limit or starts with `0x00` (reserved), and a value longer
    /// than [`ADDR_BOOK_MAX_VALUE_LEN`] ([`StoreError::BadAddrChange`]); on a read-only store,
    /// [`StoreError::ReadOnly`].
    pub fn write_addr_book(&self, change: &AddrBookChange) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if change.is_empty() {
            return Ok(());
        }
        let checked = self.check_addr_change(change)?;
        self.write(|txn| self.apply_addr_change(txn, &checked))
    }

    /// [`HeaderStore::apply`] and [`HeaderStore::write_addr_book`] in one write transaction, for
    /// the store thread's commits: the header changes and the book change are stored together
    /// or not at all. If the header changes do not fit the stored chain
    /// ([`StoreError::Mismatch`]) or the book change is refused, nothing is written, the book
    /// change included. Either part may be empty; both empty writes nothing.
    pub fn apply_with_addr_book(
        &self,
        changes: &[PersistChain],
        addr_change: &AddrBookChange,
    ) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if changes.is_empty() && addr_change.is_empty() {
            return Ok(());
        }
        let checked = self.check_addr_change(addr_change)?;
        self.write(|txn| {
            if !changes.is_empty() {
                self.apply_in(txn, changes)?;
            }
            if !addr_change.is_empty() {
                self.apply_addr_change(txn, &checked)?;
            }
            Ok(())
        })
    }

    /// Checks a change against what the store can hold and sorts its upserts.
    fn check_addr_change<'a>(
        &self,
        change: &'a AddrBookChange,
    ) -> Result<CheckedChange<'a>, StoreError> {
        let max_key = self.env.max_key_size();
        let check_key = |key: &[u8], what: &str| match key.first() {
            None => Err(StoreError::BadAddrChange(format!(
                "{what} with an empty key"
            ))),
            Some(&ADDR_RESERVED_PREFIX) => Err(StoreError::BadAddrChange(format!(
                "{what} key {key:02x?} starts with the reserved byte 0x00"
            ))),
            Some(_) if key.len() > max_key => Err(StoreError::BadAddrChange(format!(
                "{what} key of {} bytes, LMDB keys hold at most {max_key}",
                key.len()
            ))),
            Some(_) => Ok(()),
        };
        for key in &change.remove {
            check_key(key, "removal")?;
        }
        for record in &change.upsert {
            check_key(&record.key, "record")?;
            if record.value.len() > ADDR_BOOK_MAX_VALUE_LEN {
                return Err(StoreError::BadAddrChange(format!(
                    "record {:02x?} has a value of {} bytes, the store keeps at most {}",
                    record.key,
                    record.value.len(),
                    ADDR_BOOK_MAX_VALUE_LEN
                )));
            }
        }
        let mut upsert: Vec<&AddrRecord> = change.upsert.iter().collect();
        upsert.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(CheckedChange {
            key: change.key.as_ref().map(AddrBookKey::to_bytes),
            remove: &change.remove,
            upsert,
        })
    }

    /// Writes a checked change inside `txn` (the caller commits, or aborts on error).
    fn apply_addr_change(&self, txn: &mut RwTxn, change: &CheckedChange) -> Result<(), StoreError> {
        let db = self.addr_db()?;
        if let Some(secret) = &change.key {
            db.put(txn, ADDR_SECRET_KEY, secret)?;
        }
        for key in change.remove {
            // `false` for a key that was not stored: nothing to do.
            db.delete(txn, key)?;
        }
        for record in &change.upsert {
            db.put(txn, &record.key, &record.value)?;
        }
        tracing::debug!(
            key = change.key.is_some(),
            removed = change.remove.len(),
            upserted = change.upsert.len(),
            "address book change written"
        );
        Ok(())
    }

    /// The address book database of a read-write store (always opened or created on open).
    fn addr_db(&self) -> Result<RawDb, StoreError> {
        self.addrbook
            .ok_or_else(|| self.corrupt(format!("the {} database is missing", layout::DB_ADDRBOOK)))
    }

    /// The address book's part of [`HeaderStore::verify`]: the secret, when stored, is 32
    /// bytes; no other reserved key is used; no value is over the store's bound. Returns the
    /// problems found, one line each (at most `limit`).
    pub(crate) fn verify_addr_book(
        &self,
        txn: &RoTxn,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let Some(db) = self.addrbook else {
            return Ok(problems);
        };
        let reserved = (Bound::Unbounded, Bound::Excluded(&FIRST_RECORD_KEY[..]));
        for entry in db.range(txn, &reserved)? {
            let (key, value) = entry?;
            if key == ADDR_SECRET_KEY {
                if value.len() != ADDR_SECRET_LEN {
                    problems.push(format!(
                        "address book secret is {} bytes, not {ADDR_SECRET_LEN}",
                        value.len()
                    ));
                }
            } else {
                problems.push(format!("address book entry under reserved key {key:02x?}"));
            }
            if problems.len() >= limit {
                return Ok(problems);
            }
        }
        for entry in db.range(txn, &records_range())? {
            let (key, value) = entry?;
            if value.len() > ADDR_BOOK_MAX_VALUE_LEN {
                problems.push(format!(
                    "address book record {key:02x?} has a value of {} bytes",
                    value.len()
                ));
                if problems.len() >= limit {
                    break;
                }
            }
        }
        Ok(problems)
    }
}

/// The key range of the records: everything past the reserved keys.
fn records_range() -> (Bound<&'static [u8]>, Bound<&'static [u8]>) {
    (Bound::Included(&FIRST_RECORD_KEY[..]), Bound::Unbounded)
}
