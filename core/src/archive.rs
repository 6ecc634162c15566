//! The full headers for an embedder without a header store: an in-memory archive that carries
//! out [`PersistChain`] changes and answers [`ServeHeaders`] asks, exactly what a store does
//! for the core (which keeps no full headers, `chain::tree`). For tests, simulations,
//! examples and applications that keep nothing on disk; it costs the 80 bytes of each header
//! on top of the core's own. Pure data, no IO.

use std::collections::BTreeMap;

use bitcoin::block::Header;
use bitcoin::BlockHash;

use crate::chain::header_hash;
use crate::input::Request;
use crate::output::{Notification, PersistChain, ServeHeaders};
use crate::params::Params;

/// Why a change does not fit the archive (the core never sends one; a mismatch means the
/// changes were applied out of order or to another chain).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// The change forks above the archived tip.
    #[error("change forks at height {fork}, above the archived tip at {tip}")]
    ForkAboveTip {
        /// The change's fork height.
        fork: u32,
        /// The archived tip's height.
        tip: u32,
    },
    /// A rejoining header is not archived off the best chain.
    #[error("rejoining header {0} is not archived off the best chain")]
    UnknownRejoined(BlockHash),
}

/// The best chain and the side headers, in full.
#[derive(Debug, Clone)]
pub struct HeaderArchive {
    best: Vec<Header>,
    side: BTreeMap<BlockHash, (u32, Header)>,
}

impl HeaderArchive {
    /// An archive holding the genesis header of `params`.
    pub fn new(params: &Params) -> HeaderArchive {
        HeaderArchive {
            best: vec![params.genesis],
            side: BTreeMap::new(),
        }
    }

    /// Carries out one change of the header tree: the best chain above `fork_height` moves
    /// aside, `rejoined` comes back from the side headers, `connected` is appended.
    pub fn apply(&mut self, change: &PersistChain) -> Result<(), ArchiveError> {
        let tip = self.tip_height();
        if change.fork_height > tip {
            return Err(ArchiveError::ForkAboveTip {
                fork: change.fork_height,
                tip,
            });
        }
        let keep = change.fork_height as usize + 1;
        for rejoining in &change.rejoined {
            if !self.side.contains_key(rejoining) {
                return Err(ArchiveError::UnknownRejoined(*rejoining));
            }
        }
        let above: Vec<Header> = self.best.split_off(keep);
        for (height, header) in (change.fork_height + 1..).zip(above) {
            self.side.insert(header_hash(&header), (height, header));
        }
        for rejoining in &change.rejoined {
            if let Some((_, header)) = self.side.remove(rejoining) {
                self.best.push(header);
            }
        }
        self.best.extend_from_slice(&change.connected);
        for (height, header) in &change.side {
            self.side.insert(header_hash(header), (*height, *header));
        }
        Ok(())
    }

    /// Height of the archived tip.
    pub fn tip_height(&self) -> u32 {
        (self.best.len() - 1) as u32
    }

    /// The best chain from genesis.
    pub fn best(&self) -> &[Header] {
        &self.best
    }

    /// The headers off the best chain, by hash, with their heights.
    pub fn side(&self) -> &BTreeMap<BlockHash, (u32, Header)> {
        &self.side
    }

    /// Plays the store's part for one notification of a driver: a persist is applied, an ask
    /// for headers is answered (the request to hand back to the node), anything else is left
    /// alone. The one loop every embedder without a store runs over its notifications.
    pub fn handle(&mut self, notification: &Notification) -> Result<Option<Request>, ArchiveError> {
        match notification {
            Notification::Persist(change) => self.apply(change).map(|()| None),
            Notification::ServeHeaders(ask) => Ok(Some(self.serve(ask))),
            Notification::Event(_) | Notification::PersistAddrs(_) => Ok(None),
        }
    }

