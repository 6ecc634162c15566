//! Whole drivers (socket thread, core thread, real node) talking to each other and to raw
//! sockets over 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use headway_core::{
    Config, Direction, DisconnectReason, Event, HeaderChain, Network, Node, Notification, Request,
};
use headway_driver_mio::{Driver, DriverConfig};

/// Long enough never to matter on a healthy machine; only a hung test hits it.
const PATIENCE: Duration = Duration::from_secs(30);

fn node(seed: u64) -> Node {
    let mut config = Config::new(Network::Regtest);
    // Distinct seeds give distinct version nonces; equal ones would look like a self-connection.
    config.seed = seed;
    Node::new(config, HeaderChain::new(Network::Regtest.params()))
}

fn listening() -> DriverConfig {
    DriverConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..DriverConfig::default()
    }
}

/// Takes notifications until one is an event `want` accepts; panics with everything seen if the
/// channel ends or nothing matches in time.
fn wait_for<T>(
    notifications: &Receiver<Notification>,
    what: &str,
    mut want: impl FnMut(&Event) -> Option<T>,
) -> T {
    let give_up = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        match notifications.recv_timeout(left) {
            Ok(Notification::Event(event)) => {
                if let Some(found) = want(&event) {
                    return found;
                }
                seen.push(format!("{event:?}"));
            }
            Ok(Notification::Persist(persist)) => seen.push(format!("persist {persist}")),
            Ok(Notification::ServeHeaders(ask)) => seen.push(format!("serve {ask:?}")),
            Ok(Notification::PersistAddrs(change)) => {
                seen.push(format!("persist {} addresses", change.upsert.len()))
            }
            Err(RecvTimeoutError::Timeout) => panic!("no {what} in time; saw {seen:#?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("driver ended before {what}; saw {seen:#?}")
            }
        }
    }
}

fn shut_down(driver: Driver) -> Node {
    driver.handle().request(Request::Shutdown);
    wait_for(driver.notifications(), "ShutdownComplete", |e| {
        (*e == Event::ShutdownComplete).then_some(())
    });
    driver.join()
}

/// A free port on 127.0.0.1 with nothing listening on it.
fn closed_port() -> SocketAddr {
    let probe = StdListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

#[test]
fn two_drivers_negotiate_then_shut_down() {
    let listener = Driver::start(node(1), listening()).unwrap();
    let listen_addr = listener
        .local_addr()
        .expect("a listening driver reports its address");
    assert_ne!(
        listen_addr.port(),
        0,
        "port 0 is resolved to the bound port"
    );
    let dialler = Driver::start(node(2), DriverConfig::default()).unwrap();
    assert_eq!(dialler.local_addr(), None);

    // Requests may come from any thread.
    let handle = dialler.handle();
    std::thread::spawn(move || handle.request(Request::AddPeer(listen_addr)))
        .join()
        .unwrap();

    let (addr, direction) = wait_for(dialler.notifications(), "PeerNegotiated", |e| match e {
        Event::PeerNegotiated {
            addr, direction, ..
        } => Some((*addr, *direction)),
        _ => None,
    });
    assert_eq!((addr, direction), (listen_addr, Direction::Outbound));
    let direction = wait_for(listener.notifications(), "PeerNegotiated", |e| match e {
        Event::PeerNegotiated {
            direction,
            user_agent,
            ..
        } => {
            assert!(user_agent.starts_with("/headway:"), "{user_agent}");
            Some(*direction)
        }
        _ => None,
    });
    assert_eq!(direction, Direction::Inbound);

    let dialler_node = shut_down(dialler);
    let listener_node = shut_down(listener);
    assert_eq!(
        dialler_node.chain().tip_height(),
        0,
        "join gives the node back"
    );
    assert_eq!(
        listener_node.chain().tip_hash(),
        Network::Regtest.params().genesis_hash()
    );
}

#[test]
fn a_peer_speaking_another_network_is_disconnected_without_penalty() {
    let driver = Driver::start(node(3), listening()).unwrap();
    let mut peer = StdStream::connect(driver.local_addr().unwrap()).unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    // A frame header with mainnet's magic; the node runs regtest. Its first 16 bytes are not
    // a regtest `version` opening, but bytes 4 to 16 are a `version` command: a v1 peer of
    // another network, refused as Core's `V2Transport::ProcessReceivedKeyBytes` refuses it.
    let mut frame = vec![0xf9, 0xbe, 0xb4, 0xd9];
    frame.extend_from_slice(b"version\0\0\0\0\0");
    frame.extend_from_slice(&[0; 8]);
    peer.write_all(&frame).unwrap();

    let reason = wait_for(driver.notifications(), "PeerDisconnected", |e| match e {
        Event::PeerDisconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        reason
            == DisconnectReason::V2Transport(headway_core::transport::V2Error::WrongNetworkV1([
                0xf9, 0xbe, 0xb4, 0xd9
            ])),
        "{reason:?}"
    );

    // Our side of the socket is closed: the peer's read ends (EOF, or a reset if the node had
    // sent something the peer never read) instead of waiting for the timeout.
    let mut rest = Vec::new();
    match peer.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    shut_down(driver);
}

#[test]
fn dialling_a_closed_port_reports_connect_failed() {
    let driver = Driver::start(node(4), DriverConfig::default()).unwrap();
    let target = closed_port();
    driver.handle().request(Request::AddPeer(target));
    let (addr, error) = wait_for(driver.notifications(), "ConnectFailed", |e| match e {
        Event::ConnectFailed { addr, error, .. } => Some((*addr, error.clone())),
        _ => None,
    });
    assert_eq!(addr, target);
    assert!(
        !error.is_empty(),
        "the operating system's reason reaches the application"
    );
    let late = driver.handle();
    shut_down(driver);
    // The node is gone; a request from a handle that outlived it is dropped, not a panic.
    late.request(Request::AddPeer(target));
}

#[test]
fn dropping_a_driver_closes_its_connections() {
    let driver = Driver::start(node(5), listening()).unwrap();
    let mut peer = StdStream::connect(driver.local_addr().unwrap()).unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    wait_for(driver.notifications(), "PeerConnected", |e| {
        matches!(
            e,
            Event::PeerConnected {
                direction: Direction::Inbound,
                ..
            }
        )
        .then_some(())
    });
    drop(driver);
    let mut rest = Vec::new();
    match peer.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}
