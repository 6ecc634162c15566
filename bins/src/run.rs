//! Running a node: open the store, restore the address book into the core, start a driver
//! around it, hand persist notices (headers and book) to the store thread
//! ([`crate::store_thread`], so that a slow disk commit never stalls the sockets), log events,
//! and shut down cleanly on SIGINT or SIGTERM, writing everything pending before exiting.
//!
//! The run loop is generic over [`NodeDriver`], the small surface both drivers share.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::thread;

use anyhow::{anyhow, Context};
use headway_core::{Config, Node, Notification, Request, SecretSeed};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing::{info, warn};

use crate::config::Settings;
use crate::embed::{Requester, RunningNode};

/// What the run loop needs of a driver: start it around a node, ask it things, read its
/// notifications, and take the node back when it has stopped.
pub trait NodeDriver: Sized + Send + 'static {
    /// A cheap, sendable way to hand [`Request`]s to the running driver.
    type Handle: Clone + Send + 'static;

    /// The runtime's name, for the log.
    const NAME: &'static str;

    /// Starts the driver with `node`, listening on `listen` if given, dialling through the
    /// SOCKS5 proxy `proxy` if given.
    fn start(node: Node, listen: Option<SocketAddr>, proxy: Option<SocketAddr>)
        -> io::Result<Self>;
    /// The address inbound connections are accepted on, if listening.
    fn local_addr(&self) -> Option<SocketAddr>;
    /// A handle for requests from other threads.
    fn handle(&self) -> Self::Handle;
    /// Hands `request` to the node behind `handle`.
    fn request(handle: &Self::Handle, request: Request);
    /// Events and persist notices, in the order the core produced them.
    fn notifications(&self) -> &Receiver<Notification>;
    /// Waits for the driver to stop and gives the node back.
    fn join(self) -> Node;
}

impl NodeDriver for headway_driver_mio::Driver {
    type Handle = headway_driver_mio::DriverHandle;
    const NAME: &'static str = "mio";

    fn start(
        node: Node,
        listen: Option<SocketAddr>,
        proxy: Option<SocketAddr>,
    ) -> io::Result<Self> {
        let config = headway_driver_mio::DriverConfig {
            listen,
            proxy,
            ..headway_driver_mio::DriverConfig::default()
        };
        headway_driver_mio::Driver::start(node, config)
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        headway_driver_mio::Driver::local_addr(self)
    }
    fn handle(&self) -> Self::Handle {
        headway_driver_mio::Driver::handle(self)
    }
    fn request(handle: &Self::Handle, request: Request) {
        handle.request(request);
    }
    fn notifications(&self) -> &Receiver<Notification> {
        headway_driver_mio::Driver::notifications(self)
    }
    fn join(self) -> Node {
        headway_driver_mio::Driver::join(self)
    }
}

impl NodeDriver for headway_driver_async_std::Driver {
    type Handle = headway_driver_async_std::DriverHandle;
    const NAME: &'static str = "async-std";

    fn start(
        node: Node,
        listen: Option<SocketAddr>,
        proxy: Option<SocketAddr>,
    ) -> io::Result<Self> {
        let config = headway_driver_async_std::DriverConfig {
            listen,
            proxy,
            ..headway_driver_async_std::DriverConfig::default()
        };
        headway_driver_async_std::Driver::start(node, config)
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        headway_driver_async_std::Driver::local_addr(self)
    }
    fn handle(&self) -> Self::Handle {
        headway_driver_async_std::Driver::handle(self)
    }
    fn request(handle: &Self::Handle, request: Request) {
        handle.request(request);
    }
    fn notifications(&self) -> &Receiver<Notification> {
        headway_driver_async_std::Driver::notifications(self)
    }
    fn join(self) -> Node {
        headway_driver_async_std::Driver::join(self)
    }
}

