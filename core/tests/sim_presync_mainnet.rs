//! Headers presync at mainnet's shape (issue 9). The real mainnet headers 0..39,999 under
//! `Network::Mainnet.params()` (commitment period 641, redownload buffer 15,218) with the
//! minimum chain work set to that chain's own work: nothing is stored during the first
//! download, the redownload releases headers only behind the buffer, and the chain is stored
//! once the redownload proved its work. Mainnet's difficulty rule during presync (bits change
//! only at multiples of 2016, and then by at most a factor four), on mainnet's rules with an
//! easy genesis and pow limit so the test can mine. Several peers presyncing at once, and the
//! sync peer lost mid-presync and mid-redownload, on the regtest `Sim` with a small period and
//! buffer.
//!
//! The support `Sim` speaks the regtest magic, so the mainnet tests drive the `Node` directly
//! through a small harness with the magic of the node's own params.

mod chain_support;
mod support;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use chain_support::{mainnet_headers, mine_one, StoreModel};
use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::message_blockdata::Inventory;
use headway_core::bitcoin::p2p::Magic;
use headway_core::bitcoin::{BlockHash, Work};
use headway_core::chain::header_hash;
use headway_core::chain::pow::{check_proof_of_work, work_from_u128, U256};
use headway_core::node::presync::{PresyncPhase, PresyncStatus};
use headway_core::wire::{encode, FrameDecoder};
use headway_core::{
    Config, Direction, DisconnectReason, Event, HeaderChain, HeaderError, Input, Network, Node,
    Output, Params, PeerId, PersistChain, SecretSeed, Time,
};
use support::fixtures::{node_on, replay};
use support::mine::mine;
use support::sim::{raw_version, End, Sim};

/// The peer of the single-peer harness tests.
const PEER: PeerId = PeerId(7);

/// A scripted peer of the harness: answers getheaders from `chain` as Core does (the headers
/// after the first locator hash it knows, up to 2000) and answers pings with pongs.
struct Scripted {
    decoder: FrameDecoder,
    chain: Vec<Header>,
    index: HashMap<BlockHash, usize>,
    locators: Vec<Vec<BlockHash>>,
}

/// One `Node` driven directly with its own network's magic; every message arrives 50 ms after
/// the one before.
struct Harness {
    node: Node,
    magic: Magic,
    now: Time,
    peers: BTreeMap<PeerId, Scripted>,
    inbox: VecDeque<(PeerId, Vec<u8>)>,
    persisted: Vec<PersistChain>,
    events: Vec<Event>,
    disconnects: Vec<(PeerId, DisconnectReason)>,
}

impl Harness {
    fn new(params: Params, minimum_chain_work: Work, now: Time) -> Harness {
        let mut config = Config::new(params.network);
        config.seed = 9;
        config.secret_seed = SecretSeed::from_bytes([0x5a; 32]);
        config.minimum_chain_work = Some(minimum_chain_work);
        let magic = params.magic;
        Harness {
            node: Node::new(config, HeaderChain::new(params)),
            magic,
            now,
            peers: BTreeMap::new(),
            inbox: VecDeque::new(),
            persisted: Vec::new(),
            events: Vec::new(),
            disconnects: Vec::new(),
        }
    }

    /// An inbound peer serving `chain` (genesis first) connects and sends version and verack.
    fn connect(&mut self, id: PeerId, chain: Vec<Header>) {
        let index = chain.iter().enumerate().map(|(i, h)| (header_hash(h), i));
        let scripted = Scripted {
            decoder: FrameDecoder::new(self.magic),
            index: index.collect(),
            chain,
            locators: Vec::new(),
        };
        self.peers.insert(id, scripted);
        let addr = SocketAddr::from(([10, 2, 0, id.0 as u8], 8333));
        let direction = Direction::Inbound;
        let input = Input::Connected {
            peer: id,
            addr,
            local_addr: None,
            direction,
        };
        self.node.handle(self.now, input);
        self.drain();
        let version = raw_version(id.0, 70016, 40_000);
        for msg in [NetworkMessage::Version(version), NetworkMessage::Verack] {
            self.inbox.push_back((id, encode(self.magic, msg)));
        }
    }

