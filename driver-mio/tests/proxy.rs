//! Dialling through a SOCKS5 proxy (`DriverConfig::proxy`), against a real one and against fake
//! ones.
//!
//! The real one is Debian's `microsocks`, started per test on a free loopback port with `-b
//! 127.0.0.2`: it binds its outgoing connections to 127.0.0.2, so a serving node that sees its
//! peer come from 127.0.0.2 knows the connection came through the proxy, not straight from the
//! dialling node (which connects from 127.0.0.1). The fake ones are std listeners in the test
//! that never answer, answer garbage, hang up, or answer "succeeded" with bytes after it.
//!
//! A missing microsocks fails these tests, with how to install it: a proxy test that skips
//! silently would let the proxy path rot unseen.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use headway_core::bitcoin::block::Header;
use headway_core::wire::WireError;
use headway_core::{
    Config, Direction, DisconnectReason, Event, HeaderArchive, HeaderChain, Network, Node,
    Notification, PersistChain, Request,
};
use headway_driver_mio::{Driver, DriverConfig, DriverHandle};
use headway_regtest::microsocks::Microsocks;
use headway_regtest::{genesis, mine};

/// Long enough never to matter on a healthy machine; only a hung test hits it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Where microsocks's outgoing connections come from (see the top of the file).
const PROXY_SOURCE_IP: [u8; 4] = [127, 0, 0, 2];

/// The SOCKS5 greeting headway sends: version 5, one method, "no authentication".
const GREETING: [u8; 3] = [0x05, 0x01, 0x00];

fn node(seed: u64, chain: HeaderChain) -> Node {
    let mut config = Config::new(Network::Regtest);
    // Distinct seeds give distinct version nonces; equal ones would look like a self-connection.
    config.seed = seed;
    Node::new(config, chain)
}

fn empty_node(seed: u64) -> Node {
    node(seed, HeaderChain::new(Network::Regtest.params()))
}

fn through(proxy: SocketAddr) -> DriverConfig {
    DriverConfig {
        proxy: Some(proxy),
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
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => panic!("no {what} in time; saw {seen:#?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("driver ended before {what}; saw {seen:#?}")
            }
        }
    }
}

/// The first `ConnectFailed` event's address and error.
fn connect_failed(driver: &Driver) -> (SocketAddr, String) {
    wait_for(driver.notifications(), "ConnectFailed", |e| match e {
        Event::ConnectFailed { addr, error, .. } => Some((*addr, error.clone())),
        Event::PeerConnected { addr, .. } => panic!("connected to {addr} through a bad proxy"),
        _ => None,
    })
}

fn shut_down(driver: Driver) -> Node {
    driver.handle().request(Request::Shutdown);
    wait_for(driver.notifications(), "ShutdownComplete", |e| {
        (*e == Event::ShutdownComplete).then_some(())
    });
    driver.join()
}

/// A serving driver with its store's part played by a thread: it answers the node's asks
/// for headers from `archive` (kept up to date with its persists) and forwards every other
/// notification to `notifications`. Joining gives back the node once the driver ends.
struct Served {
    handle: DriverHandle,
    addr: Option<SocketAddr>,
    notifications: Receiver<Notification>,
    thread: thread::JoinHandle<Node>,
}

fn serve_from_archive(driver: Driver, best: &[Header]) -> Served {
    let params = Network::Regtest.params();
    let mut archive = HeaderArchive::new(&params);
    archive
        .apply(&PersistChain {
            fork_height: 0,
            rejoined: vec![],
            connected: best.get(1..).unwrap_or(&[]).to_vec(),
            side: vec![],
            tip_work: params.genesis.work(),
        })
        .expect("the served chain fits the archive");
    let handle = driver.handle();
    let addr = driver.local_addr();
    let (forward, notifications) = mpsc::channel();
    let thread = thread::spawn(move || {
        while let Ok(notification) = driver.notifications().recv() {
            match archive.handle(&notification) {
                Ok(Some(answer)) => driver.handle().request(answer),
                Ok(None) => {
                    let _ = forward.send(notification);
                }
                Err(e) => panic!("the node's persist does not fit: {e}"),
            }
        }
        driver.join()
    });
    Served {
        handle,
        addr,
        notifications,
        thread,
    }
}

impl Served {
    fn shut_down(self) -> Node {
        self.handle.request(Request::Shutdown);
        self.thread.join().expect("the archive thread")
    }
}

/// A free port on 127.0.0.1 with nothing listening on it.
fn closed_port() -> SocketAddr {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    probe.local_addr().expect("its address")
}

