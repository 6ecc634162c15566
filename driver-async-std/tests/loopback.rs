//! The async-std driver on real loopback sockets, with real nodes: handshake, shutdown,
//! refusal of garbage, failed dials, distinct connection ids, and back-pressure settings that
//! pause reading at every send.
//!
//! Waits are bounded only to turn a hang into a failure; no assertion depends on timing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use headway_core::{
    Config, Direction, DisconnectReason, Event, HeaderChain, Network, Node, Notification, PeerId,
    Request,
};
use headway_driver_async_std::{Driver, DriverConfig};

/// Long enough that only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn loopback_any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn node(seed: u64) -> Node {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    Node::new(config, HeaderChain::new(Network::Regtest.params()))
}

fn start(seed: u64, listen: bool) -> Driver {
    let config = DriverConfig {
        listen: listen.then(loopback_any),
        ..DriverConfig::default()
    };
    match Driver::start(node(seed), config) {
        Ok(driver) => driver,
        Err(e) => panic!("driver failed to start: {e}"),
    }
}

/// Reads notifications until `pick` returns something; fails on a hang or a closed channel.
fn wait_for<T>(driver: &Driver, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let give_up = Instant::now() + HANG_GUARD;
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        match driver.notifications().recv_timeout(left) {
            Ok(Notification::Event(event)) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Ok(
                Notification::Persist(_)
                | Notification::PersistAddrs(_)
                | Notification::ServeHeaders(_),
            ) => {}
            Err(RecvTimeoutError::Timeout) => panic!("no {what} before the hang guard"),
            Err(RecvTimeoutError::Disconnected) => panic!("driver ended before {what}"),
        }
    }
}

fn shut_down(driver: Driver) -> Node {
    driver.handle().request(Request::Shutdown);
    wait_for(&driver, "ShutdownComplete", |e| {
        matches!(e, Event::ShutdownComplete).then_some(())
    });
    driver.join()
}

fn negotiated(e: &Event) -> Option<(PeerId, SocketAddr, Direction)> {
    match e {
        Event::PeerNegotiated {
            peer,
            addr,
            direction,
            ..
        } => Some((*peer, *addr, *direction)),
        _ => None,
    }
}

fn handshake_between(listener: Driver, dialler: Driver) {
    let Some(target) = listener.local_addr() else {
        panic!("listener has no address")
    };
    dialler.handle().request(Request::AddPeer(target));
    let (_, addr, direction) = wait_for(&dialler, "PeerNegotiated at the dialler", negotiated);
    assert_eq!(direction, Direction::Outbound);
    assert_eq!(
        addr, target,
        "the dialler names the peer by the address it dialled"
    );
    let (_, _, direction) = wait_for(&listener, "PeerNegotiated at the listener", negotiated);
    assert_eq!(direction, Direction::Inbound);
    let dialler_node = shut_down(dialler);
    let listener_node = shut_down(listener);
    assert_eq!(
        dialler_node.peers().count(),
        0,
        "no connection left after shutdown"
    );
    assert_eq!(
        listener_node.peers().count(),
        0,
        "no connection left after shutdown"
    );
}

#[test]
fn two_nodes_negotiate_and_shut_down() {
    handshake_between(start(1, true), start(2, false));
}

#[test]
fn one_byte_reads_and_a_zero_send_cap_still_negotiate() {
    // Every send pauses the reader until the writer has drained, and every frame arrives in
    // one-byte pieces: the handshake must still complete.
    let tight = DriverConfig {
        send_buffer_cap: 0,
        read_chunk: 1,
        ..DriverConfig::default()
    };
    let listener = Driver::start(
        node(3),
        DriverConfig {
            listen: Some(loopback_any()),
            ..tight.clone()
        },
    );
    let dialler = Driver::start(node(4), tight);
    match (listener, dialler) {
        (Ok(listener), Ok(dialler)) => handshake_between(listener, dialler),
        (Err(e), _) | (_, Err(e)) => panic!("driver failed to start: {e}"),
    }
}

