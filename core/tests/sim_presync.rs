//! Headers presync on virtual time: an honest low-work-looking chain is downloaded twice and
//! then stored; a low-work flood stores nothing; a peer that serves a different chain the
//! second time is caught by the commitments; the commitment cap bounds memory; invalid
//! headers during presync are offences. Regtest headers, with a custom minimum chain work and
//! small commitment period (10) and redownload buffer (300) so that every path is exercised.

mod support;

use std::time::Duration;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::{BlockHash, Work};
use headway_core::node::presync::PresyncPhase;
use headway_core::{DisconnectReason, Event, Network, Params, PeerId, Time};
use support::fixtures::{node_on, replay};
use support::mine::mine;
use support::sim::Sim;

const PERIOD: u32 = 10;
const BUFFER: u32 = 300;

fn genesis() -> Header {
    Network::Regtest.params().genesis
}

/// Regtest parameters whose minimum chain work is that of `headers` headers above genesis
/// (each regtest header adds 2).
fn params_needing(headers: u128) -> Params {
    let mut p = Network::Regtest.params();
    let mut be = [0u8; 32];
    be[16..].copy_from_slice(&(2 * (headers + 1)).to_be_bytes());
    p.minimum_chain_work = Work::from_be_bytes(be);
    p.headers_commitment_period = PERIOD;
    p.headers_redownload_buffer = BUFFER;
    p
}

fn only_peer(sim: &Sim, n: usize) -> PeerId {
    let ids: Vec<PeerId> = sim.nodes[n].node.peers().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0]
}

fn misbehaved(sim: &Sim, n: usize) -> Vec<DisconnectReason> {
    sim.events(n)
        .filter_map(|e| match e {
            Event::PeerMisbehaved { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn send(sim: &mut Sim, r: usize, headers: &[Header]) {
    sim.raw_send(r, NetworkMessage::Headers(headers.to_vec()));
    sim.run_for(Duration::from_secs(1));
}

#[test]
fn honest_chain_is_presynced_redownloaded_and_then_stored() {
    let chain = mine(&genesis(), 4500, 1);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &chain));
    let b = sim.add_node(node_on(2, params_needing(4000), &[]));
    sim.connect(b, a);
    let id = only_peer(&sim, b);
    // Observe every step: (phase, headers in b's chain).
    let mut seen: Vec<(Option<PresyncPhase>, usize)> = Vec::new();
    let done = sim.run_until(Duration::from_secs(120), |s| {
        let n = &s.nodes[b].node;
        seen.push((n.presync_status(id).map(|st| st.phase), n.chain().len()));
        s.events(b).any(|e| matches!(e, Event::Synced { .. }))
    });
    assert!(done, "b reaches the end of sync");
    assert_eq!(sim.tip(b), chain[4499].block_hash());
    assert_eq!(sim.nodes[b].node.chain().tip_height(), 4500);
    assert!(sim.nodes[b].node.presync_status(id).is_none());
    assert!(misbehaved(&sim, b).is_empty());
    // Nothing was stored while the first download ran.
    let presync: Vec<usize> = seen
        .iter()
        .filter(|(p, _)| *p == Some(PresyncPhase::Presync))
        .map(|(_, len)| *len)
        .collect();
    assert!(!presync.is_empty(), "a presync ran");
    assert!(presync.iter().all(|len| *len == 1), "{presync:?}");
    // During the redownload headers were released in steps, always behind the buffer.
    let redownload: Vec<usize> = seen
        .iter()
        .filter(|(p, _)| *p == Some(PresyncPhase::Redownload))
        .map(|(_, len)| *len)
        .collect();
    assert!(
        redownload.contains(&1),
        "redownload starts from an empty chain"
    );
    assert!(
        redownload
            .iter()
            .any(|len| *len == 1 + 2000 - BUFFER as usize),
        "the first redownloaded batch is released but for the buffer: {redownload:?}"
    );
    // The store saw exactly the chain the node holds.
    let best = replay(&sim.nodes[b].persisted);
    let held: Vec<BlockHash> = (0..=4500)
        .map(|h| sim.nodes[b].node.chain().hash_at(h).expect("height held"))
        .collect();
    assert_eq!(best, held);
    assert!(sim.nodes[b].persisted.iter().all(|p| p.side.is_empty()));
}

#[test]
fn low_work_flood_stores_nothing_and_ends_when_the_chain_ends() {
    let ours = mine(&genesis(), 3000, 1);
    let fork = mine(&genesis(), 10_500, 2);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, params_needing(20_000), &ours));
    let r = sim.raw_negotiated(b, 9);
    let id = only_peer(&sim, b);
    let asked = sim.raw_getheaders(r).len();
    for (i, batch) in fork[..10_000].chunks(2000).enumerate() {
        send(&mut sim, r, batch);
        let status = sim.nodes[b]
            .node
            .presync_status(id)
            .expect("presync running");
        assert_eq!(status.phase, PresyncPhase::Presync);
        assert_eq!(status.height as usize, 2000 * (i + 1));
        assert_eq!(status.chain_start_height, 0);
        assert_eq!(status.buffered, 0);
        let committed = status.height / PERIOD;
        assert!(
            (committed..=committed + 1).contains(&(status.commitments as u32)),
            "one bit per period: {}",
            status.commitments
        );
        assert_eq!(sim.nodes[b].node.chain().len(), 3001, "nothing stored");
        // Each batch is answered by a request continuing from its last header.
        let asks = sim.raw_getheaders(r);
        assert_eq!(asks.len(), asked + i + 1);
        let last = asks.last().expect("a request");
        assert_eq!(last.locator_hashes[0], batch[1999].block_hash());
        assert_eq!(last.locator_hashes.last(), Some(&genesis().block_hash()));
        assert!(last.locator_hashes.len() <= 101);
    }
    // The attacker's chain ends short of the threshold: the presync is dropped.
    send(&mut sim, r, &fork[10_000..]);
    assert!(sim.nodes[b].node.presync_status(id).is_none());
    assert_eq!(sim.nodes[b].node.chain().len(), 3001);
    assert_eq!(sim.tip(b), ours[2999].block_hash());
    assert!(sim.nodes[b].persisted.is_empty(), "nothing persisted");
    assert!(
        misbehaved(&sim, b).is_empty(),
        "a low-work chain is no offence"
    );
    assert!(!sim.raws[r].closed);
    // Sending the start again starts a new presync, which again stores nothing.
    send(&mut sim, r, &fork[..2000]);
    assert_eq!(
        sim.nodes[b].node.presync_status(id).map(|s| s.height),
        Some(2000)
    );
    assert_eq!(sim.nodes[b].node.chain().len(), 3001);
}

