//! Peer discovery on virtual time: DNS seeding and its timing, the fixed-seed fallback, the
//! automatic outbound slots and their network-group diversity, feelers, seed nodes, address
//! gossip under a flood, and the address book's round trip through the store's records.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use headway_core::addrbook::{
    netgroup, AddrBook, AddrBookChange, AddrBookKey, KnownAddr, StoredAddrBook,
};
use headway_core::bitcoin::p2p::address::{AddrV2Message, Address};
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::rng::SecretRng;
use headway_core::{Config, DisconnectReason, Event, HeaderChain, Network, Node, SecretSeed, Time};
use support::sim::{raw_version, Sim};

fn config(network: Network, seeds: &[&str]) -> Config {
    let mut config = Config::new(network);
    config.seed = 7;
    config.secret_seed = SecretSeed::from_bytes([7; 32]);
    config.dns_seeds = seeds.iter().map(|s| s.to_string()).collect();
    config
}

fn node_with(config: Config) -> Node {
    let params = config.network.params();
    Node::new(config, HeaderChain::new(params))
}

/// `n` routable IPv4 addresses, each in a /16 of its own.
fn spread_ips(n: u8, first: u8) -> Vec<IpAddr> {
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(first, i, 1, 1)))
        .collect()
}

/// A stored book holding `addrs`, each announced by itself, `tried` of them tried. Two
/// addresses may land in the same slot (Core's buckets), so it may hold a few less.
fn stored_book(addrs: &[SocketAddr], tried: usize, local: bool, now: Time) -> StoredAddrBook {
    let mut book = AddrBook::new(AddrBookKey::from_bytes([9; 32]), local);
    let mut rng = SecretRng::from_seed(&SecretSeed::from_bytes([3; 32]));
    for sa in addrs {
        let (addr, port) = netgroup::from_socket(*sa);
        let c = KnownAddr {
            addr: addr.clone(),
            port,
            services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
            time: (now.as_secs() - 3600) as u32,
        };
        book.add(&[c], &addr, 0, now, &mut rng);
    }
    for sa in addrs.iter().take(tried) {
        let (addr, port) = netgroup::from_socket(*sa);
        book.good(&addr, port, now);
    }
    let change = book.take_change();
    StoredAddrBook {
        key: change.key,
        records: change.upsert,
    }
}

fn group16(addr: &SocketAddr) -> [u8; 2] {
    match addr.ip() {
        IpAddr::V4(ip) => [ip.octets()[0], ip.octets()[1]],
        IpAddr::V6(_) => [0, 0],
    }
}

fn event_times(sim: &Sim, n: usize, mut pick: impl FnMut(&Event) -> bool) -> Vec<Time> {
    sim.nodes[n]
        .events
        .iter()
        .filter(|(_, e)| pick(e))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn an_empty_book_asks_every_seed_at_once_and_dials_eight_groups_from_the_answers() {
    let mut sim = Sim::new();
    let start = sim.now;
    let a_ips = spread_ips(30, 20);
    let b_ips = spread_ips(5, 60);
    sim.dns.insert("x9.a.test".into(), a_ips.clone());
    sim.dns.insert("b.test".into(), b_ips.clone());
    for ip in a_ips.iter().chain(&b_ips) {
        sim.dead_addrs.push(SocketAddr::new(*ip, 8333));
    }
    let n = sim.add_node(node_with(config(
        Network::Mainnet,
        &["a.test", "b.test", "c.test", "d.test"],
    )));
    sim.run_for(Duration::from_secs(2));

    let asked = &sim.nodes[n].resolved;
    assert_eq!(
        asked[..3],
        ["x9.a.test", "x9.b.test", "x9.c.test"],
        "three seeds at once, filtered names first"
    );
    let position = |h: &str| asked.iter().position(|a| a == h);
    assert!(
        position("b.test") > position("x9.b.test"),
        "bare name after x9: {asked:?}"
    );
    assert!(
        position("a.test").is_none(),
        "x9.a.test answered: no bare lookup"
    );
    assert!(position("x9.d.test").is_some() && position("d.test").is_some());
    let seeded = event_times(&sim, n, |e| matches!(e, Event::SeedResolved { .. }));
    assert!(
        seeded.iter().all(|t| *t == start),
        "no wait with an empty book"
    );

    let dialled = &sim.nodes[n].dialled;
    assert_eq!(dialled.len(), 8, "eight automatic slots: {dialled:?}");
    let groups: BTreeSet<[u8; 2]> = dialled.iter().map(group16).collect();
    assert_eq!(groups.len(), 8, "one per /16");
    assert!(dialled
        .iter()
        .all(|d| d.port() == 8333 && (a_ips.contains(&d.ip()) || b_ips.contains(&d.ip()))));
    assert!(sim.events(n).any(|e| *e
        == Event::SeedingFinished {
            skipped: false,
            addresses: 35
        }));
}

#[test]
fn automatic_slots_take_one_address_per_network_group() {
    let mut sim = Sim::new();
    let now = sim.now;
    // Forty addresses in four /16s: only four slots can be used.
    let addrs: Vec<SocketAddr> = (0..40u8)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(30 + i % 4, 7, i, 1)), 8333))
        .collect();
    sim.dead_addrs.extend(addrs.iter().copied());
    let mut node = node_with(config(Network::Mainnet, &[]));
    assert_eq!(
        node.restore_addr_book(stored_book(&addrs, 0, false, now)),
        0
    );
    assert!(node.addr_book().len() > 30);
    let n = sim.add_node(node);
    sim.run_for(Duration::from_secs(30));
    let dialled: BTreeSet<SocketAddr> = sim.nodes[n].dialled.iter().copied().collect();
    let groups: BTreeSet<[u8; 2]> = dialled.iter().map(group16).collect();
    assert_eq!(dialled.len(), 4, "{dialled:?}");
    assert_eq!(groups.len(), 4);
}

