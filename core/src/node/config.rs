//! The node's configuration: plain data, with the defaults Bitcoin Core and btcd use.

use std::time::Duration;

use bitcoin::p2p::address::AddrV2;
use bitcoin::p2p::ServiceFlags;
use bitcoin::Work;

use crate::params::Network;
use crate::rng::SecretSeed;

/// Everything that shapes a node's behaviour. Plain data; [`Config::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The network to join.
    pub network: Network,
    /// Our user agent, `/headway:VERSION/` by default.
    pub user_agent: String,
    /// The services we announce.
    pub services: ServiceFlags,
    /// Seed of the generator behind nonces and tie-breaks: what it produces goes on the wire,
    /// so it is no secret (a binary logs it only when the user chose it).
    pub seed: u64,
    /// Seed of the cryptographic generator behind every secret (presync salts and offsets).
    /// The binaries draw it from the operating system; tests fix it. Never logged: its
    /// `Debug` is redacted.
    pub secret_seed: SecretSeed,
    /// Replaces the network's minimum chain work (Core's `-minimumchainwork`): for private
    /// networks and tests. `None` keeps the network's value.
    pub minimum_chain_work: Option<Work>,
    /// A peer that has not completed version/verack by then is dropped (Core: 60 s).
    pub handshake_timeout: Duration,
    /// How often we ping (Core and btcd: 2 min).
    pub ping_interval: Duration,
    /// A ping unanswered this long drops the peer (Core: 20 min).
    pub ping_timeout: Duration,
    /// A getheaders unanswered this long moves sync to another peer. 60 s by default: a 2000
    /// header reply is 162 kB, seconds even on a poor link, so a minute is ten times the
    /// slowest honest answer, while a staller costs us at most a minute (Core waits 2 min
    /// before re-asking, btcd 90 s).
    pub headers_timeout: Duration,
    /// Most inbound connections accepted at once.
    pub max_inbound: usize,
    /// Find peers by itself: DNS seeds, fixed seeds, the address book and its automatic
    /// outbound slots and feelers. Off means only the peers the application adds (what
    /// `--connect` asks for, as in Core); gossip is still taken into the book.
    pub discovery: bool,
    /// Automatic outbound connections (Core: 8 full-relay).
    pub max_outbound: usize,
    /// The DNS seeds to ask: the network's list from Core's chainparams by default (see
    /// [`crate::seeds`]); empty for none.
    pub dns_seeds: Vec<String>,
    /// Fall back to the network's fixed seed addresses when the book is still empty a minute
    /// after start (Core's `-fixedseeds`).
    pub fixed_seeds: bool,
    /// Peers dialled once at start to ask for addresses and then left (Core's `-seednode`).
    pub seed_nodes: Vec<std::net::SocketAddr>,
    /// Speak BIP324 v2 (Core's `-v2transport`, on by default since v27): announce
    /// NODE_P2P_V2, answer v2 openings, and dial v2 to peers that advertise it and to the ones
    /// the user names, falling back to v1 once per address. Off: v1 only, and an inbound v2
    /// opening is closed without penalty (Core then retries with v1).
    pub v2_transport: bool,
    /// The networks automatic connections may go to (Core's `-onlynet` and `IsReachable`):
    /// IPv4 and IPv6 by default; onion services only through a proxy.
    pub reachable: Reachable,
    /// Connect to DNS seeds by name through the proxy and ask them for addresses, instead of
    /// resolving them (Core with a name proxy). The binaries set it with `--proxy`.
    pub seeds_by_name: bool,
}

/// The networks the node may dial by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reachable {
    /// IPv4 addresses.
    pub ipv4: bool,
    /// IPv6 addresses.
    pub ipv6: bool,
    /// Tor v3 onion services (dialled by name; needs a proxy).
    pub onion: bool,
}

impl Default for Reachable {
    /// IPv4 and IPv6, as Core without a proxy or `-onlynet`.
    fn default() -> Reachable {
        Reachable {
            ipv4: true,
            ipv6: true,
            onion: false,
        }
    }
}

impl Reachable {
    /// Whether an address (in canonical form) is on a reachable network. I2P and CJDNS never
    /// are: dialling them needs a SAM session or a CJDNS tunnel, which we do not have.
    pub fn allows(&self, addr: &AddrV2) -> bool {
        match addr {
            AddrV2::Ipv4(_) => self.ipv4,
            AddrV2::Ipv6(_) => self.ipv6,
            AddrV2::TorV3(_) => self.onion,
            AddrV2::TorV2(_) | AddrV2::I2p(_) | AddrV2::Cjdns(_) | AddrV2::Unknown(..) => false,
        }
    }
}

impl Config {
    /// The services our version message announces: [`Self::services`], and NODE_P2P_V2
    /// while v2 is on (Core adds it with `-v2transport`).
    pub fn local_services(&self) -> ServiceFlags {
        if self.v2_transport {
            self.services | ServiceFlags::P2P_V2
        } else {
            self.services
        }
    }

    /// The defaults for `network`.
    pub fn new(network: Network) -> Config {
        Config {
            network,
            user_agent: format!("/headway:{}/", env!("CARGO_PKG_VERSION")),
            services: ServiceFlags::NONE,
            seed: 0,
            secret_seed: SecretSeed::from_bytes([0; 32]),
            minimum_chain_work: None,
            handshake_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(20 * 60),
            headers_timeout: Duration::from_secs(60),
            max_inbound: 117,
            discovery: true,
            max_outbound: super::discovery::DEFAULT_MAX_OUTBOUND,
            dns_seeds: crate::seeds::dns_seeds(network)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            fixed_seeds: true,
            seed_nodes: Vec::new(),
            v2_transport: true,
            reachable: Reachable::default(),
            seeds_by_name: false,
        }
    }
}
