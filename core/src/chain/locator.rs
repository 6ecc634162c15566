//! Block locators (Core's `LocatorEntries`, reference/protocol.md §3.4) and the serving side
//! of getheaders (Core's `FindForkInGlobalIndex` followed by walking the best chain), which
//! ends in a [`HeaderRange`] of the best chain for the store to read.

use bitcoin::BlockHash;

use super::tree::Tree;

/// Most entries a locator may have (Core's `MAX_LOCATOR_SZ`); ours never come near it.
pub const MAX_LOCATOR_ENTRIES: usize = 101;

/// Entries taken one step apart before the step starts doubling (Core: the tip plus 10).
const SINGLE_STEPS: usize = 10;

/// Best-chain headers to send: heights `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRange {
    /// The first height.
    pub first: u32,
    /// How many headers (0: an empty answer).
    pub count: u32,
}

/// The heights of a locator from `height`: the height itself, 10 single steps, then doubling
/// steps, always ending at 0.
pub fn locator_heights(height: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(32);
    let mut step = 1u32;
    let mut h = height;
    loop {
        out.push(h);
        if h == 0 {
            break;
        }
        h = h.saturating_sub(step);
        if out.len() > SINGLE_STEPS {
            step = step.saturating_mul(2);
        }
    }
    out
}

impl Tree {
    /// The locator from node `idx`, following its own ancestors (so it works off the best
    /// chain too).
    pub fn locator_from_node(&self, idx: u32) -> Vec<BlockHash> {
        let heights = locator_heights(self.node(idx).height);
        let mut out = Vec::with_capacity(heights.len());
        let mut walk = idx;
        for h in heights {
            walk = self.ancestor(walk, h);
            out.push(self.node(walk).hash);
        }
        out
    }

    /// Core's `FindForkInGlobalIndex`: the height on the best chain where a peer with this
    /// locator stands. The first entry we know that is on our best chain; 0 (genesis) if none.
    /// Core also maps an entry ahead of its tip on the same chain to the tip, because its
    /// active chain can trail the headers it holds; ours is the most-work header chain itself,
    /// so every known descendant of our tip is on it and that case cannot arise.
    pub fn fork_point(&self, locator: &[BlockHash]) -> u32 {
        locator
            .iter()
            .filter_map(|hash| self.lookup(hash))
            .find(|idx| self.is_on_best(*idx))
            .map_or(0, |idx| self.node(idx).height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locator_heights_from_1000_match_core_example() {
        let mut expected: Vec<u32> = (990..=1000).rev().collect();
        expected.extend([989, 987, 983, 975, 959, 927, 863, 735, 479, 0]);
        assert_eq!(locator_heights(1000), expected);
    }

    #[test]
    fn locator_heights_are_bounded_and_end_at_genesis() {
        for h in [0u32, 1, 10, 11, 12, 100, 5000, 1_000_000, u32::MAX - 1] {
            let l = locator_heights(h);
            assert!(l.len() <= MAX_LOCATOR_ENTRIES, "{h}");
            assert_eq!(l.last(), Some(&0));
            assert_eq!(l.first(), Some(&h));
            assert!(l.windows(2).all(|w| w[0] > w[1]));
        }
        assert_eq!(locator_heights(0), vec![0]);
        assert_eq!(locator_heights(3), vec![3, 2, 1, 0]);
    }
}
