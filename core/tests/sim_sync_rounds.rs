//! How sync rounds end and who takes part in them, on virtual time against scripted peers that
//! answer getheaders as Core does: a header from the future ends a round once (no loop of
//! re-requests), block announcements during initial sync add at most one peer per new block,
//! and a slow sync peer is waited for, not restarted, while a quick one is never dropped.

mod support;

use std::time::Duration;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::message_blockdata::Inventory;
use headway_core::bitcoin::BlockHash;
use headway_core::{DisconnectReason, Event, Network};
use support::fixtures::node_on;
use support::mine::mine;
use support::sim::Sim;

fn genesis() -> Header {
    Network::Regtest.params().genesis
}

fn synced(sim: &Sim, n: usize) -> bool {
    sim.events(n).any(|e| matches!(e, Event::Synced { .. }))
}

fn misbehaved(sim: &Sim, n: usize) -> bool {
    sim.events(n)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. }))
}

/// `n` headers after genesis in which the header at `future_height` carries `time`; the
/// rest are ten minutes apart as usual.
fn chain_with_time_at(n: usize, future_height: usize, time: u32) -> Vec<Header> {
    let mut chain = mine(&genesis(), future_height - 1, 1);
    let parent = chain.last().copied().unwrap_or_else(genesis);
    let mut odd = mine(&parent, 1, 2)[0];
    odd.time = time;
    while odd.validate_pow(odd.target()).is_err() {
        odd.nonce = odd.nonce.wrapping_add(1);
    }
    chain.push(odd);
    // The headers after it keep the normal spacing from its parent.
    let mut prev = odd;
    for i in 0..(n - future_height) {
        let mut next = mine(&prev, 1, 3)[0];
        next.time = parent.time + 600 * (i as u32 + 2);
        while next.validate_pow(next.target()).is_err() {
            next.nonce = next.nonce.wrapping_add(1);
        }
        chain.push(next);
        prev = next;
    }
    chain
}

#[test]
fn a_full_batch_with_a_header_from_the_future_ends_in_one_round_not_a_loop() {
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let future = u32::try_from(sim.now.as_secs()).unwrap() + 3 * 3600;
    let chain = chain_with_time_at(4000, 10, future);
    let r = sim.raw_serving(b, 5, &chain, Duration::ZERO);
    sim.run_for(Duration::from_secs(10));
    // The first request, and the one pipelined before the batch was validated; its answer
    // cannot connect and is dropped instead of asked for again.
    let asks = sim.raw_getheaders(r);
    assert_eq!(asks.len(), 2, "one round, not a loop");
    assert_eq!(sim.nodes[b].node.chain().tip_height(), 9);
    assert_eq!(sim.tip(b), chain[8].block_hash());
    assert!(synced(&sim, b), "the round ended");
    assert!(!misbehaved(&sim, b));
    assert!(!sim.raws[r].closed);
    // The next announcement starts exactly one more round.
    sim.raw_send(
        r,
        NetworkMessage::Inv(vec![Inventory::Block(chain[3999].block_hash())]),
    );
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.raw_getheaders(r).len(), 4);
    assert_eq!(sim.nodes[b].node.chain().tip_height(), 9);
}

/// The getheaders each raw peer in `raws` received.
fn asks(sim: &Sim, raws: &[usize]) -> Vec<usize> {
    raws.iter().map(|r| sim.raw_getheaders(*r).len()).collect()
}

#[test]
fn announcements_during_initial_sync_add_at_most_one_peer_per_new_block() {
    let chain = mine(&genesis(), 8000, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    // The sync peer answers slowly, so initial sync lasts well beyond the announcements.
    let sync_peer = sim.raw_serving(b, 1, &chain, Duration::from_secs(5));
    let others: Vec<usize> = (0..8).map(|i| sim.raw_negotiated(b, 10 + i)).collect();
    assert_eq!(
        asks(&sim, &others),
        vec![0; 8],
        "one sync peer to begin with"
    );
    let announce = |sim: &mut Sim, hash: BlockHash| {
        for r in &others {
            sim.raw_send(*r, NetworkMessage::Inv(vec![Inventory::Block(hash)]));
        }
        sim.run_for(Duration::from_millis(500));
    };
    let x = mine(&chain[7999], 2, 9);
    announce(&mut sim, x[0].block_hash());
    let after_x = asks(&sim, &others);
    assert_eq!(after_x.iter().sum::<usize>(), 1, "{after_x:?}");
    // The same block again adds nobody.
    announce(&mut sim, x[0].block_hash());
    assert_eq!(asks(&sim, &others), after_x);
    // A new block adds one more peer, not the one already added.
    announce(&mut sim, x[1].block_hash());
    let after_y = asks(&sim, &others);
    assert_eq!(after_y.iter().sum::<usize>(), 2, "{after_y:?}");
    assert!(
        after_y.iter().all(|n| *n <= 1),
        "each peer at most once: {after_y:?}"
    );
    assert!(!synced(&sim, b), "all of this happened during initial sync");
    // The sync peer itself is asked whenever it announces.
    let before = sim.raw_getheaders(sync_peer).len();
    sim.raw_send(
        sync_peer,
        NetworkMessage::Inv(vec![Inventory::Block(x[1].block_hash())]),
    );
    sim.run_until(Duration::from_secs(60), |s| {
        s.raw_getheaders(sync_peer).len() > before
    });
    assert!(sim.raw_getheaders(sync_peer).len() > before);
}

#[test]
fn a_sync_peer_that_answers_within_the_timeout_is_never_dropped() {
    let chain = mine(&genesis(), 4500, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let slow = sim.raw_serving(b, 1, &chain, Duration::from_secs(50));
    let quick = sim.raw_serving(b, 2, &chain, Duration::ZERO);
    assert!(sim.run_until(Duration::from_secs(600), |s| synced(s, b)));
    assert_eq!(sim.tip(b), chain[4499].block_hash());
    assert!(!sim.raws[slow].closed && !sim.raws[quick].closed);
    assert!(!sim.events(b).any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::SyncStalled(_),
            ..
        }
    )));
    assert!(
        sim.raw_getheaders(slow).len() >= 3,
        "the slow peer did the syncing"
    );
}

