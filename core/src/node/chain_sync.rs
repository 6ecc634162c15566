//! Keeping the outbound peers honest about the chain, after Core's net_processing.cpp:
//!
//! - An automatic outbound peer whose best known header has less work than our tip gets
//!   [`CHAIN_SYNC_TIMEOUT`] to show a header with as much work as the tip we had when we
//!   noticed, then one getheaders and [`HEADERS_RESPONSE_TIME`] to answer it, and is then
//!   disconnected and replaced (`ConsiderEviction`). The first
//!   [`MAX_PROTECTED_OUTBOUND`] outbound peers that gave us a header with as much work as our
//!   tip are exempt, so that a quiet stretch of the network cannot empty our slots. Manual
//!   peers (`--connect`, `--addnode`) are never disconnected for this.
//! - When the tip has not moved for three block intervals, one extra outbound connection is
//!   allowed, to look for a better chain (`CheckForStaleTipAndEvictPeers`, `TipMayBeStale`);
//!   once the tip moves again, the outbound peer that gave us a new tip longest ago goes
//!   (`EvictExtraOutboundPeers`).

use std::time::Duration;

use bitcoin::BlockHash;
use tracing::{debug, info};

use super::discovery::OutboundKind;
use super::Node;
use crate::output::DisconnectReason;
use crate::peer::{Direction, PeerId};
use crate::time::Time;

/// How long an outbound peer may stay behind our tip (Core's `CHAIN_SYNC_TIMEOUT`).
pub const CHAIN_SYNC_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long it then has to answer the getheaders that gives it a last chance (Core's
/// `HEADERS_RESPONSE_TIME`).
pub const HEADERS_RESPONSE_TIME: Duration = Duration::from_secs(2 * 60);
/// Outbound peers exempt from the check (Core's `MAX_OUTBOUND_PEERS_TO_PROTECT_FROM_DISCONNECT`).
pub const MAX_PROTECTED_OUTBOUND: usize = 4;
/// How often the tip is checked for staleness (Core's `STALE_CHECK_INTERVAL`).
pub const STALE_CHECK_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// The tip is stale after this many block intervals without a change (Core's `TipMayBeStale`:
/// `3 * nPowTargetSpacing`, 30 minutes on every network Core ships).
pub const STALE_TIP_INTERVALS: u32 = 3;
/// An extra outbound peer is only evicted once it has been connected this long (Core's
/// `MINIMUM_CONNECT_TIME`).
pub const MINIMUM_CONNECT_TIME: Duration = Duration::from_secs(30);

/// One peer's standing in the check (Core's `CNodeState::ChainSyncTimeoutState`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ChainSyncState {
    /// When the peer runs out of time, if it is behind.
    pub(super) timeout: Option<Time>,
    /// Our tip when we noticed it was behind: the work it must reach.
    pub(super) work_header: Option<BlockHash>,
    /// The last-chance getheaders went out.
    pub(super) sent_getheaders: bool,
    /// Exempt from the check.
    pub(super) protected: bool,
}

/// The node-wide part: when the tip last moved and the stale-tip state.
#[derive(Debug, Clone, Default)]
pub(super) struct StaleTip {
    /// When the best chain last changed (`None` until the first check, which starts the
    /// clock, as Core's `m_last_tip_update`).
    pub(super) last_tip_update: Option<Time>,
    pub(super) next_check: Option<Time>,
    /// An extra outbound slot is open.
    pub(super) extra_slot: bool,
}

impl Node {
    /// The automatic outbound slots, one more while the tip looks stale.
    pub(super) fn outbound_target(&self) -> usize {
        self.config.max_outbound + usize::from(self.stale_tip.extra_slot)
    }

