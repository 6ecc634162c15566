//! Headers presync: Bitcoin Core's defence against low-work header floods (PR #25717,
//! `headerssync.cpp`; reference/protocol.md §3.6 steps 4 and 7, §3.8).
//!
//! A chain of headers is only stored once it is proven to carry at least the anti-DoS
//! threshold of work (`max(tip − 144 blocks, minimum chain work)`). A peer whose headers claim
//! less is downloaded twice: during PRESYNC we keep nothing but its cumulative work and one
//! secret, salted bit every `headers_commitment_period` headers; once the work is there, the
//! same chain is requested again (REDOWNLOAD), each committed bit is compared, and headers are
//! released to full validation only after `headers_redownload_buffer` more headers with
//! verified commitments follow them. A flood of cheap headers thus costs us a few bits per
//! thousand headers instead of a permanent index entry each.
//!
//! This file owns the anti-DoS screening of headers messages, starting presyncs and the
//! routing of a presyncing peer's messages (`sync` calls into it); `state` holds the per-peer
//! state machine.

mod compressed;
mod state;

use bitcoin::block::Header;
use bitcoin::BlockHash;
use tracing::debug;

use super::pipeline::{AfterBatch, HeldBatch};
use super::{Node, MAX_HEADERS_RESULTS};
use crate::chain::header_hash;
use crate::chain::pow::{self, U256};
use crate::chain::validate::MAX_FUTURE_BLOCK_TIME_SECS;
use crate::output::{DisconnectReason, Event};
use crate::peer::PeerId;
use crate::time::Time;

pub(super) use state::HeadersPresync;
pub use state::{permitted_difficulty_transition, PresyncPhase, PresyncStatus};
use state::{proof_of, work_to_u128, PresyncNext};

/// Blocks of the tip's difficulty the anti-DoS threshold stays below our tip (Core: 144, a
/// day), so that a peer on a competing recent branch is never screened.
const THRESHOLD_BLOCKS_BELOW_TIP: u128 = 144;

/// Fastest rate, in headers per second, at which the median-time-past rule lets a chain grow;
/// bounds how many commitments an honest chain can need (Core's `m_max_commitments`).
const MAX_HEADERS_PER_SECOND: i64 = 6;

/// Least time between two presync progress events, as for sync progress.
const PRESYNC_PROGRESS_INTERVAL_MS: u64 = super::sync::PROGRESS_INTERVAL_MS;

impl Node {
    /// A snapshot of the presync running with `peer`, if any.
    pub fn presync_status(&self, peer: PeerId) -> Option<PresyncStatus> {
        self.peers
            .get(&peer)
            .and_then(|p| p.presync.as_ref())
            .map(|s| s.status())
    }

    /// Core's `GetAntiDoSWorkThreshold`: `max(tip − min(144 · proof(tip), tip), minimum)`.
    fn anti_dos_threshold(&self) -> u128 {
        let tip = work_to_u128(self.chain.tip_work());
        let bits = self.chain.tip_header().bits.to_consensus();
        let day = pow::block_proof(&pow::decode_compact(bits).value)
            .saturating_mul(THRESHOLD_BLOCKS_BELOW_TIP)
            .min(tip);
        (tip - day).max(work_to_u128(self.params.minimum_chain_work))
    }

    /// Median time past of `hash`, a header in our chain.
    fn median_time_past_of(&self, hash: &BlockHash) -> u32 {
        self.chain.median_time_past(hash).unwrap_or(0)
    }

    /// Whether a message from `id` starting with `first` goes straight to the chain: no
    /// presync runs with the peer, `first` connects to our tree, and the chain there already
    /// has the anti-DoS work (so [`Node::screen_low_work`] lets it through without a look).
    pub(super) fn extends_with_work(&self, id: PeerId, first: &Header) -> bool {
        if self.peers.get(&id).is_none_or(|p| p.presync.is_some()) {
            return false;
        }
        self.chain
            .work_of(&first.prev_blockhash)
            .is_some_and(|work| work_to_u128(work) >= self.anti_dos_threshold())
    }

