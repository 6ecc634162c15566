//! Keeping good peers, on virtual time: an outbound peer that stays behind our tip is replaced
//! while a quiet but current one stays (Core's `ConsiderEviction`), a stale tip opens one extra
//! outbound slot that closes again once the tip moves, a full inbound side evicts the youngest
//! peer of the most crowded network group, and a peer that claims less than we hold is not
//! made the sync peer.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use headway_core::addrbook::{netgroup, AddrBook, AddrBookKey, KnownAddr, StoredAddrBook};
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::bitcoin::Work;
use headway_core::rng::SecretRng;
use headway_core::{Config, DisconnectReason, Event, HeaderChain, Network, Node, SecretSeed, Time};
use support::fixtures::node_on;
use support::mine::mine;
use support::sim::{raw_version, Sim};

fn discovering(seed: u64, max_outbound: usize) -> Node {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    config.secret_seed = SecretSeed::from_bytes([seed as u8; 32]);
    config.max_outbound = max_outbound;
    Node::new(config, HeaderChain::new(Network::Regtest.params()))
}

/// A node that serves `best` and takes nothing from others: discovery off.
fn quiet(seed: u64, best: &[headway_core::bitcoin::block::Header]) -> Node {
    let node = node_on(seed, Network::Regtest.params(), best);
    let mut config = node.config().clone();
    config.discovery = false;
    Node::new(config, node.chain().clone())
}

fn book(addrs: &[SocketAddr], now: Time) -> StoredAddrBook {
    let mut book = AddrBook::new(AddrBookKey::from_bytes([5; 32]), true);
    let mut rng = SecretRng::from_seed(&SecretSeed::from_bytes([6; 32]));
    for sa in addrs {
        let (addr, port) = netgroup::from_socket(*sa);
        let c = KnownAddr {
            addr: addr.clone(),
            port,
            services: ServiceFlags::NETWORK,
            time: (now.as_secs() - 60) as u32,
        };
        book.add(&[c], &addr, 0, now, &mut rng);
    }
    let change = book.take_change();
    StoredAddrBook {
        key: change.key,
        records: change.upsert,
    }
}