#[test]
fn a_sync_peer_slower_than_the_timeout_is_waited_for_when_no_other_can_serve() {
    let chain = mine(&genesis(), 4500, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let slow = sim.raw_serving(b, 1, &chain, Duration::from_secs(90));
    assert!(sim.run_until(Duration::from_secs(900), |s| synced(s, b)));
    assert_eq!(sim.tip(b), chain[4499].block_hash());
    // One request per batch: the overdue requests were not sent again.
    assert_eq!(sim.raw_getheaders(slow).len(), 3);
    assert!(!sim.raws[slow].closed);
}

#[test]
fn a_silent_sync_peer_is_kept_while_alone_and_replaced_once_another_can_serve() {
    let chain = mine(&genesis(), 4500, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let silent = sim.raw_negotiated(b, 1);
    sim.run_for(Duration::from_secs(300));
    assert!(!sim.raws[silent].closed, "nobody else could serve");
    assert_eq!(
        sim.raw_getheaders(silent).len(),
        1,
        "asked once, then waited"
    );
    let quick = sim.raw_serving(b, 2, &chain, Duration::ZERO);
    assert!(sim.run_until(Duration::from_secs(120), |s| synced(s, b)));
    assert!(sim.raws[silent].closed);
    assert!(sim.events(b).any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::SyncStalled(_),
            ..
        }
    )));
    assert_eq!(sim.tip(b), chain[4499].block_hash());
    assert!(sim.raw_getheaders(quick).len() >= 3);
}

#[test]
fn an_ignored_request_is_replaced_when_the_peer_announces_a_block() {
    // Core ignores getheaders during its own initial block download and announces blocks once
    // it is done: the announcement must bring a fresh request, not wait on the ignored one.
    let chain = mine(&genesis(), 2500, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let r = sim.raw_negotiated(b, 1);
    sim.run_for(Duration::from_secs(90));
    assert_eq!(sim.raw_getheaders(r).len(), 1, "ignored, and waited on");
    let mut served = vec![genesis()];
    served.extend_from_slice(&chain);
    sim.raws[r].serves = Some(served);
    // The request is overdue by now: the announcement replaces it with a fresh one.
    sim.raw_send(
        r,
        NetworkMessage::Inv(vec![Inventory::Block(chain[2499].block_hash())]),
    );
    assert!(sim.run_until(Duration::from_secs(10), |s| synced(s, b)));
    assert_eq!(sim.tip(b), chain[2499].block_hash());
    assert!(!sim.raws[r].closed);
}

#[test]
fn unconnecting_headers_with_bad_proof_of_work_are_an_offence() {
    // As Core's `CheckHeadersPoW`: proof of work is checked before the connection, so headers
    // that do not connect cannot carry a bad hash for free.
    let chain = mine(&genesis(), 10, 1);
    let mut bad = chain[7];
    while bad.validate_pow(bad.target()).is_ok() {
        bad.nonce = bad.nonce.wrapping_add(1);
    }
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &[]));
    let r = sim.raw_negotiated(b, 3);
    sim.raw_send(r, NetworkMessage::Headers(vec![chain[5], chain[6], bad]));
    sim.run_for(Duration::from_secs(1));
    assert!(sim.raws[r].closed);
    assert!(sim.events(b).any(|e| matches!(
        e,
        Event::PeerMisbehaved {
            reason: DisconnectReason::InvalidHeader { hash, .. },
            ..
        } if *hash == bad.block_hash()
    )));
}