    /// Delivers the next message to the node; false when none is left.
    fn step(&mut self) -> bool {
        let Some((peer, bytes)) = self.inbox.pop_front() else {
            return false;
        };
        self.now = self.now + Duration::from_millis(50);
        self.node.handle(self.now, Input::Received { peer, bytes });
        self.drain();
        true
    }

    fn drain(&mut self) {
        while let Some(out) = self.node.poll() {
            match out {
                Output::Send { peer, bytes } => {
                    let Some(p) = self.peers.get_mut(&peer) else {
                        continue;
                    };
                    p.decoder.extend(&bytes);
                    while let Ok(Some(msg)) = p.decoder.next_message() {
                        let reply = match msg {
                            NetworkMessage::GetHeaders(g) => {
                                let start = g.locator_hashes.iter().find_map(|h| p.index.get(h));
                                let start = start.copied().unwrap_or(0);
                                let answer = p.chain.iter().skip(start + 1).take(2000);
                                p.locators.push(g.locator_hashes);
                                NetworkMessage::Headers(answer.copied().collect())
                            }
                            NetworkMessage::Ping(nonce) => NetworkMessage::Pong(nonce),
                            _ => continue,
                        };
                        self.inbox.push_back((peer, encode(self.magic, reply)));
                    }
                }
                Output::Disconnect { peer, reason } => {
                    self.peers.remove(&peer);
                    self.inbox.retain(|(p, _)| *p != peer);
                    self.disconnects.push((peer, reason));
                    let input = Input::Disconnected { peer, error: None };
                    self.node.handle(self.now, input);
                }
                Output::Persist(p) => self.persisted.push(p),
                Output::Event(e) => self.events.push(e),
                Output::Connect { .. } | Output::Resolve { .. } | Output::PersistAddrs(_) => {}
                // The scripted peers never ask it for headers.
                Output::ServeHeaders(ask) => panic!("nobody asked for headers: {ask:?}"),
            }
        }
    }

    /// Runs until no message is left, recording after each one the peer's presync status
    /// and the height of the node's chain.
    fn run(&mut self, peer: PeerId) -> Vec<(Option<PresyncStatus>, u32)> {
        let mut seen = Vec::new();
        while self.step() {
            let status = self.node.presync_status(peer);
            seen.push((status, self.node.chain().tip_height()));
        }
        seen
    }

    fn misbehaved(&self) -> Vec<DisconnectReason> {
        let reasons = self.events.iter().filter_map(|e| match e {
            Event::PeerMisbehaved { reason, .. } => Some(reason.clone()),
            _ => None,
        });
        reasons.collect()
    }
}

