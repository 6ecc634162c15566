//! The driver conformance suite: the same scenarios, on real loopback sockets with real nodes,
//! against the mio driver and the async-std driver, and across mixed pairs (a mio node talking
//! to an async-std node). Both drivers must behave the same: the same handshake, the same
//! refusal of garbage, the same report of a failed dial, the same end of a connection the user
//! drops, and the same chain after header sync.
//!
//! Each driver is wrapped in the small local trait [`TestDriver`]; every scenario is a generic
//! function, instantiated once per driver (or per ordered pair of drivers).
//!
//! Waits are bounded only to turn a hang into a failure; no assertion depends on timing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use headway_core::bitcoin::block::{Header, Version};
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use headway_core::{
    Config, Direction, DisconnectReason, Event, HeaderChain, Network, Node, Notification, Request,
};

/// Long enough that only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(90);

/// Headers in the served chain of the sync scenario: more than one 2000-header message.
const SYNC_CHAIN_LEN: usize = 2500;

/// What the suite needs of a driver; both drivers have this API, and this trait only names it.
trait TestDriver: Sized {
    /// For failure messages.
    const NAME: &'static str;
    fn start(node: Node, listen: Option<SocketAddr>) -> std::io::Result<Self>;
    fn local_addr(&self) -> Option<SocketAddr>;
    fn request(&self, request: Request);
    fn notifications(&self) -> &Receiver<Notification>;
    fn join(self) -> Node;
}

macro_rules! test_driver {
    ($wrapper:ident, $krate:ident, $name:literal) => {
        struct $wrapper($krate::Driver);

        impl TestDriver for $wrapper {
            const NAME: &'static str = $name;
            fn start(node: Node, listen: Option<SocketAddr>) -> std::io::Result<Self> {
                let config = $krate::DriverConfig {
                    listen,
                    ..$krate::DriverConfig::default()
                };
                $krate::Driver::start(node, config).map($wrapper)
            }
            fn local_addr(&self) -> Option<SocketAddr> {
                self.0.local_addr()
            }
            fn request(&self, request: Request) {
                self.0.handle().request(request)
            }
            fn notifications(&self) -> &Receiver<Notification> {
                self.0.notifications()
            }
            fn join(self) -> Node {
                self.0.join()
            }
        }
    };
}

test_driver!(Mio, headway_driver_mio, "mio");
test_driver!(AsyncStd, headway_driver_async_std, "async-std");

fn loopback_any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn regtest_node(seed: u64, chain: HeaderChain) -> Node {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    Node::new(config, chain)
}

fn genesis_node(seed: u64) -> Node {
    regtest_node(seed, HeaderChain::new(Network::Regtest.params()))
}

fn start<D: TestDriver>(node: Node, listen: bool) -> D {
    match D::start(node, listen.then(loopback_any)) {
        Ok(driver) => driver,
        Err(e) => panic!("{} driver failed to start: {e}", D::NAME),
    }
}

fn listen_addr<D: TestDriver>(driver: &D) -> SocketAddr {
    match driver.local_addr() {
        Some(addr) => addr,
        None => panic!("{} driver started with a listener has no address", D::NAME),
    }
}

/// Reads notifications until `pick` returns something; fails on a hang or a closed channel.
fn wait_for<D: TestDriver, T>(
    driver: &D,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let give_up = Instant::now() + HANG_GUARD;
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        match driver.notifications().recv_timeout(left) {
            Ok(Notification::Event(event)) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Ok(Notification::Persist(_)) => {}
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: no {what} before the hang guard", D::NAME)
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{}: driver ended before {what}", D::NAME)
            }
        }
    }
}

/// Asks for shutdown, waits for `ShutdownComplete`, and gives back the node.
fn shut_down<D: TestDriver>(driver: D) -> Node {
    driver.request(Request::Shutdown);
    wait_for(&driver, "ShutdownComplete", |e| {
        matches!(e, Event::ShutdownComplete).then_some(())
    });
    let node = driver.join();
    assert_eq!(
        node.peers().count(),
        0,
        "{}: connections left after shutdown",
        D::NAME
    );
    node
}

fn negotiated(e: &Event) -> Option<(SocketAddr, Direction, String)> {
    match e {
        Event::PeerNegotiated {
            addr,
            direction,
            user_agent,
            ..
        } => Some((*addr, *direction, user_agent.clone())),
        _ => None,
    }
}