#[test]
fn short_low_work_forks_are_ignored_but_recent_forks_are_accepted() {
    // Minimum work zero: the threshold is our tip less 144 blocks of work.
    let ours = mine(&genesis(), 3000, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, Network::Regtest.params(), &ours));
    let r = sim.raw_negotiated(b, 9);
    let id = only_peer(&sim, b);
    let old_fork = mine(&genesis(), 500, 2);
    send(&mut sim, r, &old_fork);
    assert_eq!(sim.nodes[b].node.chain().len(), 3001, "ignored");
    assert!(sim.nodes[b].node.presync_status(id).is_none());
    assert!(sim.nodes[b].persisted.is_empty());
    // A fork from 100 blocks below the tip, 50 long: within a day's work of the tip.
    let recent = mine(&ours[2899], 50, 3);
    send(&mut sim, r, &recent);
    assert_eq!(
        sim.nodes[b].node.chain().len(),
        3051,
        "stored as a side branch"
    );
    assert!(sim.nodes[b].node.chain().contains(&recent[49].block_hash()));
    assert_eq!(sim.tip(b), ours[2999].block_hash());
    assert!(misbehaved(&sim, b).is_empty());
}

#[test]
fn a_different_chain_on_redownload_is_caught_by_the_commitments() {
    let x = mine(&genesis(), 4000, 7);
    let y = mine(&genesis(), 4000, 8);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, params_needing(4000), &[]));
    let r = sim.raw_negotiated(b, 9);
    let id = only_peer(&sim, b);
    send(&mut sim, r, &x[..2000]);
    send(&mut sim, r, &x[2000..]);
    let status = sim.nodes[b]
        .node
        .presync_status(id)
        .expect("presync running");
    assert_eq!(status.phase, PresyncPhase::Redownload);
    assert_eq!(status.commitments, 400);
    let ask = sim.raw_getheaders(r).pop().expect("a request");
    assert_eq!(
        ask.locator_hashes[0],
        genesis().block_hash(),
        "redownload from the start"
    );
    send(&mut sim, r, &y[..2000]);
    // The mismatch ends x's presync; like Core, the message is then processed as any other:
    // it connects to genesis and starts a presync of y from scratch.
    let status = sim.nodes[b]
        .node
        .presync_status(id)
        .expect("a new presync, of y");
    assert_eq!(status.phase, PresyncPhase::Presync);
    assert_eq!(status.height, 2000);
    assert_eq!(status.chain_start_height, 0);
    assert_eq!(status.buffered, 0);
    assert_eq!(sim.nodes[b].node.chain().len(), 1, "none of y stored");
    assert!(sim.nodes[b].persisted.is_empty());
    assert!(
        misbehaved(&sim, b).is_empty(),
        "Core only gives up, so do we"
    );
}

