//! What the API reads of the chain: [`ChainView`] over the node's [`HeaderStore`], and
//! [`ChainRead`], the queries of one consistent snapshot (one LMDB read transaction) in the
//! terms Core's RPC and REST speak: confirmations, median time past, chain work, the next
//! block, chain tips.
//!
//! A query never waits for the node and the node never waits for a query: LMDB readers and
//! the writer do not block each other. The store keeps only the tip's cumulative work, so a
//! header's chain work is summed from the headers below it, helped by checkpoints every
//! [`WORK_CHECKPOINT_INTERVAL`] heights that this view keeps in memory (`work.rs`). A
//! checkpoint is used only after the snapshot confirms that the best chain still has its hash
//! at its height, so a reorg below it retires it by itself, with no notice from the node.
//!
//! # Costs
//!
//! `n` is the number of headers read (one B-tree lookup or one cursor step each, a fraction
//! of a microsecond), `h` the height asked for, `t` the tip's height.
//!
//! | query | cost |
//! |---|---|
//! | [`ChainRead::tip`] | none (read when the snapshot opens) |
//! | [`ChainRead::hash_at`] | one lookup and one hash |
//! | [`ChainRead::header_info_at`], best-chain [`ChainRead::header_info`] | 12 headers on one cursor (the 10 below for the median, the next for its hash), plus the chain work: under 1024 headers once its checkpoint exists; the first time, `min(h, t - h)` plus under 1024, which also leaves checkpoints on the way |
//! | side-chain [`ChainRead::header_info`] | the branch's length in hash lookups (down to the best chain), plus the fork's chain work |
//! | [`ChainRead::best_headers_from`] | `count + 11` headers on one cursor, `count + 1` hashes, one chain work |
//! | [`ChainRead::tips`] | one scan of the side set, one step per side header, one lookup per fork point |

mod work;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};
use headway_core::chain::pow::work_from_u128;
use headway_core::chain::validate::{median_time_past, MEDIAN_TIME_SPAN};
use headway_core::Network;
use headway_store_lmdb::{HeaderStore, Snapshot, StoreError};

pub use work::WORK_CHECKPOINT_INTERVAL;

/// Why a chain query failed: always the store (unreadable, or contents that break its own
/// format or each other).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The store failed or holds records that contradict each other.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A block by height and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Its height.
    pub height: u32,
    /// Its hash.
    pub hash: BlockHash,
}

/// A stored header with what Core's `blockheaderToJSON` says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    /// The header's hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u32,
    /// The header.
    pub header: Header,
    /// `tip - height + 1` on the best chain, -1 off it (Core's `ComputeNextBlockAndDepth`).
    pub confirmations: i64,
    /// Core's `GetMedianTimePast`: the median of the times of this header and the 10 before
    /// it (fewer near genesis).
    pub median_time: u32,
    /// The cumulative work of the chain up to and including this header.
    pub chainwork: Work,
    /// The best chain's next header, if this one is on the best chain below the tip.
    pub next: Option<BlockHash>,
}

/// One tip of the header tree, as Core's `getchaintips` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// The tip's height.
    pub height: u32,
    /// The tip's hash.
    pub hash: BlockHash,
    /// How far the tip is above its fork from the best chain (0 for the active tip).
    pub branchlen: u32,
    /// Whether this is the best chain's tip.
    pub active: bool,
}

/// The API's window on the header store: cheap to share in an [`Arc`], safe to use from any
/// number of threads at once. It owns the chain work checkpoints and the latch of Core's
/// `IsInitialBlockDownload`; everything else is read from the store per query.
#[derive(Debug)]
pub struct ChainView {
    store: Arc<HeaderStore>,
    work: work::Checkpoints,
    /// Core's `m_cached_finished_ibd`: set the first time the tip is recent and heavy enough.
    finished_ibd: AtomicBool,
}

impl ChainView {
    /// A view of `store` (opened read-write by the node, or read-only by another process).
    pub fn new(store: Arc<HeaderStore>) -> ChainView {
        let params = store.network().params();
        ChainView {
            store,
            work: work::Checkpoints::new(&params.genesis),
            finished_ibd: AtomicBool::new(false),
        }
    }

