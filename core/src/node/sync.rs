//! Downloading headers: choosing a sync peer, getheaders with our locator, asking for more
//! after every full batch, following new blocks announced as headers or inv, stall handling
//! and progress reports. Chains with too little work are screened by `presync` first.

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::BlockHash;
use tracing::debug;

use super::discovery::OutboundKind;
use super::pipeline::{AfterBatch, HeldBatch};
use super::{Node, MAX_HEADERS_RESULTS, MAX_LOCATOR_SIZE, PROTOCOL_VERSION};
use crate::chain::header_hashes;
use crate::chain::pow::{self, U256};
use crate::output::{DisconnectReason, Event, Output};
use crate::peer::{Direction, PeerId};
use crate::time::Time;

/// How often a progress event is emitted while syncing.
pub const PROGRESS_INTERVAL_MS: u64 = 2_000;

/// The node-wide state of header sync.
#[derive(Debug, Clone, Default)]
pub struct HeaderSync {
    /// The peer we download the initial chain from.
    pub sync_peer: Option<PeerId>,
    /// Whether a sync peer has run out of headers for us at least once.
    pub synced: bool,
    /// Time and height of the last progress report.
    pub last_report: Option<(Time, u32)>,
    /// Time of the last presync progress report.
    pub last_presync_report: Option<Time>,
    /// The last announced block that added a peer to initial sync (Core's
    /// `m_last_block_inv_triggering_headers_sync`): one more peer per new block at most.
    pub last_inv_trigger: Option<BlockHash>,
}

/// The most headers a sync reserves room for ahead, on the sync peer's claimed height: a
/// little over mainnet's length at the end of 2026 (about 930,000), 52 MiB of tree at most.
/// Beyond it the tree grows as it fills.
pub(super) const SYNC_RESERVE_LIMIT: usize = 1 << 20;

impl Node {
    /// A peer finished its handshake: start sync with it, or catch up with it.
    pub(super) fn on_peer_ready_for_sync(&mut self, now: Time, id: PeerId) {
        if self.sync.synced {
            self.maybe_send_sendheaders(id);
            let Some(peer) = self.peers.get(&id) else {
                return;
            };
            if peer.direction == Direction::Outbound || peer.height_hint() > self.chain.tip_height()
            {
                let tip = self.chain.tip_hash();
                self.request_headers(now, id, tip);
            }
        } else {
            self.replace_lagging_sync_peer(now, id);
            self.maybe_start_sync(now);
        }
    }

    /// During initial sync, a sync peer chosen although it claimed less than we hold (no
    /// other peer was there) gives way to `id` if `id` claims more: the laggard can give us
    /// nothing, so waiting for its answer (or its timeout) only delays the sync.
    fn replace_lagging_sync_peer(&mut self, now: Time, id: PeerId) {
        let height = self.chain.tip_height();
        let Some(current) = self.sync.sync_peer else {
            return;
        };
        let lagging = self
            .peers
            .get(&current)
            .is_some_and(|p| p.height_hint() < height);
        let ahead = self
            .peers
            .get(&id)
            .is_some_and(|p| p.height_hint() > height);
        if current != id && lagging && ahead {
            debug!(peer = %id, lagging = %current, "a peer ahead of us replaces a lagging sync peer");
            self.sync.sync_peer = Some(id);
            let tip = self.chain.tip_hash();
            self.request_headers(now, id, tip);
        }
    }

    /// Picks a sync peer if initial sync has none: a negotiated outbound peer (inbound only if
    /// there is no outbound one), preferring those that claim to be ahead of us; the claim is a
    /// hint, never trusted beyond the choice.
    pub(super) fn maybe_start_sync(&mut self, now: Time) {
        if self.sync.synced || self.sync.sync_peer.is_some() || self.shutting_down {
            return;
        }
        let Some(id) = self.pick_sync_peer(None) else {
            return;
        };
        self.sync.sync_peer = Some(id);
        if let Some(peer) = self.peers.get(&id) {
            debug!(peer = %id, addr = %peer.addr, height = self.chain.tip_height(),
                peer_height = peer.height_hint(), "starting header sync");
            // Room for the headers the peer claims, so the tree does not grow by doubling
            // (each doubling holds the old and new copy at once). The claim is a hint: a lie
            // costs at most `SYNC_RESERVE_LIMIT` headers' worth of unused room.
            let ahead = peer.height_hint().saturating_sub(self.chain.tip_height());
            self.chain.reserve((ahead as usize).min(SYNC_RESERVE_LIMIT));
        }
        let tip = self.chain.tip_hash();
        self.request_headers(now, id, tip);
    }

