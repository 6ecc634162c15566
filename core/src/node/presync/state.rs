//! The per-peer state of a headers presync (Core's `HeadersSyncState`): commitments taken
//! during the first download, their check during the second, the buffer of redownloaded
//! headers, and Core's `PermittedDifficultyTransition`. Pure: no peers, no chain, no clock.

use std::collections::VecDeque;

use super::compressed::CompressedHeader;

use bitcoin::block::Header;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{BlockHash, Work};

use super::super::MAX_LOCATOR_SIZE;
use crate::chain::pow::{self, U256};
use crate::chain::HeaderError;
use crate::params::Params;

/// Which download of the peer's chain is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresyncPhase {
    /// First download: only work and commitment bits are kept.
    Presync,
    /// Second download: commitments are checked and headers released to the chain.
    Redownload,
}

/// A snapshot of one peer's presync, for operators and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresyncStatus {
    /// The running phase.
    pub phase: PresyncPhase,
    /// Height of the header in our chain the peer's chain forks from.
    pub chain_start_height: u32,
    /// Height of the last header received in this phase.
    pub height: u32,
    /// Commitment bits held (stored in PRESYNC, not yet checked in REDOWNLOAD).
    pub commitments: usize,
    /// Most commitment bits this presync may store before it gives up.
    pub max_commitments: u64,
    /// Redownloaded headers held back from the chain.
    pub buffered: usize,
    /// Cumulative work of the peer's chain up to `height` (saturating at 2^128 - 1).
    pub work: u128,
    /// The work the chain must reach to be stored.
    pub threshold: u128,
    /// The timestamp of the header at `height` (for a progress estimate).
    pub time: u32,
}

/// A queue of bits, 64 to a word (Core's `bitdeque`): commitments cost one bit each.
#[derive(Debug, Default)]
struct BitQueue {
    words: Vec<u64>,
    len: usize,
    head: usize,
}

impl BitQueue {
    fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if bit {
            if let Some(w) = self.words.last_mut() {
                *w |= 1 << (self.len % 64);
            }
        }
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<bool> {
        if self.head >= self.len {
            return None;
        }
        let bit = self
            .words
            .get(self.head / 64)
            .is_some_and(|w| w >> (self.head % 64) & 1 == 1);
        self.head += 1;
        Some(bit)
    }

    fn size(&self) -> usize {
        self.len - self.head
    }
}