#[test]
fn mainnet_headers_are_stored_only_once_the_redownload_proved_their_work() {
    let headers = mainnet_headers();
    assert_eq!(headers.len(), 40_000);
    let params = Network::Mainnet.params();
    assert_eq!(params.headers_commitment_period, 641);
    assert_eq!(params.headers_redownload_buffer, 15_218);
    let buffer = params.headers_redownload_buffer;
    // The chain's work at 39,999, genesis included: 2^256 / (target + 1) summed over headers.
    let work = headers
        .iter()
        .skip(1)
        .fold(headers[0].work(), |w, h| w + h.work());
    // In February 2010, an hour after the newest of the headers.
    let newest = headers.iter().map(|h| h.time).max().expect("headers");
    let now = Time::from_secs(u64::from(newest) + 3600);
    let mut h = Harness::new(params.clone(), work, now);
    h.connect(PEER, headers.clone());
    let seen = h.run(PEER);

    // The first download stored nothing, and ended exactly when the work was there (passing
    // the first difficulty change, at 32,256, as Core's PermittedDifficultyTransition does).
    let presync: Vec<&(Option<PresyncStatus>, u32)> = seen
        .iter()
        .filter(|(s, _)| s.is_some_and(|s| s.phase == PresyncPhase::Presync))
        .collect();
    assert!(
        presync.iter().all(|(_, height)| *height == 0),
        "nothing stored"
    );
    let heights: Vec<u32> = presync
        .iter()
        .filter_map(|(s, _)| s.map(|s| s.height))
        .collect();
    let expected: Vec<u32> = (1..=19).map(|i| 2000 * i).collect();
    assert_eq!(
        heights, expected,
        "19 full messages; the 20th proves the work"
    );
    let first = presync[0].0.expect("a presync ran");
    assert_eq!((first.chain_start_height, first.height), (0, 2000));
    assert_eq!(first.threshold, work_as_u128(work));
    // The commitment cap, 6 · (now − MTP(genesis) + 2 h) / 641, leaves room for the chain.
    // (It started a fraction of a second after `now`.)
    let cap = 6 * (now.as_secs() - u64::from(headers[0].time) + 7200) / 641;
    assert_eq!(first.max_commitments, cap);
    assert!(cap > 39_999 / 641 + 1);
    let redownload: Vec<(PresyncStatus, u32)> = seen
        .iter()
        .filter_map(|(s, height)| {
            s.filter(|s| s.phase == PresyncPhase::Redownload)
                .map(|s| (s, *height))
        })
        .collect();
    let (start, height) = redownload[0];
    assert_eq!((start.height, start.buffered, height), (0, 0, 0));
    assert!(
        (62..=63).contains(&start.commitments),
        "one bit per 641: {start:?}"
    );

    // The redownload released headers only behind the buffer, in order, with nothing lost.
    for (status, stored) in &redownload {
        assert_eq!(*stored, status.height.saturating_sub(buffer), "{status:?}");
        assert_eq!(*stored as usize + status.buffered, status.height as usize);
        assert_eq!(
            h.node.chain().hash_at(*stored),
            Some(header_hash(&headers[*stored as usize]))
        );
    }
    let releases: Vec<u32> = redownload
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| *s > 0)
        .collect();
    assert_eq!(releases.first(), Some(&(16_000 - buffer)));
    assert_eq!(
        releases.last(),
        Some(&(38_000 - buffer)),
        "the last 17,217 wait for the proof"
    );

    // Proven: the whole chain is stored, and the presync is over.
    let tip = header_hash(&headers[39_999]);
    // Computed from the test data, whose chain links to mainnet's genesis with valid work.
    assert_eq!(
        tip.to_string(),
        "000000002509f3a013a1d21b89fe33306a45b1fcbb485dd4d310e4f9b2c09945"
    );
    let chain = h.node.chain();
    assert_eq!((chain.tip_height(), chain.tip_hash()), (39_999, tip));
    assert_eq!(
        chain.tip_work(),
        work,
        "the minimum chain work is the chain's own"
    );
    assert!(h.node.presync_status(PEER).is_none());
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Synced { height: 39_999, tip: t } if *t == tip)));
    assert!(h.misbehaved().is_empty() && h.disconnects.is_empty());
    // Downloaded from genesis twice: once to measure, once to store.
    let locators = &h.peers[&PEER].locators;
    let from_genesis = locators
        .iter()
        .filter(|l| l[0] == params.genesis_hash())
        .count();
    assert_eq!(from_genesis, 2);
    // The persisted output replays to the same chain.
    let mut store = StoreModel::new(chain);
    for p in &h.persisted {
        store.apply(p);
    }
    assert_eq!(store.best, headers);
    assert!(store.side.is_empty());
    assert_eq!(h.persisted.last().map(|p| p.tip_work), Some(work));
}

fn work_as_u128(work: Work) -> u128 {
    let le = work.to_le_bytes();
    assert!(le[16..].iter().all(|b| *b == 0));
    u128::from_le_bytes(le[..16].try_into().expect("16 bytes"))
}

/// Mainnet's rules (retargets every 2016 headers, no min-difficulty blocks, mainnet's presync
/// parameters) on the regtest genesis and pow limit, so that a test can mine its headers.
fn easy_mainnet() -> Params {
    let regtest = Network::Regtest.params();
    let mut params = Network::Mainnet.params();
    params.genesis = regtest.genesis;
    params.pow_limit = regtest.pow_limit;
    assert!(!params.allow_min_difficulty_blocks && !params.no_retargeting);
    params
}

const EASY_BITS: u32 = 0x207f_ffff;

