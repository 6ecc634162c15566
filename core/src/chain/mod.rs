//! The header tree: every header we accepted, with its height and cumulative work, the best
//! (most-work) chain through it, consensus validation of new headers, and locators.
//!
//! Submodules: [`pow`] (compact targets, proof of work, block proof), [`difficulty`] (the
//! nBits a header must carry), [`validate`] (contextual checks), `tree` (compact storage and
//! ancestor lookup), `hash_index` (finding a node by hash), `work` (cumulative work without
//! 16 bytes a node), [`load`] (rebuilding the tree from a store), [`locator`] (locators and
//! what a getheaders asks of the best chain).
//!
//! The tree keeps what validation, locators and fork choice need, about 58 bytes a header,
//! not the headers themselves: the store has those, and answers what peers ask for
//! (`Output::ServeHeaders`). What a change hands to the store carries the full headers that
//! are new to it ([`PersistChain`]).

pub mod difficulty;
mod hash_index;
pub mod header_bytes;
mod header_hash;
pub mod load;
pub mod locator;
pub mod pow;
mod tree;
pub mod validate;
mod work;

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};
use tracing::debug;

use crate::output::{PersistChain, TipChange};
use crate::params::Params;
use crate::time::Time;

use difficulty::{Ancestry, BlockInfo, DifficultyRules};
use tree::{Node, Tree};
use work::ProofCache;

/// How many headers ahead `accept_hashed` prefetches the hash index's slot: a miss (about
/// 100 ns) against about 150 ns of validation a header, with room for a slower memory.
const PREFETCH_AHEAD: usize = 8;

pub use header_hash::{header_hash, header_hashes};
pub use load::ChainLoader;
pub use locator::HeaderRange;

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
    /// The tree holds as many headers as its index can name (`hash_index::MAX_NODES`, 134
    /// million): nothing more is taken. Not an offence: no peer can be blamed for it.
    #[error("the header tree is full")]
    TreeFull,
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
            HeaderError::TimeTooNew { .. } | HeaderError::UnknownParent(_) | HeaderError::TreeFull
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
    /// The store holds more headers than the tree can index.
    #[error("the store holds more headers than the tree can index")]
    TooMany,
}

/// What the tree knows of one header: everything but its version, merkle root and nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainEntry {
    /// The header's hash.
    pub hash: BlockHash,
    /// Its parent's hash (all zeros for genesis).
    pub prev_blockhash: BlockHash,
    /// Its height.
    pub height: u32,
    /// Its timestamp.
    pub time: u32,
    /// Its nBits.
    pub bits: u32,
    /// Cumulative work from genesis through it.
    pub work: Work,
    /// Whether it is on the best chain.
    pub on_best: bool,
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
    proofs: ProofCache,
    /// The best tip's full header, kept so that [`HeaderChain::tip_header`] can lend it.
    tip_header: Header,
    /// What Core's min-difficulty walk-back returns from each node, by node index, on the
    /// networks that need it (testnet3, testnet4; see [`needs_walk_cache`]).
    walk_bits: Option<Vec<u32>>,
}

/// Whether the min-difficulty walk-back (Core's loop in `GetNextWorkRequired`) needs a cached
/// answer per node: on a network that allows min-difficulty blocks and retargets. Where the
/// difficulty never changes and genesis carries the pow limit (regtest), every valid header
/// carries the pow limit (the required bits are the limit, the parent's or a walked-back
/// ancestor's, all the limit by induction from genesis), so the walk always answers the
/// limit and needs no cache.
fn needs_walk_cache(rules: &DifficultyRules, genesis_bits: u32) -> bool {
    rules.allow_min_difficulty && !(rules.no_retargeting && genesis_bits == rules.pow_limit_bits)
}

/// The chain ending at one node, as the difficulty rules see it.
struct TreeAncestry<'a> {
    tree: &'a Tree,
    parent: u32,
    walk_bits: Option<&'a [u32]>,
}

