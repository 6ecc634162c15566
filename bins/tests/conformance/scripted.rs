//! Scenarios against a scripted peer: one node under one driver, and a raw socket that sends
//! the same bytes whichever driver runs the node and logs what the node sends back. Both
//! drivers must leave the same record: the same persist stream, the same events, and the same
//! messages on the wire.
//!
//! A script only waits for what the node sends (or for an event) before its next step, and
//! ends each phase with a [`ScriptedPeer::barrier`], so what the node hears, and in which
//! order relative to its timers, is the script's choice and not the machine's.

use std::net::TcpListener as StdListener;
use std::time::{Duration, Instant};

use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::{Direction, DisconnectReason, Event, Notification, Request};

use headway_core::transport::V2Error;

use super::harness::{
    config, disconnected, disconnects, is_ping_measured, loopback_any, negotiated, v2_on, Running,
    TestDriver, GENESIS_ONLY,
};
use super::script::{
    answer, fork_branch, served_chain, version, ScriptedPeer, CHAIN_LEN, FORK_HEIGHT, FORK_LEN,
};
use super::transcript::Record;

pub const NODE_SEED: u64 = 21;

/// The ping interval of the ping scenario.
const PING_INTERVAL: Duration = Duration::from_secs(1);

/// The node's clock counts whole milliseconds: a deadline measured on ours may look up to this
/// much early.
pub const CLOCK_SLACK: Duration = Duration::from_millis(5);

// --- garbage -----------------------------------------------------------------------------------

/// A raw socket opens with bytes that cannot start a regtest `version` frame: the node takes it
/// for a BIP324 v2 opening, as Core does. With v1 only it drops it at once without penalty;
/// with v2 on it answers, reads the 64 bytes as a key and the rest as garbage, and drops it
/// once 4095 bytes of garbage came without a terminator. Either way the driver really closes
/// the socket.
pub fn garbage_is_refused<D: TestDriver>() -> Record {
    let mut node: Running<D> = Running::start("node", config(NODE_SEED), GENESIS_ONLY, true, None);
    let mut raw = ScriptedPeer::connect(node.listen_addr(), format!("{} garbage peer", D::NAME));
    let expected = if v2_on() {
        raw.send_bytes(&[0xde_u8; 64 + 4095 + 16]);
        DisconnectReason::V2Transport(V2Error::NoGarbageTerminator)
    } else {
        raw.send_bytes(&[0xde_u8; 24]);
        DisconnectReason::V2Handshake
    };
    let (_, reason) = node.next_event("PeerDisconnected", disconnected);
    assert_eq!(reason, expected, "{}", node.who());
    if v2_on() {
        raw.assert_closed_within_a_v2_answer();
    } else {
        raw.assert_closed();
    }
    let node = node.finish();

    let mut record = Record::default();
    record.node("node", &node.log);
    record
}

// --- a dial to a closed port -------------------------------------------------------------------

pub fn closed_port_fails<D: TestDriver>() -> Record {
    let closed = match StdListener::bind(loopback_any()).and_then(|l| l.local_addr()) {
        Ok(addr) => addr, // the listener is dropped here: nothing listens there any more
        Err(e) => panic!("cannot find a free port: {e}"),
    };
    let mut node: Running<D> = Running::start("node", config(NODE_SEED), GENESIS_ONLY, false, None);
    node.request(Request::AddPeer(closed));
    let (addr, error) = node.next_event("ConnectFailed", |e| match e {
        Event::ConnectFailed { addr, error, .. } => Some((*addr, error.clone())),
        _ => None,
    });
    assert_eq!(addr, closed, "{}", node.who());
    assert!(
        !error.is_empty(),
        "{}: the operating system's error is passed on",
        node.who()
    );
    // The next dial is 5 s away (`outbound::RETRY_STEP`): the node shuts down long before.
    let node = node.finish();

    let mut record = Record::default();
    record.node("node", &node.log);
    record
}

// --- header sync from a scripted server, then a reorg ------------------------------------------

