//! Chain work of best-chain headers, from checkpoints kept in memory.
//!
//! The store records only the tip's cumulative work. The work at height `h` is the work at the
//! checkpoint at or below it plus the proofs of the headers since (Core's `GetBlockProof`, the
//! core's [`block_proof`], so the sums equal the core's `HeaderChain` exactly). A checkpoint is
//! built by whichever walk is shorter: up from the highest valid checkpoint below, or down from
//! the tip (tip work minus the proofs above); either walk records every checkpoint it crosses.
//!
//! A checkpoint is `(height, hash there, work)`. Before one is used, the snapshot is asked for
//! the best chain's hash at its height: equal hashes mean equal chains below (a hash commits
//! to its ancestors), so the work is still right; a different hash means a reorg below it, and
//! it and every checkpoint above are dropped (they are all above the fork).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bitcoin::block::Header;
use bitcoin::BlockHash;
use headway_core::chain::pow::{block_proof, decode_compact};

use super::{ChainError, ChainRead};

/// Best-chain heights between two work checkpoints: a chain work costs at most this many
/// header reads once its checkpoint exists, and a million headers need under a thousand
/// checkpoints (about 50 KB).
pub const WORK_CHECKPOINT_INTERVAL: u32 = 1024;

/// A best-chain height's hash and cumulative work, valid while the best chain has that hash
/// there.
#[derive(Debug, Clone, Copy)]
struct Checkpoint {
    hash: BlockHash,
    work: u128,
}

/// The checkpoints at multiples of [`WORK_CHECKPOINT_INTERVAL`], not necessarily contiguous
/// (a walk down from the tip leaves only the ones it crossed).
#[derive(Debug)]
pub(super) struct Checkpoints {
    genesis_work: u128,
    by_height: Mutex<BTreeMap<u32, Checkpoint>>,
}

/// [`block_proof`] with the last nBits remembered: neighbouring headers nearly always share
/// them, and the 256-bit division is worth skipping (the core's `HeaderChain` does the same).
#[derive(Debug, Default)]
pub(super) struct ProofCache {
    last: Option<(u32, u128)>,
}

impl ProofCache {
    /// The work `header` adds, exactly as the core's tree counts it.
    pub(super) fn proof(&mut self, header: &Header) -> u128 {
        let bits = header.bits.to_consensus();
        match self.last {
            Some((cached, proof)) if cached == bits => proof,
            _ => {
                let proof = block_proof(&decode_compact(bits).value);
                self.last = Some((bits, proof));
                proof
            }
        }
    }
}

impl Checkpoints {
    pub(super) fn new(genesis: &Header) -> Checkpoints {
        Checkpoints {
            genesis_work: ProofCache::default().proof(genesis),
            by_height: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Checkpoint>> {
        // A poisoned lock only means a panic elsewhere; every entry is checked before use.
        self.by_height.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cumulative work of the best chain (in `read`'s snapshot) up to `height` (at most
    /// the tip).
    pub(super) fn best_work(&self, read: &ChainRead<'_>, height: u32) -> Result<u128, ChainError> {
        if height > read.tip.height {
            // Only an index entry naming a best-chain height above the tip leads here.
            return Err(read.view.corrupt(format!(
                "a best-chain header at height {height}, above the tip at {}",
                read.tip.height
            )));
        }
        let base = height - height % WORK_CHECKPOINT_INTERVAL;
        let (below, below_work) = self.valid_at_or_below(read, base)?;
        let up = height - below;
        let down = read.tip.height - base;
        if below == base || up <= down {
            self.walk_up(read, below, below_work, height)
        } else {
            self.walk_down(read, base, height)
        }
    }

    /// The highest checkpoint at or below `height` that the snapshot confirms, or genesis.
    fn valid_at_or_below(
        &self,
        read: &ChainRead<'_>,
        height: u32,
    ) -> Result<(u32, u128), ChainError> {
        let mut map = self.lock();
        while let Some((&at, checkpoint)) = map.range(..=height).next_back() {
            let hash = read.snap.header_at(at)?.map(|h| h.block_hash());
            if hash == Some(checkpoint.hash) {
                return Ok((at, checkpoint.work));
            }
            // A reorg below `at`: this checkpoint and all above it describe another chain.
            map.split_off(&at);
        }
        Ok((0, self.genesis_work))
    }

    /// The work at `height` from the work at `from` (below it), recording the checkpoints
    /// crossed.
    fn walk_up(
        &self,
        read: &ChainRead<'_>,
        from: u32,
        from_work: u128,
        height: u32,
    ) -> Result<u128, ChainError> {
        let mut work = from_work;
        let mut proofs = ProofCache::default();
        let mut crossed = Vec::new();
        if from < height {
            read.snap.for_each_best(from + 1, height, |at, header| {
                work = work.saturating_add(proofs.proof(header));
                if at % WORK_CHECKPOINT_INTERVAL == 0 {
                    crossed.push((at, header.block_hash(), work));
                }
                Ok(())
            })?;
        }
        self.record(crossed);
        Ok(work)
    }

    /// The work at `height` as the tip's work minus the proofs above `base` (the checkpoint
    /// height at or below `height`), recording `base` and the checkpoints crossed.
    fn walk_down(&self, read: &ChainRead<'_>, base: u32, height: u32) -> Result<u128, ChainError> {
        let tip_work = read.snap.tip_work()?.to_le_bytes();
        let (low, high) = tip_work.split_at(16);
        let mut low_bytes = [0u8; 16];
        low_bytes.copy_from_slice(low);
        // The core keeps cumulative work in 128 bits, saturating: a stored work beyond that
        // saturated too.
        let tip_work = if high.iter().any(|b| *b != 0) {
            u128::MAX
        } else {
            u128::from_le_bytes(low_bytes)
        };
        let mut above = 0u128;
        let mut at_height = 0u128;
        let mut proofs = ProofCache::default();
        let mut crossed = Vec::new();
        read.snap
            .for_each_best(base + 1, read.tip.height, |at, header| {
                above = above.saturating_add(proofs.proof(header));
                if at == height {
                    at_height = above;
                }
                if at % WORK_CHECKPOINT_INTERVAL == 0 {
                    crossed.push((at, header.block_hash(), above));
                }
                Ok(())
            })?;
        let Some(base_work) = tip_work.checked_sub(above) else {
            return Err(read.view.corrupt(format!(
                "the tip's chain work is below the work of the headers above height {base}"
            )));
        };
        let base_hash = read
            .snap
            .header_at(base)?
            .ok_or_else(|| read.view.corrupt(format!("best chain lacks height {base}")))?
            .block_hash();
        let mut checkpoints = vec![(base, base_hash, base_work)];
        checkpoints.extend(
            crossed
                .into_iter()
                .map(|(at, hash, prefix)| (at, hash, base_work.saturating_add(prefix))),
        );
        self.record(checkpoints);
        Ok(base_work.saturating_add(at_height))
    }

    fn record(&self, checkpoints: Vec<(u32, BlockHash, u128)>) {
        if checkpoints.is_empty() {
            return;
        }
        let mut map = self.lock();
        for (height, hash, work) in checkpoints {
            map.insert(height, Checkpoint { hash, work });
        }
    }

    /// The checkpoints held, for tests: (height, hash) in height order.
    #[cfg(test)]
    pub(super) fn held(&self) -> Vec<(u32, BlockHash)> {
        self.lock().iter().map(|(h, c)| (*h, c.hash)).collect()
    }
}