/// Genesis and 2100 headers on the easy mainnet, the one at `height` and all after it with
/// `bits`; the others with the pow limit's bits.
fn easy_chain_changing_bits_at(height: usize, bits: u32) -> Vec<Header> {
    let mut chain = vec![easy_mainnet().genesis];
    chain.extend(mine(&chain[0], height - 1, 1));
    while chain.len() <= 2100 {
        let parent = chain[chain.len() - 1];
        chain.push(mine_one(&parent, parent.time + 600, bits, 0x2000_0000, 2));
    }
    assert_eq!(chain[height - 1].bits.to_consensus(), EASY_BITS);
    chain
}

/// Presyncs `chain` on the easy mainnet with a threshold far above it; returns the harness
/// and the statuses seen.
fn presync_easy(chain: &[Header]) -> (Harness, Vec<(Option<PresyncStatus>, u32)>) {
    let params = easy_mainnet();
    let now = Time::from_secs(u64::from(params.genesis.time) + 30 * 24 * 3600);
    let mut h = Harness::new(params, work_from_u128(1 << 40), now);
    h.connect(PEER, chain.to_vec());
    let seen = h.run(PEER);
    assert!(
        seen.iter()
            .any(|(s, _)| s.is_some_and(|s| s.height == 2000)),
        "a presync ran"
    );
    assert!(seen.iter().all(|(_, stored)| *stored == 0));
    (h, seen)
}

/// The presync ended on `chain[height]` for a bad difficulty transition, as an offence, and
/// nothing was stored; the header itself has valid proof of work.
fn assert_bad_transition(h: &Harness, chain: &[Header], height: usize) {
    let bad = chain[height];
    let hash = header_hash(&bad);
    let bits = bad.bits.to_consensus();
    let limit = U256::from_target(easy_mainnet().pow_limit);
    assert!(
        check_proof_of_work(&hash, bits, &limit).is_ok(),
        "valid proof of work"
    );
    let reason = DisconnectReason::InvalidHeader {
        hash,
        error: HeaderError::BadDiffBits {
            expected: EASY_BITS,
            got: bits,
        },
    };
    assert_eq!(h.disconnects, vec![(PEER, reason.clone())]);
    assert_eq!(h.misbehaved(), vec![reason]);
    assert!(h.node.presync_status(PEER).is_none());
    assert_eq!(h.node.chain().len(), 1);
    assert!(h.persisted.is_empty());
}

#[test]
fn a_bits_change_off_a_retarget_height_ends_the_presync_as_an_offence() {
    // 0x201fffff is a quarter of the target: allowed at 2016, not at 2050.
    let chain = easy_chain_changing_bits_at(2050, 0x201f_ffff);
    let (h, seen) = presync_easy(&chain);
    assert_eq!(
        seen.iter().filter_map(|(s, _)| *s).map(|s| s.height).max(),
        Some(2000)
    );
    assert_bad_transition(&h, &chain, 2050);
}

#[test]
fn at_a_retarget_height_the_target_may_shrink_fourfold_but_no_further() {
    let quarter = easy_chain_changing_bits_at(2016, 0x201f_ffff);
    let (h, _) = presync_easy(&quarter);
    assert!(h.disconnects.is_empty() && h.misbehaved().is_empty());
    // Through 2016 to the end of the chain, where it ended short of the work, no offence.
    let low = h.events.iter().filter_map(|e| match e {
        Event::LowWorkChain { peer, height, .. } => Some((*peer, *height)),
        _ => None,
    });
    assert_eq!(low.collect::<Vec<_>>(), vec![(PEER, 2100)]);
    // An eighth of the target is out of bounds.
    let eighth = easy_chain_changing_bits_at(2016, 0x200f_ffff);
    let (h, _) = presync_easy(&eighth);
    assert_bad_transition(&h, &eighth, 2016);
}

const PERIOD: u32 = 10;
const BUFFER: u32 = 300;

/// Regtest parameters whose minimum chain work is that of `headers` headers above genesis
/// (each regtest header adds 2), with a small commitment period and redownload buffer.
fn params_needing(headers: u128) -> Params {
    let mut p = Network::Regtest.params();
    p.minimum_chain_work = work_from_u128(2 * (headers + 1));
    p.headers_commitment_period = PERIOD;
    p.headers_redownload_buffer = BUFFER;
    p
}

fn genesis() -> Header {
    Network::Regtest.params().genesis
}

