//! Header sync scenarios on virtual time: from one peer, around a staller, across a reorg, and
//! down a line of three nodes. Every persisted change is replayed on a model store and must
//! agree with the node's chain.

mod support;

use std::time::Duration;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::BlockHash;
use headway_core::chain::HeaderError;
use headway_core::{DisconnectReason, Event, Network, PeerId};
use support::fixtures::{node_on, replay};
use support::mine::mine;
use support::sim::{raw_version, End, Sim};

fn genesis() -> Header {
    Network::Regtest.params().genesis
}

fn assert_store_matches(sim: &Sim, n: usize) {
    let best = replay(&sim.nodes[n].persisted);
    let chain = sim.nodes[n].node.chain();
    assert_eq!(best.len() as u32 - 1, chain.tip_height());
    for (h, hash) in best.iter().enumerate() {
        assert_eq!(chain.hash_at(h as u32), Some(*hash), "height {h}");
    }
}

fn synced(sim: &Sim, n: usize) -> bool {
    sim.events(n).any(|e| matches!(e, Event::Synced { .. }))
}

/// The id the node knows raw peer `r`'s connection by (read while it is still connected).
fn raw_peer_id(sim: &Sim, r: usize) -> PeerId {
    match sim.raws[r].link {
        Some(End::Node(_, id)) => id,
        other => panic!("raw peer {r} is not connected to a node: {other:?}"),
    }
}

/// Why node `n` said its connection `peer` ended, for every `PeerDisconnected` about it.
fn disconnect_reasons(sim: &Sim, n: usize, peer: PeerId) -> Vec<DisconnectReason> {
    sim.events(n)
        .filter_map(|e| match e {
            Event::PeerDisconnected {
                peer: p, reason, ..
            } if *p == peer => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// What node `n` marked `peer` for, for every `PeerMisbehaved` about it.
fn misbehaviour_reasons(sim: &Sim, n: usize, peer: PeerId) -> Vec<DisconnectReason> {
    sim.events(n)
        .filter_map(|e| match e {
            Event::PeerMisbehaved {
                peer: p, reason, ..
            } if *p == peer => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn syncs_the_whole_chain_from_one_peer() {
    let chain = mine(&genesis(), 4500, 1);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &chain));
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    sim.connect(b, a);
    assert!(sim.run_until(Duration::from_secs(60), |s| synced(s, b)));
    assert_eq!(sim.tip(b), chain[4499].block_hash());
    assert_eq!(sim.nodes[b].node.chain().tip_height(), 4500);
    assert_store_matches(&sim, b);
    let progress = sim
        .events(b)
        .filter(|e| matches!(e, Event::SyncProgress { .. }))
        .count();
    assert!(progress >= 1);
    // Three batches of 2000, 2000 and 500: three tip changes.
    let tips = sim
        .events(b)
        .filter(|e| matches!(e, Event::TipChanged(_)))
        .count();
    assert_eq!(tips, 3);
}

#[test]
fn follows_new_blocks_after_sync() {
    let chain = mine(&genesis(), 100, 1);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &chain));
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    sim.connect(b, a);
    assert!(sim.run_until(Duration::from_secs(60), |s| synced(s, b)));
    // Rebuild `a` with three more blocks is not possible in place; instead a third node with
    // the longer chain connects to `b`, announces, and `b` follows.
    let longer: Vec<Header> = chain
        .iter()
        .copied()
        .chain(mine(&chain[99], 3, 1))
        .collect();
    let c = sim.add_node(node_on(3, Network::Regtest.params(), &longer));
    sim.connect(c, b);
    assert!(sim.run_until(Duration::from_secs(60), |s| s.tip(b)
        == longer[102].block_hash()));
    assert_store_matches(&sim, b);
}

#[test]
fn stalling_sync_peer_is_replaced_by_one_that_serves() {
    let chain = mine(&genesis(), 2500, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    // The staller connects first and claims a high start height; it never answers getheaders.
    let s = sim.raw_negotiated(b, 7);
    assert!(sim.raws[s]
        .received
        .iter()
        .any(|m| matches!(m, NetworkMessage::GetHeaders(_))));
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &chain));
    sim.connect(b, a);
    assert!(sim.run_until(Duration::from_secs(300), |s| synced(s, b)));
    assert_eq!(sim.tip(b), chain[2499].block_hash());
    let stalled = sim.events(b).any(|e| {
        matches!(
            e,
            Event::PeerDisconnected {
                reason: DisconnectReason::SyncStalled(_),
                ..
            }
        )
    });
    assert!(
        stalled,
        "the staller is dropped once another peer can serve"
    );
    assert!(sim.raws[s].closed);
}

#[test]
fn reorg_during_sync_to_a_heavier_branch() {
    let base = mine(&genesis(), 1500, 1);
    let light: Vec<Header> = base
        .iter()
        .copied()
        .chain(mine(&base[1499], 1500, 2))
        .collect();
    let heavy: Vec<Header> = base
        .iter()
        .copied()
        .chain(mine(&base[1499], 2000, 3))
        .collect();
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &light));
    let c = sim.add_node(node_on(3, Network::Regtest.params(), &heavy));
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    sim.connect(b, a);
    assert!(sim.run_until(Duration::from_secs(60), |s| s.nodes[b]
        .node
        .chain()
        .tip_height()
        >= 2000));
    sim.connect(b, c);
    assert!(sim.run_until(Duration::from_secs(120), |s| s.tip(b)
        == heavy[3499].block_hash()));
    let reorg = sim
        .events(b)
        .find_map(|e| match e {
            Event::TipChanged(t) if !t.disconnected.is_empty() => Some(t.clone()),
            _ => None,
        })
        .expect("a reorg tip change");
    assert_eq!(reorg.fork_height, 1500);
    assert_eq!(
        reorg.disconnected.first(),
        Some(&light[2999].block_hash()),
        "highest first"
    );
    assert_eq!(reorg.disconnected.len(), 1500);
    assert_eq!(reorg.connected.first(), Some(&heavy[1500].block_hash()));
    assert_store_matches(&sim, b);
    // The light branch stays known as a side chain.
    assert!(sim.nodes[b]
        .node
        .chain()
        .contains(&light[2999].block_hash()));
}

