//! Handshake and liveness of two cores wired together in memory on virtual time, and of a core
//! facing a scripted raw peer.

mod support;

use std::time::Duration;

use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::message_compact_blocks::SendCmpct;
use headway_core::{Config, DisconnectReason, Event, HeaderChain, Network, Node, Request};
use support::sim::{raw_version, Sim};

fn node(seed: u64) -> Node {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    Node::new(config, HeaderChain::new(Network::Regtest.params()))
}

fn negotiated(sim: &Sim, n: usize) -> usize {
    sim.events(n)
        .filter(|e| matches!(e, Event::PeerNegotiated { .. }))
        .count()
}

fn disconnect_reasons(sim: &Sim, n: usize) -> Vec<DisconnectReason> {
    sim.events(n)
        .filter_map(|e| match e {
            Event::PeerDisconnected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn two_cores_handshake_both_directions() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let b = sim.add_node(node(2));
    sim.connect(a, b);
    assert!(
        sim.run_until(Duration::from_secs(5), |s| negotiated(s, a) == 1
            && negotiated(s, b) == 1)
    );
    let dirs: Vec<_> = [a, b]
        .iter()
        .map(|&n| {
            sim.events(n)
                .find_map(|e| match e {
                    Event::PeerNegotiated {
                        direction,
                        version,
                        user_agent,
                        ..
                    } => Some((*direction, *version, user_agent.clone())),
                    _ => None,
                })
                .unwrap()
        })
        .collect();
    assert_eq!(dirs[0].0, headway_core::Direction::Outbound);
    assert_eq!(dirs[1].0, headway_core::Direction::Inbound);
    assert_eq!(dirs[0].1, 70016);
    assert!(dirs[0].2.starts_with("/headway:"));
}

#[test]
fn ping_every_two_minutes_is_answered_and_measured() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let b = sim.add_node(node(2));
    sim.connect(a, b);
    sim.run_for(Duration::from_secs(1));
    let pings = |s: &Sim| {
        s.events(a)
            .filter(|e| matches!(e, Event::PingMeasured { .. }))
            .count()
    };
    // One ping right after the handshake; the next one is due two minutes later.
    assert_eq!(pings(&sim), 1);
    sim.run_for(Duration::from_secs(118));
    assert_eq!(pings(&sim), 1);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(pings(&sim), 2);
    let rtt = sim.events(a).find_map(|e| match e {
        Event::PingMeasured { rtt, .. } => Some(*rtt),
        _ => None,
    });
    assert_eq!(rtt, Some(Duration::from_millis(40)), "two link latencies");
    sim.run_for(Duration::from_secs(30 * 60));
    assert!(
        disconnect_reasons(&sim, a).is_empty(),
        "peers answering pings stay connected"
    );
}

#[test]
fn peer_that_never_pongs_is_dropped_after_twenty_minutes() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_negotiated(a, 42);
    assert_eq!(negotiated(&sim, a), 1);
    assert!(sim.raws[r]
        .received
        .iter()
        .any(|m| matches!(m, NetworkMessage::Ping(_))));
    sim.run_for(Duration::from_secs(19 * 60 + 58));
    assert!(disconnect_reasons(&sim, a).is_empty());
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        disconnect_reasons(&sim, a),
        vec![DisconnectReason::PingTimeout(Duration::from_secs(1200))]
    );
    assert!(sim.raws[r].closed);
}

#[test]
fn pong_with_wrong_nonce_is_ignored() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_negotiated(a, 42);
    let nonce = sim.raws[r]
        .received
        .iter()
        .find_map(|m| match m {
            NetworkMessage::Ping(n) => Some(*n),
            _ => None,
        })
        .unwrap();
    sim.raw_send(r, NetworkMessage::Pong(nonce.wrapping_add(1)));
    sim.run_for(Duration::from_secs(1));
    assert!(!sim
        .events(a)
        .any(|e| matches!(e, Event::PingMeasured { .. })));
    sim.raw_send(r, NetworkMessage::Pong(nonce));
    sim.run_for(Duration::from_secs(1));
    assert!(sim
        .events(a)
        .any(|e| matches!(e, Event::PingMeasured { .. })));
}

#[test]
fn node_answers_pings_with_the_same_nonce() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_inbound(a);
    sim.raw_send(r, NetworkMessage::Version(raw_version(42, 70016, 0)));
    sim.raw_send(r, NetworkMessage::Verack);
    sim.raw_send(r, NetworkMessage::Ping(0xdead_beef));
    sim.run_for(Duration::from_secs(1));
    assert!(sim.raws[r]
        .received
        .contains(&NetworkMessage::Pong(0xdead_beef)));
}

#[test]
fn self_connection_is_detected_by_nonce() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    sim.connect(a, a);
    sim.run_for(Duration::from_secs(2));
    let reasons = disconnect_reasons(&sim, a);
    assert!(
        reasons.contains(&DisconnectReason::SelfConnection),
        "{reasons:?}"
    );
    assert_eq!(negotiated(&sim, a), 0);
}

#[test]
fn silent_peer_hits_the_handshake_timeout() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_inbound(a);
    sim.run_for(Duration::from_secs(59));
    assert!(disconnect_reasons(&sim, a).is_empty());
    sim.run_for(Duration::from_secs(2));
    assert_eq!(
        disconnect_reasons(&sim, a),
        vec![DisconnectReason::HandshakeTimeout(Duration::from_secs(60))]
    );
    assert!(sim.raws[r].closed);
}