/// The node dials a scripted server that serves [`served_chain`] in answer to whatever
/// getheaders the node sends, then announces a heavier fork of the last headers: the node
/// persists both batches of the chain and then the reorg, and ends on the fork's tip.
pub fn sync_from_scripted_peer<D: TestDriver>() -> Record {
    let listener = match StdListener::bind(loopback_any()) {
        Ok(listener) => listener,
        Err(e) => panic!("cannot listen: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => panic!("no listening address: {e}"),
    };
    let mut node: Running<D> = Running::start("node", config(NODE_SEED), GENESIS_ONLY, false, None);
    node.request(Request::AddPeer(addr));
    let mut server = ScriptedPeer::accept(&listener, format!("{} scripted server", D::NAME));
    server.handshake_outbound(CHAIN_LEN as i32);
    let chain = served_chain();
    loop {
        match server.read("the node's requests") {
            NetworkMessage::Ping(nonce) => server.send(NetworkMessage::Pong(nonce)),
            NetworkMessage::GetHeaders(req) => {
                server.send(NetworkMessage::Headers(answer(chain, &req)));
            }
            // Once synced the node asks for announcements as headers.
            NetworkMessage::SendHeaders => break,
            _ => {}
        }
    }
    let branch = fork_branch();
    server.send(NetworkMessage::Headers(branch.to_vec()));
    server.barrier(0xba77_1e00_0000_0001);
    let Some(fork_tip) = branch.last().map(|h| h.block_hash()) else {
        panic!("empty fork")
    };
    let change = node.next_event("the fork's tip", |e| match e {
        Event::TipChanged(c) if c.tip == fork_tip => Some(c.clone()),
        _ => None,
    });
    let who = node.who();
    assert_eq!(change.fork_height as usize, FORK_HEIGHT, "{who}");
    assert_eq!(change.disconnected.len(), CHAIN_LEN - FORK_HEIGHT, "{who}");
    assert_eq!(change.connected.len(), FORK_LEN, "{who}");
    let node = node.finish();
    server.assert_closed();

    // The persist stream: the chain in two batches (2000, then the rest), then the reorg.
    let persists: Vec<_> = node
        .log
        .iter()
        .filter_map(|n| match n {
            Notification::Persist(p) => Some(p.clone()),
            Notification::Event(_)
            | Notification::PersistAddrs(_)
            | Notification::ServeHeaders(_) => None,
        })
        .collect();
    let shape: Vec<(u32, usize, usize)> = persists
        .iter()
        .map(|p| (p.fork_height, p.connected.len(), p.side.len()))
        .collect();
    let (main, fork) = (CHAIN_LEN - 2000, FORK_HEIGHT as u32);
    assert_eq!(
        shape,
        vec![(0, 2000, 0), (2000, main, 0), (fork, FORK_LEN, 0)],
        "{who}: persist stream"
    );
    let connected: Vec<_> = persists.iter().flat_map(|p| p.connected.clone()).collect();
    let mut expected: Vec<_> = chain.iter().skip(1).copied().collect();
    expected.extend_from_slice(branch);
    assert_eq!(connected, expected, "{who}: the persisted headers");
    assert!(
        persists
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.tip_work < b.tip_work)),
        "{who}: the work grows with every persist"
    );
    let final_chain = node.node.chain();
    assert_eq!(final_chain.tip_hash(), fork_tip, "{who}");
    for (height, header) in (0u32..).zip(chain.iter().take(FORK_HEIGHT + 1).chain(branch)) {
        assert_eq!(
            final_chain.hash_at(height),
            Some(header.block_hash()),
            "{who}: height {height}"
        );
    }

    let mut record = Record::default();
    record.node("node", &node.log);
    record.peer("scripted server", &server);
    record
}

// --- ping and pong -----------------------------------------------------------------------------