#[test]
fn the_fixed_seeds_come_when_dns_gives_nothing_for_a_minute() {
    let mut sim = Sim::new();
    let start = sim.now;
    let n = sim.add_node(node_with(config(Network::Mainnet, &["silent.test"])));
    sim.run_for(Duration::from_secs(59));
    assert!(
        sim.nodes[n].dialled.is_empty(),
        "nothing to dial before the fallback"
    );
    assert_eq!(sim.nodes[n].resolved, ["x9.silent.test", "silent.test"]);
    sim.run_for(Duration::from_secs(3));
    let added = sim.nodes[n].events.iter().find_map(|(t, e)| match e {
        Event::FixedSeedsAdded { count } => Some((*t, *count)),
        _ => None,
    });
    let (at, count) = added.expect("fixed seeds added");
    assert_eq!(at, start + Duration::from_secs(60));
    assert!(count > 500, "{count} fixed seeds taken");
    let fixed: BTreeSet<SocketAddr> = headway_core::seeds::fixed_seeds(Network::Mainnet)
        .into_iter()
        .filter_map(|(a, p)| netgroup::to_socket(&a, p))
        .collect();
    let dialled = &sim.nodes[n].dialled;
    assert!(!dialled.is_empty());
    assert!(dialled.iter().all(|d| fixed.contains(d)), "{dialled:?}");
}

#[test]
fn a_known_book_waits_before_seeding_and_two_outbound_peers_skip_it() {
    // A book with two live peers: they are dialled at once, and seeding is skipped.
    let mut sim = Sim::new();
    let now = sim.now;
    let a = sim.add_node(node_with(config(Network::Regtest, &[])));
    let b = sim.add_node(node_with(config(Network::Regtest, &[])));
    let peers = [sim.nodes[a].addr, sim.nodes[b].addr];
    let mut node = node_with(config(Network::Regtest, &["seed.test"]));
    node.restore_addr_book(stored_book(&peers, 0, true, now));
    let n = sim.add_node(node);
    sim.run_for(Duration::from_secs(30));
    assert!(
        sim.nodes[n].resolved.is_empty(),
        "{:?}",
        sim.nodes[n].resolved
    );
    assert!(sim
        .events(n)
        .any(|e| matches!(e, Event::SeedingFinished { skipped: true, .. })));
    let outbound = sim.nodes[n].node.peers().filter(|(_, _, ok)| *ok).count();
    assert_eq!(outbound, 2);
    // Both are now tried: the handshake proved them.
    assert_eq!(sim.nodes[n].node.addr_book().tried_len(), 2);

    // A book whose only address is dead: the seeds are asked after 11 s, not before.
    let mut sim = Sim::new();
    let start = sim.now;
    let dead: SocketAddr = "10.9.9.9:18444".parse().unwrap();
    sim.dead_addrs.push(dead);
    let mut node = node_with(config(Network::Regtest, &["seed.test"]));
    node.restore_addr_book(stored_book(&[dead], 0, true, start));
    let n = sim.add_node(node);
    sim.run_for(Duration::from_secs(20));
    let seeded = event_times(&sim, n, |e| matches!(e, Event::SeedResolved { .. }));
    assert_eq!(seeded.first(), Some(&(start + Duration::from_secs(11))));
}