/// Closing a raw socket's view: the driver closed it, so reading ends (cleanly or by a reset).
fn assert_closed_by_driver(raw: &mut StdStream, driver: &str) {
    let _ = raw.set_read_timeout(Some(HANG_GUARD));
    let mut rest = Vec::new();
    if let Err(e) = raw.read_to_end(&mut rest) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "{driver}: socket not closed: {e}"
        );
    }
}

// --- scenario 1: handshake and shutdown ---------------------------------------------------

/// `L` listens, `D` dials it: both complete the handshake (each seeing the right direction and
/// the other's user agent), and a shutdown ends both.
fn handshake<L: TestDriver, D: TestDriver>() {
    let listener: L = start(genesis_node(11), true);
    let dialler: D = start(genesis_node(12), false);
    let target = listen_addr(&listener);
    dialler.request(Request::AddPeer(target));

    let (addr, direction, agent) = wait_for(&dialler, "PeerNegotiated", negotiated);
    assert_eq!(direction, Direction::Outbound, "{} dialler", D::NAME);
    assert_eq!(
        addr,
        target,
        "{} dialler names the peer by the address it dialled",
        D::NAME
    );
    assert!(
        agent.starts_with("/headway:"),
        "{} dialler saw user agent {agent:?}",
        D::NAME
    );
    let (_, direction, agent) = wait_for(&listener, "PeerNegotiated", negotiated);
    assert_eq!(direction, Direction::Inbound, "{} listener", L::NAME);
    assert!(
        agent.starts_with("/headway:"),
        "{} listener saw user agent {agent:?}",
        L::NAME
    );

    shut_down(dialler);
    shut_down(listener);
}

#[test]
fn handshake_async_std_to_async_std() {
    handshake::<AsyncStd, AsyncStd>();
}

#[test]
fn handshake_mio_to_mio() {
    handshake::<Mio, Mio>();
}

#[test]
fn handshake_async_std_dials_mio() {
    handshake::<Mio, AsyncStd>();
}

#[test]
fn handshake_mio_dials_async_std() {
    handshake::<AsyncStd, Mio>();
}

// --- scenario 2: garbage ------------------------------------------------------------------

/// A raw socket opens with bytes that cannot start a regtest `version` frame: the node takes it
/// for a BIP324 v2 opening, as Core does, drops it without penalty, and the driver really
/// closes the socket.
fn garbage_is_refused<D: TestDriver>() {
    let driver: D = start(genesis_node(21), true);
    let mut raw = match StdStream::connect(listen_addr(&driver)) {
        Ok(raw) => raw,
        Err(e) => panic!("{}: cannot reach the driver: {e}", D::NAME),
    };
    if let Err(e) = raw.write_all(&[0xde_u8; 24]) {
        panic!("{}: cannot write garbage: {e}", D::NAME);
    }
    let reason = wait_for(&driver, "PeerDisconnected", |e| match e {
        Event::PeerDisconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        matches!(reason, DisconnectReason::V2Handshake),
        "{}: reason was {reason:?}",
        D::NAME
    );
    assert_closed_by_driver(&mut raw, D::NAME);
    shut_down(driver);
}

#[test]
fn garbage_is_refused_async_std() {
    garbage_is_refused::<AsyncStd>();
}

#[test]
fn garbage_is_refused_mio() {
    garbage_is_refused::<Mio>();
}

// --- scenario 3: a dial to a closed port --------------------------------------------------

fn closed_port_fails<D: TestDriver>() {
    let closed = match StdListener::bind(loopback_any()).and_then(|l| l.local_addr()) {
        Ok(addr) => addr, // the listener is dropped here: nothing listens there any more
        Err(e) => panic!("cannot find a free port: {e}"),
    };
    let driver: D = start(genesis_node(31), false);
    driver.request(Request::AddPeer(closed));
    let (addr, error) = wait_for(&driver, "ConnectFailed", |e| match e {
        Event::ConnectFailed { addr, error, .. } => Some((*addr, error.clone())),
        _ => None,
    });
    assert_eq!(addr, closed, "{}", D::NAME);
    assert!(
        !error.is_empty(),
        "{}: the operating system's error is passed on",
        D::NAME
    );
    shut_down(driver);
}

#[test]
fn closed_port_fails_async_std() {
    closed_port_fails::<AsyncStd>();
}

#[test]
fn closed_port_fails_mio() {
    closed_port_fails::<Mio>();
}

// --- scenario 4: header sync --------------------------------------------------------------

/// Regtest headers on the regtest genesis, 10 minutes apart, mined once for every test; the
/// genesis itself comes first.
fn served_chain() -> &'static [Header] {
    static CHAIN: OnceLock<Vec<Header>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let mut chain = vec![Network::Regtest.params().genesis];
        for height in 1..=SYNC_CHAIN_LEN {
            let prev = chain
                .last()
                .copied()
                .unwrap_or(Network::Regtest.params().genesis);
            let mut header = Header {
                version: Version::from_consensus(0x2000_0000),
                prev_blockhash: prev.block_hash(),
                merkle_root: TxMerkleNode::from_byte_array([(height % 251) as u8; 32]),
                time: prev.time + 600,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            };
            while header.validate_pow(header.target()).is_err() {
                header.nonce = header.nonce.wrapping_add(1);
            }
            chain.push(header);
        }
        chain
    })
}