#[test]
fn three_nodes_in_a_line_end_on_the_same_chain() {
    let chain = mine(&genesis(), 4100, 1);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &chain));
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let c = sim.add_node(node_on(3, Network::Regtest.params(), &[]));
    sim.connect(b, a);
    sim.connect(c, b);
    let tip = chain[4099].block_hash();
    assert!(sim.run_until(Duration::from_secs(120), |s| s.tip(b) == tip
        && s.tip(c) == tip));
    assert_store_matches(&sim, b);
    assert_store_matches(&sim, c);
}

#[test]
fn invalid_headers_disconnect_and_mark_the_peer() {
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let r = sim.raw_negotiated(b, 9);
    let peer = raw_peer_id(&sim, r);
    let mut bad = mine(&genesis(), 3, 5);
    bad[1].nonce = bad[1].nonce.wrapping_add(1);
    while bad[1].validate_pow(bad[1].target()).is_ok() {
        bad[1].nonce = bad[1].nonce.wrapping_add(1);
    }
    bad[2].prev_blockhash = bad[1].block_hash();
    sim.raw_send(r, NetworkMessage::Headers(bad.clone()));
    sim.run_for(Duration::from_secs(1));
    let reason = DisconnectReason::InvalidHeader {
        hash: bad[1].block_hash(),
        error: HeaderError::HighHash,
    };
    assert!(sim.raws[r].closed, "the peer's connection is closed");
    assert_eq!(disconnect_reasons(&sim, b, peer), vec![reason.clone()]);
    assert_eq!(misbehaviour_reasons(&sim, b, peer), vec![reason]);
    // The valid prefix was kept.
    assert_eq!(sim.tip(b), bad[0].block_hash());
}