#[test]
fn a_feeler_tests_a_new_address_once_the_slots_are_full_and_promotes_it() {
    let mut sim = Sim::new();
    let now = sim.now;
    let mut cfg = config(Network::Regtest, &[]);
    cfg.max_outbound = 2;
    let targets: Vec<usize> = (0..3)
        .map(|_| sim.add_node(node_with(config(Network::Regtest, &[]))))
        .collect();
    let addrs: Vec<SocketAddr> = targets.iter().map(|t| sim.nodes[*t].addr).collect();
    let mut node = node_with(cfg);
    node.restore_addr_book(stored_book(&addrs, 0, true, now));
    let n = sim.add_node(node);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        sim.nodes[n].node.addr_book().tried_len(),
        2,
        "two slots filled"
    );
    sim.run_for(Duration::from_secs(2 * 60));
    let feelers = sim
        .events(n)
        .filter(|e| {
            matches!(
                e,
                Event::PeerDisconnected {
                    reason: DisconnectReason::FeelerDone,
                    ..
                }
            )
        })
        .count();
    assert_eq!(feelers, 1);
    assert_eq!(
        sim.nodes[n].node.addr_book().tried_len(),
        3,
        "the feeler promoted it"
    );
    assert_eq!(sim.nodes[n].node.addr_book().new_len(), 0);
}

/// A raw inbound peer that completed the handshake, having sent sendaddrv2 if `v2`.
fn gossiping_peer(sim: &mut Sim, n: usize, v2: bool) -> usize {
    let r = sim.raw_inbound(n);
    sim.raw_send(r, NetworkMessage::Version(raw_version(42, 70016, 0)));
    if v2 {
        sim.raw_send(r, NetworkMessage::SendAddrV2);
    }
    sim.raw_send(r, NetworkMessage::Verack);
    sim.run_for(Duration::from_secs(1));
    r
}

fn addr_list(n: u32, now: Time) -> Vec<(u32, Address)> {
    (0..n)
        .map(|i| {
            let [a, b, c, d] = i.to_be_bytes();
            let sa = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(11 + a, b, c, d)), 18444);
            (
                (now.as_secs() - 60) as u32,
                Address::new(&sa, ServiceFlags::NETWORK),
            )
        })
        .collect()
}

#[test]
fn an_addr_flood_is_rate_limited_and_an_oversized_message_is_misbehaviour() {
    let mut sim = Sim::new();
    let n = sim.add_node(node_with(config(Network::Regtest, &[])));
    let r = gossiping_peer(&mut sim, n, false);
    let now = sim.now;
    // 100,000 addresses within a second: one token to start, 0.1 a second after.
    for chunk in 0..100 {
        let list = addr_list(1000, now)
            .into_iter()
            .map(|(t, mut a)| {
                a.address[6] = chunk;
                (t, a)
            })
            .collect();
        sim.raw_send_bytes_after(
            r,
            headway_core::wire::encode(Network::Regtest.params().magic, NetworkMessage::Addr(list)),
            Duration::from_millis(chunk as u64 * 10),
        );
    }
    sim.run_for(Duration::from_secs(2));
    let book = sim.nodes[n].node.addr_book();
    assert!(
        book.len() <= 2,
        "{} addresses kept from a flood",
        book.len()
    );
    assert!(sim.nodes[n].node.buffered(sim_peer(&sim, n)).unwrap_or(0) < 200_000);
    assert!(
        !sim.raws[r].closed,
        "a rate-limited flood is not misbehaviour"
    );

    sim.raw_send(r, NetworkMessage::Addr(addr_list(1001, now)));
    sim.run_for(Duration::from_secs(1));
    assert!(sim.raws[r].closed);
    assert!(sim.events(n).any(|e| matches!(
        e,
        Event::PeerMisbehaved {
            reason: DisconnectReason::TooManyAddresses(1001),
            ..
        }
    )));
}