    /// The network the store belongs to.
    pub fn network(&self) -> Network {
        self.store.network()
    }

    /// Runs `f` on one snapshot of the store: every query through the [`ChainRead`] sees the
    /// same chain, whatever the node writes meanwhile. Keep `f` short: it holds an LMDB read
    /// transaction, which pins the pages it sees and delays a growth of the map.
    pub fn read<R>(
        &self,
        f: impl FnOnce(&ChainRead<'_>) -> Result<R, ChainError>,
    ) -> Result<R, ChainError> {
        self.store.snapshot(|snap| {
            let (height, hash) = snap.tip()?;
            let read = ChainRead {
                view: self,
                snap,
                tip: BlockRef { height, hash },
            };
            Ok(f(&read))
        })?
    }

    /// The size of the store's data file (`data.mdb`) in bytes, Core's `size_on_disk`; 0 if
    /// it cannot be read.
    pub fn size_on_disk(&self) -> u64 {
        std::fs::metadata(self.store.dir().join("data.mdb"))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Whether Core's `IsInitialBlockDownload` latch is set: from the first time it answers
    /// false, it answers false until the process ends (`m_cached_finished_ibd`).
    pub(crate) fn finished_ibd(&self) -> bool {
        self.finished_ibd.load(Ordering::Relaxed)
    }

    /// Sets the latch of [`ChainView::finished_ibd`].
    pub(crate) fn latch_finished_ibd(&self) {
        self.finished_ibd.store(true, Ordering::Relaxed);
    }

    /// A [`StoreError::Corrupt`] for this view's store.
    pub(crate) fn corrupt(&self, detail: String) -> ChainError {
        ChainError::Store(StoreError::Corrupt {
            dir: self.store.dir().to_path_buf(),
            detail,
        })
    }
}

/// The queries of one snapshot, handed out by [`ChainView::read`].
pub struct ChainRead<'a> {
    view: &'a ChainView,
    snap: &'a Snapshot<'a>,
    tip: BlockRef,
}

impl ChainRead<'_> {
    /// The best chain's tip.
    pub fn tip(&self) -> Result<BlockRef, ChainError> {
        Ok(self.tip)
    }

