//! A slow, obviously correct model of Bitcoin Core's header rules, written from Core's
//! `AcceptBlockHeader`, `CheckProofOfWork`, `GetNextWorkRequired` / `CalculateNextWorkRequired`
//! (src/pow.cpp) and `ContextualCheckBlockHeader` (src/validation.cpp), as summarised in
//! `reference/protocol.md` §3.9 and §3.10, without looking at `HeaderChain`: the `chain` fuzz
//! target holds `HeaderChain` to it. It imports nothing from `headway_core`: its network table
//! ([`networks`]), its arithmetic ([`bignum`]) and its constants are its own.
//!
//! Every accepted header is an [`Entry`] in one `Vec`, linked to its parent by index; ancestors,
//! the median time past and the min-difficulty walk-back are plain walks down those links, with
//! no cache and no skip list. Cumulative work comes from `rust-bitcoin` (`Header::work`).
//!
//! One order differs from `AcceptBlockHeader`, which runs `CheckBlockHeader` (proof of work)
//! before it looks the parent up: like `HeaderChain::accept`, this looks the parent up first. In
//! Core a headers message meets `CheckHeadersPoW` and the connection test in
//! `ProcessHeadersMessage` before any header is accepted; that is the node's part, not the
//! chain's.

pub mod bignum;
pub mod networks;

use std::collections::HashMap;

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};

use bignum::{decode_compact, encode_compact, Big};
use networks::{Rules, MAX_FUTURE_BLOCK_TIME, MAX_TIMEWARP, MEDIAN_TIME_SPAN, RETARGET_FACTOR};

/// The rule a header breaks, with what Core's message reports, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleBroken {
    /// The parent is not a header this reference accepted (`prev-blk-not-found`).
    UnknownParent,
    /// nBits fails the range test of `CheckProofOfWork` ("high-hash" in Core): the flags say
    /// which parts of `fNegative || bnTarget == 0 || fOverflow || bnTarget > powLimit` hold.
    BadTarget {
        /// `fNegative`.
        negative: bool,
        /// `bnTarget == 0`, in 256 bits.
        zero: bool,
        /// `fOverflow`.
        overflow: bool,
        /// `bnTarget > powLimit`.
        above_limit: bool,
    },
    /// The hash is above the target its nBits encodes ("high-hash").
    HighHash,
    /// nBits is not what `GetNextWorkRequired` gives ("bad-diffbits").
    BadDiffBits {
        /// What the rules require.
        expected: u32,
    },
    /// The time is not above the median time past ("time-too-old").
    TimeTooOld {
        /// The median of the parent and up to 10 blocks before it.
        median: u32,
    },
    /// BIP94: the first block of a period is more than 600 s before its parent
    /// ("time-timewarp-attack").
    TimewarpAttack,
    /// The time is more than two hours after the clock ("time-too-new").
    TimeTooNew,
    /// The version is below what BIP34/66/65 require ("bad-version").
    BadVersion {
        /// The lowest version allowed.
        min: i32,
        /// The header's height.
        height: u32,
    },
}

impl RuleBroken {
    /// Whether a peer that sends this header is punished. Core's `MaybePunishNodeForBlock`
    /// leaves `BLOCK_TIME_FUTURE` (time-too-new) alone, because the header may be valid later;
    /// a header whose parent is unknown never reaches it from a headers message, because
    /// `ProcessHeadersMessage` answers a message that does not connect with a `getheaders`
    /// and no penalty (protocol.md §3.6 step 5). Every other rule is `BLOCK_INVALID_HEADER`.
    pub fn is_offence(&self) -> bool {
        !matches!(self, RuleBroken::TimeTooNew | RuleBroken::UnknownParent)
    }
}

/// What [`ReferenceChain::mark`] remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    len: usize,
    best: usize,
}

/// One accepted header.
#[derive(Debug, Clone)]
struct Entry {
    header: Header,
    height: u32,
    /// Index of the parent in `entries` (`None` for genesis).
    parent: Option<usize>,
    /// Cumulative work through this header.
    work: Work,
}

/// Every header the reference accepted, from genesis.
#[derive(Debug, Clone)]
pub struct ReferenceChain {
    rules: Rules,
    pow_limit: Big,
    pow_limit_bits: u32,
    entries: Vec<Entry>,
    index: HashMap<BlockHash, usize>,
    /// The first accepted header with the most work: Core's `CBlockIndexWorkComparator` breaks
    /// ties by arrival, so a later header with equal work does not take the tip.
    best: usize,
}