    /// Core's `TryLowWorkHeadersSync` (§3.6 step 7), for a continuous message whose first
    /// header connects to our chain and whose last one is new: true if the message was taken
    /// care of here (a presync started, the message ignored or the peer disconnected), false
    /// if it carries enough work to be processed as usual.
    ///
    /// Claimed work counts headers only while their proof of work holds, so an invalid header
    /// cannot lend a cheap prefix the weight to be stored.
    pub(super) fn screen_low_work(
        &mut self,
        now: Time,
        id: PeerId,
        headers: &[Header],
        hashes: &[BlockHash],
    ) -> bool {
        let Some(first) = headers.first() else {
            return false;
        };
        let chain_start = first.prev_blockhash;
        let Some(start_work) = self.chain.work_of(&chain_start) else {
            return false;
        };
        let threshold = self.anti_dos_threshold();
        let mut claimed = work_to_u128(start_work);
        if claimed >= threshold {
            // Claimed work only grows from here: the usual case (extending a chain that already
            // has the work) skips the per-header pass; `accept` checks proof of work anyway.
            return false;
        }
        let pow_limit = U256::from_target(self.params.pow_limit);
        let mut cache = (0, 0);
        let mut invalid = None;
        for (header, hash) in headers.iter().zip(hashes) {
            let bits = header.bits.to_consensus();
            if let Err(error) = pow::check_proof_of_work(hash, bits, &pow_limit) {
                invalid = Some((*hash, error));
                break;
            }
            claimed = claimed.saturating_add(proof_of(bits, &mut cache));
        }
        if claimed >= threshold {
            return false;
        }
        if let Some((hash, error)) = invalid {
            self.disconnect(id, DisconnectReason::InvalidHeader { hash, error });
            return true;
        }
        if headers.len() == MAX_HEADERS_RESULTS {
            self.start_presync(now, id, chain_start, threshold, headers, hashes);
        } else {
            let start_height = self.chain.height_of(&chain_start).unwrap_or(0);
            let height = start_height.saturating_add(u32::try_from(headers.len()).unwrap_or(0));
            self.report_low_work(id, chain_start, height, claimed, threshold);
            self.low_work_round_ended(now, id);
        }
        true
    }

