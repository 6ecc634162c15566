//! The async-std driver dialling through a SOCKS5 proxy: a real one (Debian's `microsocks`,
//! started by each test on a free loopback port and killed at its end) and fake ones written
//! here for what a real proxy will not do on demand (stay silent, answer garbage, close, or send
//! the peer's first bytes in the same segment as its reply).
//!
//! A missing microsocks fails these tests, with how to install it: a proxy test that skips
//! silently would let the proxy path rot unseen.
//!
//! Waits are bounded only to turn a hang into a failure, except where a test measures that a
//! failure came at once (well inside a handshake limit set far longer than the wait).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::p2p::address::Address;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::message_network::VersionMessage;
use headway_core::bitcoin::p2p::{Magic, ServiceFlags};
use headway_core::{
    Config, Direction, Event, HeaderArchive, HeaderChain, Network, Node, Notification,
    PersistChain, Request, Time,
};
use headway_driver_async_std::{Driver, DriverConfig, DriverHandle};
use headway_regtest::microsocks::Microsocks;
use headway_socks5::HANDSHAKE_TIMEOUT;

/// Long enough that only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A port nothing listens on: 1 (tcpmux), privileged, so no test's listener can take it, unlike
/// a port found free and released, which a parallel test's `bind(0)` may be handed next.
const CLOSED_PORT: u16 = 1;

/// The address microsocks binds its outgoing connections to (`-b`), so that the serving node can
/// tell a connection from the proxy (127.0.0.2) from one straight from the dialler (127.0.0.1).
/// Linux routes all of 127.0.0.0/8 to the loopback interface.
const PROXY_OUTGOING_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A fake proxy: a std listener on a loopback port that runs `serve` on every connection it
/// accepts, each on its own thread (the node retries failed dials).
fn fake_proxy(serve: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake proxy");
    let addr = listener.local_addr().expect("the fake proxy's address");
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || serve(conn));
        }
    });
    addr
}

/// What a fake proxy reads before it answers: the greeting, answered with "no authentication",
/// then the CONNECT request for an IPv4 target (10 bytes). `None` if the client went away.
fn accept_socks5(conn: &mut TcpStream) -> Option<()> {
    let mut greeting = [0u8; 3];
    conn.read_exact(&mut greeting).ok()?;
    conn.write_all(&[0x05, 0x00]).ok()?;
    let mut request = [0u8; 10];
    conn.read_exact(&mut request).ok()
}

fn node(seed: u64, chain: HeaderChain) -> Node {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    Node::new(config, chain)
}

fn empty_chain() -> HeaderChain {
    HeaderChain::new(Network::Regtest.params())
}

fn start(node: Node, config: DriverConfig) -> Driver {
    match Driver::start(node, config) {
        Ok(driver) => driver,
        Err(e) => panic!("driver failed to start: {e}"),
    }
}

