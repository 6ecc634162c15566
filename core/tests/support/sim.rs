//! A deterministic network of [`Node`]s on virtual time. Links deliver bytes after a fixed
//! latency; time jumps to the next delivery or deadline. Raw peers let a test script the other
//! side of a connection byte by byte.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::p2p::address::Address;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::message_network::VersionMessage;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::bitcoin::BlockHash;
use headway_core::wire::{encode, FrameDecoder};
use headway_core::{Direction, Event, Input, Node, Output, PeerId, PersistChain, Request, Time};

/// The version message a scripted peer sends: protocol `version`, claiming `start_height`.
pub fn raw_version(nonce: u64, version: u32, start_height: i32) -> VersionMessage {
    let a: SocketAddr = "10.9.9.9:18444".parse().unwrap();
    let mut v = VersionMessage::new(
        ServiceFlags::NETWORK,
        1_700_000_000,
        Address::new(&a, ServiceFlags::NONE),
        Address::new(&a, ServiceFlags::NETWORK),
        nonce,
        "/raw:0.1/".to_string(),
        start_height,
    );
    v.version = version;
    v
}

/// One side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    /// A simulated node, by index, and the id it knows the connection by.
    Node(usize, PeerId),
    /// A raw peer scripted by the test, by index.
    Raw(usize),
}

/// A scripted peer: what it received, decoded, and whether it is still connected.
pub struct RawPeer {
    pub decoder: FrameDecoder,
    pub received: Vec<NetworkMessage>,
    /// Every byte the node sent it, for tests that speak v2 themselves.
    pub bytes: Vec<u8>,
    pub link: Option<End>,
    pub closed: bool,
    /// If set, the peer answers every getheaders from this chain (genesis first), as Core
    /// does: the headers after the first locator hash it knows (after genesis if none), up to
    /// 2000.
    pub serves: Option<Vec<Header>>,
    /// Extra time the peer takes to answer a getheaders, beyond the link latency.
    pub answer_delay: Duration,
}

/// Core's answer to `locator` from `chain` (genesis first): up to 2000 headers after the
/// first locator hash on the chain, or after genesis if none is.
pub fn answer_getheaders(chain: &[Header], locator: &[BlockHash]) -> Vec<Header> {
    let start = locator
        .iter()
        .find_map(|hash| chain.iter().position(|h| h.block_hash() == *hash))
        .unwrap_or(0);
    chain.iter().skip(start + 1).take(2000).copied().collect()
}

pub struct SimNode {
    pub node: Node,
    pub addr: SocketAddr,
    pub events: Vec<(Time, Event)>,
    pub persisted: Vec<PersistChain>,
    /// Every address book change the node asked to store, in order.
    pub addr_changes: Vec<headway_core::addrbook::AddrBookChange>,
    /// Every name the node asked to resolve, in order.
    pub resolved: Vec<String>,
    /// Every address the node asked to dial, in order.
    pub dialled: Vec<SocketAddr>,
    /// Every name the node asked to dial through its proxy, in order.
    pub dialled_names: Vec<String>,
}

enum Delivery {
    Bytes { to: End, bytes: Vec<u8> },
    Closed { to: End },
}