fn id_of(sim: &Sim, r: usize) -> PeerId {
    match sim.raws[r].link {
        Some(End::Node(_, id)) => id,
        other => panic!("raw peer {r} not linked: {other:?}"),
    }
}

fn sim_misbehaved(sim: &Sim, n: usize) -> usize {
    sim.events(n)
        .filter(|e| matches!(e, Event::PeerMisbehaved { .. }))
        .count()
}

/// The node's best chain, genesis first.
fn held(sim: &Sim, n: usize) -> Vec<BlockHash> {
    let chain = sim.nodes[n].node.chain();
    (0..=chain.tip_height())
        .map(|h| chain.hash_at(h).expect("height held"))
        .collect()
}

/// Whether statuses seen one after another belong to a single presync: one chain start, the
/// phases in order, heights never going back within a phase.
fn one_presync(statuses: &[PresyncStatus]) -> bool {
    statuses.windows(2).all(|w| {
        let (a, b) = (w[0], w[1]);
        a.chain_start_height == b.chain_start_height
            && match (a.phase, b.phase) {
                (PresyncPhase::Presync, PresyncPhase::Redownload) => true,
                (PresyncPhase::Redownload, PresyncPhase::Presync) => false,
                _ => a.height <= b.height,
            }
    })
}

#[test]
fn peers_presyncing_at_once_keep_their_own_state_and_the_chain_is_stored_once() {
    let x = mine(&genesis(), 4500, 1);
    let flood = mine(&genesis(), 3000, 2);
    let mut sim = Sim::new();
    let n = sim.add_node(node_on(2, params_needing(4000), &[]));
    // The sync peer, then two peers the node adds to the sync when they announce their tips.
    let a = sim.raw_serving(n, 11, &x, Duration::from_millis(3000));
    let b = sim.raw_serving(n, 12, &x, Duration::from_millis(1500));
    let c = sim.raw_serving(n, 13, &flood, Duration::from_millis(2000));
    let ids = [id_of(&sim, a), id_of(&sim, b), id_of(&sim, c)];
    sim.raw_send(
        b,
        NetworkMessage::Inv(vec![Inventory::Block(x[4499].block_hash())]),
    );
    sim.raw_send(
        c,
        NetworkMessage::Inv(vec![Inventory::Block(flood[2999].block_hash())]),
    );
    let mut seen: Vec<[Option<PresyncStatus>; 3]> = Vec::new();
    sim.run_until(Duration::from_secs(120), |s| {
        seen.push(ids.map(|id| s.nodes[n].node.presync_status(id)));
        false
    });
    // All three ran side by side, each at its own place in its own chain.
    let together = seen
        .iter()
        .filter(|st| st.iter().all(Option::is_some))
        .count();
    assert!(together > 0, "three presyncs at once");
    assert!(seen
        .iter()
        .any(|[sa, sb, _]| matches!((sa, sb), (Some(sa), Some(sb))
        if (sa.phase, sa.height) != (sb.phase, sb.height))));
    for (i, peer) in ["a", "b"].iter().enumerate() {
        let statuses: Vec<PresyncStatus> = seen.iter().filter_map(|st| st[i]).collect();
        assert!(
            one_presync(&statuses),
            "{peer}'s presync ran undisturbed: {statuses:?}"
        );
        let last = statuses.last().expect("it ran");
        assert_eq!(last.phase, PresyncPhase::Redownload, "{peer} completed");
        assert!(seen.last().expect("steps")[i].is_none());
    }
    // The flood ended short of the work and was refused; the honest chain was stored once.
    let low: Vec<(PeerId, u32)> = sim
        .events(n)
        .filter_map(|e| match e {
            Event::LowWorkChain { peer, height, .. } => Some((*peer, *height)),
            _ => None,
        })
        .collect();
    assert_eq!(low, vec![(ids[2], 3000)]);
    assert_eq!(sim.tip(n), x[4499].block_hash());
    assert_eq!(
        sim.nodes[n].node.chain().len(),
        4501,
        "nothing of the flood stored"
    );
    let persisted = &sim.nodes[n].persisted;
    assert_eq!(replay(persisted), held(&sim, n));
    let stored: usize = persisted
        .iter()
        .map(|p| p.connected.len() + p.side.len())
        .sum();
    assert_eq!(stored, 4500, "no header persisted twice");
    assert_eq!(sim_misbehaved(&sim, n), 0);
    assert!(!sim.raws[a].closed && !sim.raws[b].closed && !sim.raws[c].closed);
}