#[test]
fn pre_verack_negotiation_messages_are_tolerated_and_others_ignored() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_inbound(a);
    // Before version: ignored, not an offence.
    sim.raw_send(r, NetworkMessage::Ping(1));
    sim.raw_send(r, NetworkMessage::Version(raw_version(42, 70016, 0)));
    sim.raw_send(r, NetworkMessage::WtxidRelay);
    sim.raw_send(r, NetworkMessage::SendAddrV2);
    sim.raw_send(r, NetworkMessage::SendHeaders);
    sim.raw_send(
        r,
        NetworkMessage::SendCmpct(SendCmpct {
            send_compact: false,
            version: 2,
        }),
    );
    sim.raw_send(
        r,
        NetworkMessage::Unknown {
            command: headway_core::bitcoin::p2p::message::CommandString::try_from_static(
                "sendtxrcncl",
            )
            .unwrap(),
            payload: vec![0; 12],
        },
    );
    sim.raw_send(r, NetworkMessage::GetAddr);
    // A second version is ignored.
    sim.raw_send(r, NetworkMessage::Version(raw_version(43, 70016, 0)));
    sim.raw_send(r, NetworkMessage::Verack);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(negotiated(&sim, a), 1);
    assert!(disconnect_reasons(&sim, a).is_empty());
    let got = &sim.raws[r].received;
    // Inbound: our version answers theirs, then wtxidrelay, sendaddrv2 and verack.
    assert!(matches!(got[0], NetworkMessage::Version(_)), "{got:?}");
    assert_eq!(got[1], NetworkMessage::WtxidRelay);
    assert_eq!(got[2], NetworkMessage::SendAddrV2);
    assert_eq!(got[3], NetworkMessage::Verack);
    assert!(
        !got.iter().any(|m| matches!(m, NetworkMessage::Pong(1))),
        "ping before version is ignored"
    );
}

#[test]
fn obsolete_peer_is_refused() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_inbound(a);
    sim.raw_send(r, NetworkMessage::Version(raw_version(42, 31799, 0)));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        disconnect_reasons(&sim, a),
        vec![DisconnectReason::ObsoleteVersion(31799)]
    );
}

#[test]
fn wrong_magic_disconnects_with_a_wire_reason() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_inbound(a);
    let mainnet = Network::Mainnet.params().magic;
    sim.raw_send_bytes(
        r,
        headway_core::wire::encode(mainnet, NetworkMessage::Verack),
    );
    sim.run_for(Duration::from_secs(1));
    let reasons = disconnect_reasons(&sim, a);
    assert!(
        matches!(reasons.as_slice(), [DisconnectReason::Wire(_)]),
        "{reasons:?}"
    );
    assert!(sim
        .events(a)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. })));
}

#[test]
fn persistent_peer_is_redialled_with_backoff_and_shutdown_completes() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let b = sim.add_node(node(2));
    sim.connect(a, b);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(negotiated(&sim, a), 1);
    // b drops every connection.
    sim.request(b, Request::Shutdown);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.events(b).any(|e| *e == Event::ShutdownComplete));
    // b is gone from the network; a keeps redialling with growing waits.
    sim.nodes[b].addr = "10.0.0.250:1".parse().unwrap();
    sim.run_for(Duration::from_secs(60));
    let waits: Vec<Duration> = sim
        .events(a)
        .filter_map(|e| match e {
            Event::ConnectFailed { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .collect();
    assert!(waits.len() >= 2, "{waits:?}");
    assert!(
        waits.windows(2).all(|w| w[1] > w[0]),
        "backoff grows: {waits:?}"
    );
    sim.request(a, Request::Shutdown);
    assert!(sim.events(a).any(|e| *e == Event::ShutdownComplete));
}

#[test]
fn misbehaving_address_is_discouraged_but_loopback_is_not() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let mainnet = Network::Mainnet.params().magic;
    for ip in ["10.7.7.7", "127.0.0.1"] {
        let r = sim.raw_inbound_from(a, format!("{ip}:5000").parse().unwrap());
        sim.raw_send_bytes(
            r,
            headway_core::wire::encode(mainnet, NetworkMessage::Verack),
        );
        sim.run_for(Duration::from_secs(1));
        assert!(sim.raws[r].closed);
    }
    let again = sim.raw_inbound_from(a, "10.7.7.7:5001".parse().unwrap());
    let local = sim.raw_inbound_from(a, "127.0.0.1:5001".parse().unwrap());
    sim.run_for(Duration::from_secs(1));
    assert!(
        sim.raws[again].closed,
        "the misbehaving address may not come back"
    );
    assert!(
        !sim.raws[local].closed,
        "loopback peers are never discouraged"
    );
    assert_eq!(
        disconnect_reasons(&sim, a).last(),
        Some(&DisconnectReason::Discouraged)
    );
    // A day later the address may connect again.
    sim.run_for(Duration::from_secs(24 * 3600));
    let later = sim.raw_inbound_from(a, "10.7.7.7:5002".parse().unwrap());
    sim.run_for(Duration::from_millis(10));
    assert!(!sim.raws[later].closed);
}