#[test]
fn non_continuous_and_oversized_headers_disconnect() {
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let r1 = sim.raw_inbound(b);
    let r2 = sim.raw_inbound(b);
    let (p1, p2) = (raw_peer_id(&sim, r1), raw_peer_id(&sim, r2));
    for (r, n) in [(r1, 11), (r2, 12)] {
        sim.raw_send(r, NetworkMessage::Version(raw_version(n, 70016, 100_000)));
        sim.raw_send(r, NetworkMessage::Verack);
    }
    let mut gap = mine(&genesis(), 3, 5);
    gap.remove(1);
    sim.raw_send(r1, NetworkMessage::Headers(gap));
    let many = vec![genesis(); 2001];
    sim.raw_send(r2, NetworkMessage::Headers(many));
    sim.run_for(Duration::from_secs(1));
    for (r, peer, reason) in [
        (r1, p1, DisconnectReason::NonContinuousHeaders),
        (r2, p2, DisconnectReason::TooManyHeaders(2001)),
    ] {
        assert!(
            sim.raws[r].closed,
            "{reason}: the peer's connection is closed"
        );
        assert_eq!(disconnect_reasons(&sim, b, peer), vec![reason.clone()]);
        assert_eq!(misbehaviour_reasons(&sim, b, peer), vec![reason]);
    }
}

#[test]
fn unconnecting_headers_trigger_getheaders_not_a_penalty() {
    use headway_core::bitcoin::hashes::Hash;
    let chain = mine(&genesis(), 10, 1);
    let mut sim = Sim::new();
    // `b` holds the first three headers, so that a locator from its tip differs from one from
    // genesis.
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &chain[..3]));
    let r = sim.raw_negotiated(b, 3);
    let peer = raw_peer_id(&sim, r);
    let before = sim.raw_getheaders(r).len();
    assert_eq!(before, 1, "the handshake's request, left unanswered");
    // Their parent, chain[4], is unknown to `b`.
    sim.raw_send(r, NetworkMessage::Headers(chain[5..].to_vec()));
    // Far inside the 60 s headers timeout: a re-request for an unanswered one cannot come yet,
    // so a getheaders now is the answer to these headers.
    sim.run_for(Duration::from_secs(1));
    let asks = sim.raw_getheaders(r);
    assert_eq!(asks.len(), before + 1, "one getheaders in answer");
    let chain_b = sim.nodes[b].node.chain();
    assert_eq!(chain_b.tip_hash(), chain[2].block_hash());
    // From our tip, one header back as every request of ours (see `request_headers`).
    let start = chain[1].block_hash();
    assert_eq!(asks[before].locator_hashes, chain_b.locator_from(&start));
    assert_eq!(asks[before].locator_hashes.first(), Some(&start));
    assert_eq!(asks[before].stop_hash, BlockHash::all_zeros());
    // Not an offence: no mark, and the connection stays.
    assert!(misbehaviour_reasons(&sim, b, peer).is_empty());
    assert!(disconnect_reasons(&sim, b, peer).is_empty());
    assert!(!sim.raws[r].closed);
}

#[test]
fn serves_getheaders_and_refuses_oversized_locators() {
    use headway_core::bitcoin::hashes::Hash;
    use headway_core::bitcoin::p2p::message_blockdata::GetHeadersMessage;
    let chain = mine(&genesis(), 2500, 1);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &chain));
    let r = sim.raw_inbound(a);
    sim.raw_send(r, NetworkMessage::Version(raw_version(3, 70016, 100_000)));
    sim.raw_send(r, NetworkMessage::Verack);
    let unknown = BlockHash::from_byte_array([7; 32]);
    sim.raw_send(
        r,
        NetworkMessage::GetHeaders(GetHeadersMessage {
            version: 70016,
            locator_hashes: vec![unknown, chain[99].block_hash()],
            stop_hash: BlockHash::all_zeros(),
        }),
    );
    sim.raw_send(
        r,
        NetworkMessage::GetHeaders(GetHeadersMessage {
            version: 70016,
            locator_hashes: vec![chain[2400].block_hash()],
            stop_hash: chain[2410].block_hash(),
        }),
    );
    sim.run_for(Duration::from_secs(1));
    let replies: Vec<&Vec<Header>> = sim.raws[r]
        .received
        .iter()
        .filter_map(|m| match m {
            NetworkMessage::Headers(h) => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].len(), 2000);
    assert_eq!(replies[0][0], chain[100]);
    assert_eq!(replies[1].as_slice(), &chain[2401..=2410]);
    sim.raw_send(
        r,
        NetworkMessage::GetHeaders(GetHeadersMessage {
            version: 70016,
            locator_hashes: vec![unknown; 102],
            stop_hash: BlockHash::all_zeros(),
        }),
    );
    sim.run_for(Duration::from_secs(1));
    // Core disconnects for this without calling `Misbehaving`: no discouragement.
    assert!(sim.raws[r].closed);
    assert!(sim.events(a).any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::LocatorTooLarge(102),
            ..
        }
    )));
    assert!(!sim
        .events(a)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. })));
}

