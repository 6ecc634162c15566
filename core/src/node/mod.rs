//! The node: one deterministic state machine that owns the peers, the header chain and sync.
//! Inputs come in through [`Node::handle`]; outputs leave through [`Node::poll`].

use std::collections::VecDeque;
use std::time::Duration;

use bitcoin::p2p::ServiceFlags;

use crate::chain::HeaderChain;
use crate::input::Input;
use crate::output::Output;
use crate::params::Network;
use crate::time::Time;

/// Our protocol version (Core's `PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: u32 = 70016;
/// Peers below this are refused (Core's `MIN_PEER_PROTO_VERSION`).
pub const MIN_PEER_PROTOCOL_VERSION: u32 = 31800;
/// Peers from this version understand sendheaders (BIP130).
pub const SENDHEADERS_VERSION: u32 = 70012;
/// Peers from this version understand wtxidrelay and sendaddrv2.
pub const WTXID_RELAY_VERSION: u32 = 70016;

/// Everything that shapes a node's behaviour. Plain data; [`Config::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The network to join.
    pub network: Network,
    /// Our user agent, `/headway:VERSION/` by default.
    pub user_agent: String,
    /// The services we announce.
    pub services: ServiceFlags,
    /// Seed of the generator behind nonces and tie-breaks.
    pub seed: u64,
    /// A peer that has not completed version/verack by then is dropped (Core: 60 s).
    pub handshake_timeout: Duration,
    /// How often we ping (Core and btcd: 2 min).
    pub ping_interval: Duration,
    /// A ping unanswered this long drops the peer (Core: 20 min).
    pub ping_timeout: Duration,
    /// A getheaders unanswered this long moves sync to another peer.
    pub headers_timeout: Duration,
    /// Most inbound connections accepted at once.
    pub max_inbound: usize,
}

impl Config {
    /// The defaults for `network`.
    pub fn new(network: Network) -> Config {
        Config {
            network,
            user_agent: format!("/headway:{}/", env!("CARGO_PKG_VERSION")),
            services: ServiceFlags::NONE,
            seed: 0,
            handshake_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(20 * 60),
            headers_timeout: Duration::from_secs(60),
            max_inbound: 117,
        }
    }
}

/// The sans-IO node.
#[derive(Debug)]
pub struct Node {
    config: Config,
    chain: HeaderChain,
    outputs: VecDeque<Output>,
}

impl Node {
    /// A node starting from `chain` (genesis only, or what the store held).
    pub fn new(config: Config, chain: HeaderChain) -> Node {
        Node { config, chain, outputs: VecDeque::new() }
    }

    /// Feeds one input that happened at `now`.
    pub fn handle(&mut self, now: Time, input: Input) {
        let _ = (now, input, &self.config);
        todo!()
    }

    /// The next output, `None` when there is nothing more to do until the next input.
    #[must_use]
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the driver must call [`Node::handle`] with [`Input::Tick`] at the latest.
    pub fn next_deadline(&self) -> Option<Time> {
        None
    }

    /// The header chain as it stands.
    pub fn chain(&self) -> &HeaderChain {
        &self.chain
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}
