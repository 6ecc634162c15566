//! The header tree: every header we accepted, with its height and cumulative work, the best
//! (most-work) chain through it, consensus validation of new headers, and locators.
//!
//! Submodules: [`pow`] (compact targets, proof of work, block proof), [`difficulty`] (the
//! nBits a header must carry), [`validate`] (contextual checks), `tree` (compact storage and
//! ancestor lookup), [`locator`] (locators and getheaders serving).

pub mod difficulty;
pub mod locator;
pub mod pow;
mod tree;
pub mod validate;

use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{BlockHash, Work};
use tracing::debug;

use crate::output::{PersistChain, TipChange};
use crate::params::Params;
use crate::time::Time;

use difficulty::{Ancestry, BlockInfo, DifficultyRules};
use tree::{Node, Tree, NO_PARENT};

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
        !matches!(
            self,
            HeaderError::TimeTooNew { .. } | HeaderError::UnknownParent(_)
        )
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
///
/// Every header in it passed proof of work and the contextual rules (or came from a store
/// that only holds such headers). The best chain is the one with the most cumulative work;
/// on a tie the one seen first stays.
#[derive(Debug, Clone)]
pub struct HeaderChain {
    params: Params,
    rules: DifficultyRules,
    tree: Tree,
    /// The last (nBits, block proof) computed: consecutive headers nearly always share nBits,
    /// and the 256-bit division is worth skipping.
    proof_cache: (u32, u128),
    /// The best tip's full header, kept so that [`HeaderChain::tip_header`] can lend it.
    tip_header: Header,
}

/// The double SHA-256 of a header's 80-byte serialization.
pub fn header_hash(header: &Header) -> BlockHash {
    let mut buf = [0u8; 80];
    buf[0..4].copy_from_slice(&header.version.to_consensus().to_le_bytes());
    buf[4..36].copy_from_slice(header.prev_blockhash.as_ref());
    buf[36..68].copy_from_slice(header.merkle_root.as_ref());
    buf[68..72].copy_from_slice(&header.time.to_le_bytes());
    buf[72..76].copy_from_slice(&header.bits.to_consensus().to_le_bytes());
    buf[76..80].copy_from_slice(&header.nonce.to_le_bytes());
    BlockHash::from_raw_hash(sha256d::Hash::hash(&buf))
}

/// The chain ending at one node, as the difficulty rules see it.
struct TreeAncestry<'a> {
    tree: &'a Tree,
    parent: u32,
}

impl Ancestry for TreeAncestry<'_> {
    fn ancestor(&self, height: u32) -> BlockInfo {
        info_of(self.tree.node(self.tree.ancestor(self.parent, height)))
    }

    fn last_non_min_difficulty_bits(&self, _parent: BlockInfo, _limit: u32, _interval: u32) -> u32 {
        self.tree.node(self.parent).last_real_bits
    }
}

fn info_of(node: &Node) -> BlockInfo {
    BlockInfo {
        height: node.height,
        time: node.time,
        bits: node.bits,
    }
}

impl HeaderChain {
    /// A tree holding only the genesis header of `params`.
    pub fn new(params: Params) -> HeaderChain {
        HeaderChain::with_capacity(params, 1)
    }

    fn with_capacity(params: Params, capacity: usize) -> HeaderChain {
        let rules = DifficultyRules::new(&params);
        let genesis = params.genesis;
        let bits = genesis.bits.to_consensus();
        let proof = pow::block_proof(&pow::decode_compact(bits).value);
        let tree = Tree::new(&genesis, params.genesis_hash(), proof, capacity);
        HeaderChain {
            params,
            rules,
            tree,
            proof_cache: (bits, proof),
            tip_header: genesis,
        }
    }

    /// A tree rebuilt from a store: `best` is the best chain from genesis in height order,
    /// `side` the other headers with their heights, parents first. Proof of work is trusted
    /// (the store only holds validated headers); links and genesis are checked. An empty
    /// `best` gives a fresh tree. Side heights are recomputed from the parents; side headers
    /// already known are skipped. The stored best chain stays best.
    pub fn from_stored(
        params: Params,
        best: Vec<Header>,
        side: Vec<(u32, Header)>,
    ) -> Result<HeaderChain, LoadError> {
        let mut chain = HeaderChain::with_capacity(params, best.len() + side.len());
        let mut headers = best.iter();
        if let Some(first) = headers.next() {
            let found = header_hash(first);
            if found != chain.params.genesis_hash() {
                return Err(LoadError::WrongGenesis {
                    found,
                    network: chain.params.network,
                });
            }
        }
        for (height, header) in (1u32..).zip(headers) {
            let parent = chain.tree.tip();
            if header.prev_blockhash != chain.tree.node(parent).hash {
                return Err(LoadError::BrokenLink(height));
            }
            let node = chain.make_node(header, header_hash(header), parent);
            chain.tree.push_best_unindexed(node);
        }
        chain.tree.rebuild_index();
        chain.tip_header = chain.tree.header(chain.tree.tip());
        for (_, header) in &side {
            let hash = header_hash(header);
            if chain.tree.lookup(&hash).is_some() {
                continue;
            }
            let parent = chain
                .tree
                .lookup(&header.prev_blockhash)
                .ok_or(LoadError::OrphanSide(hash))?;
            let node = chain.make_node(header, hash, parent);
            chain.tree.push(node);
        }
        debug!(
            network = %chain.params.network,
            height = chain.tip_height(),
            side = chain.tree.len() - best.len().max(1),
            "header chain loaded"
        );
        Ok(chain)
    }

