//! The difficulty a new header must carry: Bitcoin Core's `GetNextWorkRequired` and
//! `CalculateNextWorkRequired` (`src/pow.cpp`, reference/protocol.md §3.9), over any chain
//! that can answer "which block is at this height below the parent" ([`Ancestry`]).
//!
//! Rules kept exactly, quirks included: the 2016-block retarget measures 2015 intervals
//! (first = height − 2015); the timespan is clamped to [T/4, 4T]; testnet3, testnet4, regtest
//! and simnet let a header more than 20 minutes after its parent use the pow limit, and
//! otherwise walk back over min-difficulty blocks to the last real bits; testnet4 (BIP94)
//! retargets from the first block of the period; regtest never retargets.

use crate::params::Params;

use super::pow::{decode_compact, encode_compact, U256};

/// What the difficulty rules need to know about one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Its height.
    pub height: u32,
    /// Its timestamp.
    pub time: u32,
    /// Its nBits.
    pub bits: u32,
}

/// Read access to the chain that a new header extends.
pub trait Ancestry {
    /// The block at `height` on the chain that ends at the new header's parent. Callers only
    /// ask for heights at or below the parent's.
    fn ancestor(&self, height: u32) -> BlockInfo;

    /// Core's walk-back for min-difficulty networks: starting at `parent`, step back while
    /// the block is not the first of a period and carries the pow limit; the bits where it
    /// stops. The default walks [`Ancestry::ancestor`] (up to 2015 steps); a tree can answer
    /// from a per-block cache.
    fn last_non_min_difficulty_bits(
        &self,
        parent: BlockInfo,
        pow_limit_bits: u32,
        interval: u32,
    ) -> u32 {
        let mut block = parent;
        while block.height > 0
            && !block.height.is_multiple_of(interval)
            && block.bits == pow_limit_bits
        {
            block = self.ancestor(block.height - 1);
        }
        block.bits
    }
}

/// One network's difficulty rules, with the pow limit decoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DifficultyRules {
    /// Blocks per retarget period (2016).
    pub interval: u32,
    /// Seconds a period should last (1,209,600).
    pub timespan: u32,
    /// Seconds between blocks (600).
    pub spacing: u32,
    /// The easiest target.
    pub pow_limit: U256,
    /// The pow limit in compact form (what a min-difficulty block carries).
    pub pow_limit_bits: u32,
    /// A block more than two spacings after its parent may use the pow limit.
    pub allow_min_difficulty: bool,
    /// The difficulty never changes (regtest).
    pub no_retargeting: bool,
    /// BIP94: retarget from the first block of the period (testnet4).
    pub bip94: bool,
}

impl DifficultyRules {
    /// The rules of `params`.
    pub fn new(params: &Params) -> DifficultyRules {
        let pow_limit = U256::from_target(params.pow_limit);
        DifficultyRules {
            interval: params.difficulty_adjustment_interval().max(1),
            timespan: params.pow_target_timespan,
            spacing: params.pow_target_spacing,
            pow_limit,
            pow_limit_bits: encode_compact(pow_limit),
            allow_min_difficulty: params.allow_min_difficulty_blocks,
            no_retargeting: params.no_retargeting,
            bip94: params.enforce_bip94,
        }
    }

    /// Core's `GetNextWorkRequired`: the nBits a header at `parent.height + 1` with timestamp
    /// `time` must carry.
    pub fn next_work_required(&self, parent: BlockInfo, time: u32, chain: &impl Ancestry) -> u32 {
        let height = parent.height.saturating_add(1);
        if !height.is_multiple_of(self.interval) {
            if self.allow_min_difficulty {
                // Core compares in 64 bits: parent.time + 1200 cannot wrap.
                if u64::from(time) > u64::from(parent.time) + 2 * u64::from(self.spacing) {
                    return self.pow_limit_bits;
                }
                return chain.last_non_min_difficulty_bits(
                    parent,
                    self.pow_limit_bits,
                    self.interval,
                );
            }
            return parent.bits;
        }
        // The off-by-one Core keeps: 2015 intervals, first = height - 2016 = parent - 2015.
        let first = chain.ancestor(parent.height.saturating_sub(self.interval - 1));
        self.calculate_next_work_required(parent, first.time, first.bits)
    }

    /// Core's `CalculateNextWorkRequired`: the bits after a period whose last block is `last`
    /// and whose first block has time `first_time` and bits `first_bits` (the base under
    /// BIP94; ignored otherwise).
    pub fn calculate_next_work_required(
        &self,
        last: BlockInfo,
        first_time: u32,
        first_bits: u32,
    ) -> u32 {
        if self.no_retargeting {
            return last.bits;
        }
        let timespan = i64::from(self.timespan);
        let actual =
            (i64::from(last.time) - i64::from(first_time)).clamp(timespan / 4, timespan * 4);
        let base_bits = if self.bip94 { first_bits } else { last.bits };
        let base = decode_compact(base_bits).value;
        // `actual` is clamped to a positive range, so the casts are exact.
        let next = match base.mul_div(actual as u64, timespan as u64) {
            Some(v) if v <= self.pow_limit => v,
            _ => self.pow_limit,
        };
        encode_compact(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Network;

    struct Flat(Vec<BlockInfo>);

    impl Ancestry for Flat {
        fn ancestor(&self, height: u32) -> BlockInfo {
            self.0[height as usize]
        }
    }

    #[test]
    fn simnet_vectors_from_the_reference() {
        let rules = DifficultyRules::new(&Network::Simnet.params());
        assert_eq!(rules.pow_limit_bits, 0x207fffff);
        let last = BlockInfo {
            height: 2015,
            time: 200_000_000,
            bits: 0x207fffff,
        };
        assert_eq!(
            rules.calculate_next_work_required(last, 200_000_000, 0),
            0x201fffff
        );
        assert_eq!(
            rules.calculate_next_work_required(last, 100_000_000, 0),
            0x207fffff
        );
    }

    #[test]
    fn default_walk_back_stops_at_period_start_or_real_bits() {
        let rules = DifficultyRules::new(&Network::Testnet3.params());
        let limit = rules.pow_limit_bits;
        let mut blocks: Vec<BlockInfo> = (0..2020)
            .map(|h| BlockInfo {
                height: h,
                time: h * 600,
                bits: 0x1c00ffff,
            })
            .collect();
        for b in blocks.iter_mut().skip(2010) {
            b.bits = limit;
        }
        let chain = Flat(blocks.clone());
        let parent = blocks[2014];
        assert_eq!(
            chain.last_non_min_difficulty_bits(parent, limit, 2016),
            0x1c00ffff
        );
        // From 2019 the walk stops at 2016, a period start, whatever its bits.
        let parent = blocks[2019];
        assert_eq!(
            chain.last_non_min_difficulty_bits(parent, limit, 2016),
            limit
        );
        let _ = rules;
    }
}
