//! A slow, obviously correct model of the regtest header rules, written from
//! `reference/protocol.md` and Core's `ContextualCheckBlockHeader` without looking at
//! `HeaderChain`: the `chain` fuzz target checks that `HeaderChain` never accepts what this
//! refuses, and never refuses (as an offence) what this accepts.
//!
//! Two settings only, where the required nBits is simply the parent's:
//! - regtest: the difficulty never changes (`fPowNoRetargeting`, and every block sits at the pow
//!   limit so the min-difficulty rule gives the same bits), and BIP34/66/65 apply from height 1,
//!   so every header after genesis needs version 4 or more;
//! - mainnet below the first retarget (heights 1..2015): no min-difficulty rule, no retarget,
//!   version 1 allowed. Headers at height 2016 and above are [`RuleBroken::OutOfScope`]: the
//!   target must not feed them.

use std::collections::HashMap;

use bitcoin::block::Header;
use bitcoin::{BlockHash, Target, Work};
use headway_core::params::{Network, Params};

/// Core's `MAX_FUTURE_BLOCK_TIME`: a header may be at most two hours ahead of our clock.
pub const MAX_FUTURE_BLOCK_TIME: u64 = 2 * 60 * 60;

/// Core's `MEDIAN_TIME_SPAN`: the median time past is taken over this many blocks.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// The rule a header breaks, in the order the reference checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleBroken {
    /// The parent is not a header this reference accepted.
    UnknownParent,
    /// nBits differs from the parent's (regtest never retargets).
    BadBits,
    /// The hash is above the target its nBits encodes.
    HighHash,
    /// The time is not above the median of the previous 11.
    TimeTooOld,
    /// The time is more than two hours after `now`.
    TimeTooNew,
    /// The version is below what BIP34/66/65 require at its height.
    BadVersion,
    /// Mainnet at or above the first retarget height: beyond what this reference models.
    OutOfScope,
}

/// One accepted header with what the rules and fork choice need.
#[derive(Debug, Clone)]
struct Entry {
    header: Header,
    height: u32,
    work: Work,
}

/// Every header the reference accepted, from the regtest genesis.
#[derive(Debug, Clone)]
pub struct ReferenceChain {
    params: Params,
    entries: HashMap<BlockHash, Entry>,
    best_work: Work,
}

impl ReferenceChain {
    /// A reference holding only the regtest genesis.
    pub fn regtest() -> ReferenceChain {
        ReferenceChain::for_network(Network::Regtest)
    }

    /// A reference holding only the mainnet genesis; it judges heights below 2016 only.
    pub fn mainnet() -> ReferenceChain {
        ReferenceChain::for_network(Network::Mainnet)
    }

    fn for_network(network: Network) -> ReferenceChain {
        let params = network.params();
        let genesis = params.genesis;
        let mut entries = HashMap::new();
        entries.insert(
            genesis.block_hash(),
            Entry {
                header: genesis,
                height: 0,
                work: genesis.work(),
            },
        );
        ReferenceChain {
            params,
            entries,
            best_work: genesis.work(),
        }
    }