/// `S` serves [`served_chain`], `C` starts from genesis and adds `S` as a peer: `C` must end
/// with exactly the served chain, hash for hash, whichever drivers run the two ends.
fn header_sync<S: TestDriver, C: TestDriver>() {
    let headers = served_chain();
    let expected: Vec<BlockHash> = headers.iter().map(Header::block_hash).collect();
    let Some(&tip) = expected.last() else {
        panic!("empty served chain")
    };
    let stored = match HeaderChain::from_stored(Network::Regtest.params(), headers.to_vec(), vec![])
    {
        Ok(chain) => chain,
        Err(e) => panic!("served chain does not load: {e}"),
    };
    assert_eq!(
        stored.tip_hash(),
        tip,
        "the serving node starts at the served tip"
    );

    let server: S = start(regtest_node(41, stored), true);
    let client: C = start(genesis_node(42), false);
    client.request(Request::AddPeer(listen_addr(&server)));
    wait_for(&client, "the served tip", |e| match e {
        Event::TipChanged(change) if change.tip == tip => Some(()),
        Event::Synced { tip: synced, .. } if *synced == tip => Some(()),
        _ => None,
    });

    let client_node = shut_down(client);
    let server_node = shut_down(server);
    let chain = client_node.chain();
    assert_eq!(
        chain.tip_hash(),
        tip,
        "{} client from {} server",
        C::NAME,
        S::NAME
    );
    assert_eq!(chain.tip_height() as usize, SYNC_CHAIN_LEN);
    for (height, hash) in (0u32..).zip(&expected) {
        assert_eq!(
            chain.hash_at(height).as_ref(),
            Some(hash),
            "height {height}"
        );
    }
    assert_eq!(
        server_node.chain().tip_hash(),
        tip,
        "the server's chain is unchanged"
    );
}

#[test]
fn header_sync_async_std_from_async_std() {
    header_sync::<AsyncStd, AsyncStd>();
}

#[test]
fn header_sync_mio_from_mio() {
    header_sync::<Mio, Mio>();
}

#[test]
fn header_sync_async_std_from_mio() {
    header_sync::<Mio, AsyncStd>();
}

#[test]
fn header_sync_mio_from_async_std() {
    header_sync::<AsyncStd, Mio>();
}

// --- scenario 5: a disconnect asked for by the user -----------------------------------------

/// After the handshake the listener's user asks to drop the peer: the listener reports it as
/// requested, and the dialler sees the connection end.
fn requested_disconnect<D: TestDriver>() {
    let listener: D = start(genesis_node(51), true);
    let dialler: D = start(genesis_node(52), false);
    dialler.request(Request::AddPeer(listen_addr(&listener)));
    let peer = wait_for(&listener, "PeerNegotiated", |e| match e {
        Event::PeerNegotiated { peer, .. } => Some(*peer),
        _ => None,
    });
    wait_for(&dialler, "PeerNegotiated", negotiated);

    listener.request(Request::Disconnect(peer));
    let reason = wait_for(&listener, "PeerDisconnected", |e| match e {
        Event::PeerDisconnected {
            peer: gone, reason, ..
        } if *gone == peer => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, DisconnectReason::Requested, "{}", D::NAME);
    wait_for(&dialler, "PeerDisconnected", |e| {
        matches!(e, Event::PeerDisconnected { .. }).then_some(())
    });

    shut_down(dialler);
    shut_down(listener);
}

#[test]
fn requested_disconnect_async_std() {
    requested_disconnect::<AsyncStd>();
}

#[test]
fn requested_disconnect_mio() {
    requested_disconnect::<Mio>();
}
