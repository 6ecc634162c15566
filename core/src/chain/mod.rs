//! The header tree: every header we accepted, with its height and cumulative work, the best
//! (most-work) chain through it, consensus validation of new headers, and locators.

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};

use crate::output::{PersistChain, TipChange};
use crate::params::Params;
use crate::time::Time;

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The parent is not in the tree.
    #[error("unknown parent {0}")]
    UnknownParent(BlockHash),
    /// nBits encodes a negative target.
    #[error("negative target in nBits {0:#010x}")]
    NegativeTarget(u32),
    /// nBits encodes a target that does not fit 256 bits.
    #[error("overflowing target in nBits {0:#010x}")]
    OverflowTarget(u32),
    /// nBits encodes a zero target.
    #[error("zero target in nBits {0:#010x}")]
    ZeroTarget(u32),
    /// nBits encodes a target easier than the network's pow limit.
    #[error("target in nBits {0:#010x} easier than the pow limit")]
    TargetAbovePowLimit(u32),
    /// The hash is above the target ("high-hash").
    #[error("hash above target (high-hash)")]
    HighHash,
    /// nBits is not what the difficulty rules require ("bad-diffbits").
    #[error("nBits {got:#010x}, required {expected:#010x} (bad-diffbits)")]
    BadDiffBits {
        /// What the rules require.
        expected: u32,
        /// What the header carries.
        got: u32,
    },
    /// The timestamp is not above the median of the previous 11 ("time-too-old").
    #[error("time {time} not after median time past {median} (time-too-old)")]
    TimeTooOld {
        /// The header's time.
        time: u32,
        /// The median of the 11 before it.
        median: u32,
    },
    /// The timestamp is more than 2 hours after our clock ("time-too-new"). Not an offence:
    /// the header may become valid later.
    #[error("time {time} more than 2 hours after now ({now}) (time-too-new)")]
    TimeTooNew {
        /// The header's time.
        time: u32,
        /// Our clock, in seconds.
        now: u64,
    },
    /// BIP94: the first block of a period is more than 600 s before its parent.
    #[error("time {time} more than 600 s before parent {prev} (time-timewarp-attack)")]
    TimewarpAttack {
        /// The header's time.
        time: u32,
        /// Its parent's time.
        prev: u32,
    },
    /// The version is below what BIP34/BIP66/BIP65 require at this height ("bad-version").
    #[error("version {version:#x} below {min} at height {height} (bad-version)")]
    BadVersion {
        /// The header's version.
        version: i32,
        /// The lowest allowed.
        min: i32,
        /// The header's height.
        height: u32,
    },
}

impl HeaderError {
    /// Whether sending this header is an offence (Core punishes all but time-too-new and a
    /// missing parent).
    pub fn is_offence(&self) -> bool {
        !matches!(self, HeaderError::TimeTooNew { .. } | HeaderError::UnknownParent(_))
    }
}

/// Why stored headers cannot be loaded into a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The first stored header is not this network's genesis.
    #[error("stored chain starts at {found}, not at the genesis of {network}")]
    WrongGenesis {
        /// The first stored hash.
        found: BlockHash,
        /// The network we expected.
        network: crate::params::Network,
    },
    /// A stored best-chain header does not link to the one below it.
    #[error("stored header at height {0} does not link to its parent")]
    BrokenLink(u32),
    /// A stored side-chain header has no known parent.
    #[error("stored side header {0} has no known parent")]
    OrphanSide(BlockHash),
}

/// The result of [`HeaderChain::accept`]: what changed, and why it stopped early if it did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    /// Headers new to the tree.
    pub added: usize,
    /// The change of the best chain, if any: one per call, however deep.
    pub tip_change: Option<TipChange>,
    /// What to persist, if anything was added.
    pub persist: Option<PersistChain>,
    /// The first header refused and why; headers before it were kept, headers after it were
    /// not looked at.
    pub error: Option<(BlockHash, HeaderError)>,
}

/// The tree of accepted headers, rooted at genesis.
#[derive(Debug, Clone)]
pub struct HeaderChain {
    params: Params,
}

impl HeaderChain {
    /// A tree holding only the genesis header of `params`.
    pub fn new(params: Params) -> HeaderChain {
        HeaderChain { params }
    }

    /// A tree rebuilt from a store: `best` is the best chain from genesis in height order,
    /// `side` the other headers with their heights, parents first. Proof of work is trusted
    /// (the store only holds validated headers); links and genesis are checked.
    pub fn from_stored(
        params: Params,
        best: Vec<Header>,
        side: Vec<(u32, Header)>,
    ) -> Result<HeaderChain, LoadError> {
        let _ = (best, side);
        Ok(HeaderChain { params })
    }

    /// The network parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Height of the best tip.
    pub fn tip_height(&self) -> u32 {
        todo!()
    }

    /// Hash of the best tip.
    pub fn tip_hash(&self) -> BlockHash {
        todo!()
    }

    /// The best tip's header.
    pub fn tip_header(&self) -> &Header {
        todo!()
    }

    /// Cumulative work of the best chain.
    pub fn tip_work(&self) -> Work {
        todo!()
    }

    /// Whether `hash` is anywhere in the tree.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        let _ = hash;
        todo!()
    }

    /// Height of a header anywhere in the tree.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        let _ = hash;
        todo!()
    }

    /// Whether `hash` is on the best chain.
    pub fn is_on_best_chain(&self, hash: &BlockHash) -> bool {
        let _ = hash;
        todo!()
    }

    /// The best chain's header at `height`.
    pub fn header_at(&self, height: u32) -> Option<Header> {
        let _ = height;
        todo!()
    }

    /// The best chain's hash at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        let _ = height;
        todo!()
    }

    /// A header anywhere in the tree.
    pub fn header(&self, hash: &BlockHash) -> Option<Header> {
        let _ = hash;
        todo!()
    }

    /// Cumulative work up to and including a header anywhere in the tree.
    pub fn work_of(&self, hash: &BlockHash) -> Option<Work> {
        let _ = hash;
        todo!()
    }

    /// Core's locator from the best tip: the tip, 10 single steps, then doubling, ending at
    /// genesis; at most 101 entries.
    pub fn locator(&self) -> Vec<BlockHash> {
        todo!()
    }

    /// The same shape of locator starting from `hash`, anywhere in the tree (for example the
    /// last header a sync peer sent). Empty if `hash` is unknown.
    pub fn locator_from(&self, hash: &BlockHash) -> Vec<BlockHash> {
        let _ = hash;
        todo!()
    }

    /// Serving getheaders: up to `max` best-chain headers after the first locator entry on
    /// our best chain (after genesis if none is), through `stop` if it is met (a zero `stop`
    /// means no stop).
    pub fn headers_after(&self, locator: &[BlockHash], stop: &BlockHash, max: usize) -> Vec<Header> {
        let _ = (locator, stop, max);
        todo!()
    }

    /// Validates and adds `headers` in order (each must extend a header already known or
    /// earlier in the slice; known ones are skipped), with `now` as the clock for the 2-hour
    /// rule. The best chain moves at most once, to the most-work tip (the first seen on a tie).
    pub fn accept(&mut self, headers: &[Header], now: Time) -> Accepted {
        let _ = (headers, now);
        todo!()
    }
}
