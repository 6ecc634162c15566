//! The transports in the node, on virtual time: nodes speak BIP324 v2 to each other and sync
//! over it; a v1-only listener gets one v1 retry, remembered for its address; NODE_P2P_V2 is
//! announced only with v2 on; and hostile v2 input from a raw peer ends in the typed
//! disconnect of the module table in `transport::v2`, never as misbehaviour.

mod support;

use std::time::Duration;

use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::rng::{SecretRng, SecretSeed};
use headway_core::transport::{TransportProtocol, V2Error, V2Secrets, V2Session};
use headway_core::wire::Frame;
use headway_core::{Config, DisconnectReason, Event, Network, PeerReport, Request};
use support::fixtures::{node_on, node_with};
use support::mine::mine;
use support::sim::{raw_version, Sim};

fn negotiated_transports(sim: &Sim, n: usize) -> Vec<TransportProtocol> {
    sim.events(n)
        .filter_map(|e| match e {
            Event::PeerNegotiated { transport, .. } => Some(*transport),
            _ => None,
        })
        .collect()
}

fn disconnect_reasons(sim: &Sim, n: usize) -> Vec<DisconnectReason> {
    sim.disconnect_reasons(n)
}

fn report(sim: &mut Sim, node: usize, token: u64) -> PeerReport {
    sim.peer_report(node, token)
}

fn v1_only_config(seed: u64) -> Config {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    config.v2_transport = false;
    config
}

#[test]
fn nodes_sync_over_v2_and_both_ends_show_the_same_session() {
    let params = Network::Regtest.params();
    let best = mine(&params.genesis, 4500, 1);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, params.clone(), &[]));
    let b = sim.add_node(node_on(2, params.clone(), &best));
    sim.connect(a, b);
    assert!(sim.run_until(Duration::from_secs(60), |s| s.tip(a) == s.tip(b)));
    assert_eq!(negotiated_transports(&sim, a), vec![TransportProtocol::V2]);
    assert_eq!(negotiated_transports(&sim, b), vec![TransportProtocol::V2]);
    let (ra, rb) = (report(&mut sim, a, 1), report(&mut sim, b, 2));
    assert_eq!(ra.peers[0].transport, TransportProtocol::V2);
    assert!(ra.peers[0].session_id.is_some());
    assert_eq!(ra.peers[0].session_id, rb.peers[0].session_id);
    assert!(disconnect_reasons(&sim, a).is_empty());
}

#[test]
fn a_v1_only_listener_gets_one_v1_retry_and_the_address_is_remembered() {
    let params = Network::Regtest.params();
    let best = mine(&params.genesis, 300, 2);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, params.clone(), &[]));
    let old = sim.add_node(node_with(v1_only_config(2), params.clone(), &best));
    sim.connect(a, old);
    assert!(sim.run_until(Duration::from_secs(30), |s| s.tip(a) == s.tip(old)));
    // The v1-only side closed our v2 opening without a word; we came back at once with v1.
    assert_eq!(
        disconnect_reasons(&sim, old),
        vec![DisconnectReason::V2Handshake]
    );
    assert_eq!(negotiated_transports(&sim, a), vec![TransportProtocol::V1]);
    let dials = |sim: &Sim| sim.nodes[a].dialled.len();
    assert_eq!(dials(&sim), 2, "the v2 attempt and the v1 retry");
    assert!(
        !sim.events(a)
            .any(|e| matches!(e, Event::ConnectFailed { .. })),
        "the refusal is not a failed dial"
    );
    // The connection drops; the redial goes straight to v1.
    let peer = report(&mut sim, old, 3).peers[0].peer;
    sim.request(old, Request::Disconnect(peer));
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        negotiated_transports(s, a).len() == 2
    }));
    assert_eq!(
        negotiated_transports(&sim, a),
        vec![TransportProtocol::V1, TransportProtocol::V1]
    );
    assert_eq!(
        disconnect_reasons(&sim, old),
        vec![DisconnectReason::V2Handshake, DisconnectReason::Requested],
        "no second v2 attempt"
    );
    assert!(!sim
        .events(old)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. })));
}

#[test]
fn node_p2p_v2_is_announced_only_with_v2_on() {
    for (v2, config) in [
        (true, Config::new(Network::Regtest)),
        (false, v1_only_config(1)),
    ] {
        let mut sim = Sim::new();
        let a = sim.add_node(node_with(config, Network::Regtest.params(), &[]));
        let r = sim.raw_negotiated(a, 77);
        let version = sim.raws[r]
            .received
            .iter()
            .find_map(|m| match m {
                NetworkMessage::Version(v) => Some(v.clone()),
                _ => None,
            })
            .expect("the node answered with its version");
        assert_eq!(version.services.has(ServiceFlags::P2P_V2), v2);
        assert_eq!(negotiated_transports(&sim, a), vec![TransportProtocol::V1]);
    }
}

/// A raw peer that speaks v2 with our own session: returns (raw index, its session).
fn raw_v2(sim: &mut Sim, node: usize, seed: u8) -> (usize, V2Session) {
    let magic = Network::Regtest.params().magic.to_bytes();
    let secrets = V2Secrets::draw(&mut SecretRng::from_seed(&SecretSeed::from_bytes(
        [seed; 32],
    )));
    let mut session = V2Session::initiator(magic, secrets);
    let r = sim.raw_inbound(node);
    sim.raw_send_bytes(r, session.take_outgoing());
    (r, session)
}