/// A fake proxy on 127.0.0.1: every connection it accepts goes to `serve` on its own thread.
/// Whatever `serve` reports goes to the returned channel.
fn fake_proxy<T: Send + 'static>(serve: fn(TcpStream) -> T) -> (SocketAddr, Receiver<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake proxy");
    let addr = listener.local_addr().expect("its address");
    let (report, reports) = mpsc::channel();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let report = report.clone();
            thread::spawn(move || {
                let _ = report.send(serve(conn));
            });
        }
    });
    (addr, reports)
}

/// Reads the greeting the driver must send first, and checks it.
fn read_greeting(conn: &mut TcpStream) {
    let mut greeting = [0u8; 3];
    conn.read_exact(&mut greeting).expect("the greeting");
    assert_eq!(greeting, GREETING);
}

#[test]
fn a_node_behind_the_proxy_syncs_headers_from_another_node() {
    let proxy = Microsocks::start(&["-b", &Ipv4Addr::from(PROXY_SOURCE_IP).to_string()]);
    let mut best = vec![genesis()];
    best.extend(mine(&genesis(), 300, 7));
    let tip = best.last().map(Header::block_hash).expect("a mined chain");
    let served = HeaderChain::from_stored(Network::Regtest.params(), best.clone(), vec![])
        .expect("a valid chain");
    let server = Driver::start(
        node(1, served),
        DriverConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..DriverConfig::default()
        },
    )
    .unwrap();
    let server = serve_from_archive(server, &best);
    let server_addr = server.addr.expect("a listening driver");
    let client = Driver::start(empty_node(2), through(proxy.addr)).unwrap();

    client.handle().request(Request::AddPeer(server_addr));
    // The core knows the peer by its own address, not the proxy's.
    let (addr, direction) = wait_for(client.notifications(), "PeerNegotiated", |e| match e {
        Event::PeerNegotiated {
            addr, direction, ..
        } => Some((*addr, *direction)),
        _ => None,
    });
    assert_eq!((addr, direction), (server_addr, Direction::Outbound));
    wait_for(client.notifications(), "the served tip", |e| match e {
        Event::TipChanged(change) if change.tip == tip => Some(()),
        Event::Synced { tip: synced, .. } if *synced == tip => Some(()),
        _ => None,
    });

    // The serving node saw its peer come from the proxy's outgoing address.
    let seen_from = wait_for(&server.notifications, "PeerConnected", |e| match e {
        Event::PeerConnected {
            addr,
            direction: Direction::Inbound,
            ..
        } => Some(*addr),
        _ => None,
    });
    assert_eq!(
        seen_from.ip(),
        SocketAddr::from((PROXY_SOURCE_IP, 0)).ip(),
        "the connection comes from microsocks, not from the node"
    );

    let client_node = shut_down(client);
    assert_eq!(client_node.chain().tip_hash(), tip);
    assert_eq!(client_node.chain().tip_height(), 300);
    server.shut_down();
}

#[test]
fn a_target_nobody_listens_on_fails_with_the_proxys_refusal() {
    let proxy = Microsocks::start(&["-b", &Ipv4Addr::from(PROXY_SOURCE_IP).to_string()]);
    let driver = Driver::start(empty_node(3), through(proxy.addr)).unwrap();
    let target = closed_port();
    driver.handle().request(Request::AddPeer(target));
    let (addr, error) = connect_failed(&driver);
    assert_eq!(addr, target, "the failure is the peer's, not the proxy's");
    assert!(
        error.contains(&format!("SOCKS5 proxy {}", proxy.addr)),
        "{error}"
    );
    assert!(error.contains("refused"), "{error}");
    shut_down(driver);
}

#[test]
fn a_proxy_nobody_listens_on_fails_the_dial() {
    let proxy = closed_port();
    let driver = Driver::start(empty_node(4), through(proxy)).unwrap();
    let target = closed_port();
    driver.handle().request(Request::AddPeer(target));
    let (addr, error) = connect_failed(&driver);
    assert_eq!(addr, target);
    assert!(error.contains(&format!("SOCKS5 proxy {proxy}")), "{error}");
    assert!(error.contains("cannot connect to the proxy"), "{error}");
    shut_down(driver);
}

