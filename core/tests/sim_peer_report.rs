//! What the node reports about its connections when an application asks (the RPC's
//! `getpeerinfo` and `addnode`): every field measured against what the other side saw, on
//! virtual time, and the added-peer list that `addnode add`/`remove`/`onetry` change.

mod support;

use std::time::Duration;

use headway_core::{ConnectionKind, Direction, Network, PeerReport, PeerSummary, Request};
use support::fixtures::node_on;
use support::mine::mine;
use support::sim::Sim;

fn report(sim: &mut Sim, node: usize, token: u64) -> PeerReport {
    sim.peer_report(node, token)
}

fn only(report: &PeerReport) -> &PeerSummary {
    assert_eq!(report.peers.len(), 1, "{report:?}");
    &report.peers[0]
}

#[test]
fn a_report_shows_each_side_of_a_synced_connection() {
    let params = Network::Regtest.params();
    let best = mine(&params.genesis, 300, 1);
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, params.clone(), &[]));
    let b = sim.add_node(node_on(2, params.clone(), &best));
    sim.connect(a, b);
    assert!(sim.run_until(Duration::from_secs(30), |s| s.tip(a) == s.tip(b)));
    // Past the first ping's answer, then quiet: every byte sent has arrived.
    sim.run_for(Duration::from_secs(5));

    let ours = report(&mut sim, a, 7);
    let theirs = report(&mut sim, b, 8);
    assert_eq!(ours.token, 7);
    let (pa, pb) = (only(&ours), only(&theirs));

    assert_eq!(
        (pa.direction, pa.kind),
        (Direction::Outbound, ConnectionKind::Manual)
    );
    assert_eq!(
        (pb.direction, pb.kind),
        (Direction::Inbound, ConnectionKind::Inbound)
    );
    assert!(pa.negotiated && pb.negotiated);
    assert_eq!(pa.version, 70016);
    assert!(pa.user_agent.starts_with("/headway:"), "{}", pa.user_agent);
    assert_eq!(
        pa.start_height, 300,
        "b announced its height in its version"
    );
    assert_eq!(
        pa.synced_headers,
        Some(300),
        "a received b's headers up to 300"
    );
    assert_eq!(pb.synced_headers, None, "a sent b no headers");

    // Each side counts what it handed over and what it took: in a lossless link they agree.
    assert!(pa.traffic.bytes_recv > 300 * 81, "{:?}", pa.traffic);
    assert_eq!(pa.traffic.bytes_sent, pb.traffic.bytes_recv);
    assert_eq!(pa.traffic.bytes_recv, pb.traffic.bytes_sent);
    assert!(pa.traffic.last_recv.is_some() && pa.traffic.last_send.is_some());
    assert!(pa.traffic.last_recv >= Some(pa.connected_at));

    // The first ping goes out right after the handshake and is answered over two 20 ms hops.
    let rtt = pa.ping.expect("a ping was measured");
    assert_eq!(rtt, Duration::from_millis(40));
    assert_eq!(pa.min_ping, Some(rtt));
    assert_eq!(pa.ping_wait, None);

    assert_eq!(ours.added, vec![theirs_addr(&sim, b)]);
    assert!(theirs.added.is_empty());
}

fn theirs_addr(sim: &Sim, node: usize) -> std::net::SocketAddr {
    sim.nodes[node].addr
}

#[test]
fn remove_stops_redialling_and_onetry_dials_once() {
    let params = Network::Regtest.params();
    let mut sim = Sim::new();
    let a = sim.add_node(node_on(1, params.clone(), &[]));
    let b = sim.add_node(node_on(2, params.clone(), &[]));
    let b_addr = theirs_addr(&sim, b);
    // Nobody listens there: every dial is refused.
    let gone: std::net::SocketAddr = "10.9.9.9:18444".parse().unwrap();
    sim.request(a, Request::AddPeer(gone));
    sim.run_for(Duration::from_secs(20));
    let dials = |s: &Sim, to| s.nodes[a].dialled.iter().filter(|d| **d == to).count();
    assert!(
        dials(&sim, gone) >= 2,
        "an added peer is redialled after failures"
    );
    assert_eq!(report(&mut sim, a, 1).added, vec![gone]);

    sim.request(a, Request::RemovePeer(gone));
    assert!(report(&mut sim, a, 2).added.is_empty());
    let before = dials(&sim, gone);
    sim.run_for(Duration::from_secs(600));
    assert_eq!(
        dials(&sim, gone),
        before,
        "a removed peer is not dialled again"
    );

    // onetry: one dial, no redial, not in the added list.
    sim.request(a, Request::ConnectOnce(b_addr));
    assert_eq!(dials(&sim, b_addr), 1);
    sim.run_for(Duration::from_secs(2));
    let now = report(&mut sim, a, 3);
    assert!(now.added.is_empty());
    let peer = only(&now);
    assert_eq!((peer.kind, peer.negotiated), (ConnectionKind::Manual, true));
    sim.request(a, Request::ConnectOnce(b_addr));
    assert_eq!(
        dials(&sim, b_addr),
        1,
        "no second connection to a connected address"
    );
    sim.request(a, Request::Disconnect(peer.peer));
    sim.run_for(Duration::from_secs(600));
    assert_eq!(dials(&sim, b_addr), 1, "a one-try peer is not redialled");
    assert!(report(&mut sim, a, 4).peers.is_empty());
}
