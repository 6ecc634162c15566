//! The drivers under test behind one small trait, and a recorder around a running driver that
//! keeps every notification it gave, in order, so that a scenario can both wait for events and
//! hand the whole transcript over for comparison.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use headway_core::bitcoin::block::Header;
use headway_core::transport::TransportProtocol;
use headway_core::{
    Config, Event, HeaderArchive, HeaderChain, Network, Node, Notification, PersistChain, Request,
};

use super::transcript::summary;

/// Long enough that only a hang reaches it: every wait and every socket read is bounded by it,
/// so that a regression fails instead of hanging; no assertion depends on it otherwise.
pub const HANG_GUARD: Duration = Duration::from_secs(90);

/// For the node's timers that a scenario does not exercise: beyond the length of any test, so
/// that none of them fires at a point of a transcript that only the machine's speed decides.
pub const FAR: Duration = Duration::from_secs(60 * 60);

/// What the suite needs of a driver; both drivers have this API, and this trait only names it.
pub trait TestDriver: Sized {
    /// For failure messages.
    const NAME: &'static str;
    /// Starts the driver over `node`; `send_buffer_cap` replaces the driver's default.
    /// `archive` holds the node's full headers and plays its store: a relay thread answers
    /// every `ServeHeaders` from it (fed by the node's persists) and passes everything else on.
    fn start(
        node: Node,
        archive: HeaderArchive,
        listen: Option<SocketAddr>,
        send_buffer_cap: Option<usize>,
    ) -> std::io::Result<Self>;
    fn local_addr(&self) -> Option<SocketAddr>;
    fn request(&self, request: Request);
    fn notifications(&self) -> &Receiver<Notification>;
    fn join(self) -> Node;
}

/// The store's part for a node under test: answers its asks for headers from `archive`,
/// keeps `archive` up to date with its persists, and forwards every notification but the asks
/// (which the transcripts leave out: when they come depends on the peer). Ends when the
/// driver's channel does.
fn relay(
    notifications: &Receiver<Notification>,
    forward: &Sender<Notification>,
    mut archive: HeaderArchive,
    answer: impl Fn(Request),
) {
    while let Ok(notification) = notifications.recv() {
        match archive.handle(&notification) {
            Ok(Some(answer_to_ask)) => answer(answer_to_ask),
            Ok(None) => {
                let _ = forward.send(notification);
            }
            Err(e) => panic!("a persist does not fit the node's headers: {e}"),
        }
    }
}

macro_rules! test_driver {
    ($wrapper:ident, $krate:ident, $name:literal) => {
        pub struct $wrapper {
            local_addr: Option<SocketAddr>,
            handle: $krate::DriverHandle,
            notifications: Receiver<Notification>,
            relay: std::thread::JoinHandle<Node>,
        }

        impl TestDriver for $wrapper {
            const NAME: &'static str = $name;
            fn start(
                node: Node,
                archive: HeaderArchive,
                listen: Option<SocketAddr>,
                send_buffer_cap: Option<usize>,
            ) -> std::io::Result<Self> {
                let defaults = $krate::DriverConfig::default();
                let config = $krate::DriverConfig {
                    listen,
                    send_buffer_cap: send_buffer_cap.unwrap_or(defaults.send_buffer_cap),
                    ..defaults
                };
                let driver = $krate::Driver::start(node, config)?;
                let local_addr = driver.local_addr();
                let handle = driver.handle();
                let answers = driver.handle();
                let (forward, notifications) = std::sync::mpsc::channel();
                let relay =
                    std::thread::Builder::new()
                        .name("archive".into())
                        .spawn(move || {
                            relay(driver.notifications(), &forward, archive, |r| {
                                answers.request(r)
                            });
                            driver.join()
                        })?;
                Ok($wrapper {
                    local_addr,
                    handle,
                    notifications,
                    relay,
                })
            }
            fn local_addr(&self) -> Option<SocketAddr> {
                self.local_addr
            }
            fn request(&self, request: Request) {
                self.handle.request(request)
            }
            fn notifications(&self) -> &Receiver<Notification> {
                &self.notifications
            }
            fn join(self) -> Node {
                match self.relay.join() {
                    Ok(node) => node,
                    Err(_) => panic!("{}: the archive relay panicked", $name),
                }
            }
        }
    };
}

test_driver!(Mio, headway_driver_mio, "mio");
test_driver!(AsyncStd, headway_driver_async_std, "async-std");

pub fn loopback_any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

