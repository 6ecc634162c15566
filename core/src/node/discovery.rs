//! Finding and keeping outbound peers, after Core's `CConnman::ThreadOpenConnections` (net.cpp):
//! automatic outbound slots filled from the address book, at most one per network group; a
//! feeler every [`FEELER_INTERVAL`] that tests a "new" address; seed nodes dialled once to
//! fetch addresses; DNS seeding ([`super::seeding`]) and Core's fixed seeds when DNS gives
//! nothing within [`FIXED_SEEDS_DELAY`]; and writing the book to the store.
//!
//! Manual peers (`--connect`, `--addnode`) are not counted here: they live in
//! [`super::outbound`], are redialled forever and take no automatic slot.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::p2p::address::AddrV2;
use bitcoin::p2p::ServiceFlags;
use tracing::debug;

use super::seeding::{SeedStep, Seeding, MAX_ADDRESSES_PER_SEED};
use super::Node;
use crate::addrbook::netgroup::{self, NetGroup};
use crate::addrbook::{AddrBook, AddrBookKey, KnownAddr, StoredAddrBook};
use crate::output::{Event, Output};
use crate::peer::Direction;
use crate::seeds;
use crate::time::Time;

/// Automatic outbound connections by default (Core's `MAX_OUTBOUND_FULL_RELAY_CONNECTIONS`).
pub const DEFAULT_MAX_OUTBOUND: usize = 8;
/// Mean time between feeler connections (Core's `FEELER_INTERVAL`).
pub const FEELER_INTERVAL: Duration = Duration::from_secs(2 * 60);
/// With DNS seeding on and the book still empty this long after start, the fixed seeds are
/// added (Core's `ThreadOpenConnections`: "Adding fixed seeds as 60 seconds have passed").
pub const FIXED_SEEDS_DELAY: Duration = Duration::from_secs(60);
/// How often the book's changes go to the store (Core dumps `peers.dat` every 15 minutes,
/// `DUMP_PEERS_INTERVAL`; ours are small incremental writes, so every minute costs little and
/// a crash loses less).
pub const PERSIST_INTERVAL: Duration = Duration::from_secs(60);
/// When slots are empty and the book had nothing suitable, look again this much later (Core's
/// loop wakes every 500 ms; new addresses also trigger a look at once).
pub const FILL_RETRY: Duration = Duration::from_secs(5);
/// After a failed dial the next automatic dial waits this long, so that addresses that refuse
/// at once (a closed port on a fast network) cannot turn the slot filling into a busy loop
/// (Core's connection thread sleeps 500 ms between attempts and dials one at a time).
pub const DIAL_PACE: Duration = Duration::from_millis(500);
/// Picks tried per slot before giving up for now (Core's `nTries` bound of 100).
pub const MAX_SELECT_TRIES: usize = 100;
/// An address tried this recently is passed over for the first [`RECENT_TRY_TRIES`] picks
/// (Core: `nTries < 30 && now - addr.m_last_try < 10min`).
pub const RECENT_TRY: Duration = Duration::from_secs(10 * 60);
/// See [`RECENT_TRY`].
pub const RECENT_TRY_TRIES: usize = 30;
/// Addresses without the services we need are passed over for this many picks (Core's
/// `nTries < 40` with `HasAllDesirableServiceFlags`).
pub const SERVICE_TRIES: usize = 40;
/// Age given to addresses from DNS seeds: Core picks a random age of 3 to 7 days.
const SEED_AGE_MIN_SECS: u64 = 3 * 24 * 3600;
const SEED_AGE_SPAN_SECS: u64 = 4 * 24 * 3600;

/// What an outbound connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundKind {
    /// A `--connect` or `--addnode` peer: redialled forever, no automatic slot.
    Manual,
    /// One of the automatic outbound slots.
    Automatic,
    /// A short test of a "new" address: handshake, then close (Core's feeler).
    Feeler,
    /// A `--seednode`: handshake, getaddr, close once it answered (Core's addr-fetch).
    AddrFetch,
}