#[test]
fn same_inputs_give_the_same_outputs() {
    let chain = mine(&genesis(), 2100, 1);
    let run = || {
        let mut sim = Sim::new();
        let a = sim.add_node(node_on(1, Network::Regtest.params(), &chain));
        let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
        sim.connect(b, a);
        sim.run_for(Duration::from_secs(300));
        format!("{:?}", sim.nodes[b].events)
    };
    assert_eq!(run(), run());
}

#[test]
fn sync_ending_on_a_full_batch_completes_against_a_peer_that_never_sends_empty_headers() {
    // bcoin answers nothing at all when it has no headers after the locator. Our locators start
    // one header back, so even then the answer holds one known header and ends the sync.
    let chain = mine(&genesis(), 2000, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let r = sim.raw_negotiated(b, 5);
    assert_eq!(sim.raw_getheaders(r).len(), 1);
    sim.raw_send(r, NetworkMessage::Headers(chain.clone()));
    sim.run_for(Duration::from_secs(1));
    let asks = sim.raw_getheaders(r);
    assert_eq!(asks.len(), 2);
    assert_eq!(
        asks[1].locator_hashes[0],
        chain[1998].block_hash(),
        "starts one back"
    );
    assert!(!synced(&sim, b));
    // Also: a block announced while that request is in flight is not forgotten.
    let more = mine(&chain[1999], 1, 1);
    sim.raw_send(
        r,
        NetworkMessage::Inv(vec![
            headway_core::bitcoin::p2p::message_blockdata::Inventory::Block(more[0].block_hash()),
        ]),
    );
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.raw_getheaders(r).len(),
        2,
        "one request in flight at a time"
    );
    sim.raw_send(r, NetworkMessage::Headers(vec![chain[1999]]));
    sim.run_for(Duration::from_secs(1));
    assert!(synced(&sim, b));
    assert_eq!(sim.nodes[b].node.chain().tip_height(), 2000);
    let asks = sim.raw_getheaders(r);
    assert_eq!(
        asks.len(),
        3,
        "the announcement is followed up once the answer came"
    );
    sim.raw_send(r, NetworkMessage::Headers(vec![chain[1999], more[0]]));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.tip(b), more[0].block_hash());
}

#[test]
fn headers_from_the_future_end_the_round_without_a_penalty_or_a_stall() {
    let mut chain = mine(&genesis(), 5, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let r = sim.raw_negotiated(b, 4);
    // The last header is three hours ahead of the node's clock.
    let future = u32::try_from(sim.now.as_secs()).unwrap() + 3 * 3600;
    chain[4].time = future;
    while chain[4].validate_pow(chain[4].target()).is_err() {
        chain[4].nonce = chain[4].nonce.wrapping_add(1);
    }
    sim.raw_send(r, NetworkMessage::Headers(chain.clone()));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.tip(b),
        chain[3].block_hash(),
        "the valid prefix is kept"
    );
    assert!(!sim
        .events(b)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. })));
    assert!(
        synced(&sim, b),
        "the round ends instead of waiting for nothing"
    );
}