/// Carries the node's bytes to `session` and its answer back, until the link is quiet.
fn exchange(sim: &mut Sim, r: usize, session: &mut V2Session) {
    let mut seen = 0;
    for _ in 0..20 {
        sim.run_for(Duration::from_millis(100));
        let bytes = sim.raws[r].bytes[seen..].to_vec();
        seen += bytes.len();
        session.receive(&bytes);
        let out = session.take_outgoing();
        if out.is_empty() && bytes.is_empty() {
            return;
        }
        sim.raw_send_bytes(r, out);
    }
}

#[test]
fn an_inbound_v2_peer_is_answered_in_v2() {
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &[]));
    let (r, mut session) = raw_v2(&mut sim, a, 3);
    session.send(&NetworkMessage::Version(raw_version(5, 70016, 0)));
    session.send(&NetworkMessage::Verack);
    exchange(&mut sim, r, &mut session);
    assert!(session.is_established());
    let mut got = Vec::new();
    while let Ok(Some(Frame::Message(m))) = session.next_frame() {
        got.push(m.cmd().to_string());
    }
    assert_eq!(got.first().map(String::as_str), Some("version"), "{got:?}");
    assert!(got.iter().any(|c| c == "verack"), "{got:?}");
    assert_eq!(negotiated_transports(&sim, a), vec![TransportProtocol::V2]);
    let rep = report(&mut sim, a, 1);
    assert_eq!(rep.peers[0].session_id, session.session_id());
}

#[test]
fn hostile_v2_input_ends_in_typed_disconnects_without_penalty() {
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, Network::Regtest.params(), &[]));

    // A key, then garbage that never ends.
    let r = sim.raw_inbound(a);
    sim.raw_send_bytes(r, vec![0x42; 64]);
    sim.raw_send_bytes(r, vec![0x17; 4095 + 16]);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.raws[r].closed);
    assert_eq!(
        disconnect_reasons(&sim, a).last(),
        Some(&DisconnectReason::V2Transport(V2Error::NoGarbageTerminator))
    );

    // A real handshake, then a packet with a flipped bit.
    let (r, mut session) = raw_v2(&mut sim, a, 4);
    exchange(&mut sim, r, &mut session);
    assert!(session.is_established());
    session.send(&NetworkMessage::Ping(1));
    let mut packet = session.take_outgoing();
    packet[6] ^= 1;
    sim.raw_send_bytes(r, packet);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.raws[r].closed);
    assert_eq!(
        disconnect_reasons(&sim, a).last(),
        Some(&DisconnectReason::V2Transport(V2Error::Authentication))
    );

    // A v1 version of another network.
    let mut mainnet = Network::Mainnet.params().magic.to_bytes().to_vec();
    mainnet.extend_from_slice(b"version\0\0\0\0\0");
    let r = sim.raw_inbound(a);
    sim.raw_send_bytes(r, mainnet);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.raws[r].closed);
    assert!(matches!(
        disconnect_reasons(&sim, a).last(),
        Some(DisconnectReason::V2Transport(V2Error::WrongNetworkV1(_)))
    ));

    // A peer that stops halfway: its key, then silence, until the handshake timeout.
    let r = sim.raw_inbound(a);
    sim.raw_send_bytes(r, vec![0x42; 64]);
    sim.run_for(Duration::from_secs(59));
    assert!(!sim.raws[r].closed);
    sim.run_for(Duration::from_secs(2));
    assert!(sim.raws[r].closed);
    assert!(matches!(
        disconnect_reasons(&sim, a).last(),
        Some(DisconnectReason::HandshakeTimeout(_))
    ));

    assert!(!sim
        .events(a)
        .any(|e| matches!(e, Event::PeerMisbehaved { .. })));
}

#[test]
fn a_guessed_v2_dial_sends_under_ten_v1_headers_worth() {
    // A manual peer is not known to speak v2: our opening must stay under 240 bytes so that
    // a v1 peer that scores every unreadable 24-byte header (bcoin bans at ten) lets the v1
    // retry in. Many draws, so that the garbage length's whole range is seen.
    use headway_core::node::transport_choice::SPECULATIVE_GARBAGE_LEN;
    use headway_core::{Direction, Input, Output, PeerId, Time};
    let addr: std::net::SocketAddr = "10.9.9.9:18444".parse().unwrap();
    let mut longest = 0;
    for seed in 0..200u8 {
        let mut config = Config::new(Network::Regtest);
        config.secret_seed = SecretSeed::from_bytes([seed; 32]);
        let mut node = node_with(config, Network::Regtest.params(), &[]);
        let now = Time::from_secs(1_700_000_000);
        node.handle(now, Input::Request(Request::AddPeer(addr)));
        node.handle(
            now,
            Input::Connected {
                peer: PeerId(1),
                addr,
                local_addr: None,
                direction: Direction::Outbound,
            },
        );
        let first = std::iter::from_fn(|| node.poll())
            .find_map(|o| match o {
                Output::Send { bytes, .. } => Some(bytes),
                _ => None,
            })
            .expect("the opening is sent at once");
        assert!(first.len() >= 64 && first.len() <= 64 + SPECULATIVE_GARBAGE_LEN);
        longest = longest.max(first.len());
    }
    assert!(longest > 64 + SPECULATIVE_GARBAGE_LEN / 2, "{longest}");
    const { assert!(64 + SPECULATIVE_GARBAGE_LEN < 240) };
}