/// The discovery state of a node.
#[derive(Debug, Clone)]
pub(super) struct Discovery {
    pub(super) book: AddrBook,
    /// Automatic connections, seeding and feelers run (off with `--connect`).
    enabled: bool,
    seeding: Seeding,
    fixed_seeds_added: bool,
    seed_nodes: Vec<SocketAddr>,
    started_at: Option<Time>,
    /// Dials under way that this module asked for, with their purpose.
    pub(super) dialing: BTreeMap<SocketAddr, OutboundKind>,
    next_feeler: Option<Time>,
    next_persist: Option<Time>,
    next_fill: Option<Time>,
    /// The getaddr answer and when it expires.
    pub(super) addr_cache: Option<(Time, Vec<KnownAddr>)>,
}

impl Discovery {
    pub(super) fn new(
        key: AddrBookKey,
        accept_local: bool,
        enabled: bool,
        seeds: Vec<String>,
        seed_nodes: Vec<SocketAddr>,
    ) -> Discovery {
        Discovery {
            book: AddrBook::new(key, accept_local),
            enabled,
            seeding: Seeding::new(if enabled { seeds } else { Vec::new() }),
            fixed_seeds_added: false,
            seed_nodes,
            started_at: None,
            dialing: BTreeMap::new(),
            next_feeler: None,
            next_persist: None,
            next_fill: None,
            addr_cache: None,
        }
    }

    /// Asks for the slots to be filled at the next timer run (a slot came free, or addresses
    /// came in).
    pub(super) fn request_fill(&mut self, at: Time) {
        if self.enabled {
            self.next_fill = Some(self.next_fill.map_or(at, |t| t.min(at)));
        }
    }

    /// Ends every timer and dial of discovery (shutdown).
    pub(super) fn stop(&mut self) {
        self.enabled = false;
        self.seeding = Seeding::new(Vec::new());
        self.seed_nodes.clear();
        self.next_feeler = None;
        self.next_persist = None;
        self.next_fill = None;
    }