    /// The best chain's hash at `height`; `None` above the tip.
    pub fn hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        Ok(self.snap.header_at(height)?.map(|h| h.block_hash()))
    }

    /// The header with `hash`, on the best chain or a side branch; `None` if not stored.
    pub fn header_info(&self, hash: &BlockHash) -> Result<Option<HeaderInfo>, ChainError> {
        match self.snap.entry(hash)? {
            None => Ok(None),
            Some((height, _, true)) => Ok(self.best_infos(height, 1)?.pop()),
            Some((height, header, false)) => self.side_info(height, header, *hash).map(Some),
        }
    }

    /// The best chain's header at `height`; `None` above the tip.
    pub fn header_info_at(&self, height: u32) -> Result<Option<HeaderInfo>, ChainError> {
        Ok(self.best_infos(height, 1)?.pop())
    }

    /// Up to `count` best-chain headers from `hash` upwards, as Core's `rest_headers` walks
    /// them (`active_chain.Next` from the header, while it is on the active chain): empty if
    /// `hash` is unknown or off the best chain, shorter than `count` near the tip.
    pub fn best_headers_from(
        &self,
        hash: &BlockHash,
        count: usize,
    ) -> Result<Vec<HeaderInfo>, ChainError> {
        match self.snap.entry(hash)? {
            Some((height, _, true)) => self.best_infos(height, count),
            _ => Ok(Vec::new()),
        }
    }

    /// [`ChainRead::best_headers_from`] without the derived fields: the headers alone, for
    /// answers that carry only the 80 bytes (REST `.bin` and `.hex`); no chain work is summed.
    pub fn best_raw_headers_from(
        &self,
        hash: &BlockHash,
        count: usize,
    ) -> Result<Vec<Header>, ChainError> {
        let Some((height, _, true)) = self.snap.entry(hash)? else {
            return Ok(Vec::new());
        };
        let last = self.last_height(height, count);
        let mut out = Vec::with_capacity(count.min(MAX_PREALLOCATED));
        self.snap.for_each_best(height, last, |_, header| {
            out.push(*header);
            Ok(())
        })?;
        Ok(out)
    }

    /// Core's `getchaintips`: the active tip (branch length 0) and every side header that no
    /// stored side header builds on, highest first (Core's `CompareBlocksByHeight`; Core
    /// orders equal heights by memory address, we put the active tip first, then by hash).
    pub fn tips(&self) -> Result<Vec<ChainTip>, ChainError> {
        let side = self.snap.side_headers()?;
        let by_hash: HashMap<BlockHash, (u32, Header)> = side
            .iter()
            .map(|(height, header)| (header.block_hash(), (*height, *header)))
            .collect();
        let parents: HashSet<BlockHash> = side.iter().map(|(_, h)| h.prev_blockhash).collect();
        // The fork height of every side header visited, so that branches sharing a stem walk
        // it once: the whole call is one step per side header.
        let mut fork_of: HashMap<BlockHash, u32> = HashMap::new();
        let mut tips = vec![ChainTip {
            height: self.tip.height,
            hash: self.tip.hash,
            branchlen: 0,
            active: true,
        }];
        for (hash, (height, _)) in &by_hash {
            if parents.contains(hash) {
                continue;
            }
            let fork = self.fork_height(*hash, &by_hash, &mut fork_of)?;
            tips.push(ChainTip {
                height: *height,
                hash: *hash,
                branchlen: height - fork,
                active: false,
            });
        }
        tips.sort_by(|a, b| {
            (b.height, b.active)
                .cmp(&(a.height, a.active))
                .then(a.hash.cmp(&b.hash))
        });
        Ok(tips)
    }

    /// The height at which the side branch through `leaf` leaves the best chain (Core's
    /// `CChain::FindFork`), memoised in `fork_of` for every side header on the way.
    fn fork_height(
        &self,
        leaf: BlockHash,
        by_hash: &HashMap<BlockHash, (u32, Header)>,
        fork_of: &mut HashMap<BlockHash, u32>,
    ) -> Result<u32, ChainError> {
        let mut path = Vec::new();
        let mut current = leaf;
        let fork = loop {
            if let Some(fork) = fork_of.get(&current) {
                break *fork;
            }
            let Some((height, header)) = by_hash.get(&current) else {
                return Err(self.view.corrupt(format!("side header {current} vanished")));
            };
            path.push(current);
            let parent = header.prev_blockhash;
            if let Some((parent_height, _)) = by_hash.get(&parent) {
                if parent_height.checked_add(1) != Some(*height) {
                    return Err(self.view.corrupt(format!(
                        "side header {current} at height {height} has its parent at \
                         {parent_height}"
                    )));
                }
                current = parent;
                continue;
            }
            match self.snap.entry(&parent)? {
                Some((parent_height, _, true)) if parent_height.checked_add(1) == Some(*height) => {
                    break parent_height
                }
                _ => {
                    return Err(self.view.corrupt(format!(
                        "side header {current} at height {height} has no stored parent below it"
                    )))
                }
            }
        };
        for hash in path {
            fork_of.insert(hash, fork);
        }
        Ok(fork)
    }

    /// The last height of a run of `count` best-chain headers from `from`, clamped to the tip.
    fn last_height(&self, from: u32, count: usize) -> u32 {
        let extra = u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX);
        from.saturating_add(extra).min(self.tip.height)
    }

    /// The best chain's headers from `from`, `count` of them (fewer near the tip), read on one
    /// cursor together with the 10 below (median time) and the one above (next hash).
    fn best_infos(&self, from: u32, count: usize) -> Result<Vec<HeaderInfo>, ChainError> {
        let tip = self.tip.height;
        if from > tip || count == 0 {
            return Ok(Vec::new());
        }
        let last = self.last_height(from, count);
        let window = (MEDIAN_TIME_SPAN - 1) as u32;
        let start = from.saturating_sub(window);
        let stop = if last < tip { last + 1 } else { last };
        let mut headers = Vec::with_capacity((stop - start + 1) as usize);
        self.snap.for_each_best(start, stop, |_, header| {
            headers.push(*header);
            Ok(())
        })?;
        if headers.len() != (stop - start + 1) as usize {
            return Err(self
                .view
                .corrupt(format!("best chain ends below the tip at {tip}")));
        }
        let hashes: Vec<BlockHash> = headers[(from - start) as usize..]
            .iter()
            .map(|h| h.block_hash())
            .collect();
        let mut chainwork = self.view.work.best_work(self, from)?;
        let mut proofs = work::ProofCache::default();
        let mut out = Vec::with_capacity((last - from + 1) as usize);
        for (offset, height) in (from..=last).enumerate() {
            let index = (height - start) as usize;
            let header = headers[index];
            if height > from {
                chainwork = chainwork.saturating_add(proofs.proof(&header));
            }
            let mut times = [0u32; MEDIAN_TIME_SPAN];
            let first = index.saturating_sub(MEDIAN_TIME_SPAN - 1);
            let span = &headers[first..=index];
            for (slot, h) in times.iter_mut().zip(span) {
                *slot = h.time;
            }
            out.push(HeaderInfo {
                hash: hashes[offset],
                height,
                header,
                confirmations: i64::from(tip) - i64::from(height) + 1,
                median_time: median_time_past(&mut times[..span.len()]),
                chainwork: work_from_u128(chainwork),
                next: (height < tip).then(|| hashes[offset + 1]),
            });
        }
        Ok(out)
    }

    /// A header off the best chain: its ancestors are walked down to the best chain (one
    /// lookup each, the branch's length at most) for the median time and the chain work.
    fn side_info(
        &self,
        height: u32,
        header: Header,
        hash: BlockHash,
    ) -> Result<HeaderInfo, ChainError> {
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        times.push(header.time);
        let mut proofs = work::ProofCache::default();
        let mut branch_work = proofs.proof(&header);
        let (mut child, mut child_height) = (header, height);
        let fork = loop {
            let parent = child.prev_blockhash;
            let Some((parent_height, parent_header, on_best)) = self.snap.entry(&parent)? else {
                return Err(self.view.corrupt(format!(
                    "side header {hash} has an ancestor {parent} that is not stored"
                )));
            };
            if parent_height.checked_add(1) != Some(child_height) {
                return Err(self.view.corrupt(format!(
                    "header {parent} at height {parent_height} is the parent of one at \
                     {child_height}"
                )));
            }
            if on_best {
                break parent_height;
            }
            if times.len() < MEDIAN_TIME_SPAN {
                times.push(parent_header.time);
            }
            branch_work = branch_work.saturating_add(proofs.proof(&parent_header));
            (child, child_height) = (parent_header, parent_height);
        };
        // The rest of the median's span comes from the best chain at and below the fork.
        let missing = (MEDIAN_TIME_SPAN - times.len()) as u32;
        if missing > 0 {
            let mut below = Vec::with_capacity(missing as usize);
            self.snap
                .for_each_best(fork.saturating_sub(missing - 1), fork, |_, h| {
                    below.push(h.time);
                    Ok(())
                })?;
            times.extend(below);
        }
        let chainwork = self
            .view
            .work
            .best_work(self, fork)?
            .saturating_add(branch_work);
        Ok(HeaderInfo {
            hash,
            height,
            header,
            confirmations: -1,
            median_time: median_time_past(&mut times),
            chainwork: work_from_u128(chainwork),
            next: None,
        })
    }
}

/// The most header slots reserved up front for a caller's `count` (the REST limit): a larger
/// count grows the vector as the headers arrive.
const MAX_PREALLOCATED: usize = 2000;

#[cfg(test)]
mod tests;
