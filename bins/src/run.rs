//! Running a node: open the store, start a driver around the core, hand persist notices to a
//! store thread (so that a slow disk commit never stalls the sockets), log events, and shut
//! down cleanly on SIGINT or SIGTERM.
//!
//! The run loop is generic over [`NodeDriver`], the small surface both drivers share.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, Context};
use headway_core::{Config, Event, Node, Notification, PersistChain, Request, SecretSeed};
use headway_store_lmdb::HeaderStore;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing::{debug, error, info, warn};

use crate::config::Settings;
use crate::logging::EventLog;

/// What the run loop needs of a driver: start it around a node, ask it things, read its
/// notifications, and take the node back when it has stopped.
pub trait NodeDriver: Sized {
    /// A cheap, sendable way to hand [`Request`]s to the running driver.
    type Handle: Clone + Send + 'static;

    /// The runtime's name, for the log.
    const NAME: &'static str;

    /// Starts the driver with `node`, listening on `listen` if given.
    fn start(node: Node, listen: Option<SocketAddr>) -> io::Result<Self>;
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

    fn start(node: Node, listen: Option<SocketAddr>) -> io::Result<Self> {
        let config = headway_driver_mio::DriverConfig {
            listen,
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

    fn start(node: Node, listen: Option<SocketAddr>) -> io::Result<Self> {
        let config = headway_driver_async_std::DriverConfig {
            listen,
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
    if let Some(d) = settings.ping_interval {
        config.ping_interval = d;
    }
    if let Some(d) = settings.ping_timeout {
        config.ping_timeout = d;
    }
    if let Some(d) = settings.handshake_timeout {
        config.handshake_timeout = d;
    }
    config
}

/// Takes the data directory's lock file for the life of the node: two nodes writing one store
/// would fight over its best chain. The lock is released when the process ends, however it
/// ends, so a killed node never leaves a stale lock behind.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
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

/// Runs a node with `settings` on driver `D` until SIGINT/SIGTERM, then shuts down: every
/// connection closed, every pending header written. Returns an error if the store failed.
pub fn run_node<D: NodeDriver>(settings: &Settings) -> anyhow::Result<()> {
    // First of all: a signal that arrives while the store opens (0.5 s for a million
    // headers) waits in `signals` and shuts the node down cleanly once it runs, instead of
    // killing it with the default action.
    let signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    let dir = settings.store_dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let _lock = lock_data_dir(&dir)?;
    let started = Instant::now();
    let store = HeaderStore::open(&dir, settings.network)?;
    let chain = store.load_chain()?;
    info!(
        network = %settings.network,
        datadir = %dir.display(),
        height = chain.tip_height(),
        tip = %chain.tip_hash(),
        load_ms = started.elapsed().as_millis() as u64,
        driver = D::NAME,
        "store opened"
    );

    let (wire_seed, secret_seed) = os_seeds()?;
    let config = core_config(settings, wire_seed, secret_seed);
    // The wire seed is logged only when the user chose it (to replay a run): a drawn one in a
    // log would let its readers predict our future nonces and tie-breaks. The secret seed is
    // never logged.
    match settings.seed {
        Some(seed) => info!(user_agent = %config.user_agent, seed, "starting node"),
        None => info!(user_agent = %config.user_agent, "starting node"),
    }
    if let Some(work) = config.minimum_chain_work {
        info!(
            minimum_chain_work = %format_args!("{work:x}"),
            "minimum chain work set by configuration"
        );
    }
    let driver = D::start(Node::new(config, chain), settings.listen).with_context(|| {
        // Binding the listen address is what fails in practice (port in use, no permission):
        // name it so the operator knows which setting to change.
        match settings.listen {
            Some(addr) => format!("cannot start the network driver listening on {addr}"),
            None => "cannot start the network driver".to_string(),
        }
    })?;
    // The driver logs the address it listens on; keep it in the debug log for this run's context.
    if let Some(addr) = driver.local_addr() {
        debug!(%addr, driver = D::NAME, "accepting inbound peers");
    }
    let handle = driver.handle();

    let (persist_tx, persist_rx) = mpsc::channel::<PersistChain>();
    let store_handle = handle.clone();
    let store_thread = thread::Builder::new()
        .name("store".into())
        .spawn(move || write_store::<D>(store, persist_rx, store_handle))
        .context("cannot start the store thread")?;

    let signals_handle = signals.handle();
    let signal_handle = handle.clone();
    let signal_thread = thread::Builder::new()
        .name("signals".into())
        .spawn(move || watch_signals::<D>(signals, signal_handle))
        .context("cannot start the signal thread")?;

    for addr in &settings.connect {
        info!(%addr, "adding peer");
        D::request(&handle, Request::AddPeer(*addr));
    }
    if settings.connect.is_empty() {
        // Until peer discovery exists a node without --connect only waits, and says why.
        match driver.local_addr() {
            Some(addr) => warn!(%addr, "no peers to dial: headway does not discover peers yet; \
                waiting for inbound peers only (name one with --connect ADDR)"),
            None => warn!(
                "no peers to dial and not listening: headway does not discover peers \
                yet, so it will stay at this height; name a peer with --connect ADDR"
            ),
        }
    }

    let mut event_log = EventLog::default();
    let mut store_gone = false;
    for notification in driver.notifications().iter() {
        match notification {
            Notification::Persist(change) => {
                // If the store thread died it has already asked for shutdown; keep draining
                // events until the node confirms.
                if persist_tx.send(change).is_err() && !store_gone {
                    // Only a panic ends the store thread without its own shutdown request.
                    error!("the store thread is gone; shutting down");
                    D::request(&handle, Request::Shutdown);
                    store_gone = true;
                }
            }
            Notification::Event(event) => {
                event_log.record(&event);
                if event == Event::ShutdownComplete {
                    break;
                }
            }
        }
    }
    let node = driver.join();
    drop(persist_tx);
    let stored = store_thread
        .join()
        .map_err(|_| anyhow!("the store thread panicked"))?;
    signals_handle.close();
    if signal_thread.join().is_err() {
        warn!("the signal thread panicked");
    }
    let stored = stored?;
    info!(
        height = node.chain().tip_height(),
        tip = %node.chain().tip_hash(),
        headers_written = stored,
        "stopped"
    );
    Ok(())
}

/// The store thread: writes every persist notice, in order, batching whatever is pending into
/// one transaction. On a store error it asks the node to shut down and returns the error.
/// Returns how many best-chain headers it wrote.
fn write_store<D: NodeDriver>(
    store: HeaderStore,
    notices: Receiver<PersistChain>,
    handle: D::Handle,
) -> anyhow::Result<u64> {
    let mut written = 0u64;
    while let Ok(first) = notices.recv() {
        let mut batch = vec![first];
        batch.extend(notices.try_iter());
        let headers: usize = batch.iter().map(|c| c.connected.len() + c.side.len()).sum();
        let started = Instant::now();
        if let Err(e) = store.apply(&batch) {
            error!(error = %e, "store write failed; shutting down");
            D::request(&handle, Request::Shutdown);
            return Err(anyhow::Error::from(e).context("store write failed"));
        }
        written += headers as u64;
        debug!(
            changes = batch.len(),
            headers,
            commit_ms = started.elapsed().as_secs_f64() * 1000.0,
            "stored"
        );
    }
    Ok(written)
}

/// The signal thread: the first SIGINT/SIGTERM asks for a clean shutdown, a second one exits
/// at once (LMDB keeps the store consistent either way).
fn watch_signals<D: NodeDriver>(mut signals: Signals, handle: D::Handle) {
    let mut asked = false;
    for signal in signals.forever() {
        if asked {
            warn!(signal, "second signal: exiting without waiting");
            std::process::exit(130);
        }
        info!(signal, "shutting down");
        asked = true;
        D::request(&handle, Request::Shutdown);
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