#[test]
fn commitments_are_capped_by_the_time_since_the_fork() {
    let fork = mine(&genesis(), 8000, 2);
    let mut sim = Sim::new();
    // The clock stands 6,200 s before genesis, so the cap is about 6 * (−6200 + 7200) / 1 =
    // 6000 commitments: no honest chain can be longer than that since genesis.
    sim.now = Time::from_secs(u64::from(genesis().time) - 6200);
    let mut params = params_needing(100_000);
    params.headers_commitment_period = 1;
    let b = sim.add_node(node_on(2, params, &[]));
    let r = sim.raw_negotiated(b, 9);
    let id = only_peer(&sim, b);
    for (i, batch) in fork[..6000].chunks(2000).enumerate() {
        send(&mut sim, r, batch);
        let status = sim.nodes[b]
            .node
            .presync_status(id)
            .expect("presync running");
        // A second or two of virtual time passed before the presync started.
        assert!(
            (6000..6030).contains(&status.max_commitments),
            "{}",
            status.max_commitments
        );
        assert_eq!(status.commitments, 2000 * (i + 1));
    }
    send(&mut sim, r, &fork[6000..]);
    assert!(
        sim.nodes[b].node.presync_status(id).is_none(),
        "cap exceeded"
    );
    assert_eq!(sim.nodes[b].node.chain().len(), 1);
    assert!(misbehaved(&sim, b).is_empty());
}

#[test]
fn invalid_proof_of_work_during_presync_is_an_offence() {
    let mut fork = mine(&genesis(), 4000, 3);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, params_needing(4000), &[]));
    let r = sim.raw_negotiated(b, 9);
    let id = only_peer(&sim, b);
    send(&mut sim, r, &fork[..2000]);
    assert!(sim.nodes[b].node.presync_status(id).is_some());
    let bad = &mut fork[3999];
    while bad.validate_pow(bad.target()).is_ok() {
        bad.nonce = bad.nonce.wrapping_add(1);
    }
    let bad_hash = bad.block_hash();
    send(&mut sim, r, &fork[2000..]);
    assert!(
        misbehaved(&sim, b).iter().any(|reason| matches!(
            reason,
            DisconnectReason::InvalidHeader { hash, .. } if *hash == bad_hash
        )),
        "{:?}",
        misbehaved(&sim, b)
    );
    assert!(sim.raws[r].closed);
    assert_eq!(sim.nodes[b].node.chain().len(), 1);
}

#[test]
fn a_low_work_message_with_invalid_proof_of_work_is_an_offence() {
    let mut fork = mine(&genesis(), 100, 3);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, params_needing(4000), &[]));
    let r = sim.raw_negotiated(b, 9);
    let bad = &mut fork[99];
    while bad.validate_pow(bad.target()).is_ok() {
        bad.nonce = bad.nonce.wrapping_add(1);
    }
    send(&mut sim, r, &fork);
    assert!(misbehaved(&sim, b)
        .iter()
        .any(|reason| matches!(reason, DisconnectReason::InvalidHeader { .. })));
    assert_eq!(
        sim.nodes[b].node.chain().len(),
        1,
        "not even the valid prefix"
    );
}

#[test]
fn a_peer_that_switches_chains_during_presync_starts_a_new_presync_and_is_synced() {
    let a_chain = mine(&genesis(), 4500, 1);
    let b_chain = mine(&genesis(), 4500, 2);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, params_needing(4000), &[]));
    let r = sim.raw_serving(b, 9, &a_chain, Duration::from_secs(2));
    let id = only_peer(&sim, b);
    // Once the first presync batch of chain A is in, the next request continues from there.
    let first_batch = sim.run_until(Duration::from_secs(10), |s| {
        s.nodes[b]
            .node
            .presync_status(id)
            .map(|st| (st.phase, st.height))
            == Some((PresyncPhase::Presync, 2000))
    });
    assert!(first_batch);
    // The peer reorganises to chain B: it knows none of A and answers from genesis.
    let mut served = vec![genesis()];
    served.extend_from_slice(&b_chain);
    sim.raws[r].serves = Some(served);
    let done = sim.run_until(Duration::from_secs(60), |s| {
        s.events(b).any(|e| matches!(e, Event::Synced { .. }))
    });
    assert!(done);
    // Core processes the non-continuous reply as a new chain: B is presynced and stored.
    assert_eq!(sim.tip(b), b_chain[4499].block_hash());
    assert_eq!(sim.nodes[b].node.chain().len(), 4501, "nothing of A stored");
    assert!(misbehaved(&sim, b).is_empty());
}