impl ReferenceChain {
    /// A reference holding only the genesis of `rules`.
    pub fn new(rules: Rules) -> ReferenceChain {
        let genesis = rules.genesis;
        let mut index = HashMap::new();
        index.insert(genesis.block_hash(), 0);
        ReferenceChain {
            pow_limit: rules.pow_limit(),
            pow_limit_bits: rules.pow_limit_bits(),
            rules,
            entries: vec![Entry {
                header: genesis,
                height: 0,
                parent: None,
                work: genesis.work(),
            }],
            index,
            best: 0,
        }
    }

    /// A reference on regtest.
    pub fn regtest() -> ReferenceChain {
        ReferenceChain::new(Rules::regtest())
    }

    /// A reference on mainnet.
    pub fn mainnet() -> ReferenceChain {
        ReferenceChain::new(Rules::mainnet())
    }

    /// The rules it applies.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The pow limit of its rules, as a number.
    pub fn pow_limit(&self) -> &Big {
        &self.pow_limit
    }

    /// The pow limit in compact form.
    pub fn pow_limit_bits(&self) -> u32 {
        self.pow_limit_bits
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
        self.index.contains_key(hash)
    }

    fn entry(&self, hash: &BlockHash) -> Option<&Entry> {
        self.index.get(hash).map(|&i| &self.entries[i])
    }

    /// An accepted header.
    pub fn header(&self, hash: &BlockHash) -> Option<Header> {
        self.entry(hash).map(|e| e.header)
    }

    /// The height of an accepted header.
    pub fn height(&self, hash: &BlockHash) -> Option<u32> {
        self.entry(hash).map(|e| e.height)
    }

    /// The cumulative work up to and including an accepted header.
    pub fn work(&self, hash: &BlockHash) -> Option<Work> {
        self.entry(hash).map(|e| e.work)
    }

    /// The most cumulative work of any accepted header.
    pub fn best_work(&self) -> Work {
        self.entries[self.best].work
    }

    /// The hash of the first accepted header with the most work: where the tip must be.
    pub fn best_hash(&self) -> BlockHash {
        self.entries[self.best].header.block_hash()
    }

    /// Hashes of every accepted header.
    pub fn hashes(&self) -> impl Iterator<Item = &BlockHash> {
        self.index.keys()
    }

    /// The ancestor of entry `i` at `height` (at most `i`'s own height), by walking parents.
    fn ancestor(&self, mut i: usize, height: u32) -> &Entry {
        while self.entries[i].height > height {
            i = self.entries[i].parent.expect("only genesis has no parent");
        }
        &self.entries[i]
    }

    /// The time of the header at `height` below an accepted header (for the fuzz target to aim
    /// timestamps at retarget boundaries).
    pub fn ancestor_time(&self, hash: &BlockHash, height: u32) -> Option<u32> {
        let &i = self.index.get(hash)?;
        Some(self.ancestor(i, height).header.time)
    }

    /// Core's `GetMedianTimePast`: the median of entry `i`'s time and up to 10 before it (the
    /// element at `len / 2` of the sorted times).
    fn median_time_past(&self, i: usize) -> u32 {
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cursor = Some(i);
        while let Some(c) = cursor {
            if times.len() == MEDIAN_TIME_SPAN {
                break;
            }
            times.push(self.entries[c].header.time);
            cursor = self.entries[c].parent;
        }
        times.sort_unstable();
        times[times.len() / 2]
    }

    /// The median time past of an accepted header (a new child must be later).
    pub fn median_time_past_of(&self, hash: &BlockHash) -> Option<u32> {
        self.index.get(hash).map(|&i| self.median_time_past(i))
    }

    /// Core's `GetNextWorkRequired` for a header with time `time` on top of entry `parent`.
    fn next_work_required(&self, parent: usize, time: u32) -> u32 {
        let last = &self.entries[parent];
        let interval = self.rules.interval();
        if !(last.height + 1).is_multiple_of(interval) {
            if !self.rules.allow_min_difficulty {
                return last.header.bits.to_consensus();
            }
            // The 20-minute rule; Core compares in 64 bits.
            if i64::from(time) > i64::from(last.header.time) + 2 * i64::from(self.rules.spacing) {
                return self.pow_limit_bits;
            }
            // Walk back over min-difficulty blocks to the last real bits, stopping at the
            // first block of a period or at genesis.
            let mut p = parent;
            loop {
                let e = &self.entries[p];
                match e.parent {
                    Some(up)
                        if !e.height.is_multiple_of(interval)
                            && e.header.bits.to_consensus() == self.pow_limit_bits =>
                    {
                        p = up
                    }
                    _ => return e.header.bits.to_consensus(),
                }
            }
        }
        // The retarget measures 2015 intervals: first = height - 2016 = parent - 2015.
        let first = self.ancestor(parent, last.height - (interval - 1));
        self.calculate_next_work_required(
            (last.header.time, last.header.bits.to_consensus()),
            (first.header.time, first.header.bits.to_consensus()),
        )
    }