    /// The answer to `ask`: the best-chain headers it names (fewer if the archive ends first).
    pub fn serve(&self, ask: &ServeHeaders) -> Request {
        let first = ask.first as usize;
        let end = first
            .saturating_add(ask.count as usize)
            .min(self.best.len());
        Request::SendHeaders {
            peer: ask.peer,
            headers: self.best.get(first..end).unwrap_or(&[]).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::HeaderChain;
    use crate::params::Network;
    use crate::peer::PeerId;
    use crate::time::Time;
    use bitcoin::block::Version;
    use bitcoin::{CompactTarget, TxMerkleNode};

    fn mine(prev: &Header, salt: u32) -> Header {
        let mut header = Header {
            version: Version::from_consensus(4),
            prev_blockhash: header_hash(prev),
            merkle_root: bitcoin::hashes::Hash::all_zeros(),
            time: prev.time + 1,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: salt,
        };
        header.merkle_root =
            TxMerkleNode::from_raw_hash(bitcoin::hashes::Hash::hash(&salt.to_le_bytes()));
        while header.validate_pow(header.target()).is_err() {
            header.nonce = header.nonce.wrapping_add(1);
        }
        header
    }

    #[test]
    fn an_archive_fed_the_core_s_changes_holds_its_best_chain_through_reorganisations() {
        let params = Network::Regtest.params();
        let mut chain = HeaderChain::new(params.clone());
        let mut archive = HeaderArchive::new(&params);
        let now = Time::from_secs(u64::from(params.genesis.time) + 100_000);
        let mut main = vec![params.genesis];
        for i in 0..20 {
            let next = mine(&main[main.len() - 1], i);
            main.push(next);
        }
        // A branch from 10, first shorter (kept aside), then longer (a reorg onto it, whose
        // first headers rejoin from the side), then the main chain wins back.
        let mut branch = vec![main[10]];
        for i in 0..8 {
            let next = mine(&branch[branch.len() - 1], 1000 + i);
            branch.push(next);
        }
        let apply = |chain: &mut HeaderChain, archive: &mut HeaderArchive, headers: &[Header]| {
            let accepted = chain.accept(headers, now);
            assert_eq!(accepted.error, None);
            if let Some(persist) = &accepted.persist {
                archive.apply(persist).expect("the core's change fits");
            }
            accepted
        };
        apply(&mut chain, &mut archive, &main[1..]);
        apply(&mut chain, &mut archive, &branch[1..]);
        let mut longer = branch.clone();
        for i in 0..4 {
            let next = mine(&longer[longer.len() - 1], 2000 + i);
            longer.push(next);
        }
        let accepted = apply(&mut chain, &mut archive, &longer[9..]);
        let persist = accepted.persist.unwrap();
        assert_eq!(
            persist.rejoined.len(),
            8,
            "the branch held aside rejoins by hash"
        );
        assert_eq!(persist.connected.len(), 4);
        assert_eq!(&archive.best()[10..], &longer[..]);
        let mut back = main.clone();
        for i in 0..5 {
            let next = mine(&back[back.len() - 1], 3000 + i);
            back.push(next);
        }
        let accepted = apply(&mut chain, &mut archive, &back[21..]);
        assert_eq!(accepted.persist.unwrap().rejoined.len(), 10);
        assert_eq!(archive.best(), &back[..]);
        for (i, header) in archive.best().iter().enumerate() {
            assert_eq!(chain.hash_at(i as u32), Some(header_hash(header)));
        }
        let ask = ServeHeaders {
            peer: PeerId(7),
            first: 24,
            count: 2000,
        };
        assert_eq!(
            archive.serve(&ask),
            Request::SendHeaders {
                peer: PeerId(7),
                headers: back[24..].to_vec()
            }
        );
        assert_eq!(
            archive.apply(&PersistChain {
                fork_height: 99,
                rejoined: vec![],
                connected: vec![],
                side: vec![],
                tip_work: chain.tip_work(),
            }),
            Err(ArchiveError::ForkAboveTip { fork: 99, tip: 25 })
        );
    }
}