    pub(super) fn pick_sync_peer(&mut self, exclude: Option<PeerId>) -> Option<PeerId> {
        let height = self.chain.tip_height();
        // Feelers and seed nodes leave right after their handshake or answer: never sync peers.
        let usable = |id: &PeerId, p: &super::Peer| {
            p.negotiated
                && p.closing.is_none()
                && Some(*id) != exclude
                && !matches!(
                    p.outbound_kind,
                    Some(OutboundKind::Feeler | OutboundKind::AddrFetch)
                )
        };
        // (id, outbound, claims more than we hold, claims at least what we hold)
        let mut candidates: Vec<(PeerId, bool, bool, bool)> = self
            .peers
            .iter()
            .filter(|(id, p)| usable(id, p))
            .map(|(id, p)| {
                (
                    *id,
                    p.direction == Direction::Outbound,
                    p.height_hint() > height,
                    p.height_hint() >= height,
                )
            })
            .collect();
        // A peer that claims less than we hold is chosen only when no other is there: it can
        // give us nothing, and asking it once is how initial sync ends when every peer is
        // behind us (a node restarted ahead of its peers). Core does not look at the claim.
        if candidates.iter().any(|c| c.3) {
            candidates.retain(|c| c.3);
        }
        if candidates.iter().any(|c| c.1) {
            candidates.retain(|c| c.1);
        }
        if candidates.iter().any(|c| c.2) {
            candidates.retain(|c| c.2);
        }
        if candidates.is_empty() {
            return None;
        }
        let pick = self.rng.below(candidates.len());
        Some(candidates[pick].0)
    }

    /// Forgets `id` as sync peer (it is leaving) and moves sync elsewhere.
    pub(super) fn sync_peer_lost(&mut self, id: PeerId) {
        if self.sync.sync_peer == Some(id) {
            self.sync.sync_peer = None;
        }
    }

    /// Asks `id` for the headers after `from` (a header we hold), unless a getheaders is
    /// already in flight to it (Core: one at a time).
    ///
    /// The locator starts at `from`'s parent, as Core does for its first request, so that the
    /// answer always holds at least `from` itself: a peer with nothing newer still answers with
    /// one header instead of an empty message or silence (bcoin sends nothing when it has no
    /// headers to give), and "fewer than 2000" then reliably means "that peer's tip is
    /// reached". One repeated header per request is the whole cost.
    pub(super) fn request_headers(&mut self, now: Time, id: PeerId, from: BlockHash) {
        let start = match self.chain.entry(&from) {
            Some(e) if e.height > 0 => e.prev_blockhash,
            _ => from,
        };
        let locator = self.chain.locator_from(&start);
        self.send_getheaders(now, id, locator);
    }

    /// Sends getheaders with `locator` unless one is already in flight to this peer; whether
    /// it went out.
    pub(super) fn send_getheaders(
        &mut self,
        now: Time,
        id: PeerId,
        locator: Vec<BlockHash>,
    ) -> bool {
        let Some(peer) = self.peers.get_mut(&id) else {
            return false;
        };
        if peer.closing.is_some() || !peer.negotiated {
            return false;
        }
        // An overdue request is replaced: the peer may have ignored it (Core ignores getheaders
        // during its own initial block download) and come back since. Not while a presync runs
        // with the peer: it has been answering, only slowly, and the replacement's answer
        // would not continue the presync but start it over.
        let replaceable = peer.request_overdue && peer.presync.is_none();
        if peer.headers_in_flight.is_some() && !replaceable {
            // The peer has more for us: ask again once this request is answered.
            peer.more_announced = true;
            return false;
        }
        peer.more_announced = false;
        peer.request_overdue = false;
        peer.stale_request = false;
        peer.headers_in_flight = Some(now);
        let msg = GetHeadersMessage {
            version: PROTOCOL_VERSION,
            locator_hashes: locator,
            stop_hash: BlockHash::all_zeros(),
        };
        self.send(id, NetworkMessage::GetHeaders(msg));
        true
    }