    /// The network parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Height of the best tip.
    pub fn tip_height(&self) -> u32 {
        self.tree.tip_height()
    }

    /// Hash of the best tip.
    pub fn tip_hash(&self) -> BlockHash {
        self.tree.node(self.tree.tip()).hash
    }

    /// The best tip's header.
    pub fn tip_header(&self) -> &Header {
        &self.tip_header
    }

    /// Cumulative work of the best chain.
    pub fn tip_work(&self) -> Work {
        pow::work_from_u128(self.tree.node(self.tree.tip()).work)
    }

    /// Number of headers in the tree, best chain and side branches together.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Never true: the tree always holds genesis.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `hash` is anywhere in the tree.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.tree.lookup(hash).is_some()
    }

    /// Height of a header anywhere in the tree.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.tree.lookup(hash).map(|i| self.tree.node(i).height)
    }

    /// Whether `hash` is on the best chain.
    pub fn is_on_best_chain(&self, hash: &BlockHash) -> bool {
        self.tree
            .lookup(hash)
            .is_some_and(|i| self.tree.is_on_best(i))
    }

    /// The best chain's header at `height`.
    pub fn header_at(&self, height: u32) -> Option<Header> {
        self.tree.best_at(height).map(|i| self.tree.header(i))
    }

    /// The best chain's hash at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.tree.best_at(height).map(|i| self.tree.node(i).hash)
    }

    /// A header anywhere in the tree.
    pub fn header(&self, hash: &BlockHash) -> Option<Header> {
        self.tree.lookup(hash).map(|i| self.tree.header(i))
    }

    /// Cumulative work up to and including a header anywhere in the tree.
    pub fn work_of(&self, hash: &BlockHash) -> Option<Work> {
        self.tree
            .lookup(hash)
            .map(|i| pow::work_from_u128(self.tree.node(i).work))
    }

    /// Core's locator from the best tip: the tip, 10 single steps, then doubling, ending at
    /// genesis; at most 101 entries.
    pub fn locator(&self) -> Vec<BlockHash> {
        self.tree.locator_from_node(self.tree.tip())
    }

    /// The same shape of locator starting from `hash`, anywhere in the tree (for example the
    /// last header a sync peer sent). Empty if `hash` is unknown.
    pub fn locator_from(&self, hash: &BlockHash) -> Vec<BlockHash> {
        self.tree
            .lookup(hash)
            .map(|i| self.tree.locator_from_node(i))
            .unwrap_or_default()
    }

    /// Serving getheaders: up to `max` best-chain headers after the first locator entry on
    /// our best chain (after genesis if none is; after the tip if an entry is a descendant
    /// of our tip, as Core's `FindForkInGlobalIndex`), through `stop` if it is met (a zero
    /// `stop` means no stop). An empty locator asks, as in Core, for the `stop` header
    /// alone: it is given if it is on our best chain.
    pub fn headers_after(
        &self,
        locator: &[BlockHash],
        stop: &BlockHash,
        max: usize,
    ) -> Vec<Header> {
        if max == 0 {
            return Vec::new();
        }
        if locator.is_empty() {
            return match self.tree.lookup(stop) {
                Some(i) if self.tree.is_on_best(i) => vec![self.tree.header(i)],
                _ => Vec::new(),
            };
        }
        let start = self.tree.fork_point(locator).saturating_add(1);
        let mut out = Vec::new();
        for &idx in self.tree.best_from(start).iter().take(max) {
            out.push(self.tree.header(idx));
            if self.tree.node(idx).hash == *stop {
                break;
            }
        }
        out
    }

    /// Validates and adds `headers` in order (each must extend a header already known or
    /// earlier in the slice; known ones are skipped), with `now` as the clock for the 2-hour
    /// rule. The best chain moves at most once, to the most-work tip (the first seen on a tie).
    pub fn accept(&mut self, headers: &[Header], now: Time) -> Accepted {
        let hashes: Vec<BlockHash> = headers.iter().map(header_hash).collect();
        self.accept_hashed(headers, &hashes, now)
    }

    /// [`HeaderChain::accept`] with the headers' hashes already computed (the node hashes a
    /// headers message once, to check its continuity, and reuses the hashes here). `hashes[i]`
    /// must be the hash of `headers[i]`.
    pub(crate) fn accept_hashed(
        &mut self,
        headers: &[Header],
        hashes: &[BlockHash],
        now: Time,
    ) -> Accepted {
        debug_assert_eq!(headers.len(), hashes.len());
        let mut out = Accepted::default();
        let first_new = self.tree.len() as u32;
        let old_tip = self.tree.tip();
        let mut best = old_tip;
        let mut best_work = self.tree.node(old_tip).work;
        // The header just added: in a headers message it is nearly always the next one's
        // parent, which saves an index lookup.
        let mut last: Option<(BlockHash, u32)> = None;
        for (header, &hash) in headers.iter().zip(hashes) {
            if self.tree.lookup(&hash).is_some() {
                continue;
            }
            let parent = match last {
                Some((h, idx)) if h == header.prev_blockhash => Some(idx),
                _ => self.tree.lookup(&header.prev_blockhash),
            };
            let Some(parent) = parent else {
                out.error = Some((hash, HeaderError::UnknownParent(header.prev_blockhash)));
                break;
            };
            match self.check(header, &hash, parent, now) {
                Ok(node) => {
                    let work = node.work;
                    let idx = self.tree.push(node);
                    last = Some((hash, idx));
                    out.added += 1;
                    if work > best_work {
                        best = idx;
                        best_work = work;
                    }
                }
                Err(error) => {
                    debug!(%hash, %error, "header refused");
                    out.error = Some((hash, error));
                    break;
                }
            }
        }
        if out.added == 0 {
            return out;
        }
        let tip_work = pow::work_from_u128(best_work);
        let (fork_height, connected) = if best != old_tip {
            let (fork_height, disconnected, connected) = self.tree.set_tip(best);
            self.tip_header = self.tree.header(best);
            let change = TipChange {
                fork_height,
                disconnected: disconnected
                    .iter()
                    .map(|&i| self.tree.node(i).hash)
                    .collect(),
                connected: connected.iter().map(|&i| self.tree.node(i).hash).collect(),
                tip_height: self.tree.tip_height(),
                tip: self.tree.node(best).hash,
                tip_work,
            };
            if change.disconnected.is_empty() {
                debug!(height = change.tip_height, tip = %change.tip, "best chain extended");
            } else {
                debug!(
                    fork_height,
                    disconnected = change.disconnected.len(),
                    connected = change.connected.len(),
                    tip = %change.tip,
                    "best chain reorganised"
                );
            }
            out.tip_change = Some(change);
            (
                fork_height,
                connected.iter().map(|&i| self.tree.header(i)).collect(),
            )
        } else {
            (self.tree.tip_height(), Vec::new())
        };
        let side = (first_new..self.tree.len() as u32)
            .filter(|&i| !self.tree.is_on_best(i))
            .map(|i| (self.tree.node(i).height, self.tree.header(i)))
            .collect();
        out.persist = Some(PersistChain {
            fork_height,
            connected,
            side,
            tip_work,
        });
        out
    }

    /// Every consensus check of a header whose parent is node `parent`, in Core's order
    /// (`CheckBlockHeader`, then `ContextualCheckBlockHeader`); the node to insert if it
    /// passes.
    fn check(
        &mut self,
        header: &Header,
        hash: &BlockHash,
        parent: u32,
        now: Time,
    ) -> Result<Node, HeaderError> {
        let bits = header.bits.to_consensus();
        pow::check_proof_of_work(hash, bits, &self.rules.pow_limit)?;
        let prev = *self.tree.node(parent);
        let height = prev.height.saturating_add(1);
        let ancestry = TreeAncestry {
            tree: &self.tree,
            parent,
        };
        let expected = self
            .rules
            .next_work_required(info_of(&prev), header.time, &ancestry);
        if bits != expected {
            return Err(HeaderError::BadDiffBits {
                expected,
                got: bits,
            });
        }
        validate::check_median_time_past(header.time, self.tree.median_time_past(parent))?;
        validate::check_timewarp(&self.params, height, header.time, prev.time)?;
        validate::check_not_too_new(header.time, now)?;
        validate::check_version(&self.params, height, header.version.to_consensus())?;
        Ok(self.make_node(header, *hash, parent))
    }

    /// The node for `header` under `parent`, with its work and min-difficulty cache.
    fn make_node(&mut self, header: &Header, hash: BlockHash, parent: u32) -> Node {
        let bits = header.bits.to_consensus();
        let proof = if self.proof_cache.0 == bits {
            self.proof_cache.1
        } else {
            let proof = pow::block_proof(&pow::decode_compact(bits).value);
            self.proof_cache = (bits, proof);
            proof
        };
        let prev = self.tree.node(parent);
        let height = prev.height.saturating_add(1);
        let last_real_bits =
            if !height.is_multiple_of(self.rules.interval) && bits == self.rules.pow_limit_bits {
                prev.last_real_bits
            } else {
                bits
            };
        Node {
            hash,
            merkle_root: header.merkle_root,
            version: header.version.to_consensus(),
            time: header.time,
            bits,
            nonce: header.nonce,
            parent,
            height,
            skip: NO_PARENT,
            last_real_bits,
            work: prev.work.saturating_add(proof),
        }
    }
}
