//! Handshake and liveness of two cores wired together in memory on virtual time, and of a core
//! facing a scripted raw peer.

mod support;

use std::time::Duration;

use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::message_compact_blocks::SendCmpct;
use headway_core::wire::WireError;
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
    sim.disconnect_reasons(n)
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
    sim.raw_send(r, NetworkMessage::Version(raw_version(42, 70016, 0)));
    // Before verack: ignored, not an offence.
    sim.raw_send(r, NetworkMessage::Ping(1));
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
        "ping before verack is ignored"
    );
}

#[test]
fn with_v2_off_inbound_v2_openings_are_closed_without_penalty_and_may_retry_with_v1() {
    // What Core v27+ sends first on a v2 connection: a 64-byte ElligatorSwift key. Also a
    // v1 frame of another network and a v1 message other than version: none opens with our
    // magic and `version`, so each is taken as a v2 opening, as Core does. With v2 off
    // (`--v2transport=false`) such an opening is closed, and the peer comes back with v1.
    let mut key = [0u8; 64];
    for (i, b) in key.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let regtest = Network::Regtest.params().magic;
    let openings: Vec<Vec<u8>> = vec![
        key.to_vec(),
        headway_core::wire::encode(Network::Mainnet.params().magic, NetworkMessage::Verack),
        headway_core::wire::encode(regtest, NetworkMessage::Ping(1)),
    ];
    let mut sim = Sim::new();
    let mut config = Config::new(Network::Regtest);
    config.seed = 1;
    config.v2_transport = false;
    let a = sim.add_node(Node::new(
        config,
        HeaderChain::new(Network::Regtest.params()),
    ));
    for (i, opening) in openings.into_iter().enumerate() {
        let addr = format!("10.7.7.{}:5000", i + 1).parse().unwrap();
        let r = sim.raw_inbound_from(a, addr);
        // Fewer than 16 bytes decide nothing while they match a v1 opening.
        sim.raw_send_bytes(r, opening[..3].to_vec());
        sim.run_for(Duration::from_secs(1));
        let decided = opening[..3] != headway_core::transport::v1_prefix(regtest)[..3];
        assert_eq!(sim.raws[r].closed, decided, "opening {i}");
        sim.raw_send_bytes(r, opening[3..].to_vec());
        sim.run_for(Duration::from_secs(1));
        assert!(sim.raws[r].closed, "opening {i}");
        assert_eq!(
            disconnect_reasons(&sim, a).last(),
            Some(&DisconnectReason::V2Handshake)
        );
        // The retry with v1 from the same (non-loopback) address is welcome.
        let retry = sim.raw_inbound_from(a, addr);
        sim.raw_send(
            retry,
            NetworkMessage::Version(raw_version(50 + i as u64, 70016, 0)),
        );
        sim.raw_send(retry, NetworkMessage::Verack);
        sim.run_for(Duration::from_secs(1));
        assert!(!sim.raws[retry].closed, "opening {i}");
        assert_eq!(negotiated(&sim, a), i + 1);
    }
    assert!(!sim
        .events(a)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. })));
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
fn wrong_magic_disconnects_with_a_wire_reason_but_no_penalty() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let addr = "10.7.7.7:5000".parse().unwrap();
    let r = sim.raw_inbound_from(a, addr);
    sim.raw_send(r, NetworkMessage::Version(raw_version(42, 70016, 0)));
    sim.raw_send(r, NetworkMessage::Verack);
    let mainnet = Network::Mainnet.params().magic;
    sim.raw_send_bytes(
        r,
        headway_core::wire::encode(mainnet, NetworkMessage::Verack),
    );
    sim.run_for(Duration::from_secs(1));
    let reasons = disconnect_reasons(&sim, a);
    assert!(
        matches!(
            reasons.as_slice(),
            [DisconnectReason::Wire(WireError::BadMagic(_))]
        ),
        "{reasons:?}"
    );
    assert!(!sim
        .events(a)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. })));
    // Framing is not content: the address is not discouraged.
    let again = sim.raw_inbound_from(a, addr);
    sim.run_for(Duration::from_secs(1));
    assert!(!sim.raws[again].closed);
}

