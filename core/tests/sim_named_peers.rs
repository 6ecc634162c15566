//! Peers by name through a proxy, on virtual time (the sim plays the proxy: a name it knows
//! leads to one of its nodes): behind a proxy a DNS seed is connected to by name and asked
//! for addresses instead of being resolved; an onion service from the address book is
//! dialled by its `.onion` name, and only when onion is reachable; `--onlynet` keeps
//! automatic connections off the networks it leaves out.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use headway_core::addrbook::names::onion_name;
use headway_core::addrbook::{AddrBook, AddrBookKey, KnownAddr, StoredAddrBook};
use headway_core::bitcoin::p2p::address::AddrV2;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::node::named_peers::{identity, is_stand_in};
use headway_core::rng::SecretRng;
use headway_core::{Config, Event, HeaderChain, Network, Node, Reachable, SecretSeed, Time};
use support::sim::Sim;

fn config(seeds: &[&str]) -> Config {
    let mut config = Config::new(Network::Regtest);
    config.seed = 7;
    config.secret_seed = SecretSeed::from_bytes([7; 32]);
    config.dns_seeds = seeds.iter().map(|s| s.to_string()).collect();
    config
}

fn node(config: Config) -> Node {
    Node::new(config, HeaderChain::new(Network::Regtest.params()))
}

/// A stored book holding `addrs`.
fn book(addrs: &[(AddrV2, u16)], now: Time) -> StoredAddrBook {
    let mut book = AddrBook::new(AddrBookKey::from_bytes([9; 32]), true);
    let mut rng = SecretRng::from_seed(&SecretSeed::from_bytes([3; 32]));
    for (addr, port) in addrs {
        let c = KnownAddr {
            addr: addr.clone(),
            port: *port,
            services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
            time: (now.as_secs() - 3600) as u32,
        };
        book.add(&[c], &AddrV2::Ipv4([1, 2, 3, 4].into()), 0, now, &mut rng);
    }
    let change = book.take_change();
    StoredAddrBook {
        key: change.key,
        records: change.upsert,
    }
}

#[test]
fn behind_a_proxy_a_seed_is_asked_by_name_and_never_resolved() {
    let mut sim = Sim::new();
    let mut c = config(&["seed.example"]);
    c.seeds_by_name = true;
    let a = sim.add_node(node(c));
    let seed = sim.add_node(node(config(&[])));
    sim.named.insert("seed.example".into(), seed);
    sim.run_for(Duration::from_secs(30));
    assert!(
        sim.nodes[a].resolved.is_empty(),
        "{:?}",
        sim.nodes[a].resolved
    );
    // The seed's own name (not x9.), once, at the network's port.
    assert_eq!(sim.nodes[a].dialled_names, vec!["seed.example".to_string()]);
    let stand_in = identity("seed.example", Network::Regtest.params().default_port);
    assert_eq!(sim.nodes[a].dialled, vec![stand_in]);
    assert!(is_stand_in(&stand_in));
    let negotiated: Vec<SocketAddr> = sim
        .events(a)
        .filter_map(|e| match e {
            Event::PeerNegotiated { addr, .. } => Some(*addr),
            _ => None,
        })
        .collect();
    assert_eq!(negotiated, vec![stand_in], "an addr-fetch with the seed");

    // Without a proxy the same seed is resolved, never dialled by name.
    let mut sim = Sim::new();
    let a = sim.add_node(node(config(&["seed.example"])));
    sim.run_for(Duration::from_secs(30));
    assert_eq!(
        sim.nodes[a].resolved.first().map(String::as_str),
        Some("x9.seed.example")
    );
    assert!(sim.nodes[a].dialled_names.is_empty());
}

#[test]
fn an_onion_service_is_dialled_by_name_only_when_onion_is_reachable() {
    let now = Time::from_secs(1_700_000_000);
    let onion = AddrV2::TorV3([0x42; 32]);
    let name = onion_name(&[0x42; 32]);
    for onion_on in [true, false] {
        let mut sim = Sim::new();
        let mut c = config(&[]);
        c.reachable = Reachable {
            ipv4: false,
            ipv6: false,
            onion: onion_on,
        };
        let mut n = node(c);
        n.restore_addr_book(book(
            &[
                (onion.clone(), 8333),
                (AddrV2::Ipv4([10, 1, 1, 1].into()), 18444),
            ],
            now,
        ));
        let a = sim.add_node(n);
        sim.run_for(Duration::from_secs(10));
        if onion_on {
            assert!(
                sim.nodes[a].dialled_names.contains(&name),
                "{:?}",
                sim.nodes[a].dialled_names
            );
            assert!(sim.nodes[a].dialled.contains(&identity(&name, 8333)));
        } else {
            assert!(sim.nodes[a].dialled_names.is_empty());
        }
        // onlynet=onion (or nothing): the IPv4 entry is never dialled.
        assert!(
            !sim.nodes[a]
                .dialled
                .contains(&"10.1.1.1:18444".parse().unwrap()),
            "{:?}",
            sim.nodes[a].dialled
        );
    }
}

#[test]
fn the_default_reachable_networks_dial_ipv4_and_not_onion() {
    let now = Time::from_secs(1_700_000_000);
    let mut sim = Sim::new();
    let mut n = node(config(&[]));
    n.restore_addr_book(book(
        &[
            (AddrV2::TorV3([0x43; 32]), 8333),
            (AddrV2::Ipv4([10, 1, 1, 1].into()), 18444),
        ],
        now,
    ));
    let a = sim.add_node(n);
    sim.run_for(Duration::from_secs(10));
    assert!(sim.nodes[a]
        .dialled
        .contains(&"10.1.1.1:18444".parse().unwrap()));
    assert!(sim.nodes[a].dialled_names.is_empty());
}