/// What to do after a headers message was fed to a presync.
#[derive(Debug)]
pub(in crate::node) enum PresyncNext {
    /// Ask the peer for more with this locator.
    RequestMore(Vec<BlockHash>),
    /// The redownloaded chain reached the threshold: everything is released and the presync
    /// is over; sync goes on as usual.
    Complete,
    /// Give up on this chain, the message consumed; not an offence. The peer's chain ended
    /// short of the threshold, declined to be served in full a second time, or grew longer than
    /// its timestamps allow (Core's `ProcessNextHeaders` with `success` but no `request_more`).
    Aborted(&'static str),
    /// The message does not continue this presync (the peer reorganised, or served another
    /// chain the second time): the presync is over and the message must be processed as any
    /// other, which may start a new presync (Core's `ProcessNextHeaders` without `success`).
    NotContinued(&'static str),
    /// A header that breaks consensus: its proof of work or its difficulty transition.
    Invalid(BlockHash, HeaderError),
}

/// The result of feeding one headers message to a presync.
#[derive(Debug)]
pub(in crate::node) struct PresyncProcessed {
    /// Redownloaded headers ready for full validation, in chain order.
    pub release: Vec<Header>,
    /// Their hashes.
    pub release_hashes: Vec<BlockHash>,
    /// What comes next.
    pub next: PresyncNext,
}

/// One peer's low-work headers sync (Core's `HeadersSyncState`). Memory is bounded by
/// `max_commitments` bits and, between messages, `headers_redownload_buffer` headers.
#[derive(Debug)]
pub(in crate::node) struct HeadersPresync {
    chain_start_hash: BlockHash,
    chain_start_height: u32,
    chain_start_locator: Vec<BlockHash>,
    threshold: u128,
    salt: u64,
    commit_offset: u32,
    period: u32,
    buffer_size: usize,
    max_commitments: u64,
    commitments: BitQueue,
    phase: PresyncPhase,
    /// PRESYNC: the last header received (hash, bits), its time, its height and the chain's
    /// work.
    last_received: (BlockHash, u32),
    last_time: u32,
    current_height: u32,
    current_work: u128,
    /// REDOWNLOAD: the last header buffered (hash, bits), its time, its height and the
    /// chain's work.
    redownload_last: (BlockHash, u32),
    redownload_time: u32,
    redownload_height: u32,
    redownload_work: u128,
    /// Redownloaded headers awaiting release, in Core's 48-byte form, and the prev hash of
    /// the first of them (the hash of the last one released, or the chain start).
    buffer: VecDeque<CompressedHeader>,
    buffer_first_prev: BlockHash,
    /// The threshold was reached while redownloading: release everything, check no more.
    process_all: bool,
    /// Difficulty rules for `permitted_difficulty_transition` and the proof-of-work check.
    rules: TransitionRules,
    /// The last nBits seen and its block proof (chains rarely change bits).
    proof_cache: (u32, u128),
}

/// The parts of the difficulty rules the presync checks need.
#[derive(Debug, Clone, Copy)]
struct TransitionRules {
    allow_min_difficulty: bool,
    interval: u32,
    timespan: u32,
    pow_limit: U256,
}

impl TransitionRules {
    fn new(params: &Params) -> TransitionRules {
        TransitionRules {
            allow_min_difficulty: params.allow_min_difficulty_blocks,
            interval: params.difficulty_adjustment_interval().max(1),
            timespan: params.pow_target_timespan,
            pow_limit: U256::from_target(params.pow_limit),
        }
    }
}

/// Core's `PermittedDifficultyTransition`: whether a header at `height` may carry `new_bits`
/// after a parent with `old_bits`. Always true where min-difficulty blocks are allowed; at a
/// retarget height the new target must lie within [old/4, old·4] (capped at the pow limit,
/// both bounds rounded through the compact form); elsewhere the bits must not change.
pub fn permitted_difficulty_transition(
    params: &Params,
    height: u32,
    old_bits: u32,
    new_bits: u32,
) -> bool {
    TransitionRules::new(params).permitted(height, old_bits, new_bits)
}

impl TransitionRules {
    fn permitted(&self, height: u32, old_bits: u32, new_bits: u32) -> bool {
        if self.allow_min_difficulty {
            return true;
        }
        if !height.is_multiple_of(self.interval) {
            return old_bits == new_bits;
        }
        let old = pow::decode_compact(old_bits).value;
        let observed = pow::decode_compact(new_bits).value;
        let timespan = u64::from(self.timespan);
        let bound = |mul: u64, div: u64| {
            // Core multiplies then divides in 256 bits; an overflow there cannot happen with
            // a sane pow limit, and the cap below applies either way.
            let raw = old
                .mul_div(mul, div)
                .unwrap_or(self.pow_limit)
                .min(self.pow_limit);
            pow::decode_compact(pow::encode_compact(raw)).value
        };
        let largest = bound(timespan * 4, timespan);
        let smallest = bound(timespan / 4, timespan);
        smallest <= observed && observed <= largest
    }
}

/// Cumulative work in the chain's own 128-bit form, saturating.
pub(super) fn work_to_u128(work: Work) -> u128 {
    let bytes = work.to_le_bytes();
    if bytes[16..].iter().any(|b| *b != 0) {
        return u128::MAX;
    }
    let mut low = [0u8; 16];
    low.copy_from_slice(&bytes[..16]);
    u128::from_le_bytes(low)
}

/// The work a header with these bits claims (Core's `GetBlockProof`), with a one-entry cache.
pub(super) fn proof_of(bits: u32, cache: &mut (u32, u128)) -> u128 {
    if cache.0 != bits {
        *cache = (bits, pow::block_proof(&pow::decode_compact(bits).value));
    }
    cache.1
}

impl HeadersPresync {
    /// A presync of the chain forking from `chain_start` = (hash, height, bits, time,
    /// cumulative work), aiming at `threshold` work, with a secret `salt` and commitment
    /// offset.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::node) fn new(
        params: &Params,
        chain_start: (BlockHash, u32, u32, u32, u128),
        chain_start_locator: Vec<BlockHash>,
        threshold: u128,
        salt: u64,
        commit_offset: u32,
        max_commitments: u64,
    ) -> HeadersPresync {
        let (hash, height, bits, time, work) = chain_start;
        let proof_cache = (bits, pow::block_proof(&pow::decode_compact(bits).value));
        HeadersPresync {
            chain_start_hash: hash,
            chain_start_height: height,
            chain_start_locator,
            threshold,
            salt,
            commit_offset,
            period: params.headers_commitment_period.max(1),
            buffer_size: usize::try_from(params.headers_redownload_buffer).unwrap_or(usize::MAX),
            max_commitments,
            commitments: BitQueue::default(),
            phase: PresyncPhase::Presync,
            last_received: (hash, bits),
            last_time: time,
            current_height: height,
            current_work: work,
            redownload_last: (hash, bits),
            redownload_time: time,
            redownload_height: height,
            redownload_work: work,
            buffer: VecDeque::new(),
            buffer_first_prev: hash,
            process_all: false,
            rules: TransitionRules::new(params),
            proof_cache,
        }
    }

    /// The secret bit committed for a header: the low bit of SHA-256(salt ‖ hash). The salt
    /// and the commitment heights are unknown to the peer, so it cannot serve a different
    /// chain the second time without being caught about every other commitment.
    pub(in crate::node) fn commitment_bit(&self, hash: &BlockHash) -> bool {
        let mut buf = [0u8; 40];
        buf[..8].copy_from_slice(&self.salt.to_le_bytes());
        buf[8..].copy_from_slice(hash.as_ref());
        sha256::Hash::hash(&buf).to_byte_array()[0] & 1 == 1
    }

    fn is_commitment_height(&self, height: u32) -> bool {
        height % self.period == self.commit_offset
    }

    /// The locator that continues the running download (Core's `NextHeadersRequestLocator`).
    fn next_locator(&self) -> Vec<BlockHash> {
        let last = match self.phase {
            PresyncPhase::Presync => self.last_received.0,
            PresyncPhase::Redownload => self.redownload_last.0,
        };
        let mut locator = Vec::with_capacity(self.chain_start_locator.len() + 1);
        locator.push(last);
        locator.extend(&self.chain_start_locator);
        locator.truncate(MAX_LOCATOR_SIZE);
        locator
    }

    /// The request that continues the download once `headers` (a message whose last header
    /// hashes to `last`) has been processed, when that is certain before processing it: in the
    /// PRESYNC phase, a full message that continues the presync and cannot reach the threshold
    /// (the work of all its headers together stays below it) is either followed by exactly
    /// this request or ends the presync (an invalid header, too many commitments). `None`
    /// otherwise (the phase may change, or the message may not continue it). Lets the node ask
    /// before it hashes and validates (`node/pipeline.rs`).
    ///
    /// Not in REDOWNLOAD: a message there that does not continue the redownload (a commitment
    /// that does not match) is then processed as a new chain (Core's order), which a request
    /// already sent for the old one would cross.
    pub(in crate::node) fn request_after(
        &mut self,
        headers: &[Header],
        last: &BlockHash,
        full: bool,
    ) -> Option<Vec<BlockHash>> {
        if !full || self.phase != PresyncPhase::Presync {
            return None;
        }
        if headers.first()?.prev_blockhash != self.last_received.0 {
            return None;
        }
        let mut work = self.current_work;
        for header in headers {
            work = work.saturating_add(proof_of(header.bits.to_consensus(), &mut self.proof_cache));
        }
        if work >= self.threshold {
            return None;
        }
        let mut locator = Vec::with_capacity(self.chain_start_locator.len() + 1);
        locator.push(*last);
        locator.extend(&self.chain_start_locator);
        locator.truncate(MAX_LOCATOR_SIZE);
        Some(locator)
    }

    /// The salt and the commitment offset, for tests that check they stay secret.
    #[cfg(test)]
    pub(in crate::node) fn secrets(&self) -> (u64, u32) {
        (self.salt, self.commit_offset)
    }

    /// The header of our chain the peer's chain forks from.
    pub(in crate::node) fn chain_start_hash(&self) -> BlockHash {
        self.chain_start_hash
    }

    /// The state for operators and tests.
    pub(in crate::node) fn status(&self) -> PresyncStatus {
        PresyncStatus {
            phase: self.phase,
            chain_start_height: self.chain_start_height,
            height: match self.phase {
                PresyncPhase::Presync => self.current_height,
                PresyncPhase::Redownload => self.redownload_height,
            },
            commitments: self.commitments.size(),
            max_commitments: self.max_commitments,
            buffered: self.buffer.len(),
            work: match self.phase {
                PresyncPhase::Presync => self.current_work,
                PresyncPhase::Redownload => self.redownload_work,
            },
            threshold: self.threshold,
            time: match self.phase {
                PresyncPhase::Presync => self.last_time,
                PresyncPhase::Redownload => self.redownload_time,
            },
        }
    }

    /// Feeds one continuous, non-empty headers message (`hashes[i]` is the hash of
    /// `headers[i]`); `full` says whether it held the most headers a message may.
    pub(in crate::node) fn process(
        &mut self,
        headers: &[Header],
        hashes: &[BlockHash],
        full: bool,
    ) -> PresyncProcessed {
        let next = match self.phase {
            PresyncPhase::Presync => self.presync(headers, hashes, full),
            PresyncPhase::Redownload => self.redownload(headers, hashes, full),
        };
        let (release, release_hashes) = match next {
            // Core releases nothing from a message that failed: the chain is not proven.
            PresyncNext::Invalid(..) | PresyncNext::NotContinued(_) => (Vec::new(), Vec::new()),
            // Nothing is buffered before the redownload, so an abort in PRESYNC releases
            // nothing here either.
            _ => self.pop_ready(),
        };
        PresyncProcessed {
            release,
            release_hashes,
            next,
        }
    }

    /// Core's `ValidateAndStoreHeadersCommitments`.
    fn presync(&mut self, headers: &[Header], hashes: &[BlockHash], full: bool) -> PresyncNext {
        if headers.first().map(|h| h.prev_blockhash) != Some(self.last_received.0) {
            // Perhaps the peer reorganised: the message may start a new presync.
            return PresyncNext::NotContinued("non-continuous headers (presync phase)");
        }
        for (header, hash) in headers.iter().zip(hashes) {
            let height = self.current_height.saturating_add(1);
            let bits = header.bits.to_consensus();
            if let Err(error) = pow::check_proof_of_work(hash, bits, &self.rules.pow_limit) {
                return PresyncNext::Invalid(*hash, error);
            }
            if !self.rules.permitted(height, self.last_received.1, bits) {
                return PresyncNext::Invalid(*hash, bad_transition(self.last_received.1, bits));
            }
            if self.is_commitment_height(height) {
                let bit = self.commitment_bit(hash);
                self.commitments.push(bit);
                if self.commitments.size() as u64 > self.max_commitments {
                    // Longer than any chain the timestamp rules allow since chain_start. Core
                    // processes the message on as a new one, which asks for the same chain
                    // again; we end the round instead, since no answer can be better.
                    return PresyncNext::Aborted("exceeded max commitments (presync phase)");
                }
            }
            self.current_work = self
                .current_work
                .saturating_add(proof_of(bits, &mut self.proof_cache));
            self.last_received = (*hash, bits);
            self.last_time = header.time;
            self.current_height = height;
        }
        if self.current_work >= self.threshold {
            self.phase = PresyncPhase::Redownload;
            return PresyncNext::RequestMore(self.next_locator());
        }
        if full {
            PresyncNext::RequestMore(self.next_locator())
        } else {
            PresyncNext::Aborted("incomplete headers message (presync phase)")
        }
    }

    /// Core's `ValidateAndStoreRedownloadedHeader` over a message, then what follows.
    fn redownload(&mut self, headers: &[Header], hashes: &[BlockHash], full: bool) -> PresyncNext {
        for (header, hash) in headers.iter().zip(hashes) {
            let height = self.redownload_height.saturating_add(1);
            if header.prev_blockhash != self.redownload_last.0 {
                return PresyncNext::NotContinued("non-continuous headers (redownload phase)");
            }
            let bits = header.bits.to_consensus();
            if let Err(error) = pow::check_proof_of_work(hash, bits, &self.rules.pow_limit) {
                return PresyncNext::Invalid(*hash, error);
            }
            if !self.rules.permitted(height, self.redownload_last.1, bits) {
                return PresyncNext::Invalid(*hash, bad_transition(self.redownload_last.1, bits));
            }
            self.redownload_work = self
                .redownload_work
                .saturating_add(proof_of(bits, &mut self.proof_cache));
            if self.redownload_work >= self.threshold {
                // The peer's chain may have grown since PRESYNC: past the threshold there are
                // no commitments to check, nor any need to.
                self.process_all = true;
            }
            if !self.process_all && self.is_commitment_height(height) {
                let Some(expected) = self.commitments.pop_front() else {
                    return PresyncNext::NotContinued("commitment overrun (redownload phase)");
                };
                if self.commitment_bit(hash) != expected {
                    return PresyncNext::NotContinued("commitment mismatch (redownload phase)");
                }
            }
            self.buffer.push_back(CompressedHeader::new(header));
            self.redownload_last = (*hash, bits);
            self.redownload_time = header.time;
            self.redownload_height = height;
        }
        if self.process_all {
            PresyncNext::Complete
        } else if full {
            PresyncNext::RequestMore(self.next_locator())
        } else {
            // A high-work chain the peer now declines to serve in full.
            PresyncNext::Aborted("incomplete headers message (redownload phase)")
        }
    }

    /// Core's `PopHeadersReadyForAcceptance`: headers with `buffer_size` verified headers on
    /// top of them, or all of them once the threshold is reached, each rebuilt from its
    /// compressed form with the hash of the one before (computed here once, and handed on with
    /// the headers so that nothing hashes them again).
    fn pop_ready(&mut self) -> (Vec<Header>, Vec<BlockHash>) {
        let ready = if self.process_all {
            self.buffer.len()
        } else {
            self.buffer.len().saturating_sub(self.buffer_size)
        };
        let mut headers = Vec::with_capacity(ready);
        let mut hashes = Vec::with_capacity(ready);
        for compressed in self.buffer.drain(..ready) {
            let header = compressed.full(self.buffer_first_prev);
            let hash = crate::chain::header_hash(&header);
            self.buffer_first_prev = hash;
            headers.push(header);
            hashes.push(hash);
        }
        (headers, hashes)
    }
}

/// The error reported for a difficulty change the rules cannot allow. At a non-retarget
/// height `expected` is exactly what consensus requires; at a retarget height it is the
/// parent's bits, the best hint we have without the timestamps of the whole period.
fn bad_transition(old_bits: u32, new_bits: u32) -> HeaderError {
    HeaderError::BadDiffBits {
        expected: old_bits,
        got: new_bits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Network;

    #[test]
    fn bit_queue_keeps_order_across_words() {
        let mut q = BitQueue::default();
        let bits: Vec<bool> = (0..200u32).map(|i| (i * 7 + i / 3) % 3 == 0).collect();
        for b in &bits {
            q.push(*b);
        }
        assert_eq!(q.size(), 200);
        assert_eq!(q.words.len(), 4);
        let back: Vec<bool> = std::iter::from_fn(|| q.pop_front()).collect();
        assert_eq!(back, bits);
        assert_eq!(q.size(), 0);
    }

    #[test]
    fn difficulty_transitions_match_cores_vectors() {
        let main = Network::Mainnet.params();
        // pow_tests.cpp: get_next_work, get_next_work_pow_limit, lower and upper limits.
        assert!(permitted_difficulty_transition(
            &main, 32256, 0x1d00ffff, 0x1d00d86a
        ));
        assert!(permitted_difficulty_transition(
            &main, 2016, 0x1d00ffff, 0x1d00ffff
        ));
        assert!(permitted_difficulty_transition(
            &main, 68544, 0x1c05a3f4, 0x1c0168fd
        ));
        assert!(!permitted_difficulty_transition(
            &main, 68544, 0x1c05a3f4, 0x1c0168fc
        ));
        assert!(permitted_difficulty_transition(
            &main, 46368, 0x1c387f6f, 0x1d00e1fd
        ));
        assert!(!permitted_difficulty_transition(
            &main, 46368, 0x1c387f6f, 0x1d00e1fe
        ));
        // Off a retarget height the bits may not change at all.
        assert!(permitted_difficulty_transition(
            &main, 32257, 0x1d00d86a, 0x1d00d86a
        ));
        assert!(!permitted_difficulty_transition(
            &main, 32257, 0x1d00ffff, 0x1d00d86a
        ));
        // Networks with min-difficulty blocks allow anything.
        let regtest = Network::Regtest.params();
        assert!(permitted_difficulty_transition(
            &regtest, 7, 0x207fffff, 0x1d00ffff
        ));
    }

    #[test]
    fn work_conversion_saturates() {
        assert_eq!(work_to_u128(pow::work_from_u128(12345)), 12345);
        let mut big = [0u8; 32];
        big[31] = 1;
        assert_eq!(work_to_u128(Work::from_be_bytes(big)), 1);
        assert_eq!(work_to_u128(Work::from_le_bytes(big)), u128::MAX);
    }
}