/// The sync peer `a` and an idle peer `b` serve `x` to a node that needs 4000 headers of
/// work; runs until `lose_when` holds for `a`'s presync and the node's height, then `a`
/// closes. Returns the sim, the node, `b`, `b`'s id and the height stored when `a` left.
fn lose_sync_peer(
    x: &[Header],
    lose_when: impl Fn(PresyncStatus, u32) -> bool,
) -> (Sim, usize, usize, PeerId, u32) {
    let mut sim = Sim::new();
    let n = sim.add_node(node_on(2, params_needing(4000), &[]));
    // Slow enough that its first answer comes once both peers are up.
    let a = sim.raw_serving(n, 11, x, Duration::from_millis(3000));
    let b = sim.raw_serving(n, 12, x, Duration::from_millis(500));
    let (a_id, b_id) = (id_of(&sim, a), id_of(&sim, b));
    let reached = sim.run_until(Duration::from_secs(60), |s| {
        let node = &s.nodes[n].node;
        node.presync_status(a_id)
            .is_some_and(|st| lose_when(st, node.chain().tip_height()))
    });
    assert!(reached);
    assert!(sim.raw_getheaders(b).is_empty(), "b idle while a syncs");
    sim.raw_close(a);
    sim.run_for(Duration::from_millis(100));
    let node = &sim.nodes[n].node;
    assert!(
        node.presync_status(a_id).is_none(),
        "a's presync is gone with it"
    );
    assert!(node.peers().all(|(id, _, _)| id != a_id));
    let stored = node.chain().tip_height();
    (sim, n, b, b_id, stored)
}

/// `b` took over, from what the node stored, with a presync of its own, and completed.
fn assert_taken_over(sim: &mut Sim, n: usize, b: usize, b_id: PeerId, x: &[Header], stored: u32) {
    let asked = sim.raw_getheaders(b);
    let from = if stored == 0 {
        genesis()
    } else {
        x[stored as usize - 2]
    };
    assert_eq!(
        asked.first().map(|g| g.locator_hashes[0]),
        Some(from.block_hash())
    );
    let mut starts = Vec::new();
    let done = sim.run_until(Duration::from_secs(60), |s| {
        starts.extend(
            s.nodes[n]
                .node
                .presync_status(b_id)
                .map(|st| st.chain_start_height),
        );
        s.events(n).any(|e| matches!(e, Event::Synced { .. }))
    });
    assert!(done);
    assert!(!starts.is_empty() && starts.iter().all(|h| *h == stored.saturating_sub(1)));
    assert_eq!(sim.tip(n), x[4499].block_hash());
    assert_eq!(replay(&sim.nodes[n].persisted), held(sim, n));
    assert_eq!(sim_misbehaved(sim, n), 0);
}

#[test]
fn losing_the_sync_peer_mid_presync_stores_nothing_and_another_peer_syncs_from_scratch() {
    let x = mine(&genesis(), 4500, 1);
    let (mut sim, n, b, b_id, stored) = lose_sync_peer(&x, |st, _| {
        st.phase == PresyncPhase::Presync && st.height == 2000
    });
    assert_eq!(stored, 0);
    assert!(sim.nodes[n].persisted.is_empty());
    assert_taken_over(&mut sim, n, b, b_id, &x, 0);
}

#[test]
fn losing_the_sync_peer_mid_redownload_keeps_only_what_passed_the_buffer() {
    let x = mine(&genesis(), 4500, 1);
    let (mut sim, n, b, b_id, stored) = lose_sync_peer(&x, |st, height| {
        st.phase == PresyncPhase::Redownload && height > 0
    });
    assert_eq!(
        stored,
        2000 - BUFFER,
        "the first redownloaded batch but for the buffer"
    );
    assert_eq!(sim.tip(n), x[stored as usize - 1].block_hash());
    assert_eq!(replay(&sim.nodes[n].persisted), held(&sim, n));
    assert_taken_over(&mut sim, n, b, b_id, &x, stored);
}