pub struct Sim {
    pub now: Time,
    pub nodes: Vec<SimNode>,
    pub raws: Vec<RawPeer>,
    pub latency: Duration,
    next_peer: u64,
    links: BTreeMap<End, End>,
    queue: VecDeque<(Time, Delivery)>,
    /// Addresses that swallow every dial without an answer (for dial-failure tests).
    pub dead_addrs: Vec<SocketAddr>,
    /// What names resolve to; a name not here resolves to nothing.
    pub dns: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// Nodes reachable by name, as a proxy would reach them (`Output::Connect`'s `host`).
    pub named: BTreeMap<String, usize>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim {
            now: Time::from_secs(1_700_000_000),
            nodes: Vec::new(),
            raws: Vec::new(),
            latency: Duration::from_millis(20),
            next_peer: 1,
            links: BTreeMap::new(),
            queue: VecDeque::new(),
            dead_addrs: Vec::new(),
            dns: BTreeMap::new(),
            named: BTreeMap::new(),
        }
    }

    pub fn add_node(&mut self, node: Node) -> usize {
        let i = self.nodes.len();
        let addr: SocketAddr = format!("10.0.0.{}:18444", i + 1).parse().unwrap();
        self.nodes.push(SimNode {
            node,
            addr,
            events: Vec::new(),
            persisted: Vec::new(),
            addr_changes: Vec::new(),
            resolved: Vec::new(),
            dialled: Vec::new(),
            dialled_names: Vec::new(),
        });
        i
    }

    fn peer_id(&mut self) -> PeerId {
        self.next_peer += 1;
        PeerId(self.next_peer)
    }

    pub fn request(&mut self, node: usize, req: Request) {
        let now = self.now;
        self.nodes[node].node.handle(now, Input::Request(req));
        self.drain(node);
    }

    /// Node `from` dials node `to` (a persistent peer).
    pub fn connect(&mut self, from: usize, to: usize) {
        let addr = self.nodes[to].addr;
        self.request(from, Request::AddPeer(addr));
    }

    /// A raw peer dials `node`; returns the raw peer's index.
    pub fn raw_inbound(&mut self, node: usize) -> usize {
        let addr: SocketAddr = format!("10.1.0.{}:5000", self.raws.len() + 1)
            .parse()
            .unwrap();
        self.raw_inbound_from(node, addr)
    }

    /// A raw peer at `addr` dials `node`; returns the raw peer's index.
    pub fn raw_inbound_from(&mut self, node: usize, addr: SocketAddr) -> usize {
        let r = self.new_raw();
        let id = self.peer_id();
        self.links.insert(End::Raw(r), End::Node(node, id));
        self.links.insert(End::Node(node, id), End::Raw(r));
        self.raws[r].link = Some(End::Node(node, id));
        let now = self.now;
        self.nodes[node].node.handle(
            now,
            Input::Connected {
                peer: id,
                addr,
                local_addr: None,
                direction: Direction::Inbound,
            },
        );
        self.drain(node);
        r
    }

    fn new_raw(&mut self) -> usize {
        let magic = headway_core::Network::Regtest.params().magic;
        self.raws.push(RawPeer {
            decoder: FrameDecoder::new(magic),
            received: Vec::new(),
            bytes: Vec::new(),
            link: None,
            closed: false,
            serves: None,
            answer_delay: Duration::ZERO,
        });
        self.raws.len() - 1
    }

    /// A raw peer that dials `node` and completes the handshake (version with `nonce`, claiming
    /// height 100,000, then verack); returns its index once a second of virtual time passed.
    pub fn raw_negotiated(&mut self, node: usize, nonce: u64) -> usize {
        let r = self.raw_inbound(node);
        self.raw_send(
            r,
            NetworkMessage::Version(raw_version(nonce, 70016, 100_000)),
        );
        self.raw_send(r, NetworkMessage::Verack);
        self.run_for(Duration::from_secs(1));
        r
    }

    /// A raw peer that dials `node`, serves `chain` (the headers after genesis) to every
    /// getheaders, `delay` after it arrives, and completes the handshake; returns its index once
    /// a second of virtual time passed.
    pub fn raw_serving(
        &mut self,
        node: usize,
        nonce: u64,
        chain: &[Header],
        delay: Duration,
    ) -> usize {
        let r = self.raw_inbound(node);
        let mut served = vec![headway_core::Network::Regtest.params().genesis];
        served.extend_from_slice(chain);
        self.raws[r].serves = Some(served);
        self.raws[r].answer_delay = delay;
        self.raw_send(
            r,
            NetworkMessage::Version(raw_version(nonce, 70016, 100_000)),
        );
        self.raw_send(r, NetworkMessage::Verack);
        self.run_for(Duration::from_secs(1));
        r
    }

    /// Sends a message from a raw peer.
    pub fn raw_send(&mut self, r: usize, msg: NetworkMessage) {
        let magic = headway_core::Network::Regtest.params().magic;
        self.raw_send_bytes(r, encode(magic, msg));
    }

    pub fn raw_send_bytes(&mut self, r: usize, bytes: Vec<u8>) {
        self.raw_send_bytes_after(r, bytes, Duration::ZERO);
    }

    /// Sends bytes from a raw peer that leave it `delay` from now.
    pub fn raw_send_bytes_after(&mut self, r: usize, bytes: Vec<u8>, delay: Duration) {
        if let Some(to) = self.raws[r].link {
            let at = self.now + self.latency + delay;
            self.enqueue(at, Delivery::Bytes { to, bytes });
        }
    }

    /// Queues a delivery in time order; deliveries due at the same time keep their order.
    fn enqueue(&mut self, at: Time, delivery: Delivery) {
        let index = self.queue.partition_point(|(t, _)| *t <= at);
        self.queue.insert(index, (at, delivery));
    }

    /// Carries out a node's outputs.
    fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].node.poll() {
            match out {
                Output::Send { peer, bytes } => {
                    if let Some(to) = self.links.get(&End::Node(i, peer)).copied() {
                        let at = self.now + self.latency;
                        self.enqueue(at, Delivery::Bytes { to, bytes });
                    }
                }
                Output::Connect { addr, host } => {
                    self.nodes[i].dialled.push(addr);
                    if let Some(host) = &host {
                        self.nodes[i].dialled_names.push(host.clone());
                    }
                    if self.dead_addrs.contains(&addr) {
                        continue;
                    }
                    let target = match &host {
                        Some(host) => self.named.get(host).copied(),
                        None => self.nodes.iter().position(|n| n.addr == addr),
                    };
                    match target {
                        Some(j) => {
                            let (a, b) = (self.peer_id(), self.peer_id());
                            self.links.insert(End::Node(i, a), End::Node(j, b));
                            self.links.insert(End::Node(j, b), End::Node(i, a));
                            let now = self.now;
                            let from = self.nodes[i].addr;
                            self.nodes[i].node.handle(
                                now,
                                Input::Connected {
                                    peer: a,
                                    addr,
                                    local_addr: None,
                                    direction: Direction::Outbound,
                                },
                            );
                            self.nodes[j].node.handle(
                                now,
                                Input::Connected {
                                    peer: b,
                                    addr: from,
                                    local_addr: None,
                                    direction: Direction::Inbound,
                                },
                            );
                            self.drain(j);
                        }
                        None => {
                            let now = self.now;
                            self.nodes[i].node.handle(
                                now,
                                Input::ConnectFailed {
                                    addr,
                                    error: "refused".into(),
                                },
                            );
                        }
                    }
                }
                Output::Disconnect { peer, .. } => {
                    let me = End::Node(i, peer);
                    if let Some(other) = self.links.remove(&me) {
                        self.links.remove(&other);
                        let at = self.now + self.latency;
                        self.enqueue(at, Delivery::Closed { to: other });
                    }
                    let now = self.now;
                    self.nodes[i]
                        .node
                        .handle(now, Input::Disconnected { peer, error: None });
                }
                Output::Persist(p) => {
                    super::fixtures::remember(&p.connected);
                    let side: Vec<Header> = p.side.iter().map(|(_, h)| *h).collect();
                    super::fixtures::remember(&side);
                    self.nodes[i].persisted.push(p);
                }
                Output::ServeHeaders(ask) => {
                    // The store's part: read the heights off the node's best chain as it stands
                    // (nothing has happened since the ask) and hand the headers back.
                    let chain = self.nodes[i].node.chain();
                    let headers: Vec<Header> = (ask.first..ask.first.saturating_add(ask.count))
                        .map_while(|h| chain.hash_at(h))
                        .map(|hash| {
                            super::fixtures::stored_header(&hash)
                                .expect("sim: a node serves a header that was never stored")
                        })
                        .collect();
                    let now = self.now;
                    self.nodes[i].node.handle(
                        now,
                        Input::Request(Request::SendHeaders {
                            peer: ask.peer,
                            headers,
                        }),
                    );
                }
                Output::PersistAddrs(c) => self.nodes[i].addr_changes.push(c),
                Output::Resolve { host } => {
                    let addrs = self.dns.get(&host).cloned().unwrap_or_default();
                    self.nodes[i].resolved.push(host.clone());
                    let now = self.now;
                    self.nodes[i]
                        .node
                        .handle(now, Input::Resolved { host, addrs });
                }
                Output::Event(e) => {
                    let now = self.now;
                    self.nodes[i].events.push((now, e));
                }
            }
        }
    }

    fn deliver(&mut self, d: Delivery) {
        match d {
            Delivery::Bytes {
                to: End::Node(i, peer),
                bytes,
            } => {
                let now = self.now;
                self.nodes[i]
                    .node
                    .handle(now, Input::Received { peer, bytes });
                self.drain(i);
            }
            Delivery::Bytes {
                to: End::Raw(r),
                bytes,
            } => {
                let raw = &mut self.raws[r];
                raw.bytes.extend_from_slice(&bytes);
                raw.decoder.extend(&bytes);
                let mut answers = Vec::new();
                while let Ok(Some(m)) = raw.decoder.next_message() {
                    if let (NetworkMessage::GetHeaders(g), Some(chain)) = (&m, &raw.serves) {
                        answers.push(answer_getheaders(chain, &g.locator_hashes));
                    }
                    raw.received.push(m);
                }
                let delay = raw.answer_delay;
                let magic = headway_core::Network::Regtest.params().magic;
                for headers in answers {
                    let bytes = encode(magic, NetworkMessage::Headers(headers));
                    self.raw_send_bytes_after(r, bytes, delay);
                }
            }
            Delivery::Closed {
                to: End::Node(i, peer),
            } => {
                let now = self.now;
                self.nodes[i].node.handle(
                    now,
                    Input::Disconnected {
                        peer,
                        error: Some("closed by peer".into()),
                    },
                );
                self.drain(i);
            }
            Delivery::Closed { to: End::Raw(r) } => {
                self.raws[r].closed = true;
                self.raws[r].link = None;
            }
        }
    }

    /// Closes a raw peer's connection.
    pub fn raw_close(&mut self, r: usize) {
        if let Some(to) = self.raws[r].link.take() {
            self.links.remove(&End::Raw(r));
            self.links.remove(&to);
            let at = self.now + self.latency;
            self.enqueue(at, Delivery::Closed { to });
        }
    }

    /// Advances to the next delivery or deadline no later than `limit`; false when idle.
    pub fn step(&mut self, limit: Time) -> bool {
        let next_delivery = self.queue.front().map(|(t, _)| *t);
        let next_deadline = self
            .nodes
            .iter()
            .filter_map(|n| n.node.next_deadline())
            .min();
        let next = match (next_delivery, next_deadline) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > limit {
            self.now = limit;
            return false;
        }
        self.now = self.now.max(next);
        if next_delivery == Some(next) {
            if let Some((_, d)) = self.queue.pop_front() {
                self.deliver(d);
            }
        } else {
            let now = self.now;
            for i in 0..self.nodes.len() {
                if self.nodes[i].node.next_deadline().is_some_and(|t| t <= now) {
                    self.nodes[i].node.handle(now, Input::Tick);
                    self.drain(i);
                }
            }
        }
        true
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        let mut steps = 0u64;
        while self.step(limit) {
            steps += 1;
            assert!(steps < 10_000_000, "simulation does not settle");
        }
        self.now = limit;
    }

    /// Runs until `cond` holds, at most `d` of virtual time; returns whether it held.
    pub fn run_until(&mut self, d: Duration, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        let limit = self.now + d;
        loop {
            if cond(self) {
                return true;
            }
            if !self.step(limit) {
                return cond(self);
            }
        }
    }

    /// The getheaders requests a raw peer received, in order.
    pub fn raw_getheaders(
        &self,
        r: usize,
    ) -> Vec<headway_core::bitcoin::p2p::message_blockdata::GetHeadersMessage> {
        self.raws[r]
            .received
            .iter()
            .filter_map(|m| match m {
                NetworkMessage::GetHeaders(g) => Some(g.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn events(&self, node: usize) -> impl Iterator<Item = &Event> {
        self.nodes[node].events.iter().map(|(_, e)| e)
    }

    /// Why each of the node's connections ended, in order.
    #[allow(dead_code)]
    pub fn disconnect_reasons(&self, node: usize) -> Vec<headway_core::DisconnectReason> {
        self.events(node)
            .filter_map(|e| match e {
                Event::PeerDisconnected { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// Asks the node for its peer report (`Request::ReportPeers(token)`), answered at once.
    #[allow(dead_code)]
    pub fn peer_report(&mut self, node: usize, token: u64) -> headway_core::PeerReport {
        self.request(node, Request::ReportPeers(token));
        self.events(node)
            .filter_map(|e| match e {
                Event::PeerReport(r) if r.token == token => Some(r.clone()),
                _ => None,
            })
            .last()
            .expect("the node answers a report request at once")
    }

    pub fn tip(&self, node: usize) -> headway_core::bitcoin::BlockHash {
        self.nodes[node].node.chain().tip_hash()
    }
}
