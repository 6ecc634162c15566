//! The book as the store keeps it: rebuilding a book from stored records, and handing out
//! what changed since the last write. A child of `book` so that it works on the tables
//! directly.

use super::AddrBook;
use crate::addrbook::entry::{address_key, Entry};
use crate::addrbook::record::{AddrBookChange, AddrBookKey, AddrRecord};

impl AddrBook {
    /// A book rebuilt from stored records, with the stored key. Records that do not decode, or
    /// whose address this book would not accept, are skipped and counted; entries whose slot
    /// is taken by an earlier record are dropped as Core drops them when it re-buckets.
    /// Returns the book and the number of records skipped.
    pub fn restore(
        key: AddrBookKey,
        records: &[AddrRecord],
        accept_local: bool,
    ) -> (AddrBook, usize) {
        let mut book = AddrBook::new(key, accept_local);
        book.key_unsaved = false;
        let mut skipped = 0;
        for record in records {
            let Some(entry) = Entry::from_record(record) else {
                skipped += 1;
                continue;
            };
            if !book.acceptable(&entry.addr) || book.by_key.contains_key(&record.key) {
                skipped += 1;
                continue;
            }
            if !book.place_restored(entry) {
                // Its slot was taken: the store must forget it too.
                book.removed.insert(record.key.clone());
            }
        }
        (book, skipped)
    }

    /// What changed since the last call, for the store: every touched entry's record, every
    /// deleted key, and the key itself the first time.
    pub fn take_change(&mut self) -> AddrBookChange {
        let key = std::mem::take(&mut self.key_unsaved).then(|| self.key.clone());
        let upsert = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|k| self.by_key.get(&k).and_then(|id| self.entries.get(id)))
            .map(Entry::to_record)
            .collect();
        let remove = std::mem::take(&mut self.removed).into_iter().collect();
        AddrBookChange {
            key,
            upsert,
            remove,
        }
    }

    /// Places a restored entry in its table; false (and nothing kept) if its slot is taken.
    fn place_restored(&mut self, entry: Entry) -> bool {
        let key = address_key(&entry.addr, entry.port);
        let group = self.group(&entry.addr);
        let (tried, bucket) = if entry.in_tried {
            (true, self.hasher.tried_bucket(&key, &group))
        } else {
            (false, self.hasher.new_bucket(&group, &entry.source_group))
        };
        let position = self.hasher.position(!tried, bucket, &key);
        let table = if tried {
            &self.tried_table
        } else {
            &self.new_table
        };
        if table.get(bucket, position).is_some() {
            return false;
        }
        let id = self.insert_entry(
            key,
            Entry {
                refs: u8::from(!tried),
                ..entry
            },
        );
        let table = if tried {
            &mut self.tried_table
        } else {
            &mut self.new_table
        };
        table.set(bucket, position, id);
        true
    }
}