fn reasons_for(sim: &Sim, n: usize, addr: SocketAddr) -> Vec<DisconnectReason> {
    sim.events(n)
        .filter_map(|e| match e {
            Event::PeerDisconnected {
                addr: a, reason, ..
            } if *a == addr => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn connected_to(sim: &Sim, n: usize, addr: SocketAddr) -> bool {
    sim.nodes[n]
        .node
        .peers()
        .any(|(_, a, negotiated)| a == addr && negotiated)
}

#[test]
fn an_outbound_peer_behind_our_tip_is_replaced_and_a_quiet_current_one_stays() {
    let mut sim = Sim::new();
    let now = sim.now;
    let chain = mine(&Network::Regtest.params().genesis, 50, 1);
    let fork = mine(&Network::Regtest.params().genesis, 10, 2);
    let a = sim.add_node(quiet(1, &chain));
    let c = sim.add_node(quiet(3, &chain));
    // The laggard keeps its own light fork: a minimum chain work no chain here reaches makes
    // it screen our chain forever without taking it.
    let lag = {
        let node = node_on(2, Network::Regtest.params(), &fork);
        let mut config = node.config().clone();
        config.discovery = false;
        config.minimum_chain_work = Some(Work::from_be_bytes([0x7f; 32]));
        sim.add_node(Node::new(config, node.chain().clone()))
    };
    let addrs = [sim.nodes[a].addr, sim.nodes[c].addr, sim.nodes[lag].addr];
    let mut node = discovering(9, 8);
    node.restore_addr_book(book(&addrs, now));
    let n = sim.add_node(node);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.nodes[n].node.chain().tip_height(), 50);
    assert!(addrs.iter().all(|x| connected_to(&sim, n, *x)));

    // 20 minutes to catch up, then a last getheaders and 2 minutes to answer it.
    sim.run_for(Duration::from_secs(19 * 60));
    assert!(
        connected_to(&sim, n, sim.nodes[lag].addr),
        "not before its time"
    );
    sim.run_for(Duration::from_secs(5 * 60));
    assert!(
        reasons_for(&sim, n, sim.nodes[lag].addr).contains(&DisconnectReason::BehindOurTip),
        "{:?}",
        reasons_for(&sim, n, sim.nodes[lag].addr)
    );
    for current in [sim.nodes[a].addr, sim.nodes[c].addr] {
        assert!(reasons_for(&sim, n, current).is_empty(), "{current} stays");
        assert!(connected_to(&sim, n, current));
    }
}

#[test]
fn a_stale_tip_opens_one_extra_outbound_slot_until_the_tip_moves() {
    let mut sim = Sim::new();
    let now = sim.now;
    let targets: Vec<usize> = (0..10).map(|i| sim.add_node(quiet(10 + i, &[]))).collect();
    let addrs: Vec<SocketAddr> = targets.iter().map(|t| sim.nodes[*t].addr).collect();
    let mut node = discovering(9, 8);
    node.restore_addr_book(book(&addrs, now));
    let n = sim.add_node(node);
    let outbound = |sim: &Sim| {
        sim.nodes[n]
            .node
            .peers()
            .filter(|(_, a, ok)| *ok && addrs.contains(a))
            .count()
    };
    sim.run_for(Duration::from_secs(60));
    assert_eq!(outbound(&sim), 8);
    // Regtest's blocks are 10 minutes apart: 30 minutes without a new tip is stale, seen at
    // the next 10-minute check.
    sim.run_for(Duration::from_secs(30 * 60));
    assert_eq!(outbound(&sim), 8, "not stale yet");
    sim.run_for(Duration::from_secs(11 * 60));
    assert_eq!(outbound(&sim), 9, "one extra peer for a stale tip");
    assert!(
        sim.nodes[n]
            .node
            .next_deadline()
            .is_none_or(|t| t > sim.now),
        "no timer left due"
    );

    // A peer brings a new tip: at the next check the extra slot closes and one outbound goes.
    let chain = mine(&Network::Regtest.params().genesis, 3, 4);
    let r = sim.raw_inbound(n);
    sim.raw_send(r, NetworkMessage::Version(raw_version(77, 70016, 3)));
    sim.raw_send(r, NetworkMessage::Verack);
    sim.raw_send(r, NetworkMessage::Headers(chain));
    sim.run_for(Duration::from_secs(11 * 60));
    assert_eq!(sim.nodes[n].node.chain().tip_height(), 3);
    assert_eq!(outbound(&sim), 8);
    let extra = sim
        .events(n)
        .filter(|e| {
            matches!(
                e,
                Event::PeerDisconnected {
                    reason: DisconnectReason::ExtraOutbound,
                    ..
                }
            )
        })
        .count();
    assert_eq!(extra, 1);
    // After a shutdown no timer of the stale-tip check is left behind.
    sim.request(n, headway_core::Request::Shutdown);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.events(n).any(|e| *e == Event::ShutdownComplete));
    assert_eq!(sim.nodes[n].node.next_deadline(), None);
}

#[test]
fn a_full_inbound_side_evicts_the_youngest_of_the_most_crowded_group() {
    let mut sim = Sim::new();
    let mut config = Config::new(Network::Regtest);
    config.max_inbound = 30;
    config.discovery = false;
    let n = sim.add_node(Node::new(
        config,
        HeaderChain::new(Network::Regtest.params()),
    ));
    let mut attackers = Vec::new();
    for i in 0..30u8 {
        // Ten honest peers in ten /16s, then twenty from one /16.
        let ip = if i < 10 {
            Ipv4Addr::new(20 + i, 1, 1, 1)
        } else {
            Ipv4Addr::new(66, 6, 1, i)
        };
        let addr = SocketAddr::new(IpAddr::V4(ip), 5000);
        let r = sim.raw_inbound_from(n, addr);
        sim.raw_send(
            r,
            NetworkMessage::Version(raw_version(100 + u64::from(i), 70016, 0)),
        );
        sim.raw_send(r, NetworkMessage::Verack);
        sim.run_for(Duration::from_secs(1));
        if i >= 10 {
            attackers.push(addr);
        }
    }
    assert_eq!(sim.nodes[n].node.peers().count(), 30);
    let newcomer: SocketAddr = "77.7.7.7:5000".parse().unwrap();
    sim.raw_inbound_from(n, newcomer);
    sim.run_for(Duration::from_secs(1));
    let evicted: Vec<SocketAddr> = sim
        .events(n)
        .filter_map(|e| match e {
            Event::PeerDisconnected {
                addr,
                reason: DisconnectReason::EvictedInbound,
                ..
            } => Some(*addr),
            _ => None,
        })
        .collect();
    // The youngest attacker goes; every honest peer and the newcomer stay.
    assert_eq!(evicted, [*attackers.last().unwrap()]);
    assert!(sim.nodes[n].node.peers().any(|(_, a, _)| a == newcomer));
    assert_eq!(sim.nodes[n].node.peers().count(), 30);
}

#[test]
fn a_sync_peer_that_claims_less_than_we_hold_gives_way_to_one_that_claims_more() {
    let mut sim = Sim::new();
    let chain = mine(&Network::Regtest.params().genesis, 25, 1);
    let node = node_on(1, Network::Regtest.params(), &chain[..20]);
    let mut config = node.config().clone();
    config.discovery = false;
    let n = sim.add_node(Node::new(config, node.chain().clone()));
    // Alone, a peer at 10 is asked (how initial sync ends when every peer is behind us), but
    // it never answers.
    let low = sim.raw_inbound(n);
    sim.raw_send(low, NetworkMessage::Version(raw_version(5, 70016, 10)));
    sim.raw_send(low, NetworkMessage::Verack);
    sim.run_for(Duration::from_secs(1));
    // A peer at 25 arrives: it takes over at once, not after the laggard's 60 s timeout.
    let high = sim.raw_serving(n, 6, &chain, Duration::ZERO);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.nodes[n].node.chain().tip_height(), 25);
    assert!(sim
        .events(n)
        .any(|e| matches!(e, Event::Synced { height: 25, .. })));
    let asked = |sim: &Sim, r: usize| {
        sim.raws[r]
            .received
            .iter()
            .filter(|m| matches!(m, NetworkMessage::GetHeaders(_)))
            .count()
    };
    assert!(asked(&sim, high) >= 1);
    assert_eq!(asked(&sim, low), 1, "the laggard was asked once, alone");
}
