//! Merging address book changes that wait for the same store commit.
//!
//! The core hands out [`AddrBookChange`]s in order; the store thread writes whatever is pending
//! in one transaction. [`PendingBook`] folds the pending changes into one that writes the same
//! final state as writing them one after the other:
//!
//! - a later upsert of a key replaces an earlier one;
//! - a removal after an upsert drops the upsert and removes the key;
//! - an upsert after a removal cancels the removal (the upsert replaces the record anyway);
//! - the book's secret: the last one given wins.
//!
//! Within one change the store applies the removals before the upserts (a key both removed and
//! upserted ends up stored), so [`PendingBook::push`] does the same. The merged change never
//! names a key both in `upsert` and in `remove`, so its own order of application is moot.

use std::collections::{BTreeMap, BTreeSet};

use headway_core::addrbook::{AddrBookChange, AddrBookKey, AddrRecord};

/// Address book changes waiting for one commit, merged as they arrive.
#[derive(Debug, Default, Clone)]
pub struct PendingBook {
    key: Option<AddrBookKey>,
    upsert: BTreeMap<Vec<u8>, Vec<u8>>,
    remove: BTreeSet<Vec<u8>>,
}

impl PendingBook {
    /// An empty merge.
    pub fn new() -> PendingBook {
        PendingBook::default()
    }

    /// Folds in `change`, which comes after every change pushed before it.
    pub fn push(&mut self, change: AddrBookChange) {
        if let Some(key) = change.key {
            self.key = Some(key);
        }
        for key in change.remove {
            self.upsert.remove(&key);
            self.remove.insert(key);
        }
        for record in change.upsert {
            self.remove.remove(&record.key);
            self.upsert.insert(record.key, record.value);
        }
    }

    /// Whether writing the merge would change nothing.
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.upsert.is_empty() && self.remove.is_empty()
    }

    /// Records the merge would write (for the log).
    pub fn upserts(&self) -> usize {
        self.upsert.len()
    }

    /// Keys the merge would delete (for the log).
    pub fn removals(&self) -> usize {
        self.remove.len()
    }

    /// The merged change, in key order, leaving the merge empty.
    pub fn take(&mut self) -> AddrBookChange {
        let merged = std::mem::take(self);
        AddrBookChange {
            key: merged.key,
            upsert: merged
                .upsert
                .into_iter()
                .map(|(key, value)| AddrRecord { key, value })
                .collect(),
            remove: merged.remove.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: u8, value: u8) -> AddrRecord {
        AddrRecord {
            key: vec![1, key],
            value: vec![value],
        }
    }

    fn upsert(records: &[(u8, u8)]) -> AddrBookChange {
        AddrBookChange {
            upsert: records.iter().map(|&(k, v)| record(k, v)).collect(),
            ..AddrBookChange::default()
        }
    }

    fn remove(keys: &[u8]) -> AddrBookChange {
        AddrBookChange {
            remove: keys.iter().map(|&k| vec![1, k]).collect(),
            ..AddrBookChange::default()
        }
    }

    fn merged(changes: Vec<AddrBookChange>) -> AddrBookChange {
        let mut pending = PendingBook::new();
        for change in changes {
            pending.push(change);
        }
        pending.take()
    }

    #[test]
    fn a_later_upsert_replaces_an_earlier_one() {
        let m = merged(vec![upsert(&[(1, 10), (2, 20)]), upsert(&[(1, 11)])]);
        assert_eq!(m.upsert, vec![record(1, 11), record(2, 20)]);
        assert!(m.remove.is_empty());
        // Within one change too: the later record of a key wins, as the store writes it.
        let m = merged(vec![upsert(&[(3, 30), (3, 31)])]);
        assert_eq!(m.upsert, vec![record(3, 31)]);
    }

    #[test]
    fn a_removal_after_an_upsert_drops_it_and_removes() {
        let m = merged(vec![upsert(&[(1, 10), (2, 20)]), remove(&[1])]);
        assert_eq!(m.upsert, vec![record(2, 20)]);
        assert_eq!(m.remove, vec![vec![1, 1]]);
    }

    #[test]
    fn an_upsert_after_a_removal_cancels_it() {
        let m = merged(vec![remove(&[1, 2]), upsert(&[(1, 12)])]);
        assert_eq!(m.upsert, vec![record(1, 12)]);
        assert_eq!(m.remove, vec![vec![1, 2]]);
        // Removed, upserted, removed again: removed.
        let m = merged(vec![remove(&[5]), upsert(&[(5, 1)]), remove(&[5])]);
        assert!(m.upsert.is_empty());
        assert_eq!(m.remove, vec![vec![1, 5]]);
    }

    #[test]
    fn one_change_removes_before_it_upserts() {
        // The store's rule for a single change: a key both removed and upserted ends up stored.
        let change = AddrBookChange {
            upsert: vec![record(4, 40)],
            remove: vec![vec![1, 4]],
            ..AddrBookChange::default()
        };
        let m = merged(vec![upsert(&[(4, 1)]), change]);
        assert_eq!(m.upsert, vec![record(4, 40)]);
        assert!(m.remove.is_empty());
    }

    #[test]
    fn the_last_key_wins_and_a_keyless_change_keeps_it() {
        let key = |b| AddrBookChange {
            key: Some(AddrBookKey::from_bytes([b; 32])),
            ..AddrBookChange::default()
        };
        let m = merged(vec![key(1), upsert(&[(1, 1)]), key(2), remove(&[9])]);
        assert_eq!(m.key, Some(AddrBookKey::from_bytes([2; 32])));
        let m = merged(vec![key(7), upsert(&[(1, 1)])]);
        assert_eq!(m.key, Some(AddrBookKey::from_bytes([7; 32])));
    }

    #[test]
    fn taking_empties_the_merge() {
        let mut pending = PendingBook::new();
        assert!(pending.is_empty());
        pending.push(AddrBookChange::default());
        assert!(pending.is_empty(), "an empty change leaves it empty");
        pending.push(upsert(&[(1, 1), (2, 2)]));
        pending.push(remove(&[3]));
        assert_eq!((pending.upserts(), pending.removals()), (2, 1));
        assert!(!pending.take().is_empty());
        assert!(pending.is_empty());
        assert!(pending.take().is_empty());
    }

    #[test]
    fn merging_writes_what_writing_in_order_writes() {
        // A small model of the store: apply each change (removals, then upserts) to a map, and
        // compare with applying the merge once, over many pseudo-random sequences.
        fn apply(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, change: &AddrBookChange) {
            for key in &change.remove {
                state.remove(key);
            }
            for r in &change.upsert {
                state.insert(r.key.clone(), r.value.clone());
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as u8
        };
        for _ in 0..500 {
            let start: BTreeMap<Vec<u8>, Vec<u8>> =
                (0..4).map(|k| (vec![1, k], vec![0xff])).collect();
            let mut one_by_one = start.clone();
            let mut pending = PendingBook::new();
            for _ in 0..next(6) {
                let ups: Vec<(u8, u8)> = (0..next(4)).map(|_| (next(6), next(250))).collect();
                let rms: Vec<u8> = (0..next(3)).map(|_| next(6)).collect();
                let mut change = upsert(&ups);
                change.remove = remove(&rms).remove;
                apply(&mut one_by_one, &change);
                pending.push(change);
            }
            let mut at_once = start;
            let m = pending.take();
            assert!(m.upsert.iter().all(|r| !m.remove.contains(&r.key)));
            apply(&mut at_once, &m);
            assert_eq!(at_once, one_by_one);
        }
    }
}