thread_local! {
    /// Whether the nodes of the scenario running on this thread speak BIP324 v2.
    static V2: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a scenario) with every node it starts speaking v2 (`true`) or v1 only.
pub fn with_transport<T>(v2: bool, f: impl FnOnce() -> T) -> T {
    let before = V2.with(|c| c.replace(v2));
    let out = f();
    V2.with(|c| c.set(before));
    out
}

/// Whether the running scenario's nodes speak v2.
pub fn v2_on() -> bool {
    V2.with(Cell::get)
}

/// The transport two nodes of the running scenario negotiate.
pub fn expected_transport() -> TransportProtocol {
    if v2_on() {
        TransportProtocol::V2
    } else {
        TransportProtocol::V1
    }
}

/// A regtest configuration with `seed`, every timer at [`FAR`] (scenarios shorten the one
/// they exercise), and the transport of [`with_transport`]. The same role gets the same seed
/// under every driver, so that the nonces it draws (and sends) are the same too.
pub fn config(seed: u64) -> Config {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    config.v2_transport = v2_on();
    config.handshake_timeout = FAR;
    config.ping_interval = FAR;
    config.ping_timeout = FAR;
    config.headers_timeout = FAR;
    config
}

/// A node's stored headers: genesis only.
pub const GENESIS_ONLY: &[Header] = &[];

/// A running driver and everything it has notified so far.
pub struct Running<D: TestDriver> {
    /// The node's part in the scenario ("listener", "client", ...), for failure messages.
    role: &'static str,
    driver: D,
    log: Vec<Notification>,
    /// Entries of `log` before this one were matched by [`Running::next_event`] already.
    cursor: usize,
}

/// A driver that has shut down: the node it gives back and its whole transcript.
pub struct Finished {
    pub node: Node,
    pub log: Vec<Notification>,
}

impl<D: TestDriver> Running<D> {
    /// Starts `D` over a node with `config` whose store holds `stored` (the best chain from
    /// genesis; empty for genesis only), listening on a free loopback port if `listen`.
    pub fn start(
        role: &'static str,
        config: Config,
        stored: &[Header],
        listen: bool,
        send_buffer_cap: Option<usize>,
    ) -> Running<D> {
        let params = Network::Regtest.params();
        let mut archive = HeaderArchive::new(&params);
        let chain = if stored.is_empty() {
            HeaderChain::new(params)
        } else {
            match HeaderChain::from_stored(params, stored.to_vec(), vec![]) {
                Ok(chain) => chain,
                Err(e) => panic!("{role}: the stored chain does not load: {e}"),
            }
        };
        if let Some(above) = stored.get(1..) {
            let filled = archive.apply(&PersistChain {
                fork_height: 0,
                rejoined: vec![],
                connected: above.to_vec(),
                side: vec![],
                tip_work: chain.tip_work(),
            });
            if let Err(e) = filled {
                panic!("{role}: the stored chain does not fit the archive: {e}");
            }
        }
        let node = Node::new(config, chain);
        match D::start(node, archive, listen.then(loopback_any), send_buffer_cap) {
            Ok(driver) => Running {
                role,
                driver,
                log: Vec::new(),
                cursor: 0,
            },
            Err(e) => panic!("{} {role}: the driver failed to start: {e}", D::NAME),
        }
    }

    /// Who this is, for failure messages.
    pub fn who(&self) -> String {
        format!("{} {}", D::NAME, self.role)
    }

    pub fn listen_addr(&self) -> SocketAddr {
        match self.driver.local_addr() {
            Some(addr) => addr,
            None => panic!("{}: started with a listener but has no address", self.who()),
        }
    }

    pub fn request(&self, request: Request) {
        self.driver.request(request);
    }

    /// Everything notified so far, oldest first.
    pub fn log_so_far(&self) -> &[Notification] {
        &self.log
    }