#[test]
fn garbage_opening_ends_in_a_v2_error_and_the_socket_closed() {
    let driver = start(5, true);
    let Some(target) = driver.local_addr() else {
        panic!("no listen address")
    };
    let mut raw = match StdStream::connect(target) {
        Ok(raw) => raw,
        Err(e) => panic!("cannot reach the driver: {e}"),
    };
    // Bytes that cannot start a regtest `version` frame: taken for a v2 opening, as Core
    // does: a 64-byte key, then 4095 bytes of garbage and 16 more without a terminator.
    let garbage = [0xde_u8; 64 + 4095 + 16];
    if let Err(e) = raw.write_all(&garbage) {
        panic!("cannot write garbage: {e}");
    }
    let reason = wait_for(&driver, "a disconnect", |e| match e {
        Event::PeerDisconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        reason
            == DisconnectReason::V2Transport(headway_core::transport::V2Error::NoGarbageTerminator),
        "reason was {reason:?}"
    );
    // The driver really closed the socket: the raw peer reads the end of the stream (or a reset).
    let _ = raw.set_read_timeout(Some(HANG_GUARD));
    let mut rest = Vec::new();
    match raw.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "unexpected {e}"
        ),
    }
    shut_down(driver);
}

#[test]
fn a_dial_to_a_closed_port_reports_connect_failed() {
    let closed = match StdListener::bind(loopback_any()).and_then(|l| l.local_addr()) {
        Ok(addr) => addr, // the listener is dropped here: nothing listens there any more
        Err(e) => panic!("cannot find a free port: {e}"),
    };
    let driver = start(6, false);
    driver.handle().request(Request::AddPeer(closed));
    let failed = wait_for(&driver, "ConnectFailed", |e| match e {
        Event::ConnectFailed { addr, error, .. } => Some((*addr, error.clone())),
        _ => None,
    });
    assert_eq!(failed.0, closed);
    assert!(
        !failed.1.is_empty(),
        "the operating system's error is passed on"
    );
    shut_down(driver);
}

#[test]
fn every_connection_gets_its_own_id() {
    let driver = start(7, true);
    let Some(target) = driver.local_addr() else {
        panic!("no listen address")
    };
    let connected = |e: &Event| match e {
        Event::PeerConnected {
            peer,
            direction: Direction::Inbound,
            ..
        } => Some(*peer),
        _ => None,
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        // Each raw connection is closed before the next opens, so ids could only repeat if the
        // driver reused them.
        let raw = StdStream::connect(target);
        assert!(raw.is_ok(), "cannot reach the driver");
        ids.push(wait_for(&driver, "PeerConnected", connected));
        drop(raw);
        wait_for(&driver, "PeerDisconnected", |e| {
            matches!(e, Event::PeerDisconnected { .. }).then_some(())
        });
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids were reused: {ids:?}");
    shut_down(driver);
}

#[test]
fn requests_after_the_end_are_dropped_quietly() {
    let driver = start(8, false);
    let handle = driver.handle();
    let node = shut_down(driver);
    // The driver has ended; this must neither block nor panic.
    handle.request(Request::AddPeer(loopback_any()));
    assert_eq!(node.peers().count(), 0);
}

#[test]
fn dropping_the_driver_stops_it() {
    let driver = start(9, true);
    let Some(target) = driver.local_addr() else {
        panic!("no listen address")
    };
    let raw = StdStream::connect(target);
    let Ok(mut raw) = raw else {
        panic!("cannot reach the driver")
    };
    wait_for(&driver, "PeerConnected", |e| {
        matches!(e, Event::PeerConnected { .. }).then_some(())
    });
    drop(driver);
    // The stopped driver closes its connections: the raw peer reads the end of the stream.
    let _ = raw.set_read_timeout(Some(HANG_GUARD));
    let mut rest = Vec::new();
    match raw.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "unexpected {e}"
        ),
    }
}