impl Ancestry for TreeAncestry<'_> {
    fn ancestor(&self, height: u32) -> BlockInfo {
        info_of(self.tree.node(self.tree.ancestor(self.parent, height)))
    }

    fn last_non_min_difficulty_bits(&self, _parent: BlockInfo, limit: u32, _interval: u32) -> u32 {
        match self.walk_bits {
            Some(cache) => cache.get(self.parent as usize).copied().unwrap_or(limit),
            // `needs_walk_cache` is false: the walk would end at the limit.
            None => limit,
        }
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
        let mut proofs = ProofCache::new();
        let proof = proofs.proof(bits);
        let tree = Tree::new(&genesis, params.genesis_hash(), proof, capacity);
        let walk_bits = needs_walk_cache(&rules, bits).then(|| {
            let mut cache = Vec::with_capacity(capacity.max(1));
            cache.push(bits);
            cache
        });
        HeaderChain {
            params,
            rules,
            tree,
            proofs,
            tip_header: genesis,
            walk_bits,
        }
    }

    /// A tree rebuilt from a store: `best` is the best chain from genesis in height order,
    /// `side` the other headers with their heights, parents first. See [`ChainLoader`], which
    /// this drives, for what is checked and what is trusted.
    pub fn from_stored(
        params: Params,
        best: Vec<Header>,
        side: Vec<(u32, Header)>,
    ) -> Result<HeaderChain, LoadError> {
        let mut loader = ChainLoader::new(params, best.len() + side.len());
        for header in &best {
            loader.push_best(header)?;
        }
        for (height, header) in &side {
            loader.push_side(*height, header)?;
        }
        loader.finish()
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
        pow::work_from_u128(self.tree.work.tip())
    }

    /// Number of headers in the tree, best chain and side branches together.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Never true: the tree always holds genesis.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Room for `more` headers beyond those held (a sync that knows how far its peer is).
    pub fn reserve(&mut self, more: usize) {
        self.tree.reserve(more);
        if let Some(cache) = self.walk_bits.as_mut() {
            cache.reserve_exact(more);
        }
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

    /// What the tree knows of a header anywhere in it.
    pub fn entry(&self, hash: &BlockHash) -> Option<ChainEntry> {
        let idx = self.tree.lookup(hash)?;
        let node = self.tree.node(idx);
        Some(ChainEntry {
            hash: node.hash,
            prev_blockhash: self.tree.parent_hash(idx),
            height: node.height,
            time: node.time,
            bits: node.bits,
            work: pow::work_from_u128(self.tree.work_of(idx)),
            on_best: self.tree.is_on_best(idx),
        })
    }

    /// The median time past of a header anywhere in the tree: the median of its timestamp
    /// and those of up to 10 ancestors.
    pub fn median_time_past(&self, hash: &BlockHash) -> Option<u32> {
        self.tree
            .lookup(hash)
            .map(|i| self.tree.median_time_past(i))
    }

    /// The best chain's hash at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.tree.best_at(height).map(|i| self.tree.node(i).hash)
    }

    /// Cumulative work up to and including a header anywhere in the tree.
    pub fn work_of(&self, hash: &BlockHash) -> Option<Work> {
        self.tree
            .lookup(hash)
            .map(|i| pow::work_from_u128(self.tree.work_of(i)))
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

    /// Serving getheaders: which best-chain headers to send, as heights: up to `max` after
    /// the first locator entry on our best chain (after genesis if none is; Core's
    /// `FindForkInGlobalIndex`), through `stop` if it is met (a zero `stop` means no stop).
    /// An empty locator asks, as in Core, for the `stop` header alone: it is given if it is
    /// on our best chain. The store composes the message from these heights.
    pub fn headers_after(
        &self,
        locator: &[BlockHash],
        stop: &BlockHash,
        max: usize,
    ) -> HeaderRange {
        let nothing = HeaderRange { first: 0, count: 0 };
        if max == 0 {
            return nothing;
        }
        if locator.is_empty() {
            return match self.tree.lookup(stop) {
                Some(i) if self.tree.is_on_best(i) => HeaderRange {
                    first: self.tree.node(i).height,
                    count: 1,
                },
                _ => nothing,
            };
        }
        let first = self.tree.fork_point(locator).saturating_add(1);
        let available = self.tree.best_from(first);
        let mut count = available.len().min(max);
        if let Some(stop_idx) = self.tree.lookup(stop) {
            let node = self.tree.node(stop_idx);
            if self.tree.is_on_best(stop_idx) && node.height >= first {
                count = count.min((node.height - first) as usize + 1);
            }
        }
        HeaderRange {
            first,
            count: count as u32,
        }
    }

    /// Validates and adds `headers` in order (each must extend a header already known or
    /// earlier in the slice; known ones are skipped), with `now` as the clock for the 2-hour
    /// rule. The best chain moves at most once, to the most-work tip (the first seen on a tie).
    pub fn accept(&mut self, headers: &[Header], now: Time) -> Accepted {
        let hashes: Vec<BlockHash> = header_hashes(headers);
        self.accept_hashed(headers, &hashes, now)
    }

    /// [`HeaderChain::accept`] with the headers' hashes already computed (the node hashes a
    /// headers message once, to check its continuity, and reuses the hashes here). `hashes[i]`
    /// must be the hash of `headers[i]`.
    ///
    /// A header that extends the best tip joins the best chain at once (nearly every header of
    /// a sync); one elsewhere is kept aside with its work, and the best chain moves to the
    /// most-work header at the end. What is reported is the change from the tip before the
    /// call, as one move.
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
        let old_height = self.tree.tip_height();
        let mut best = old_tip;
        let mut best_work = self.tree.work.tip();
        // Where in `headers` each added node came from, by node index minus `first_new`.
        let mut from: Vec<usize> = Vec::new();
        // The header just added, with its work: in a headers message it is nearly always the
        // next one's parent, which saves an index lookup and a work sum.
        let mut last: Option<(BlockHash, u32, u128)> = None;
        // Every header's slot is read once (the duplicate check, or the insert): fetched
        // [`PREFETCH_AHEAD`] headers ahead, so the misses overlap the work between.
        for hash in hashes.iter().take(PREFETCH_AHEAD) {
            self.tree.prefetch_index(hash);
        }
        for (pos, (header, &hash)) in headers.iter().zip(hashes).enumerate() {
            if let Some(ahead) = hashes.get(pos + PREFETCH_AHEAD) {
                self.tree.prefetch_index(ahead);
            }
            // A header whose parent is the newest node is new: a node with its hash would be
            // that parent's child (same hash, same header), added after it. In a sync that is
            // every header after the first, and the duplicate check is a miss by design (the
            // costliest lookup: the whole probe run, each tag match a read of another node).
            let newest = self.tree.len() as u32 - 1;
            let extends_newest = matches!(last, Some((h, idx, _))
                if h == header.prev_blockhash && idx == newest);
            if !extends_newest && self.tree.lookup(&hash).is_some() {
                continue;
            }
            let parent = match last {
                Some((h, idx, work)) if h == header.prev_blockhash => Some((idx, work)),
                _ => self
                    .tree
                    .lookup(&header.prev_blockhash)
                    .map(|idx| (idx, self.tree.work_of(idx))),
            };
            if self.tree.is_full() {
                out.error = Some((hash, HeaderError::TreeFull));
                break;
            }
            let Some((parent, parent_work)) = parent else {
                out.error = Some((hash, HeaderError::UnknownParent(header.prev_blockhash)));
                break;
            };
            match self.check(header, &hash, parent, now) {
                Ok(node) => {
                    let work = parent_work.saturating_add(self.proofs.proof(node.bits));
                    let idx = self.insert(node, work);
                    from.push(pos);
                    last = Some((hash, idx, work));
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
        let header_of = |idx: u32| -> Option<Header> {
            let pos = from.get(idx.checked_sub(first_new)? as usize)?;
            headers.get(*pos).copied()
        };
        // Disconnected by the final move, old best-chain nodes only (those above the old tip
        // joined during this call).
        let mut fork_height = old_height;
        let mut disconnected = Vec::new();
        if best != self.tree.tip() {
            let (fork, left, _) = self.tree.set_tip(best);
            if fork < old_height {
                fork_height = fork;
                disconnected = left
                    .into_iter()
                    .filter(|&i| self.tree.node(i).height <= old_height)
                    .collect();
            }
        }
        let tip = self.tree.tip();
        let tip_work = pow::work_from_u128(self.tree.work.tip());
        let mut rejoined = Vec::new();
        let mut connected = Vec::new();
        if tip != old_tip {
            if let Some(header) = header_of(tip) {
                self.tip_header = header;
            }
            let joined = self.tree.best_from(fork_height.saturating_add(1));
            for &idx in joined {
                match header_of(idx) {
                    Some(header) => connected.push(header),
                    None => rejoined.push(self.tree.node(idx).hash),
                }
            }
            let change = TipChange {
                fork_height,
                disconnected: disconnected
                    .iter()
                    .map(|&i| self.tree.node(i).hash)
                    .collect(),
                connected: joined.iter().map(|&i| self.tree.node(i).hash).collect(),
                tip_height: self.tree.tip_height(),
                tip: self.tree.node(tip).hash,
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
        }
        let side = (first_new..self.tree.len() as u32)
            .filter(|&i| !self.tree.is_on_best(i))
            .filter_map(|i| Some((self.tree.node(i).height, header_of(i)?)))
            .collect();
        out.persist = Some(PersistChain {
            fork_height,
            rejoined,
            connected,
            side,
            tip_work,
        });
        out
    }

    /// Adds a checked node with its work: onto the best chain if it extends the tip, aside
    /// otherwise. Gives its index.
    fn insert(&mut self, node: Node, work: u128) -> u32 {
        let idx = if node.parent == self.tree.tip() {
            self.tree.push_tip(node, work)
        } else {
            self.tree.push_side(node, work)
        };
        self.push_walk_bits(&node);
        idx
    }

    /// Records, for the node just added, what the min-difficulty walk-back returns starting
    /// at it (where a cache is kept): its own bits, unless it is a min-difficulty block inside
    /// a period, which passes on its parent's answer.
    fn push_walk_bits(&mut self, node: &Node) {
        let inside = !node.height.is_multiple_of(self.rules.interval);
        let min_difficulty = inside && node.bits == self.rules.pow_limit_bits;
        if let Some(cache) = self.walk_bits.as_mut() {
            let bits = match cache.get(node.parent as usize) {
                Some(parent) if min_difficulty => *parent,
                _ => node.bits,
            };
            cache.push(bits);
        }
    }

    /// Every consensus check of a header whose parent is node `parent`, in Core's order
    /// (`CheckBlockHeader`, then `ContextualCheckBlockHeader`); the node to insert if it
    /// passes.
    fn check(
        &self,
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
            walk_bits: self.walk_bits.as_deref(),
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
        Ok(Node {
            hash: *hash,
            parent,
            height,
            time: header.time,
            bits,
        })
    }
}