/// A dialler with no listener, dialling through `proxy`.
fn start_behind(seed: u64, proxy: SocketAddr, handshake_limit: Duration) -> Driver {
    let config = DriverConfig {
        proxy: Some(proxy),
        proxy_handshake_timeout: handshake_limit,
        ..DriverConfig::default()
    };
    start(node(seed, empty_chain()), config)
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

/// [`wait_for`] on a forwarded notification channel.
fn wait_events<T>(
    notifications: &Receiver<Notification>,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let give_up = Instant::now() + HANG_GUARD;
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        match notifications.recv_timeout(left) {
            Ok(Notification::Event(event)) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Ok(_) => {}
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

/// Asks `driver` to dial `target` and returns the first `ConnectFailed` error, and how long it
/// took; fails if a connection comes up instead.
fn dial_and_fail(driver: &Driver, target: SocketAddr) -> (String, Duration) {
    let asked = Instant::now();
    driver.handle().request(Request::AddPeer(target));
    let error = wait_for(driver, "ConnectFailed", |e| match e {
        Event::ConnectFailed { addr, error, .. } => {
            assert_eq!(*addr, target, "the failure names the peer, not the proxy");
            Some(error.clone())
        }
        Event::PeerConnected { addr, .. } => panic!("connected to {addr} instead of failing"),
        _ => None,
    });
    (error, asked.elapsed())
}

fn wall_clock() -> Time {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Time::from_millis(millis)
}

#[test]
fn a_node_behind_microsocks_syncs_headers_from_another_node() {
    const HEIGHT: usize = 200;
    let proxy = Microsocks::start(&["-b", &PROXY_OUTGOING_IP.to_string()]);
    let mut chain = empty_chain();
    let headers = headway_regtest::mine(&headway_regtest::genesis(), HEIGHT, 7);
    let _ = chain.accept(&headers, wall_clock());
    assert_eq!(chain.tip_height() as usize, HEIGHT, "the serving chain");
    let tip = chain.tip_hash();
    let server = start(
        node(1, chain),
        DriverConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..DriverConfig::default()
        },
    );
    let mut best = vec![headway_regtest::genesis()];
    best.extend_from_slice(&headers);
    let server = serve_from_archive(server, &best);
    let Some(target) = server.addr else {
        panic!("the serving node has no address")
    };
    let dialler = start_behind(2, proxy.addr, HANDSHAKE_TIMEOUT);
    dialler.handle().request(Request::AddPeer(target));

    let (addr, direction) = wait_for(&dialler, "PeerNegotiated at the dialler", |e| match e {
        Event::PeerNegotiated {
            addr, direction, ..
        } => Some((*addr, *direction)),
        _ => None,
    });
    assert_eq!(addr, target, "the dialler names the peer, not the proxy");
    assert_eq!(direction, Direction::Outbound);
    let (height, synced_tip) = wait_for(&dialler, "Synced at the dialler", |e| match e {
        Event::Synced { height, tip } => Some((*height, *tip)),
        _ => None,
    });
    assert_eq!(height as usize, HEIGHT);
    assert_eq!(synced_tip, tip);

    let from = wait_events(
        &server.notifications,
        "PeerConnected at the server",
        |e| match e {
            Event::PeerConnected {
                addr,
                direction: Direction::Inbound,
                ..
            } => Some(*addr),
            _ => None,
        },
    );
    assert_eq!(
        from.ip(),
        IpAddr::V4(PROXY_OUTGOING_IP),
        "the serving node sees the proxy's outgoing address, not the dialler's"
    );

    let dialler_node = shut_down(dialler);
    assert_eq!(dialler_node.chain().tip_hash(), tip);
    server.shut_down();
    drop(proxy);
}

#[test]
fn a_target_nobody_listens_on_is_refused_by_the_proxy() {
    let proxy = Microsocks::start(&[]);
    let dialler = start_behind(3, proxy.addr, HANDSHAKE_TIMEOUT);
    let target = SocketAddr::from(([127, 0, 0, 1], CLOSED_PORT));
    let (error, _) = dial_and_fail(&dialler, target);
    assert!(
        error.contains(&format!("SOCKS5 proxy {}", proxy.addr)),
        "the error names the proxy: {error}"
    );
    assert!(error.contains("refused"), "the proxy's reason: {error}");
    shut_down(dialler);
}

#[test]
fn a_proxy_nobody_listens_on_is_a_failed_dial() {
    let proxy = SocketAddr::from(([127, 0, 0, 1], CLOSED_PORT));
    let dialler = start_behind(4, proxy, HANDSHAKE_TIMEOUT);
    let target = SocketAddr::from(([127, 0, 0, 1], 18444));
    let (error, _) = dial_and_fail(&dialler, target);
    assert!(
        error.contains(&format!("SOCKS5 proxy {proxy}")),
        "the error names the proxy: {error}"
    );
    assert!(
        error.contains("cannot connect to the proxy"),
        "the reason: {error}"
    );
    shut_down(dialler);
}

#[test]
fn a_proxy_that_never_answers_fails_after_the_handshake_timeout() {
    let limit = Duration::from_millis(500);
    let proxy = fake_proxy(|mut conn| {
        // Accept, read whatever comes, answer nothing; hold the socket until the client goes.
        let mut buf = [0u8; 64];
        while let Ok(1..) = conn.read(&mut buf) {}
    });
    let dialler = start_behind(5, proxy, limit);
    let target = SocketAddr::from(([127, 0, 0, 1], 18444));
    let (error, took) = dial_and_fail(&dialler, target);
    assert!(took >= limit, "failed after {took:?}, before the limit");
    assert!(
        error.contains(&format!("SOCKS5 proxy {proxy}")),
        "the error names the proxy: {error}"
    );
    assert!(error.contains("within 500ms"), "the reason: {error}");
    shut_down(dialler);
}

#[test]
fn a_proxy_that_answers_garbage_fails_at_once() {
    // A limit far beyond the wait below: only the answer itself can end the dial in time.
    let limit = Duration::from_secs(600);
    let proxy = fake_proxy(|mut conn| {
        let mut greeting = [0u8; 3];
        if conn.read_exact(&mut greeting).is_ok() {
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
        let mut buf = [0u8; 64];
        while let Ok(1..) = conn.read(&mut buf) {}
    });
    let dialler = start_behind(6, proxy, limit);
    let target = SocketAddr::from(([127, 0, 0, 1], 18444));
    let (error, took) = dial_and_fail(&dialler, target);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        error.contains(&format!("SOCKS5 proxy {proxy}")),
        "the error names the proxy: {error}"
    );
    assert!(error.contains("version byte 0x48"), "the reason: {error}");
    shut_down(dialler);
}

#[test]
fn a_proxy_that_closes_mid_handshake_fails_at_once() {
    let proxy = fake_proxy(|mut conn| {
        let mut greeting = [0u8; 3];
        let _ = conn.read_exact(&mut greeting);
        // Dropped here: the proxy closes before choosing a method.
    });
    let dialler = start_behind(7, proxy, Duration::from_secs(600));
    let target = SocketAddr::from(([127, 0, 0, 1], 18444));
    let (error, took) = dial_and_fail(&dialler, target);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        error.contains(&format!("SOCKS5 proxy {proxy}")) && error.contains("closed"),
        "{error}"
    );
    shut_down(dialler);
}

/// A regtest peer's `version` (protocol 70016, a full node) and `verack`, framed.
fn version_and_verack() -> Vec<u8> {
    let magic = Magic::REGTEST;
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut version = VersionMessage::new(
        ServiceFlags::NETWORK | ServiceFlags::WITNESS,
        i64::try_from(wall_clock().as_secs()).unwrap_or(i64::MAX),
        Address::new(&any, ServiceFlags::NONE),
        Address::new(&any, ServiceFlags::NONE),
        0x5eed_5eed,
        "/fake-target:0/".to_string(),
        0,
    );
    version.version = 70016;
    version.relay = false;
    let mut out = headway_core::wire::encode(magic, NetworkMessage::Version(version));
    out.extend(headway_core::wire::encode(magic, NetworkMessage::Verack));
    out
}

#[test]
fn the_peers_bytes_sent_with_the_proxys_reply_reach_the_core() {
    // The fake proxy answers the CONNECT and, in the same write, plays the target: a version and
    // a verack. Sent with the reply, they usually arrive in the handshake's read, so the driver
    // must hand them to the core as the connection's first bytes. The dialler negotiates on
    // them alone: nothing else ever comes from this "peer".
    let proxy = fake_proxy(|mut conn| {
        if accept_socks5(&mut conn).is_none() {
            return;
        }
        let mut answer = vec![0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
        answer.extend(version_and_verack());
        if conn.write_all(&answer).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        while let Ok(1..) = conn.read(&mut buf) {}
    });
    // The fake target speaks v1 and first (as bcoin does): a v2 dialler would take it for a
    // v1 peer and come back with v1 through a proxy that serves once. v1 from the start.
    let mut config = Config::new(Network::Regtest);
    config.seed = 8;
    config.v2_transport = false;
    let dialler = start(
        Node::new(config, empty_chain()),
        DriverConfig {
            proxy: Some(proxy),
            proxy_handshake_timeout: HANDSHAKE_TIMEOUT,
            ..DriverConfig::default()
        },
    );
    let target = SocketAddr::from(([127, 0, 0, 1], 18444));
    dialler.handle().request(Request::AddPeer(target));
    let (addr, user_agent) = wait_for(&dialler, "PeerNegotiated at the dialler", |e| match e {
        Event::PeerNegotiated {
            addr, user_agent, ..
        } => Some((*addr, user_agent.clone())),
        Event::PeerDisconnected { reason, .. } => panic!("disconnected: {reason:?}"),
        _ => None,
    });
    assert_eq!(addr, target);
    assert_eq!(user_agent, "/fake-target:0/");
    shut_down(dialler);
}