    /// Core's `CalculateNextWorkRequired` for a period whose last and first blocks have these
    /// (time, nBits).
    pub fn calculate_next_work_required(&self, last: (u32, u32), first: (u32, u32)) -> u32 {
        if self.rules.no_retargeting {
            return last.1;
        }
        let timespan = i64::from(self.rules.timespan);
        let actual = (i64::from(last.0) - i64::from(first.0))
            .clamp(timespan / RETARGET_FACTOR, timespan * RETARGET_FACTOR);
        let base = if self.rules.enforce_bip94 {
            first.1
        } else {
            last.1
        };
        let new = decode_compact(base)
            .value
            .mul_u64(actual as u64)
            .div_u64(timespan as u64);
        if new > self.pow_limit {
            self.pow_limit_bits
        } else {
            encode_compact(&new)
        }
    }

    /// The nBits a header with time `time` on top of the accepted header `parent` must carry.
    pub fn required_bits(&self, parent: &BlockHash, time: u32) -> Option<u32> {
        let &p = self.index.get(parent)?;
        Some(self.next_work_required(p, time))
    }

    /// Whether `header` may extend the tree, with `now_secs` as the clock; on success, the
    /// index of its parent.
    fn judge(&self, header: &Header, now_secs: u64) -> Result<usize, RuleBroken> {
        let &parent = self
            .index
            .get(&header.prev_blockhash)
            .ok_or(RuleBroken::UnknownParent)?;
        // CheckBlockHeader: CheckProofOfWork.
        let bits = header.bits.to_consensus();
        let decoded = decode_compact(bits);
        let above_limit = decoded.value > self.pow_limit;
        if decoded.negative || decoded.zero || decoded.overflow || above_limit {
            return Err(RuleBroken::BadTarget {
                negative: decoded.negative,
                zero: decoded.zero,
                overflow: decoded.overflow,
                above_limit,
            });
        }
        let hash = header.block_hash();
        if Big::from_le_bytes(hash.as_ref()) > decoded.value {
            return Err(RuleBroken::HighHash);
        }
        // ContextualCheckBlockHeader, in its order.
        let prev = &self.entries[parent];
        let height = prev.height + 1;
        let expected = self.next_work_required(parent, header.time);
        if bits != expected {
            return Err(RuleBroken::BadDiffBits { expected });
        }
        let median = self.median_time_past(parent);
        if header.time <= median {
            return Err(RuleBroken::TimeTooOld { median });
        }
        if self.rules.enforce_bip94
            && height.is_multiple_of(self.rules.interval())
            && i64::from(header.time) < i64::from(prev.header.time) - MAX_TIMEWARP
        {
            return Err(RuleBroken::TimewarpAttack);
        }
        if u64::from(header.time) > now_secs.saturating_add(MAX_FUTURE_BLOCK_TIME) {
            return Err(RuleBroken::TimeTooNew);
        }
        let min = self.rules.min_version(height);
        if header.version.to_consensus() < min {
            return Err(RuleBroken::BadVersion { min, height });
        }
        Ok(parent)
    }

    /// Whether `header` may extend the tree, with `now_secs` as the clock.
    pub fn check(&self, header: &Header, now_secs: u64) -> Result<(), RuleBroken> {
        self.judge(header, now_secs).map(|_| ())
    }

    /// A point to come back to with [`ReferenceChain::rewind`]: a fuzz target accepts a batch
    /// it is building, to know the rules for each next header, then rewinds before judging.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.entries.len(),
            best: self.best,
        }
    }

    /// Forgets every header accepted since `mark`.
    pub fn rewind(&mut self, mark: Mark) {
        for entry in self.entries.drain(mark.len..) {
            self.index.remove(&entry.header.block_hash());
        }
        self.best = mark.best;
    }

    /// Checks `header` and records it if it passes (a known header passes unchanged).
    pub fn accept(&mut self, header: &Header, now_secs: u64) -> Result<(), RuleBroken> {
        let hash = header.block_hash();
        if self.index.contains_key(&hash) {
            return Ok(());
        }
        let parent = self.judge(header, now_secs)?;
        let entry = Entry {
            header: *header,
            height: self.entries[parent].height + 1,
            parent: Some(parent),
            work: self.entries[parent].work + header.work(),
        };
        if entry.work > self.best_work() {
            self.best = self.entries.len();
        }
        self.index.insert(hash, self.entries.len());
        self.entries.push(entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