/// The core's configuration for these settings. `seed` fills in the wire generator's seed when
/// the settings name none; `secret_seed` always seeds the secret generator (no setting can).
pub fn core_config(settings: &Settings, seed: u64, secret_seed: SecretSeed) -> Config {
    let mut config = Config::new(settings.network);
    config.seed = settings.seed.unwrap_or(seed);
    config.secret_seed = secret_seed;
    config.minimum_chain_work = settings.minimum_chain_work;
    let discovery = &settings.discovery;
    config.discovery = discovery.enabled;
    config.dns_seeds = discovery.dns_seeds.clone();
    config.fixed_seeds = discovery.fixed_seeds;
    config.seed_nodes = discovery.seed_nodes.clone();
    config.max_outbound = discovery.max_outbound;
    config.max_inbound = discovery.max_inbound;
    if let Some(d) = settings.ping_interval {
        config.ping_interval = d;
    }
    if let Some(d) = settings.ping_timeout {
        config.ping_timeout = d;
    }
    if let Some(d) = settings.handshake_timeout {
        config.handshake_timeout = d;
    }
    config.v2_transport = settings.v2_transport;
    config.reachable = settings.reachable;
    // Behind a proxy the local resolver would ask outside it: seeds are connected to by name.
    config.seeds_by_name = settings.proxy.is_some();
    config
}

/// Takes the data directory's lock file for the life of the node: two nodes writing one store
/// would fight over its best chain. The lock is released when the process ends, however it
/// ends, so a killed node never leaves a stale lock behind.
pub(crate) fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("headway.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow!(
            "data directory {} is in use by another headway node: stop it or choose another --datadir",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// `N` bytes from the operating system's random source (`getrandom`: the `getrandom` system
/// call on Linux, its equivalent elsewhere), never from the clock or the process id. The
/// error is one line; the node does not start without them.
fn os_random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow!("cannot read the operating system's random source: {e}"))?;
    Ok(bytes)
}

/// The two seeds of a run, both from the operating system: the wire generator's (version and
/// ping nonces, tie-breaks; used unless `--seed` fixes it) and the secret generator's (presync
/// salts and offsets), which nothing on the wire or in the log reveals.
pub fn os_seeds() -> anyhow::Result<(u64, SecretSeed)> {
    let wire = u64::from_le_bytes(os_random::<8>()?);
    let secret = SecretSeed::from_bytes(os_random::<32>()?);
    Ok((wire, secret))
}

/// Runs a node with `settings` on driver `D` until SIGINT/SIGTERM (or the RPC's `stop`), then
/// shuts down: every connection closed, every pending header written. Returns an error if
/// the store failed.
pub fn run_node<D: NodeDriver>(settings: &Settings) -> anyhow::Result<()> {
    // First of all: a signal that arrives while the store opens (0.5 s for a million
    // headers) waits in `signals` and shuts the node down cleanly once it runs, instead of
    // killing it with the default action.
    let signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    let node = RunningNode::start::<D>(settings)?;
    let signals_handle = signals.handle();
    let requester = node.requester();
    let signal_thread = thread::Builder::new()
        .name("signals".into())
        .spawn(move || watch_signals(signals, &requester))
        .context("cannot start the signal thread")?;
    let summary = node.wait();
    signals_handle.close();
    if signal_thread.join().is_err() {
        warn!("the signal thread panicked");
    }
    summary.map(|_| ())
}