    /// Tells the application, once per peer and chain (named by where it leaves ours), that
    /// the peer's chain ended below the threshold and was not stored.
    fn report_low_work(
        &mut self,
        id: PeerId,
        chain_start: BlockHash,
        height: u32,
        work: u128,
        threshold: u128,
    ) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        debug!(peer = %id, addr = %peer.addr, height, "ignoring low-work chain");
        if peer.low_work_reported == Some(chain_start) {
            return;
        }
        peer.low_work_reported = Some(chain_start);
        let addr = peer.addr;
        self.emit(Event::LowWorkChain {
            peer: id,
            addr,
            height,
            work: pow::work_from_u128(work),
            threshold: pow::work_from_u128(threshold),
        });
    }

    /// A presync progress event, at most every [`PRESYNC_PROGRESS_INTERVAL_MS`]. The estimate
    /// is Core's (`ChainstateManager::ReportHeadersPresync`): the blocks that fit, at the
    /// target spacing, between the last header's time and now are still to come.
    fn report_presync_progress(&mut self, now: Time, id: PeerId, status: &PresyncStatus) {
        if status.phase != PresyncPhase::Presync {
            return;
        }
        if let Some(last) = self.sync.last_presync_report {
            if now.as_millis().saturating_sub(last.as_millis()) < PRESYNC_PROGRESS_INTERVAL_MS {
                return;
            }
        }
        let Some(addr) = self.peers.get(&id).map(|p| p.addr) else {
            return;
        };
        self.sync.last_presync_report = Some(now);
        let spacing = u64::from(self.params.pow_target_spacing.max(1));
        let left = now.as_secs().saturating_sub(u64::from(status.time)) / spacing;
        let estimated_height = u64::from(status.height)
            .saturating_add(left)
            .min(u64::from(u32::MAX)) as u32;
        self.emit(Event::PresyncProgress {
            peer: id,
            addr,
            height: status.height,
            estimated_height,
        });
    }

    /// Starts a presync with `id` from `chain_start` and feeds it the first message.
    fn start_presync(
        &mut self,
        now: Time,
        id: PeerId,
        chain_start: BlockHash,
        threshold: u128,
        headers: &[Header],
        hashes: &[BlockHash],
    ) {
        let Some(start) = self.chain.entry(&chain_start) else {
            return;
        };
        let (height, work) = (start.height, start.work);
        let period = self.params.headers_commitment_period.max(1);
        let elapsed = i64::try_from(now.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::from(self.median_time_past_of(&chain_start)));
        let window = elapsed.saturating_add(MAX_FUTURE_BLOCK_TIME_SECS as i64);
        let max_commitments =
            u64::try_from(MAX_HEADERS_PER_SECOND.saturating_mul(window) / i64::from(period))
                .unwrap_or(0);
        // Secrets: a peer that knew them could pass the commitments with a chain of its
        // choosing, so they come from the cryptographic generator, never the nonce one.
        let salt = self.secrets.next_u64();
        let offset = u32::try_from(self.secrets.below(period as usize)).unwrap_or(0);
        let state = HeadersPresync::new(
            &self.params,
            (
                chain_start,
                height,
                start.bits,
                start.time,
                work_to_u128(work),
            ),
            self.chain.locator_from(&chain_start),
            threshold,
            salt,
            offset,
            max_commitments,
        );
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        debug!(peer = %id, addr = %peer.addr, start_height = height, max_commitments,
            "low-work headers: starting presync");
        peer.presync = Some(Box::new(state));
        self.continue_presync(now, id, headers, hashes);
    }

    /// Core's `IsContinuationOfLowWorkHeadersSync` (§3.6 step 4): feeds a message from a peer
    /// with a presync running, stores what it releases and asks for what comes next. True if
    /// the message was taken care of here; false if it does not continue the presync (which
    /// is then over), so the caller must process it as any other message, as Core does: it
    /// may connect to our chain and start a new presync, or ask for the gap.
    pub(super) fn continue_presync(
        &mut self,
        now: Time,
        id: PeerId,
        headers: &[Header],
        hashes: &[BlockHash],
    ) -> bool {
        self.continue_presync_after(now, id, headers, hashes, false)
    }

    /// During PRESYNC, asks for the next message before this one is hashed and validated,
    /// when the request that follows it is certain
    /// ([`HeadersPresync::request_after`]); the message is then held and fed to the presync
    /// once the request is on its way (`node/pipeline.rs`), its continuity checked then. False
    /// if it was not asked for (the caller goes on as usual).
    pub(super) fn pipeline_presync(
        &mut self,
        now: Time,
        id: PeerId,
        headers: &mut Vec<Header>,
    ) -> bool {
        let full = headers.len() == MAX_HEADERS_RESULTS;
        let Some(last) = headers.last().map(header_hash) else {
            return false;
        };
        let Some(locator) = self
            .peers
            .get_mut(&id)
            .and_then(|p| p.presync.as_mut())
            .and_then(|s| s.request_after(headers, &last, full))
        else {
            return false;
        };
        if !self.send_getheaders(now, id, locator) {
            return false;
        }
        self.hold_batch(HeldBatch {
            peer: id,
            headers: std::mem::take(headers),
            hashes: None,
            then: AfterBatch::Presync,
        });
        true
    }

    /// [`Node::continue_presync`]; `asked` says the request that follows the message went out
    /// before it ([`Node::pipeline_presync`]): it is not sent again, and if the presync ends
    /// here instead, its answer belongs to the ended round and is dropped.
    pub(super) fn continue_presync_after(
        &mut self,
        now: Time,
        id: PeerId,
        headers: &[Header],
        hashes: &[BlockHash],
        asked: bool,
    ) -> bool {
        let full = headers.len() == MAX_HEADERS_RESULTS;
        let Some(peer) = self.peers.get_mut(&id) else {
            return true;
        };
        let Some(state) = peer.presync.as_mut() else {
            return false;
        };
        let chain_start = state.chain_start_hash();
        let addr = peer.addr;
        let processed = state.process(headers, hashes, full);
        let status = state.status();
        if !matches!(processed.next, PresyncNext::RequestMore(_)) {
            peer.presync = None;
        }
        if let PresyncNext::NotContinued(why) = processed.next {
            debug!(peer = %id, %addr, phase = ?status.phase, height = status.height, why,
                "presync over: the message does not continue it");
            return false;
        }
        if let PresyncNext::RequestMore(locator) = processed.next {
            debug!(peer = %id, %addr, phase = ?status.phase, height = status.height,
                commitments = status.commitments, buffered = status.buffered,
                "presync continues");
            self.report_presync_progress(now, id, &status);
            let sent = asked || self.send_getheaders(now, id, locator);
            if processed.release.is_empty() {
                return true;
            }
            let batch = HeldBatch {
                peer: id,
                headers: processed.release,
                hashes: Some(processed.release_hashes),
                then: AfterBatch::PresyncRelease { full },
            };
            // The released headers are validated once the request is on its way
            // (`pipeline`), as the main sync's full batches are; at once if none went out.
            self.hold_batch(batch);
            if !sent {
                self.run_held_batch();
            }
            return true;
        }
        if asked {
            // The presync ends here: the answer to the request sent ahead is of no use.
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.stale_request = peer.headers_in_flight.is_some();
            }
        }
        let stored = processed.release.is_empty() || {
            self.store_headers(now, id, &processed.release, &processed.release_hashes, full)
        };
        if !stored {
            // The released headers failed full validation or lie in the future: the peer was
            // dropped or the round ended; either way this presync is over.
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.presync = None;
            }
            return true;
        }
        match processed.next {
            // Handled above, before the release is stored.
            PresyncNext::RequestMore(_) => {}
            PresyncNext::Complete => {
                debug!(peer = %id, %addr, height = status.height,
                    "presync complete: chain has enough work");
                if full {
                    if let Some(last) = processed.release.last() {
                        self.request_headers(now, id, header_hash(last));
                    }
                }
                self.end_of_batch(now, id, full);
            }
            PresyncNext::Aborted(why) => {
                debug!(peer = %id, %addr, phase = ?status.phase, height = status.height, why,
                    "presync aborted");
                if status.phase == PresyncPhase::Presync && status.work < status.threshold {
                    self.report_low_work(
                        id,
                        chain_start,
                        status.height,
                        status.work,
                        status.threshold,
                    );
                }
                self.low_work_round_ended(now, id);
            }
            PresyncNext::NotContinued(_) => {}
            PresyncNext::Invalid(hash, error) => {
                self.disconnect(id, DisconnectReason::InvalidHeader { hash, error });
            }
        }
        true
    }

    /// An empty headers message ended a running presync: the chain ended short of the work.
    pub(super) fn presync_ended_empty(&mut self, now: Time, id: PeerId) {
        let Some(state) = self.peers.get_mut(&id).and_then(|p| p.presync.take()) else {
            return;
        };
        let status = state.status();
        debug!(peer = %id, height = status.height, "presync ended by an empty headers message");
        if status.phase == PresyncPhase::Presync {
            self.report_low_work(
                id,
                state.chain_start_hash(),
                status.height,
                status.work,
                status.threshold,
            );
        }
        self.low_work_round_ended(now, id);
    }

    /// The peer gave us no chain with enough work this round. A sync peer hands over to
    /// another peer if there is one; otherwise its round ends as any other round does.
    pub(super) fn low_work_round_ended(&mut self, now: Time, id: PeerId) {
        if self.sync.sync_peer != Some(id) {
            return;
        }
        match self.pick_sync_peer(Some(id)) {
            Some(next) => {
                self.sync.sync_peer = Some(next);
                let tip = self.chain.tip_hash();
                self.request_headers(now, next, tip);
            }
            None => self.finish_sync(now, id),
        }
    }
}

#[cfg(test)]
mod tests;