#[test]
fn bad_checksum_and_undecodable_messages_are_dropped_and_the_peer_kept() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    let r = sim.raw_inbound(a);
    sim.raw_send(r, NetworkMessage::Version(raw_version(42, 70016, 0)));
    sim.raw_send(r, NetworkMessage::Verack);
    let regtest = Network::Regtest.params().magic;
    let mut bad_checksum = headway_core::wire::encode(regtest, NetworkMessage::Ping(7));
    bad_checksum[20] ^= 0xff;
    sim.raw_send_bytes(r, bad_checksum);
    // A ping with three bytes of payload, with a correct checksum.
    let mut short_ping = headway_core::wire::encode(regtest, NetworkMessage::Ping(7));
    short_ping.truncate(24 + 3);
    short_ping[16..20].copy_from_slice(&3u32.to_le_bytes());
    let sum = headway_core::bitcoin::hashes::sha256d::Hash::hash(&short_ping[24..]);
    short_ping[20..24].copy_from_slice(&sum.to_byte_array()[..4]);
    sim.raw_send_bytes(r, short_ping);
    sim.raw_send(r, NetworkMessage::Ping(8));
    sim.run_for(Duration::from_secs(1));
    assert!(!sim.raws[r].closed);
    assert!(disconnect_reasons(&sim, a).is_empty());
    let pongs: Vec<&NetworkMessage> = sim.raws[r]
        .received
        .iter()
        .filter(|m| matches!(m, NetworkMessage::Pong(_)))
        .collect();
    assert_eq!(
        pongs,
        [&NetworkMessage::Pong(8)],
        "only the sound ping is answered"
    );
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
fn a_peer_kept_by_name_is_dialled_and_redialled_by_its_name() {
    use headway_core::node::named_peers::{identity, is_stand_in};
    use headway_core::{Input, Output, Time};
    let mut node = support::fixtures::node_with(
        Config::new(Network::Regtest),
        Network::Regtest.params(),
        &[],
    );
    let host = "mynode.example".to_string();
    let stand_in = identity(&host, 18444);
    let dials = |node: &mut Node| -> Vec<(std::net::SocketAddr, Option<String>)> {
        std::iter::from_fn(|| node.poll())
            .filter_map(|o| match o {
                Output::Connect { addr, host } => Some((addr, host)),
                _ => None,
            })
            .collect()
    };
    let mut now = Time::from_secs(1_700_000_000);
    let request = Request::AddNamedPeer {
        host: host.clone(),
        port: 18444,
    };
    node.handle(now, Input::Request(request.clone()));
    assert_eq!(dials(&mut node), [(stand_in, Some(host.clone()))]);
    assert!(is_stand_in(&stand_in));
    // Asked again, it is the same peer: no second dial.
    node.handle(now, Input::Request(request));
    assert!(dials(&mut node).is_empty());
    // The proxy could not reach it: redialled by name after the backoff.
    node.handle(
        now,
        Input::ConnectFailed {
            addr: stand_in,
            error: "the proxy refused".into(),
        },
    );
    assert!(dials(&mut node).is_empty(), "not at once");
    now = now + Duration::from_secs(120);
    node.handle(now, Input::Tick);
    assert_eq!(dials(&mut node), [(stand_in, Some(host))]);
}

#[test]
fn misbehaving_address_is_discouraged_but_loopback_is_not() {
    let mut sim = Sim::new();
    let a = sim.add_node(node(1));
    // Headers that do not chain: an offence where Core calls `Misbehaving`.
    let chain = support::mine::mine(&Network::Regtest.params().genesis, 2, 1);
    for (i, ip) in ["10.7.7.7", "127.0.0.1"].into_iter().enumerate() {
        let r = sim.raw_inbound_from(a, format!("{ip}:5000").parse().unwrap());
        sim.raw_send(
            r,
            NetworkMessage::Version(raw_version(42 + i as u64, 70016, 0)),
        );
        sim.raw_send(r, NetworkMessage::Verack);
        sim.raw_send(r, NetworkMessage::Headers(vec![chain[1], chain[0]]));
        sim.run_for(Duration::from_secs(1));
        assert!(sim.raws[r].closed);
        assert_eq!(
            disconnect_reasons(&sim, a).last(),
            Some(&DisconnectReason::NonContinuousHeaders)
        );
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
    // Long enough for a refusal to arrive (two link latencies).
    sim.run_for(Duration::from_secs(1));
    assert!(!sim.raws[later].closed);
}
