//! One of the book's two tables (new or tried): buckets of slots holding entry ids, and the set
//! of buckets that hold anything, so that picking a random entry costs a few probes however
//! empty the table is. Core picks a uniformly random bucket and retries empty ones; picking
//! uniformly among the non-empty buckets gives the same distribution without the retries.

use super::buckets::BUCKET_SIZE;

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// A table of `buckets × BUCKET_SIZE` slots.
#[derive(Debug, Clone)]
pub struct Table {
    slots: Vec<u32>,
    /// Occupied slots per bucket.
    counts: Vec<u8>,
    /// Buckets with at least one occupied slot, in no order.
    nonempty: Vec<u32>,
    /// Where each bucket is in `nonempty` (`EMPTY` if absent).
    nonempty_at: Vec<u32>,
    len: usize,
}

impl Table {
    /// An empty table of `buckets` buckets.
    pub fn new(buckets: usize) -> Table {
        Table {
            slots: vec![EMPTY; buckets * BUCKET_SIZE],
            counts: vec![0; buckets],
            nonempty: Vec::new(),
            nonempty_at: vec![EMPTY; buckets],
            len: 0,
        }
    }

    /// Occupied slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The entry id in `bucket` at `position`.
    pub fn get(&self, bucket: usize, position: usize) -> Option<u32> {
        let id = *self.slots.get(bucket * BUCKET_SIZE + position)?;
        (id != EMPTY).then_some(id)
    }

    /// Puts `id` at the slot, which must be empty.
    pub fn set(&mut self, bucket: usize, position: usize, id: u32) {
        let slot = &mut self.slots[bucket * BUCKET_SIZE + position];
        debug_assert_eq!(*slot, EMPTY);
        *slot = id;
        self.len += 1;
        self.counts[bucket] += 1;
        if self.counts[bucket] == 1 {
            self.nonempty_at[bucket] = self.nonempty.len() as u32;
            self.nonempty.push(bucket as u32);
        }
    }

    /// Empties the slot; returns what it held.
    pub fn clear(&mut self, bucket: usize, position: usize) -> Option<u32> {
        let slot = &mut self.slots[bucket * BUCKET_SIZE + position];
        if *slot == EMPTY {
            return None;
        }
        let id = std::mem::replace(slot, EMPTY);
        self.len -= 1;
        self.counts[bucket] -= 1;
        if self.counts[bucket] == 0 {
            let at = self.nonempty_at[bucket] as usize;
            self.nonempty.swap_remove(at);
            if let Some(&moved) = self.nonempty.get(at) {
                self.nonempty_at[moved as usize] = at as u32;
            }
            self.nonempty_at[bucket] = EMPTY;
        }
        Some(id)
    }

    /// Buckets holding anything.
    pub fn nonempty_buckets(&self) -> usize {
        self.nonempty.len()
    }

    /// The `i`th non-empty bucket (`i < nonempty_buckets()`).
    pub fn nonempty_bucket(&self, i: usize) -> usize {
        self.nonempty[i] as usize
    }

    /// The first occupied slot of `bucket` at or after `start`, wrapping around, as Core's
    /// `Select_` walks a bucket.
    pub fn first_from(&self, bucket: usize, start: usize) -> Option<u32> {
        (0..BUCKET_SIZE).find_map(|i| self.get(bucket, (start + i) % BUCKET_SIZE))
    }
}
