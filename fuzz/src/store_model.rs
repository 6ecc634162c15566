//! A model of the header store, fed only the `PersistChain` changes a chain or node emits: the
//! best chain as a list of hashes by height, and every other header in a side set, as
//! `headway-store-lmdb` keeps them (`apply.rs`: truncate to the fork, append the connected
//! headers, move the disconnected ones to the side). After every change the fuzz targets assert
//! that the chain the changes describe is the chain in memory, so that a node killed at any
//! instant would reopen to the chain it had.

use std::collections::HashMap;

use bitcoin::block::Header;
use bitcoin::BlockHash;
use headway_core::{HeaderChain, PersistChain};

/// What a store that carried out every change would hold.
#[derive(Debug, Clone)]
pub struct ModelStore {
    /// The best chain: `best[h]` is the hash at height `h`, genesis first.
    best: Vec<BlockHash>,
    /// The height of every stored header, best and side; the side set is what `best` lacks.
    known: HashMap<BlockHash, u32>,
}

impl ModelStore {
    /// A store holding only `genesis`.
    pub fn new(genesis: &Header) -> ModelStore {
        let hash = genesis.block_hash();
        ModelStore {
            best: vec![hash],
            known: HashMap::from([(hash, 0)]),
        }
    }

    /// The stored tip's height.
    pub fn tip_height(&self) -> u32 {
        (self.best.len() - 1) as u32
    }

    /// How many headers are stored, best and side.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Never true: genesis is always stored.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Carries out one change, checking what a store checks: the fork is at or below the
    /// stored tip, the connected headers link to it and to each other, a connected header
    /// stored before as a side header keeps its height, every side header is new and has a
    /// stored parent one below it.
    pub fn apply(&mut self, change: &PersistChain) -> Result<(), String> {
        let fork = change.fork_height as usize;
        if fork >= self.best.len() {
            return Err(format!(
                "change forks at {fork}, above the stored tip at {}",
                self.tip_height()
            ));
        }
        // The disconnected headers stay stored, as side headers.
        self.best.truncate(fork + 1);
        for hash in &change.rejoined {
            let height = self.best.len() as u32;
            match self.known.get(hash) {
                Some(h) if *h == height => self.best.push(*hash),
                other => {
                    return Err(format!(
                        "{hash} rejoins at height {height}, stored at {other:?}"
                    ))
                }
            }
        }
        for header in &change.connected {
            let height = self.best.len() as u32;
            let below = *self.best.last().expect("genesis stays");
            if header.prev_blockhash != below {
                return Err(format!(
                    "connected header at height {height} does not link to the one below"
                ));
            }
            let hash = header.block_hash();
            if let Some(old) = self.known.insert(hash, height) {
                // A stored header comes back by hash (`rejoined`), never in full.
                return Err(format!(
                    "{hash} connected in full at height {height}, stored before at {old}"
                ));
            }
            self.best.push(hash);
        }
        for (height, header) in &change.side {
            let hash = header.block_hash();
            if self.known.contains_key(&hash) {
                return Err(format!("side header {hash} stored twice"));
            }
            let parent = *self
                .known
                .get(&header.prev_blockhash)
                .ok_or_else(|| format!("side header {hash} has no stored parent"))?;
            if *height != parent + 1 {
                return Err(format!(
                    "side header {hash} given height {height}, its parent is at {parent}"
                ));
            }
            self.known.insert(hash, *height);
        }
        Ok(())
    }

    /// Panics unless the stored best chain is `chain`'s best chain, height by height, and the
    /// store holds as many headers as the chain's tree (every accepted header persisted once).
    pub fn assert_matches(&self, chain: &HeaderChain) {
        self.assert_matches_from(chain, 0);
    }

    /// [`ModelStore::assert_matches`] for the heights from `from` up only (the part a change
    /// may have touched, for a caller that checks the whole chain at the end).
    pub fn assert_matches_from(&self, chain: &HeaderChain, from: u32) {
        assert_eq!(
            self.tip_height(),
            chain.tip_height(),
            "persisted tip height differs from the chain's"
        );
        for (height, hash) in self.best.iter().enumerate().skip(from as usize) {
            assert_eq!(
                chain.hash_at(height as u32).as_ref(),
                Some(hash),
                "persisted best chain differs from the chain's at height {height}"
            );
        }
        assert_eq!(
            self.len(),
            chain.len(),
            "the store holds {} headers, the chain {}",
            self.len(),
            chain.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::block::Version;
    use bitcoin::hashes::Hash;
    use bitcoin::TxMerkleNode;
    use headway_core::params::Network;
    use headway_core::time::Time;

    use super::*;
    use crate::regtest::mine_chain;

    #[test]
    fn replays_extensions_forks_and_reorgs() {
        let params = Network::Regtest.params();
        let genesis = params.genesis;
        let mut chain = HeaderChain::new(params);
        let mut store = ModelStore::new(&genesis);
        let now = Time::from_secs(u64::from(genesis.time) + 1_000_000);
        let main = mine_chain(&genesis, 6, 1);
        let fork = mine_chain(&main[1], 8, 2);
        for batch in [&main[..4], &fork[..2], &main[4..], &fork[2..], &main[..3]] {
            let accepted = chain.accept(batch, now);
            if let Some(persist) = &accepted.persist {
                store.apply(persist).expect("a consistent change");
            }
            store.assert_matches(&chain);
        }
        assert_eq!(store.tip_height(), 10);
        assert_eq!(store.len(), 15);
        // A change that does not link is refused.
        let mut stray = fork[0];
        stray.version = Version::from_consensus(7);
        stray.merkle_root = TxMerkleNode::from_byte_array([3; 32]);
        let bad = PersistChain {
            fork_height: 0,
            rejoined: vec![],
            connected: vec![stray],
            side: Vec::new(),
            tip_work: chain.tip_work(),
        };
        assert!(store.apply(&bad).is_err());
    }
}