/// Says at start what discovery will do, and warns when the node has no way to find a peer.
pub(crate) fn log_discovery(settings: &Settings, book_empty: bool, listening: Option<SocketAddr>) {
    let d = &settings.discovery;
    for what in &d.ignored {
        warn!("{what} is ignored: --connect (or the key `connect`) turns peer discovery off");
    }
    if settings.v2_transport {
        info!("BIP324 v2 transport on: NODE_P2P_V2 announced, v1 peers still welcome");
    } else {
        info!("BIP324 v2 transport off (--v2transport=false): v1 only");
    }
    if let Some(proxy) = settings.proxy {
        info!(
            %proxy,
            "dialling every outbound peer through the SOCKS5 proxy; DNS seeds and peers \
             given by name are connected to by name through it, never resolved here"
        );
    }
    if d.enabled {
        info!(
            dns_seeds = d.dns_seeds.len(),
            fixed_seeds = d.fixed_seeds,
            seednodes = d.seed_nodes.len(),
            addnodes = d.add_nodes.len() + d.add_node_names.len(),
            max_outbound = d.max_outbound,
            max_inbound = d.max_inbound,
            "discovering peers"
        );
    } else {
        info!(
            peers = settings.connect.len() + settings.connect_names.len(),
            addnodes = d.add_nodes.len() + d.add_node_names.len(),
            max_inbound = d.max_inbound,
            "peer discovery off: connecting only to the --connect peers"
        );
    }
    let fixed = d.fixed_seeds && !headway_core::seeds::fixed_seeds(settings.network).is_empty();
    let no_source = settings.connect.is_empty()
        && settings.connect_names.is_empty()
        && d.add_nodes.is_empty()
        && d.add_node_names.is_empty()
        && d.seed_nodes.is_empty()
        && d.dns_seeds.is_empty()
        && !fixed
        && book_empty;
    if no_source {
        let network = settings.network;
        match listening {
            Some(addr) => warn!(
                %network, %addr,
                "no peers to dial: no DNS or fixed seeds, no peers given and an empty address \
                 book; waiting for inbound peers only (give a peer with --connect ADDR, \
                 --addnode ADDR or --seednode ADDR)"
            ),
            None => warn!(
                %network,
                "no peers to dial and not listening: no DNS or fixed seeds, no peers given and \
                 an empty address book, so the node will stay at this height; give a peer \
                 with --connect ADDR, --addnode ADDR or --seednode ADDR"
            ),
        }
    }
}

/// The signal thread: the first SIGINT/SIGTERM asks for a clean shutdown, a second one exits
/// at once (LMDB keeps the store consistent either way).
fn watch_signals(mut signals: Signals, node: &Requester) {
    let mut asked = false;
    for signal in signals.forever() {
        if asked {
            warn!(signal, "second signal: exiting without waiting");
            std::process::exit(130);
        }
        info!(signal, "shutting down");
        asked = true;
        node.request(Request::Shutdown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::RunArgs;
    use crate::config::FileConfig;

    fn settings(args: RunArgs) -> Settings {
        Settings::resolve(&args, &FileConfig::default()).unwrap()
    }

    #[test]
    fn core_config_takes_the_seeds_and_the_minimum_chain_work() {
        let secret = SecretSeed::from_bytes([9; 32]);
        let drawn = core_config(
            &settings(RunArgs {
                network: Some("regtest".into()),
                ..RunArgs::default()
            }),
            77,
            secret.clone(),
        );
        assert_eq!(drawn.seed, 77);
        assert_eq!(drawn.secret_seed, secret);
        assert_eq!(drawn.minimum_chain_work, None);

        let given = core_config(
            &settings(RunArgs {
                network: Some("regtest".into()),
                seed: Some(5),
                minimum_chain_work: Some("0x2a".into()),
                ..RunArgs::default()
            }),
            77,
            secret.clone(),
        );
        assert_eq!(given.seed, 5, "a given seed wins over the drawn one");
        assert_eq!(
            given.secret_seed, secret,
            "no setting reaches the secret seed"
        );
        let mut work = [0u8; 32];
        work[31] = 0x2a;
        assert_eq!(
            given.minimum_chain_work,
            Some(bitcoin::Work::from_be_bytes(work))
        );
    }

    #[test]
    fn os_seeds_differ_from_draw_to_draw() {
        let (a_wire, a_secret) = os_seeds().unwrap();
        let (b_wire, b_secret) = os_seeds().unwrap();
        // 64 and 256 random bits: equal draws mean the source is broken, not bad luck.
        assert_ne!(a_wire, b_wire);
        assert_ne!(a_secret, b_secret);
        assert_ne!(a_secret, SecretSeed::from_bytes([0; 32]));
    }
}