    /// A peer's headers moved our tip: it is useful, and the stale-tip clock restarts.
    pub(super) fn on_tip_moved_by(&mut self, id: PeerId, now: Time) {
        self.stale_tip.last_tip_update = Some(now);
        let protected = self
            .peers
            .values()
            .filter(|p| p.chain_sync.protected)
            .count();
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.last_useful_headers = Some(now);
            if peer.outbound_kind == Some(OutboundKind::Automatic)
                && !peer.chain_sync.protected
                && protected < MAX_PROTECTED_OUTBOUND
            {
                peer.chain_sync.protected = true;
            }
        }
    }

    /// Core's `ConsiderEviction` for every automatic outbound peer, and the stale-tip check.
    pub(super) fn check_chain_sync(&mut self, now: Time) {
        let tip_work = self.chain.tip_work();
        let tip = self.chain.tip_hash();
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(peer) = self.peers.get(&id) else {
                continue;
            };
            if !judged(peer) {
                continue;
            }
            let best_work = peer
                .best_received
                .and_then(|(_, hash)| self.chain.work_of(&hash));
            let state = peer.chain_sync.clone();
            let addr = peer.addr;
            if best_work.is_some_and(|w| w >= tip_work) {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.chain_sync = ChainSyncState {
                        protected: state.protected,
                        ..ChainSyncState::default()
                    };
                }
                continue;
            }
            let caught_up = state
                .work_header
                .and_then(|h| self.chain.work_of(&h))
                .is_some_and(|w| best_work.is_some_and(|b| b >= w));
            if state.timeout.is_none() || caught_up {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.chain_sync.timeout = Some(now + CHAIN_SYNC_TIMEOUT);
                    peer.chain_sync.work_header = Some(tip);
                    peer.chain_sync.sent_getheaders = false;
                }
            } else if state.timeout.is_some_and(|t| now > t) {
                if state.sent_getheaders {
                    info!(peer = %id, %addr, best_known = ?peer_best(self, id),
                        "outbound peer has an old chain; disconnecting");
                    self.disconnect(id, DisconnectReason::BehindOurTip);
                } else {
                    debug!(peer = %id, %addr, "asking a lagging outbound peer for its headers");
                    let from = state.work_header.unwrap_or(tip);
                    self.request_headers(now, id, from);
                    if let Some(peer) = self.peers.get_mut(&id) {
                        peer.chain_sync.sent_getheaders = true;
                        peer.chain_sync.timeout = Some(now + HEADERS_RESPONSE_TIME);
                    }
                }
            }
        }
        self.check_stale_tip(now);
    }

    /// The earliest chain-sync deadline of any peer, and the next stale-tip check.
    pub(super) fn chain_sync_deadline(&self) -> Option<Time> {
        self.peers
            .values()
            .filter(|p| judged(p))
            .filter_map(|p| p.chain_sync.timeout)
            .map(|t| t + Duration::from_millis(1))
            .chain(
                self.stale_tip
                    .next_check
                    .filter(|_| self.discovery_enabled()),
            )
            .min()
    }

    fn check_stale_tip(&mut self, now: Time) {
        if !self.discovery_enabled() {
            return;
        }
        let last = *self.stale_tip.last_tip_update.get_or_insert(now);
        if self.stale_tip.next_check.is_none_or(|t| t <= now) {
            self.stale_tip.next_check = Some(now + STALE_CHECK_INTERVAL);
            let stale_after = Duration::from_secs(
                u64::from(self.params.pow_target_spacing) * u64::from(STALE_TIP_INTERVALS),
            );
            let stale = now.saturating_since(last) > stale_after;
            if stale && !self.stale_tip.extra_slot {
                info!(
                    last_tip_update_secs = now.saturating_since(last).as_secs(),
                    "potential stale tip; trying an extra outbound peer"
                );
                self.stale_tip.extra_slot = true;
                self.fill_outbound(now);
            } else if !stale {
                self.stale_tip.extra_slot = false;
            }
        }
        if !self.stale_tip.extra_slot {
            self.evict_extra_outbound(now);
        }
    }

    /// With more automatic outbound peers than slots, the one that moved our tip longest ago
    /// (never counts as longest) goes, once it has been connected a while (Core's
    /// `EvictExtraOutboundPeers`).
    fn evict_extra_outbound(&mut self, now: Time) {
        let automatic: Vec<(PeerId, Option<Time>, Time, bool)> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.negotiated
                    && p.closing.is_none()
                    && p.direction == Direction::Outbound
                    && p.outbound_kind == Some(OutboundKind::Automatic)
            })
            .map(|(id, p)| {
                (
                    *id,
                    p.last_useful_headers,
                    p.connected_at,
                    p.chain_sync.protected,
                )
            })
            .collect();
        if automatic.len() <= self.config.max_outbound {
            return;
        }
        let worst = automatic
            .iter()
            .filter(|(_, _, _, protected)| !protected)
            .min_by_key(|(id, useful, _, _)| (*useful, std::cmp::Reverse(*id)));
        if let Some((id, _, since, _)) = worst {
            if now.saturating_since(*since) >= MINIMUM_CONNECT_TIME {
                debug!(peer = %id, "evicting an extra outbound peer");
                self.disconnect(*id, DisconnectReason::ExtraOutbound);
            }
        }
    }
}

/// Whether the check applies to `peer`: a live, negotiated, unprotected automatic outbound peer.
fn judged(peer: &super::connection::Peer) -> bool {
    !peer.chain_sync.protected
        && peer.negotiated
        && peer.closing.is_none()
        && peer.outbound_kind == Some(OutboundKind::Automatic)
}

fn peer_best(node: &Node, id: PeerId) -> Option<(u32, BlockHash)> {
    node.peers.get(&id).and_then(|p| p.best_received)
}