/// The node's id for its one peer.
fn sim_peer(sim: &Sim, n: usize) -> headway_core::PeerId {
    sim.nodes[n]
        .node
        .peers()
        .next()
        .map(|(id, _, _)| id)
        .expect("a peer")
}

#[test]
fn getaddr_is_answered_once_per_inbound_connection_with_a_quarter_of_the_book() {
    let mut sim = Sim::new();
    let now = sim.now;
    let addrs: Vec<SocketAddr> = (0..100u8)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(40, i, 0, 1)), 18444))
        .collect();
    let mut cfg = config(Network::Regtest, &[]);
    cfg.discovery = false;
    let mut node = node_with(cfg);
    node.restore_addr_book(stored_book(&addrs, 0, true, now));
    let held = node.addr_book().len();
    assert!(held > 90, "{held}");
    let n = sim.add_node(node);
    let r = gossiping_peer(&mut sim, n, true);
    sim.raw_send(r, NetworkMessage::GetAddr);
    sim.raw_send(r, NetworkMessage::GetAddr);
    sim.run_for(Duration::from_secs(1));
    let answers: Vec<Vec<AddrV2Message>> = sim.raws[r]
        .received
        .iter()
        .filter_map(|m| match m {
            NetworkMessage::AddrV2(list) => Some(list.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "one answer per connection");
    assert_eq!(answers[0].len(), held * 23 / 100);
    assert!(answers[0]
        .iter()
        .all(|m| addrs.contains(&netgroup::to_socket(&m.addr, m.port).unwrap())));
    // A second connection gets the same cached sample, not a fresh quarter of the book.
    let r2 = gossiping_peer(&mut sim, n, true);
    sim.raw_send(r2, NetworkMessage::GetAddr);
    sim.run_for(Duration::from_secs(1));
    let second = sim.raws[r2].received.iter().find_map(|m| match m {
        NetworkMessage::AddrV2(list) => Some(list.clone()),
        _ => None,
    });
    assert_eq!(second.as_ref(), Some(&answers[0]));
}

#[test]
fn a_seed_node_fills_the_book_which_survives_a_restart() {
    let mut sim = Sim::new();
    let now = sim.now;
    let addrs: Vec<SocketAddr> = (0..100u8)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(50, i, 0, 1)), 18444))
        .collect();
    let mut seed_cfg = config(Network::Regtest, &[]);
    seed_cfg.discovery = false;
    let mut seed = node_with(seed_cfg);
    seed.restore_addr_book(stored_book(&addrs, 0, true, now));
    let held = seed.addr_book().len();
    let s = sim.add_node(seed);
    sim.dead_addrs.extend(addrs.iter().copied());
    let mut cfg = config(Network::Regtest, &[]);
    cfg.seed_nodes = vec![sim.nodes[s].addr];
    let n = sim.add_node(node_with(cfg));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.events(n).any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::AddrFetchDone,
            ..
        }
    )));
    let learned = sim.nodes[n].node.addr_book().len();
    assert_eq!(learned, held * 23 / 100, "the seed node's answer");
    // Its slots go to the learned addresses, one per group.
    assert!(
        sim.nodes[n].dialled.len() >= 9,
        "{:?}",
        sim.nodes[n].dialled
    );

    sim.run_for(Duration::from_secs(60));
    let changes: &[AddrBookChange] = &sim.nodes[n].addr_changes;
    assert!(!changes.is_empty(), "the book was handed to the store");
    // Replay the changes as the store would, and restore a new node from them.
    let mut key = None;
    let mut records = std::collections::BTreeMap::new();
    for c in changes {
        if c.key.is_some() {
            key = c.key.clone();
        }
        for k in &c.remove {
            records.remove(k);
        }
        for r in &c.upsert {
            records.insert(r.key.clone(), r.clone());
        }
    }
    let stored = StoredAddrBook {
        key,
        records: records.into_values().collect(),
    };
    let mut again = node_with(config(Network::Regtest, &[]));
    assert_eq!(again.restore_addr_book(stored), 0);
    let summary = |node: &Node| {
        node.addr_book()
            .entries()
            .map(|e| (format!("{:?}:{}", e.addr, e.port), e.attempts, e.in_tried))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&again), summary(&sim.nodes[n].node));
}