#[test]
fn a_proxy_that_never_answers_fails_after_the_handshake_timeout() {
    // Reports every byte the driver sent before it gave up on us and closed.
    let (proxy, sent) = fake_proxy(|mut conn| {
        let mut all = Vec::new();
        let _ = conn.read_to_end(&mut all);
        all
    });
    let timeout = Duration::from_millis(300);
    let config = DriverConfig {
        proxy_handshake_timeout: timeout,
        ..through(proxy)
    };
    let driver = Driver::start(empty_node(5), config).unwrap();
    let target = closed_port();
    let started = Instant::now();
    driver.handle().request(Request::AddPeer(target));
    let (addr, error) = connect_failed(&driver);
    assert!(started.elapsed() >= timeout, "failed before the timeout");
    assert_eq!(addr, target);
    assert!(error.contains(&format!("SOCKS5 proxy {proxy}")), "{error}");
    assert!(
        error.contains("no answer to the SOCKS5 handshake within"),
        "{error}"
    );
    // The greeting and nothing else: no request before the proxy chose a method, and nothing
    // from the core, which never heard of the peer.
    let sent = sent
        .recv_timeout(PATIENCE)
        .expect("the driver closes the socket");
    assert_eq!(sent, GREETING);
    shut_down(driver);
}

#[test]
fn a_proxy_that_answers_garbage_fails_at_once() {
    let (proxy, _) = fake_proxy(|mut conn| {
        read_greeting(&mut conn);
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        // Stay open: the failure must come from the answer, not from a close.
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    });
    // The default handshake timeout (20 s): a failure well before it is the answer's.
    let driver = Driver::start(empty_node(6), through(proxy)).unwrap();
    let target = closed_port();
    let started = Instant::now();
    driver.handle().request(Request::AddPeer(target));
    let (addr, error) = connect_failed(&driver);
    assert!(started.elapsed() < Duration::from_secs(10), "not at once");
    assert_eq!(addr, target);
    assert!(error.contains(&format!("SOCKS5 proxy {proxy}")), "{error}");
    assert!(error.contains("not SOCKS5"), "{error}");
    shut_down(driver);
}

#[test]
fn a_proxy_that_hangs_up_mid_handshake_fails_the_dial() {
    let (proxy, _) = fake_proxy(|mut conn| {
        read_greeting(&mut conn);
        // Dropped: closed before any answer.
    });
    let driver = Driver::start(empty_node(7), through(proxy)).unwrap();
    let target = closed_port();
    driver.handle().request(Request::AddPeer(target));
    let (addr, error) = connect_failed(&driver);
    assert_eq!(addr, target);
    assert!(error.contains(&format!("SOCKS5 proxy {proxy}")), "{error}");
    assert!(error.contains("closed"), "{error}");
    shut_down(driver);
}

#[test]
fn bytes_after_the_proxys_reply_reach_the_core_as_the_peers_first() {
    // A proxy that "connects" and answers with its reply and, in the same write, the peer's
    // first bytes: a frame header with mainnet's magic, which a regtest node refuses at once.
    // The node only drops the peer that fast if those bytes reached the core after Connected.
    let (proxy, requests) = fake_proxy(|mut conn| {
        read_greeting(&mut conn);
        conn.write_all(&[0x05, 0x00]).expect("the method reply");
        let mut request = [0u8; 10];
        conn.read_exact(&mut request).expect("the request");
        let mut answer = vec![0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
        answer.extend_from_slice(&[0xf9, 0xbe, 0xb4, 0xd9]); // mainnet's magic
        answer.extend_from_slice(b"version\0\0\0\0\0");
        answer.extend_from_slice(&[0; 8]);
        conn.write_all(&answer)
            .expect("the reply and the first bytes");
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
        request
    });
    // A v1 dialler: the mainnet header is then refused at once as the wrong magic (a v2 one
    // would wait for a 64-byte key).
    let mut config = Config::new(Network::Regtest);
    config.seed = 8;
    config.v2_transport = false;
    let node = Node::new(config, HeaderChain::new(Network::Regtest.params()));
    let driver = Driver::start(node, through(proxy)).unwrap();
    let target: SocketAddr = "127.0.0.1:18444".parse().unwrap();
    let started = Instant::now();
    driver.handle().request(Request::AddPeer(target));
    let addr = wait_for(driver.notifications(), "PeerConnected", |e| match e {
        Event::PeerConnected { addr, .. } => Some(*addr),
        _ => None,
    });
    assert_eq!(addr, target);
    let reason = wait_for(driver.notifications(), "PeerDisconnected", |e| match e {
        Event::PeerDisconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    let mainnet = [0xf9, 0xbe, 0xb4, 0xd9];
    assert_eq!(
        reason,
        DisconnectReason::Wire(WireError::BadMagic(mainnet)),
        "the peer was dropped for the bytes the proxy handed on"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the peer's first bytes did not reach the core"
    );
    // CONNECT to 127.0.0.1:18444 as an IPv4 address.
    let request = requests.recv_timeout(PATIENCE).expect("the request");
    let [hi, lo] = 18444u16.to_be_bytes();
    assert_eq!(request, [0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, hi, lo]);
    shut_down(driver);
}