/// The node pings on negotiation and then every (short) interval; a pong with the wrong
/// nonce is ignored (no measurement, no disconnect, the ping stays outstanding), the matching
/// one is measured, and only then does the interval run to the next ping.
pub fn ping_and_pong<D: TestDriver>() -> Record {
    let mut fast = config(NODE_SEED);
    fast.ping_interval = PING_INTERVAL;
    let mut node: Running<D> = Running::start("node", fast, GENESIS_ONLY, true, None);
    let started = Instant::now();
    let mut peer = ScriptedPeer::connect(node.listen_addr(), format!("{} scripted peer", D::NAME));
    let first = peer.handshake_inbound();

    peer.send(NetworkMessage::Pong(!first));
    // Once the barrier's pong is here, the node has handled the wrong pong, and anything it
    // made of it is in the notification channel.
    peer.barrier(0xba77_1e00_0000_0002);
    node.take_pending();
    assert!(
        !node
            .events()
            .any(|e| is_ping_measured(e) || disconnected(e).is_some()),
        "{}: a pong with the wrong nonce counted",
        node.who()
    );

    peer.send(NetworkMessage::Pong(first));
    node.next_event("PingMeasured", |e| is_ping_measured(e).then_some(()));
    let second = peer.read_until("the ping at the interval", |m| match m {
        NetworkMessage::Ping(nonce) => Some(*nonce),
        _ => None,
    });
    assert!(
        started.elapsed() + CLOCK_SLACK >= PING_INTERVAL,
        "{}: the second ping came before the interval",
        node.who()
    );
    assert_ne!(
        second,
        first,
        "{}: a fresh nonce for every ping",
        node.who()
    );
    peer.send(NetworkMessage::Pong(second));
    node.wait_count("the second PingMeasured", 2, is_ping_measured);
    // No barrier now: the next ping may come any time, and what the peer reads must not
    // depend on when.
    let node = node.finish();
    assert_eq!(
        disconnects(&node.log),
        vec![DisconnectReason::Shutdown],
        "{}: the peer stayed to the end",
        D::NAME
    );

    let mut record = Record::default();
    record.node("node", &node.log);
    record.peer("scripted peer", &peer);
    record
}

// --- the inbound limit -------------------------------------------------------------------------

/// With room for one inbound peer, a second one is refused at once with `TooManyInbound`
/// while the first is still served; once the first leaves, a third is accepted.
pub fn inbound_limit<D: TestDriver>() -> Record {
    let mut one = config(NODE_SEED);
    one.max_inbound = 1;
    let mut node: Running<D> = Running::start("node", one, GENESIS_ONLY, true, None);
    let addr = node.listen_addr();
    let mut first = ScriptedPeer::connect(addr, format!("{} first peer", D::NAME));
    let nonce = first.handshake_inbound();
    first.send(NetworkMessage::Pong(nonce));
    first.barrier(0xba77_1e00_0000_0003);

    let mut second = ScriptedPeer::connect(addr, format!("{} second peer", D::NAME));
    // Scripted peers open with a version (anything else is taken for BIP324 v2). The node may
    // have closed the socket already: then the write fails, and that is no fault.
    second.try_send(NetworkMessage::Version(version(0, ServiceFlags::NONE)));
    let (refused, reason) = node.next_event("the refusal", disconnected);
    assert_eq!(
        reason,
        DisconnectReason::TooManyInbound(1),
        "{}",
        node.who()
    );
    second.assert_closed();

    first.barrier(0xba77_1e00_0000_0004);
    let mut record = Record::default();
    record.peer("first peer", &first);
    drop(first);
    let (left, reason) = node.next_event("the first peer's disconnect", disconnected);
    assert_ne!(left, refused, "{}", node.who());
    assert!(
        matches!(reason, DisconnectReason::Closed(_)),
        "{}: {reason:?}",
        node.who()
    );

    let mut third = ScriptedPeer::connect(addr, format!("{} third peer", D::NAME));
    let nonce = third.handshake_inbound();
    third.send(NetworkMessage::Pong(nonce));
    third.barrier(0xba77_1e00_0000_0005);
    let (_, _, direction, _) = node.next_event("the third peer's handshake", negotiated);
    assert_eq!(direction, Direction::Inbound, "{}", node.who());
    let node = node.finish();
    third.assert_closed();
    assert!(
        matches!(
            disconnects(&node.log).as_slice(),
            [
                DisconnectReason::TooManyInbound(1),
                DisconnectReason::Closed(_),
                DisconnectReason::Shutdown
            ]
        ),
        "{}: only the second peer was refused",
        D::NAME
    );

    record.node("node", &node.log);
    record.peer("third peer", &third);
    record
}