    /// The parameters the rules come from.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// How many headers were accepted, genesis included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never true: genesis is always there.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `hash` was accepted.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.entries.contains_key(hash)
    }

    /// An accepted header.
    pub fn header(&self, hash: &BlockHash) -> Option<Header> {
        self.entries.get(hash).map(|e| e.header)
    }

    /// The height of an accepted header.
    pub fn height(&self, hash: &BlockHash) -> Option<u32> {
        self.entries.get(hash).map(|e| e.height)
    }

    /// The cumulative work up to and including an accepted header.
    pub fn work(&self, hash: &BlockHash) -> Option<Work> {
        self.entries.get(hash).map(|e| e.work)
    }

    /// The most cumulative work of any accepted header.
    pub fn best_work(&self) -> Work {
        self.best_work
    }

    /// Hashes of every accepted header.
    pub fn hashes(&self) -> impl Iterator<Item = &BlockHash> {
        self.entries.keys()
    }

    /// The median time of `hash` and up to 10 of its ancestors (Core's `GetMedianTimePast`).
    fn median_time_past(&self, hash: &BlockHash) -> u32 {
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cursor = self.entries.get(hash);
        while let Some(entry) = cursor {
            if times.len() == MEDIAN_TIME_SPAN {
                break;
            }
            times.push(entry.header.time);
            cursor = self.entries.get(&entry.header.prev_blockhash);
        }
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Whether `header` may extend the tree, with `now_secs` as the clock.
    pub fn check(&self, header: &Header, now_secs: u64) -> Result<(), RuleBroken> {
        let parent = self
            .entries
            .get(&header.prev_blockhash)
            .ok_or(RuleBroken::UnknownParent)?;
        if self.params.network == Network::Mainnet
            && parent.height + 1 >= headway_core::params::DIFFICULTY_ADJUSTMENT_INTERVAL
        {
            return Err(RuleBroken::OutOfScope);
        }
        if header.bits != parent.header.bits {
            return Err(RuleBroken::BadBits);
        }
        let target = Target::from_compact(header.bits);
        if target > self.params.pow_limit || header.validate_pow(target).is_err() {
            return Err(RuleBroken::HighHash);
        }
        if header.time <= self.median_time_past(&header.prev_blockhash) {
            return Err(RuleBroken::TimeTooOld);
        }
        if u64::from(header.time) > now_secs.saturating_add(MAX_FUTURE_BLOCK_TIME) {
            return Err(RuleBroken::TimeTooNew);
        }
        let height = parent.height + 1;
        if header.version.to_consensus() < self.params.min_version_at(height) {
            return Err(RuleBroken::BadVersion);
        }
        Ok(())
    }

    /// Checks `header` and records it if it passes (a known header passes unchanged).
    pub fn accept(&mut self, header: &Header, now_secs: u64) -> Result<(), RuleBroken> {
        let hash = header.block_hash();
        if self.entries.contains_key(&hash) {
            return Ok(());
        }
        self.check(header, now_secs)?;
        let parent = self
            .entries
            .get(&header.prev_blockhash)
            .ok_or(RuleBroken::UnknownParent)?;
        let entry = Entry {
            header: *header,
            height: parent.height + 1,
            work: parent.work + header.work(),
        };
        self.best_work = self.best_work.max(entry.work);
        self.entries.insert(hash, entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::block::Version;
    use bitcoin::consensus::encode::deserialize;
    use bitcoin::CompactTarget;

    use super::*;

    fn mainnet_headers(count: usize) -> Vec<Header> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../core/testdata/mainnet-headers-0-39999.bin"
        );
        let bytes = std::fs::read(path).expect("core/testdata holds the mainnet headers");
        bytes
            .chunks_exact(80)
            .take(count)
            .map(|b| deserialize(b).expect("80-byte header"))
            .collect()
    }

    #[test]
    fn accepts_the_real_mainnet_chain_up_to_the_first_retarget() {
        let headers = mainnet_headers(2017);
        let mut reference = ReferenceChain::mainnet();
        let now = u64::from(headers[2016].time);
        for header in &headers[1..2016] {
            assert_eq!(reference.accept(header, now), Ok(()));
        }
        assert_eq!(reference.len(), 2016);
        assert_eq!(reference.height(&headers[2015].block_hash()), Some(2015));
        assert_eq!(
            reference.accept(&headers[2016], now),
            Err(RuleBroken::OutOfScope)
        );
    }

    #[test]
    fn rejects_each_broken_rule() {
        let headers = mainnet_headers(20);
        let mut reference = ReferenceChain::mainnet();
        let now = u64::from(headers[19].time);
        for header in &headers[1..12] {
            assert_eq!(reference.accept(header, now), Ok(()));
        }
        let next = headers[12];
        let mut orphan = next;
        orphan.prev_blockhash = headers[13].block_hash();
        assert_eq!(
            reference.check(&orphan, now),
            Err(RuleBroken::UnknownParent)
        );
        let mut easier = next;
        easier.bits = CompactTarget::from_consensus(0x1d01ffff);
        assert_eq!(reference.check(&easier, now), Err(RuleBroken::BadBits));
        let mut tampered = next;
        tampered.nonce ^= 1;
        assert_eq!(reference.check(&tampered, now), Err(RuleBroken::HighHash));
        assert_eq!(
            reference.check(&next, u64::from(next.time) - 7201),
            Err(RuleBroken::TimeTooNew)
        );
        assert_eq!(reference.check(&next, now), Ok(()));

        // Regtest: version 4 from height 1, and a time at the median is too old.
        let regtest = ReferenceChain::regtest();
        let genesis = regtest.params().genesis;
        let mut child = Header {
            version: Version::from_consensus(3),
            prev_blockhash: genesis.block_hash(),
            merkle_root: genesis.merkle_root,
            time: genesis.time + 1,
            bits: genesis.bits,
            nonce: 0,
        };
        assert!(crate::regtest::mine(&mut child, 64));
        let far_future = u64::MAX / 2;
        assert_eq!(
            regtest.check(&child, far_future),
            Err(RuleBroken::BadVersion)
        );
        child.version = Version::from_consensus(4);
        child.time = genesis.time;
        assert!(crate::regtest::mine(&mut child, 64));
        assert_eq!(
            regtest.check(&child, far_future),
            Err(RuleBroken::TimeTooOld)
        );
        child.time = genesis.time + 1;
        assert!(crate::regtest::mine(&mut child, 64));
        assert_eq!(regtest.check(&child, far_future), Ok(()));
    }
}