    /// A getheaders went unanswered for `headers_timeout`. A sync peer is dropped when
    /// another peer can serve, and sync moves there. Otherwise nothing is thrown away: a
    /// presync keeps its progress, and a late answer is taken as it comes (a slow link is not
    /// a reason to start over). The sync peer's request stays awaited, its timer re-armed so
    /// that a peer arriving later can take over; any other peer's request is no longer waited
    /// for, so that its next announcement is asked about afresh.
    pub(super) fn on_headers_timeout(&mut self, now: Time, id: PeerId) {
        let is_sync_peer = self.sync.sync_peer == Some(id);
        let next = if is_sync_peer {
            self.pick_sync_peer(Some(id))
        } else {
            None
        };
        if let Some(next) = next {
            self.disconnect(
                id,
                DisconnectReason::SyncStalled(self.config.headers_timeout),
            );
            self.sync.sync_peer = Some(next);
            let tip = self.chain.tip_hash();
            self.request_headers(now, next, tip);
            return;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if is_sync_peer && !peer.stale_request {
            debug!(peer = %id, addr = %peer.addr, "headers request overdue; no other peer can serve, so waiting on");
            peer.headers_in_flight = Some(now);
            peer.request_overdue = true;
        } else {
            peer.headers_in_flight = None;
            peer.request_overdue = false;
            peer.stale_request = false;
        }
    }

    /// A headers message (reference/protocol.md §3.6): size and continuity, then a running
    /// presync gets it, then the connection check, the anti-DoS screening of a new chain, and
    /// finally the chain.
    pub(super) fn on_headers(&mut self, now: Time, id: PeerId, headers: Vec<Header>) {
        if headers.len() > MAX_HEADERS_RESULTS {
            self.disconnect(id, DisconnectReason::TooManyHeaders(headers.len()));
            return;
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.headers_in_flight = None;
        peer.request_overdue = false;
        if std::mem::take(&mut peer.stale_request) {
            // The answer to a request sent before a header from the future ended the round:
            // it cannot connect, and asking again would fetch the same headers in a loop. Core
            // too sends nothing more until the next announcement.
            debug!(peer = %id, count = headers.len(), "dropping the answer to a request of an ended round");
            if peer.more_announced {
                let tip = self.chain.tip_hash();
                self.request_headers(now, id, tip);
            }
            return;
        }
        let Some(first) = headers.first().copied() else {
            if peer.presync.is_some() {
                // Core drops the presync on an empty answer: the chain ended short of the work.
                self.presync_ended_empty(now, id);
            } else if self.sync.sync_peer == Some(id) {
                self.finish_sync(now, id);
            }
            return;
        };
        let mut headers = headers;
        if self.peers.get(&id).is_some_and(|p| p.presync.is_some())
            && self.pipeline_presync(now, id, &mut headers)
        {
            return;
        }
        if headers.len() == MAX_HEADERS_RESULTS && self.extends_with_work(id, &first) {
            // The usual message of a sync: a full batch on a chain with the work. The next
            // request goes out first; this batch is hashed, checked for continuity and
            // validated behind it (`pipeline`), while the peer serves. The locator names
            // this batch's headers from the next-to-last, one back as always, by the links
            // the headers carry (their hashes, once continuity holds; if it does not, the
            // peer is dropped before anything is taken from the batch), then our chain.
            let recent: Vec<BlockHash> = headers
                .iter()
                .rev()
                .take(10)
                .map(|h| h.prev_blockhash)
                .collect();
            if self.ask_ahead(now, id, &first.prev_blockhash, recent) {
                self.hold_batch(HeldBatch {
                    peer: id,
                    headers,
                    hashes: None,
                    then: AfterBatch::Sync,
                });
                return;
            }
        }
        let hashes: Vec<BlockHash> = header_hashes(&headers);
        if !is_continuous(&headers, &hashes) {
            self.disconnect(id, DisconnectReason::NonContinuousHeaders);
            return;
        }
        if self.peers.get(&id).is_some_and(|p| p.presync.is_some())
            && self.continue_presync(now, id, &headers, &hashes)
        {
            // Before the connection check: a presync's headers are deliberately not in our
            // chain. A message that does not continue the presync goes on below.
            return;
        }
        if !self.chain.contains(&first.prev_blockhash) {
            // Core checks every header's proof of work before anything else
            // (`ProcessHeadersMessage` → `CheckHeadersPoW`, "header with invalid proof of
            // work"); the other paths below check it as they go, this one would not at all.
            let pow_limit = U256::from_target(self.params.pow_limit);
            let bad = headers.iter().zip(&hashes).find_map(|(h, hash)| {
                pow::check_proof_of_work(hash, h.bits.to_consensus(), &pow_limit)
                    .err()
                    .map(|error| (*hash, error))
            });
            if let Some((hash, error)) = bad {
                self.disconnect(id, DisconnectReason::InvalidHeader { hash, error });
                return;
            }
            // Not an offence: we may simply be behind. Ask for the gap with our locator.
            debug!(peer = %id, "headers do not connect; asking with our locator");
            let tip = self.chain.tip_hash();
            self.request_headers(now, id, tip);
            return;
        }
        let known_end = hashes.last().is_some_and(|h| self.chain.contains(h));
        if !known_end && self.screen_low_work(now, id, &headers, &hashes) {
            return;
        }
        let bulk = headers.len() == MAX_HEADERS_RESULTS;
        if bulk {
            // Pipelining: ask for the next batch before validating this one, so the peer
            // serves while we validate.
            let recent: Vec<BlockHash> = hashes.iter().rev().skip(1).take(10).copied().collect();
            if self.ask_ahead(now, id, &first.prev_blockhash, recent) {
                // Validated once the request is on its way (`pipeline`).
                self.hold_batch(HeldBatch {
                    peer: id,
                    headers,
                    hashes: Some(hashes),
                    then: AfterBatch::Sync,
                });
                return;
            }
        }
        if self.store_headers(now, id, &headers, &hashes, bulk) {
            self.end_of_batch(now, id, bulk);
        }
    }

    /// Asks `id` for the batch after a full one whose first header's parent is `below`:
    /// `recent` names that batch's headers from the next-to-last back (ten, one back as
    /// always), then our chain below it follows. Whether the request went out; the caller then
    /// holds the batch to validate behind it (`pipeline`).
    fn ask_ahead(
        &mut self,
        now: Time,
        id: PeerId,
        below: &BlockHash,
        mut recent: Vec<BlockHash>,
    ) -> bool {
        recent.extend(self.chain.locator_from(below));
        recent.truncate(MAX_LOCATOR_SIZE);
        self.send_getheaders(now, id, recent)
    }

    /// Hands headers that passed the anti-DoS screening to the chain and reports what changed
    /// (persist, the peer's best header, tip change). False if the round with this peer ended
    /// here: an invalid header disconnected it, or a header from the future ended the round.
    /// `hashes[i]` must be the hash of `headers[i]`; `bulk` says the message was full.
    pub(super) fn store_headers(
        &mut self,
        now: Time,
        id: PeerId,
        headers: &[Header],
        hashes: &[BlockHash],
        bulk: bool,
    ) -> bool {
        let accepted = self.chain.accept_hashed(headers, hashes, now);
        if let Some(persist) = accepted.persist {
            self.outputs.push_back(Output::Persist(persist));
        }
        let last_ok = match &accepted.error {
            Some((bad, _)) => hashes
                .iter()
                .position(|h| h == bad)
                .and_then(|i| i.checked_sub(1)),
            None => hashes.len().checked_sub(1),
        };
        if let Some(hash) = last_ok.and_then(|i| hashes.get(i)) {
            let height = self.chain.height_of(hash);
            if let (Some(peer), Some(height)) = (self.peers.get_mut(&id), height) {
                if peer.best_known.is_none_or(|(h, _)| h < height) {
                    peer.best_known = Some((height, *hash));
                }
                if peer.best_received.is_none_or(|(h, _)| h < height) {
                    peer.best_received = Some((height, *hash));
                }
            }
        }
        if let Some(change) = accepted.tip_change {
            self.on_tip_moved_by(id, now);
            if self.sync.synced || !bulk {
                debug!(height = change.tip_height, tip = %change.tip, fork_height = change.fork_height,
                    disconnected = change.disconnected.len(), "tip changed");
            }
            if self.sync.synced {
                self.announce(id, &change, headers, hashes);
            }
            self.emit(Event::TipChanged(change));
        }
        if let Some((hash, error)) = accepted.error {
            if error.is_offence() {
                self.disconnect(id, DisconnectReason::InvalidHeader { hash, error });
            } else {
                // Time-too-new: not an offence, and the header may be fine later. This round
                // with the peer ends here; a later announcement starts the next one. A request
                // pipelined before this batch was validated belongs to the ended round.
                debug!(peer = %id, %hash, %error, "header not accepted for now");
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.stale_request = peer.headers_in_flight.is_some();
                }
                if self.sync.sync_peer == Some(id) {
                    self.finish_sync(now, id);
                }
            }
            return false;
        }
        true
    }

    /// After a stored batch: progress, and when the message was not full, the end of the
    /// round (the peer's tip is reached) and any follow-up it announced meanwhile.
    pub(super) fn end_of_batch(&mut self, now: Time, id: PeerId, bulk: bool) {
        if !self.sync.synced || bulk {
            self.report_progress(now, id, false);
        }
        if !bulk {
            if self.sync.sync_peer == Some(id) {
                self.finish_sync(now, id);
            }
            if self.peers.get(&id).is_some_and(|p| p.more_announced) {
                let tip = self.chain.tip_hash();
                self.request_headers(now, id, tip);
            }
        }
    }

    /// The sync peer has no more headers for us.
    pub(super) fn finish_sync(&mut self, now: Time, id: PeerId) {
        self.report_progress(now, id, true);
        self.sync.sync_peer = None;
        let first_time = !self.sync.synced;
        self.sync.synced = true;
        let (height, tip) = (self.chain.tip_height(), self.chain.tip_hash());
        if first_time {
            debug!(height, %tip, "header sync complete");
            self.emit(Event::Synced { height, tip });
            // Tips passed during the bulk download were not announced; announce the result.
            self.announce_tip(id);
            let ids: Vec<PeerId> = self.peers.keys().copied().collect();
            for other in ids {
                self.maybe_send_sendheaders(other);
                let ahead = self
                    .peers
                    .get(&other)
                    .is_some_and(|p| p.negotiated && p.height_hint() > height);
                if other != id && ahead {
                    let tip = self.chain.tip_hash();
                    self.request_headers(now, other, tip);
                }
            }
        }
    }

    /// BIP130: once synced, ask peers that understand it to announce blocks as headers.
    fn maybe_send_sendheaders(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.negotiated
            || peer.sent_sendheaders
            || !peer.supports_sendheaders()
            || peer.closing.is_some()
        {
            return;
        }
        peer.sent_sendheaders = true;
        self.send(id, NetworkMessage::SendHeaders);
    }

    /// A block inv for a header we lack: ask that peer for headers (BIP130 fallback).
    ///
    /// During initial sync only the sync peer is asked as a matter of course. Any other peer's
    /// announcement adds that peer to the sync (a second download, which on mainnet means a
    /// whole presync and redownload) at most once per peer and at most one peer per new block,
    /// as Core's inv handling in `ProcessMessage` does with `m_inv_triggered_getheaders_before_sync`
    /// and `m_last_block_inv_triggering_headers_sync`: sync gets quicker if the first peer is
    /// slow, without a download per peer per block.
    pub(super) fn on_inv(&mut self, now: Time, id: PeerId, inv: &[Inventory]) {
        let Some(best) = inv
            .iter()
            .filter_map(|i| match i {
                Inventory::Block(h) | Inventory::WitnessBlock(h) | Inventory::CompactBlock(h) => {
                    Some(*h)
                }
                _ => None,
            })
            .rfind(|h| !self.chain.contains(h))
        else {
            return;
        };
        if !self.sync.synced && self.sync.sync_peer != Some(id) {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            if peer.inv_triggered_sync || self.sync.last_inv_trigger == Some(best) {
                debug!(peer = %id, block = %best, "announcement during initial sync: not adding this peer to the sync");
                return;
            }
            if peer.headers_in_flight.is_none() {
                peer.inv_triggered_sync = true;
                self.sync.last_inv_trigger = Some(best);
                debug!(peer = %id, block = %best, "announcement during initial sync: syncing from this peer too");
            }
        }
        let tip = self.chain.tip_hash();
        self.request_headers(now, id, tip);
    }

    /// Emits a progress event at most every [`PROGRESS_INTERVAL_MS`], and always when `force`.
    fn report_progress(&mut self, now: Time, id: PeerId, force: bool) {
        let height = self.chain.tip_height();
        let (last_time, last_height) = *self.sync.last_report.get_or_insert((now, height));
        let elapsed = now.as_millis().saturating_sub(last_time.as_millis());
        if !force && elapsed < PROGRESS_INTERVAL_MS {
            return;
        }
        if force && height == last_height && elapsed == 0 {
            return;
        }
        let gained = u64::from(height.saturating_sub(last_height));
        let headers_per_sec = gained
            .saturating_mul(1000)
            .checked_div(elapsed)
            .unwrap_or(0);
        let peer_height = self
            .peers
            .get(&id)
            .map(|p| p.height_hint())
            .unwrap_or(0)
            .max(height);
        self.sync.last_report = Some((now, height));
        self.emit(Event::SyncProgress {
            height,
            peer_height,
            headers_per_sec: u32::try_from(headers_per_sec).unwrap_or(u32::MAX),
        });
    }
}

/// Whether each header links to the one before it (Core's "non-continuous headers
/// sequence"): `hashes[i]` is the hash of `headers[i]`.
pub(super) fn is_continuous(headers: &[Header], hashes: &[BlockHash]) -> bool {
    headers
        .iter()
        .skip(1)
        .zip(hashes)
        .all(|(h, prev)| h.prev_blockhash == *prev)
}
