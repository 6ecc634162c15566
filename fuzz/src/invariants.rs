//! Invariants of a `HeaderChain` that every fuzz target checks the same way.

use headway_core::HeaderChain;

/// Walks the best chain from the tip down to `down_to` (0: all the way) through the chain's
/// own accessors: the height index agrees with the tree, every header hashes to its entry, each
/// links to the one below, and height 0 is this network's genesis. Panics on any break.
pub fn assert_best_chain_links(chain: &HeaderChain, down_to: u32) {
    let mut hash = chain.tip_hash();
    let mut height = chain.tip_height();
    loop {
        assert_eq!(
            chain.hash_at(height),
            Some(hash),
            "best chain index disagrees at {height}"
        );
        let header = chain
            .entry(&hash)
            .expect("best-chain header is in the tree");
        assert_eq!(header.hash, hash);
        assert!(header.on_best && header.height == height);
        if height == 0 {
            assert_eq!(
                hash,
                chain.params().genesis_hash(),
                "the best chain must start at genesis"
            );
            return;
        }
        if height <= down_to {
            return;
        }
        hash = header.prev_blockhash;
        height -= 1;
    }
}