#[test]
fn a_presync_with_a_peer_slower_than_the_timeout_keeps_its_progress() {
    let chain = mine(&genesis(), 4500, 1);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, params_needing(4000), &[]));
    let r = sim.raw_serving(b, 9, &chain, Duration::from_secs(70));
    // The peer also announces its tip every 45 s, as new blocks would be announced while the
    // answers crawl: that must not replace the slow request and restart the presync.
    let tip = chain[4499].block_hash();
    let mut done = false;
    for _ in 0..40 {
        done = sim.run_until(Duration::from_secs(45), |s| {
            s.events(b).any(|e| matches!(e, Event::Synced { .. }))
        });
        if done {
            break;
        }
        sim.raw_send(
            r,
            NetworkMessage::Inv(vec![
                headway_core::bitcoin::p2p::message_blockdata::Inventory::Block(tip),
            ]),
        );
    }
    assert!(done);
    assert_eq!(sim.tip(b), chain[4499].block_hash());
    // From genesis only twice: the first download and the redownload. A presync thrown
    // away at each timeout would start over from genesis again and again.
    let from_genesis = sim
        .raw_getheaders(r)
        .iter()
        .filter(|g| g.locator_hashes.first() == Some(&genesis().block_hash()))
        .count();
    assert_eq!(from_genesis, 2);
    assert!(!sim.raws[r].closed);
}

#[test]
fn a_low_work_chain_is_reported_once_with_its_height_work_and_threshold() {
    let fork = mine(&genesis(), 4500, 2);
    let mut sim = Sim::new();
    let b = sim.add_node(node_on(2, params_needing(20_000), &[]));
    let r = sim.raw_serving(b, 9, &fork, Duration::ZERO);
    sim.run_for(Duration::from_secs(5));
    let reports: Vec<(u32, Work, Work)> = sim
        .events(b)
        .filter_map(|e| match e {
            Event::LowWorkChain {
                height,
                work,
                threshold,
                ..
            } => Some((*height, *work, *threshold)),
            _ => None,
        })
        .collect();
    let work = |headers: u128| {
        let mut be = [0u8; 32];
        be[16..].copy_from_slice(&(2 * (headers + 1)).to_be_bytes());
        Work::from_be_bytes(be)
    };
    assert_eq!(reports, vec![(4500, work(4500), work(20_000))]);
    // While it ran, the first download reported its progress with an estimate of the tip.
    let progress: Vec<(u32, u32)> = sim
        .events(b)
        .filter_map(|e| match e {
            Event::PresyncProgress {
                height,
                estimated_height,
                ..
            } => Some((*height, *estimated_height)),
            _ => None,
        })
        .collect();
    assert!(!progress.is_empty());
    assert!(
        progress.iter().all(|(h, est)| *h % 2000 == 0 && est > h),
        "{progress:?}"
    );
    assert_eq!(sim.nodes[b].node.chain().len(), 1);
    // The same chain again (the peer announces its tip): asked for, refused, not reported.
    sim.raw_send(
        r,
        NetworkMessage::Inv(vec![
            headway_core::bitcoin::p2p::message_blockdata::Inventory::Block(
                fork[4499].block_hash(),
            ),
        ]),
    );
    sim.run_for(Duration::from_secs(5));
    assert!(sim.raw_getheaders(r).len() > 3, "a new round ran");
    let again = sim
        .events(b)
        .filter(|e| matches!(e, Event::LowWorkChain { .. }))
        .count();
    assert_eq!(again, 1);
}

#[test]
fn a_node_below_the_minimum_chain_work_serves_no_headers() {
    use headway_core::bitcoin::hashes::Hash;
    use headway_core::bitcoin::p2p::message_blockdata::GetHeadersMessage;
    let chain = mine(&genesis(), 4500, 1);
    let ask = |sim: &mut Sim, node: usize| {
        let r = sim.raw_negotiated(node, 77);
        sim.raw_send(
            r,
            NetworkMessage::GetHeaders(GetHeadersMessage {
                version: 70016,
                locator_hashes: vec![genesis().block_hash()],
                stop_hash: BlockHash::all_zeros(),
            }),
        );
        sim.run_for(Duration::from_secs(1));
        sim.raws[r]
            .received
            .iter()
            .filter_map(|m| match m {
                NetworkMessage::Headers(h) => Some(h.len()),
                _ => None,
            })
            .collect::<Vec<usize>>()
    };
    let mut sim = Sim::new();
    // Below: 100 headers where 4000 are needed; at it: 4500.
    let below = sim.add_node(node_on(1, params_needing(4000), &chain[..100]));
    let above = sim.add_node(node_on(2, params_needing(4000), &chain));
    assert_eq!(ask(&mut sim, below), vec![0], "an empty answer, as Core's");
    assert_eq!(ask(&mut sim, above), vec![2000]);
}