    /// The earliest time discovery needs a tick: at once before its first run (nothing else
    /// may wake a node that has no peers yet).
    pub(super) fn next_deadline(&self) -> Option<Time> {
        if self.started_at.is_none() && (self.enabled || !self.seed_nodes.is_empty()) {
            return Some(Time::ZERO);
        }
        let fixed = (self.enabled && !self.fixed_seeds_added)
            .then(|| self.started_at.map(|t| t + FIXED_SEEDS_DELAY))
            .flatten();
        [
            self.seeding.next_deadline(),
            self.next_feeler,
            self.next_persist,
            self.next_fill,
            fixed,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl Node {
    /// Replaces the empty book with the one the store kept; returns how many stored records
    /// were skipped (unreadable or no longer acceptable). Call before the first input.
    pub fn restore_addr_book(&mut self, stored: StoredAddrBook) -> usize {
        let Some(key) = stored.key else {
            return stored.records.len();
        };
        let (book, skipped) = AddrBook::restore(key, &stored.records, self.accept_local());
        self.discovery.book = book;
        skipped
    }

    /// The address book, for inspection.
    pub fn addr_book(&self) -> &AddrBook {
        &self.discovery.book
    }

    /// Whether the node finds peers by itself.
    pub(super) fn discovery_enabled(&self) -> bool {
        self.discovery.enabled
    }

    /// Whether non-routable addresses count (local test networks).
    pub(super) fn accept_local(&self) -> bool {
        self.params.network.is_local()
    }

    /// Outbound peers connected or being dialled for an automatic slot.
    fn automatic_outbound(&self) -> usize {
        let connected = self
            .peers
            .values()
            .filter(|p| p.closing.is_none() && p.outbound_kind == Some(OutboundKind::Automatic))
            .count();
        let dialing = self
            .discovery
            .dialing
            .values()
            .filter(|k| **k == OutboundKind::Automatic)
            .count();
        connected + dialing
    }

    /// Negotiated outbound peers of any kind but feelers and addr-fetches (for seeding's
    /// "enough peers" test).
    fn outbound_up(&self) -> usize {
        self.peers
            .values()
            .filter(|p| {
                p.negotiated
                    && p.closing.is_none()
                    && p.direction == Direction::Outbound
                    && matches!(
                        p.outbound_kind,
                        Some(OutboundKind::Automatic | OutboundKind::Manual)
                    )
            })
            .count()
    }

    /// Runs discovery's timers: seeding, fixed seeds, seed nodes, slots, feelers, persisting.
    pub(super) fn run_discovery(&mut self, now: Time) {
        if self.shutting_down {
            return;
        }
        let first = self.discovery.started_at.is_none();
        if first {
            self.discovery.started_at = Some(now);
            self.discovery.next_persist = Some(now + PERSIST_INTERVAL);
            for addr in self.discovery.seed_nodes.clone() {
                self.dial(addr, OutboundKind::AddrFetch);
            }
            self.discovery.request_fill(now);
        }
        if self.discovery.next_persist.is_some_and(|t| t <= now) {
            self.discovery.next_persist = Some(now + PERSIST_INTERVAL);
            self.persist_addr_book(now);
        }
        if !self.discovery.enabled {
            return;
        }
        let steps = self
            .discovery
            .seeding
            .poll(now, self.discovery.book.len(), self.outbound_up());
        for step in steps {
            match step {
                SeedStep::Resolve(host) if self.config.seeds_by_name => {
                    self.fetch_from_seed_by_name(&host)
                }
                SeedStep::Resolve(host) => self.outputs.push_back(Output::Resolve { host }),
                SeedStep::Finished { skipped } => self.emit(Event::SeedingFinished {
                    skipped,
                    addresses: self.discovery.book.len(),
                }),
            }
        }
        self.maybe_add_fixed_seeds(now);
        if self.discovery.next_fill.is_some_and(|t| t <= now) {
            self.fill_outbound(now);
        }
        self.maybe_feeler(now);
    }

    /// Behind a proxy a seed is not resolved: it is connected to by name, through the proxy,
    /// and asked for addresses (an addr-fetch), as Core's `ThreadDNSAddressSeed` does with a
    /// name proxy. The seed's own name, not the `x9.` one: what answers there is the seed's
    /// own node, if any, not its DNS server.
    fn fetch_from_seed_by_name(&mut self, query: &str) {
        let seed = query.strip_prefix("x9.").unwrap_or(query).to_string();
        // Counted as answered, so that the bare name is not asked for again.
        let _ = self.discovery.seeding.resolved(query, 1);
        let addr = self
            .named
            .insert(seed.clone(), self.params.default_port, None);
        debug!(%seed, stand_in = %addr, "asking a seed by name through the proxy");
        self.dial(addr, OutboundKind::AddrFetch);
    }

    /// An answer of the driver's resolver.
    pub(super) fn on_resolved(&mut self, now: Time, host: String, ips: Vec<std::net::IpAddr>) {
        if !self.discovery.seeding.is_pending(&host) {
            debug!(%host, "unasked resolution ignored");
            return;
        }
        let port = self.params.default_port;
        let candidates: Vec<KnownAddr> = ips
            .into_iter()
            .take(MAX_ADDRESSES_PER_SEED)
            .map(|ip| {
                let (addr, port) = netgroup::from_socket(SocketAddr::new(ip, port));
                self.seed_candidate(addr, port, now)
            })
            .collect();
        let source = NetGroup::internal_source(&host);
        let added = self
            .discovery
            .book
            .add_from(&candidates, &source, now, &mut self.secrets);
        self.emit(Event::SeedResolved {
            host: host.clone(),
            found: candidates.len(),
            added,
        });
        if let Some(bare) = self.discovery.seeding.resolved(&host, candidates.len()) {
            self.outputs.push_back(Output::Resolve { host: bare });
        }
        if added > 0 {
            self.discovery.request_fill(now);
        }
    }

    /// An address a seed gave (DNS or fixed), as Core adds it: full-node services and a
    /// random age of 3 to 7 days, so that it ranks below what peers tell us first-hand.
    fn seed_candidate(&mut self, addr: AddrV2, port: u16, now: Time) -> KnownAddr {
        let age = SEED_AGE_MIN_SECS + self.secrets.below(SEED_AGE_SPAN_SECS as usize) as u64;
        KnownAddr {
            addr,
            port,
            services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
            time: u32::try_from(now.as_secs().saturating_sub(age)).unwrap_or(0),
        }
    }

    fn maybe_add_fixed_seeds(&mut self, now: Time) {
        let due = self
            .discovery
            .started_at
            .is_some_and(|t| now >= t + FIXED_SEEDS_DELAY);
        if self.discovery.fixed_seeds_added || !due {
            return;
        }
        self.discovery.fixed_seeds_added = true;
        if !self.discovery.book.is_empty() || !self.config.fixed_seeds {
            return;
        }
        let candidates: Vec<KnownAddr> = seeds::fixed_seeds(self.params.network)
            .into_iter()
            .map(|(addr, port)| self.seed_candidate(addr, port, now))
            .collect();
        let source = NetGroup::internal_source("fixed seeds");
        let added = self
            .discovery
            .book
            .add_from(&candidates, &source, now, &mut self.secrets);
        self.emit(Event::FixedSeedsAdded { count: added });
        self.discovery.request_fill(now);
    }

    /// Dials book addresses until the automatic slots are full, one per network group.
    pub(super) fn fill_outbound(&mut self, now: Time) {
        if !self.discovery.enabled || self.shutting_down {
            return;
        }
        self.discovery.next_fill = None;
        while self.automatic_outbound() < self.outbound_target() {
            let Some(addr) = self.pick_outbound(now, false) else {
                if !self.discovery.book.is_empty() {
                    self.discovery.next_fill = Some(now + FILL_RETRY);
                }
                return;
            };
            self.dial(addr, OutboundKind::Automatic);
        }
    }

    fn maybe_feeler(&mut self, now: Time) {
        let Some(at) = self.discovery.next_feeler else {
            self.discovery.next_feeler = Some(now + FEELER_INTERVAL);
            return;
        };
        if at > now {
            return;
        }
        self.discovery.next_feeler = Some(now + FEELER_INTERVAL);
        // Core only sends feelers once the outbound slots are full.
        if self.automatic_outbound() < self.outbound_target()
            || self
                .discovery
                .dialing
                .values()
                .any(|k| *k == OutboundKind::Feeler)
        {
            return;
        }
        if let Some(addr) = self.pick_outbound(now, true) {
            self.dial(addr, OutboundKind::Feeler);
        }
    }

    /// Core's selection loop: up to [`MAX_SELECT_TRIES`] picks from the book, skipping
    /// addresses we are connected or dialling to, discouraged ones, groups we already have an
    /// outbound peer in, recently tried ones and (for a while) ones without the services we
    /// need.
    fn pick_outbound(&mut self, now: Time, feeler: bool) -> Option<SocketAddr> {
        let mut groups: BTreeSet<NetGroup> = BTreeSet::new();
        let mut taken: BTreeSet<SocketAddr> = BTreeSet::new();
        for p in self.peers.values() {
            taken.insert(p.addr);
            if p.direction == Direction::Outbound && p.outbound_kind != Some(OutboundKind::Feeler) {
                groups.insert(self.discovery.book.group(&self.book_key(p.addr).0));
            }
        }
        for addr in self.discovery.dialing.keys() {
            taken.insert(*addr);
            groups.insert(self.discovery.book.group(&self.book_key(*addr).0));
        }
        for tries in 0..MAX_SELECT_TRIES {
            let known = self.discovery.book.select(feeler, now, &mut self.secrets)?;
            let Some(sa) = self.dial_address(&known.addr, known.port) else {
                continue;
            };
            if taken.contains(&sa)
                || self.persistent.contains(&sa)
                || self.discouraged.contains(&sa.ip(), now)
            {
                continue;
            }
            if !feeler && groups.contains(&self.discovery.book.group(&known.addr)) {
                continue;
            }
            let entry = self.discovery.book.get(&known.addr, known.port);
            let recently = entry.is_some_and(|e| {
                e.last_try != 0 && now.as_secs().saturating_sub(e.last_try) < RECENT_TRY.as_secs()
            });
            if tries < RECENT_TRY_TRIES && recently {
                continue;
            }
            if tries < SERVICE_TRIES && !super::gossip::useful(known.services) {
                continue;
            }
            return Some(sa);
        }
        None
    }

    /// The address book's key for a connection's address: the onion service behind a
    /// stand-in, else the address itself.
    pub(super) fn book_key(&self, addr: SocketAddr) -> (AddrV2, u16) {
        self.named
            .get(&addr)
            .and_then(|n| n.book.clone())
            .unwrap_or_else(|| netgroup::from_socket(addr))
    }

    /// The address to dial for a book entry, if its network is reachable: the socket address
    /// of an IPv4 or IPv6 entry, a stand-in for an onion service (dialled by name through the
    /// proxy); `None` for networks we cannot reach (I2P and CJDNS always, onion without a
    /// proxy, and what `--onlynet` leaves out), as Core's `ThreadOpenConnections` skips
    /// `!g_reachable_nets.Contains(addr)`.
    fn dial_address(&mut self, addr: &AddrV2, port: u16) -> Option<SocketAddr> {
        if !self.config.reachable.allows(addr) {
            return None;
        }
        match addr {
            AddrV2::TorV3(key) => {
                let host = crate::addrbook::names::onion_name(key);
                Some(self.named.insert(host, port, Some((addr.clone(), port))))
            }
            _ => netgroup::to_socket(addr, port),
        }
    }

    /// Asks the driver to dial `addr` for `kind`, and counts the attempt in the book.
    fn dial(&mut self, addr: SocketAddr, kind: OutboundKind) {
        if self.discovery.dialing.contains_key(&addr) {
            return;
        }
        let (a, port) = self.book_key(addr);
        // Core counts a failure for every attempt but feelers' (`fCountFailure`).
        self.discovery
            .book
            .attempt(&a, port, kind != OutboundKind::Feeler, self.now);
        self.discovery.dialing.insert(addr, kind);
        debug!(%addr, ?kind, "dialling");
        self.connect(addr);
    }

    /// Writes the book's changes to the store, after expiring what has gone stale.
    pub(super) fn persist_addr_book(&mut self, now: Time) {
        self.discovery.book.expire(now);
        let change = self.discovery.book.take_change();
        if !change.is_empty() {
            self.outputs.push_back(Output::PersistAddrs(change));
        }
    }

    /// The kind of an outbound connection that just came up (manual unless discovery dialled
    /// it).
    pub(super) fn outbound_connected(&mut self, addr: SocketAddr) -> OutboundKind {
        self.discovery
            .dialing
            .remove(&addr)
            .unwrap_or(OutboundKind::Manual)
    }

    /// A dial of ours failed; the slot is free again.
    pub(super) fn outbound_failed(&mut self, addr: SocketAddr) -> Option<OutboundKind> {
        self.discovery.dialing.remove(&addr)
    }

    /// An outbound handshake completed: the book learns the address works.
    pub(super) fn outbound_negotiated(&mut self, addr: SocketAddr, services: ServiceFlags) {
        let (a, port) = self.book_key(addr);
        self.discovery.book.good(&a, port, self.now);
        self.discovery.book.set_services(&a, port, services);
    }

    /// An outbound peer went away after being connected: its time in the book is refreshed.
    pub(super) fn outbound_ended(&mut self, addr: SocketAddr, now: Time) {
        let (a, port): (AddrV2, u16) = self.book_key(addr);
        self.discovery.book.connected(&a, port, now);
    }
}
