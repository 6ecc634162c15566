//! The handshake timeout, both ways: a scripted peer that connects and says nothing, and a
//! scripted server that takes the node's connection and its version and never answers. Either
//! is dropped with `HandshakeTimeout` once the (short) configured timeout has passed, and the
//! driver really closes the socket.

use std::net::TcpListener as StdListener;
use std::time::{Duration, Instant};

use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::{Direction, DisconnectReason, Event, Request};

use super::harness::{config, disconnected, loopback_any, Running, TestDriver, GENESIS_ONLY};
use super::script::ScriptedPeer;
use super::scripted::{CLOCK_SLACK, NODE_SEED};
use super::transcript::Record;

/// The handshake timeout of these scenarios.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);

fn impatient<D: TestDriver>(listen: bool) -> Running<D> {
    let mut short = config(NODE_SEED);
    short.handshake_timeout = HANDSHAKE_TIMEOUT;
    Running::start("node", short, GENESIS_ONLY, listen, None)
}

/// Waits for the timeout and checks that it did not come early: `since` is a moment before
/// the connection opened.
fn timed_out<D: TestDriver>(node: &mut Running<D>, since: Instant) {
    let (_, reason) = node.next_event("the handshake timeout", disconnected);
    assert_eq!(
        reason,
        DisconnectReason::HandshakeTimeout(HANDSHAKE_TIMEOUT),
        "{}",
        node.who()
    );
    assert!(
        since.elapsed() + CLOCK_SLACK >= HANDSHAKE_TIMEOUT,
        "{}: dropped before the timeout",
        node.who()
    );
}

/// A peer connects and sends nothing.
pub fn silent_inbound<D: TestDriver>() -> Record {
    let mut node: Running<D> = impatient(true);
    let since = Instant::now();
    let mut silent = ScriptedPeer::connect(node.listen_addr(), format!("{} silent peer", D::NAME));
    timed_out(&mut node, since);
    silent.assert_closed();
    let node = node.finish();

    let mut record = Record::default();
    record.node("node", &node.log);
    record
}

/// The node dials a server that reads its version and answers nothing.
pub fn silent_outbound<D: TestDriver>() -> Record {
    let listener = match StdListener::bind(loopback_any()) {
        Ok(listener) => listener,
        Err(e) => panic!("cannot listen: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => panic!("no listening address: {e}"),
    };
    let mut node: Running<D> = impatient(false);
    let since = Instant::now();
    node.request(Request::AddPeer(addr));
    let mut silent = ScriptedPeer::accept(&listener, format!("{} silent server", D::NAME));
    silent.read_until("the node's version", |m| {
        matches!(m, NetworkMessage::Version(_)).then_some(())
    });
    let direction = node.next_event("PeerConnected", |e| match e {
        Event::PeerConnected { direction, .. } => Some(*direction),
        _ => None,
    });
    assert_eq!(direction, Direction::Outbound, "{}", node.who());
    timed_out(&mut node, since);
    silent.assert_closed();
    // The node would redial 5 s after the drop (`outbound::RETRY_STEP`): it shuts down at
    // once, long before.
    let node = node.finish();

    let mut record = Record::default();
    record.node("node", &node.log);
    record.peer("silent server", &silent);
    record
}