    /// The events notified so far (persist commands left out), oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> + '_ {
        self.log.iter().filter_map(|n| match n {
            Notification::Event(event) => Some(event),
            Notification::Persist(_)
            | Notification::PersistAddrs(_)
            | Notification::ServeHeaders(_) => None,
        })
    }

    /// Takes the notifications that are there already, without waiting.
    pub fn take_pending(&mut self) {
        loop {
            match self.driver.notifications().try_recv() {
                Ok(notification) => self.log.push(notification),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    panic!("{}: the driver ended unexpectedly", self.who())
                }
            }
        }
    }

    /// Waits for one more notification; fails on a hang or a closed channel.
    fn receive(&mut self, what: &str, give_up: Instant) {
        let left = give_up.saturating_duration_since(Instant::now());
        match self.driver.notifications().recv_timeout(left) {
            Ok(notification) => self.log.push(notification),
            Err(RecvTimeoutError::Timeout) => panic!(
                "{}: no {what} before the hang guard; seen so far:\n{}",
                self.who(),
                self.seen()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "{}: the driver ended before {what}; seen so far:\n{}",
                self.who(),
                self.seen()
            ),
        }
    }

    /// The first event after the last one this returned for which `pick` gives something.
    pub fn next_event<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let give_up = Instant::now() + HANG_GUARD;
        loop {
            while let Some(notification) = self.log.get(self.cursor) {
                self.cursor += 1;
                if let Notification::Event(event) = notification {
                    if let Some(found) = pick(event) {
                        return found;
                    }
                }
            }
            self.receive(what, give_up);
        }
    }

    /// Waits until `done` holds for the events so far (in whatever order they came).
    pub fn wait_until(&mut self, what: &str, done: impl Fn(&[&Event]) -> bool) {
        let give_up = Instant::now() + HANG_GUARD;
        loop {
            let events: Vec<&Event> = self.events().collect();
            if done(&events) {
                return;
            }
            self.receive(what, give_up);
        }
    }

    /// Waits until the node has seen at least `count` events that `matches`.
    pub fn wait_count(&mut self, what: &str, count: usize, matches: impl Fn(&Event) -> bool) {
        self.wait_until(what, |events| {
            events.iter().filter(|e| matches(e)).count() >= count
        });
    }

    /// Asks for shutdown, waits for `ShutdownComplete` and for the driver to end, and gives
    /// back the node with the whole transcript; nothing may follow `ShutdownComplete`, and no
    /// connection may be left.
    pub fn finish(mut self) -> Finished {
        self.request(Request::Shutdown);
        self.next_event("ShutdownComplete", |e| {
            matches!(e, Event::ShutdownComplete).then_some(())
        });
        let give_up = Instant::now() + HANG_GUARD;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.driver.notifications().recv_timeout(left) {
                Ok(notification) => self.log.push(notification),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: the driver did not end after its shutdown", self.who())
                }
            }
        }
        let who = self.who();
        assert!(
            matches!(
                self.log.last(),
                Some(Notification::Event(Event::ShutdownComplete))
            ),
            "{who}: notifications after ShutdownComplete:\n{}",
            self.seen()
        );
        let node = self.driver.join();
        assert_eq!(
            node.peers().count(),
            0,
            "{who}: connections left after shutdown"
        );
        Finished {
            node,
            log: self.log,
        }
    }

    fn seen(&self) -> String {
        self.log
            .iter()
            .map(|n| format!("  {}\n", summary(n)))
            .collect()
    }
}

/// `Event::PeerNegotiated` as (peer, address, direction, user agent).
pub fn negotiated(
    e: &Event,
) -> Option<(
    headway_core::PeerId,
    SocketAddr,
    headway_core::Direction,
    String,
)> {
    match e {
        Event::PeerNegotiated {
            peer,
            addr,
            direction,
            user_agent,
            ..
        } => Some((*peer, *addr, *direction, user_agent.clone())),
        _ => None,
    }
}

/// The transport of an `Event::PeerNegotiated`.
pub fn negotiated_transport(e: &Event) -> Option<TransportProtocol> {
    match e {
        Event::PeerNegotiated { transport, .. } => Some(*transport),
        _ => None,
    }
}

/// `Event::PeerDisconnected` as (peer, reason).
pub fn disconnected(e: &Event) -> Option<(headway_core::PeerId, headway_core::DisconnectReason)> {
    match e {
        Event::PeerDisconnected { peer, reason, .. } => Some((*peer, reason.clone())),
        _ => None,
    }
}

/// The reasons of every disconnect in a transcript, in order.
pub fn disconnects(log: &[Notification]) -> Vec<headway_core::DisconnectReason> {
    log.iter()
        .filter_map(|n| match n {
            Notification::Event(e) => disconnected(e).map(|(_, reason)| reason),
            Notification::Persist(_)
            | Notification::PersistAddrs(_)
            | Notification::ServeHeaders(_) => None,
        })
        .collect()
}

pub fn is_ping_measured(e: &Event) -> bool {
    matches!(e, Event::PingMeasured { .. })
}

pub fn is_synced(e: &Event) -> bool {
    matches!(e, Event::Synced { .. })
}
