//! A node running inside another program: the embedding API.
//!
//! [`RunningNode::start`] opens the store, starts the chosen driver (`headway-mio`'s
//! [`headway_driver_mio::Driver`] or async-std's [`headway_driver_async_std::Driver`]), the
//! store thread and, if the settings ask, the JSON-RPC/REST server, and hands back a
//! [`RunningNode`]: query the stored chain with [`RunningNode::chain`], follow tip changes,
//! reorgs included, with [`RunningNode::subscribe`], ask the node things with
//! [`RunningNode::request`], and end it with [`RunningNode::shutdown`].
//!
//! Every tip change is delivered after the store has committed it, so a subscriber that
//! looks the new tip up in [`RunningNode::chain`] always finds it.
//!
//! ```no_run
//! use headway::cli::RunArgs;
//! use headway::config::{FileConfig, Settings};
//! use headway::embed::RunningNode;
//!
//! let args = RunArgs { network: Some("regtest".into()), ..RunArgs::default() };
//! let mut settings = Settings::resolve(&args, &FileConfig::default())?;
//! settings.rpc.enabled = false;
//! let node = RunningNode::start::<headway_driver_mio::Driver>(&settings)?;
//! let tips = node.subscribe();
//! let change = tips.recv()?;
//! let tip = node.chain().read(|r| r.header_info(&change.tip))?;
//! println!("new tip {} at {}", change.tip, change.tip_height);
//! node.shutdown()?;
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use anyhow::{anyhow, Context};
use headway_api::chain_view::{BlockRef, ChainView};
use headway_api::node_link::{NodeLink, NodeState};
use headway_api::rpc::RpcContext;
use headway_api::{ApiConfig, ApiServer};
use headway_core::{Event, Node, Notification, Request, TipChange};
use headway_store_lmdb::HeaderStore;
use tracing::{debug, error, info, warn};

use crate::config::Settings;
use crate::logging::EventLog;
use crate::run::{core_config, lock_data_dir, log_discovery, os_seeds, NodeDriver};
use crate::store_thread::{lower_store_priority, write_store, StoreJob, Written};

/// What a node did over its life, once it has stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    /// The stored tip's height at the end.
    pub height: u32,
    /// The stored tip's hash at the end.
    pub tip: bitcoin::BlockHash,
    /// What the store thread wrote.
    pub written: Written,
    /// Addresses in the book at the end.
    pub addresses: usize,
}

/// The subscribers to tip changes; a closed receiver is dropped at the next change.
type Subscribers = Arc<Mutex<Vec<Sender<TipChange>>>>;

/// The driver's handle as the API's [`NodeLink`].
struct DriverLink<D: NodeDriver>(Mutex<D::Handle>);

impl<D: NodeDriver> NodeLink for DriverLink<D> {
    fn request(&self, request: Request) {
        let handle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        D::request(&handle, request);
    }
}

/// A cheap, cloneable way to hand requests to a running node from any thread (a signal
/// handler, a UI).
#[derive(Clone)]
pub struct Requester(Arc<NodeState>);

impl Requester {
    /// Hands `request` to the node.
    pub fn request(&self, request: Request) {
        self.0.request(request);
    }
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Requester")
    }
}

/// A node running in this process; see the module documentation.
pub struct RunningNode {
    state: Arc<NodeState>,
    chain: Arc<ChainView>,
    subscribers: Subscribers,
    api: Option<ApiServer>,
    p2p_addr: Option<SocketAddr>,
    supervisor: JoinHandle<anyhow::Result<NodeSummary>>,
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode")
            .field("tip", &self.state.tip())
            .field("p2p_addr", &self.p2p_addr)
            .finish()
    }
}

impl RunningNode {
    /// Starts a node with `settings` on driver `D`. Errors (a locked or wrong-network data
    /// directory, a port in use) are returned before anything runs, or after what did start
    /// has been stopped again.
    pub fn start<D: NodeDriver>(settings: &Settings) -> anyhow::Result<RunningNode> {
        let dir = settings.store_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let lock = lock_data_dir(&dir)?;
        let started = Instant::now();
        let store = Arc::new(HeaderStore::open(&dir, settings.network)?);
        // The loaded chain's blocks on huge pages (with the binaries' allocator): fewer faults
        // for a load that fills them at once. A sync's growth stays on 4 KiB pages, whose
        // first touch is cheaper (headway-hugepages).
        let chain = headway_hugepages::advising(|| store.load_chain())?;
        info!(
            network = %settings.network,
            datadir = %dir.display(),
            height = chain.tip_height(),
            tip = %chain.tip_hash(),
            load_ms = started.elapsed().as_millis() as u64,
            driver = D::NAME,
            "store opened"
        );
        let stored_tip = BlockRef {
            height: chain.tip_height(),
            hash: chain.tip_hash(),
        };

        let (wire_seed, secret_seed) = os_seeds()?;
        let config = core_config(settings, wire_seed, secret_seed);
        // The wire seed is logged only when the user chose it (to replay a run): a drawn one
        // in a log would let its readers predict our nonces and tie-breaks. The secret seed is
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
        let user_agent = config.user_agent.clone();
        let local_services = config.local_services();
        let stored_book = store
            .load_addr_book()
            .context("cannot load the address book")?;
        let mut node = Node::new(config, chain);
        let mut params = node.chain().params().clone();
        if let Some(work) = settings.minimum_chain_work {
            params.minimum_chain_work = work;
        }
        let skipped = node.restore_addr_book(stored_book);
        let book = node.addr_book();
        info!(
            addresses = book.len(),
            new = book.new_len(),
            tried = book.tried_len(),
            "address book restored"
        );
        if skipped > 0 {
            warn!(skipped, "skipped {skipped} unreadable address book records");
        }
        let book_empty = book.is_empty();
        let driver = D::start(node, settings.listen, settings.proxy).with_context(|| {
            // Binding the listen address is what fails in practice (port in use, no
            // permission): name it so the operator knows which setting to change.
            match settings.listen {
                Some(addr) => format!("cannot start the network driver listening on {addr}"),
                None => "cannot start the network driver".to_string(),
            }
        })?;
        let p2p_addr = driver.local_addr();
        if let Some(addr) = p2p_addr {
            debug!(%addr, driver = D::NAME, "accepting inbound peers");
        }
        let handle = driver.handle();
        let state = Arc::new(NodeState::new(
            Box::new(DriverLink::<D>(Mutex::new(handle.clone()))),
            stored_tip,
        ));
        let chain_view = Arc::new(ChainView::new(store.clone()));
        let subscribers: Subscribers = Arc::default();

        let supervisor = {
            let (state, subscribers, handle) = (state.clone(), subscribers.clone(), handle.clone());
            thread::Builder::new()
                .name("node".into())
                .spawn(move || {
                    let _lock = lock;
                    supervise::<D>(driver, handle, store, state, subscribers)
                })
                .context("cannot start the node's supervisor thread")?
        };
        let mut running = RunningNode {
            state,
            chain: chain_view,
            subscribers,
            api: None,
            p2p_addr,
            supervisor,
        };
        if settings.rpc.enabled {
            match running.start_api(settings, params, user_agent, local_services) {
                Ok(api) => running.api = Some(api),
                Err(e) => {
                    // The node is up: bring it down cleanly before reporting.
                    let _ = running.shutdown();
                    return Err(e);
                }
            }
        }
        for addr in &settings.connect {
            info!(%addr, "adding peer");
            running.request(Request::AddPeer(*addr));
        }
        for addr in &settings.discovery.add_nodes {
            info!(%addr, "adding peer (addnode)");
            running.request(Request::AddPeer(*addr));
        }
        let named = settings
            .connect_names
            .iter()
            .map(|n| (n, "--connect"))
            .chain(
                settings
                    .discovery
                    .add_node_names
                    .iter()
                    .map(|n| (n, "--addnode")),
            );
        for (name, given_by) in named {
            info!(host = %name.host, port = name.port, given_by, "adding peer by name, dialled through the proxy");
            running.request(Request::AddNamedPeer {
                host: name.host.clone(),
                port: name.port,
            });
        }
        log_discovery(settings, book_empty, p2p_addr);
        Ok(running)
    }

    fn start_api(
        &self,
        settings: &Settings,
        params: headway_core::Params,
        user_agent: String,
        local_services: headway_core::bitcoin::p2p::ServiceFlags,
    ) -> anyhow::Result<ApiServer> {
        let rpc = &settings.rpc;
        if rpc.exposed() {
            warn!(
                bind = ?rpc.bind,
                "RPC listens beyond loopback: anyone who reaches it and logs in can stop the node"
            );
        }
        let config = ApiConfig {
            http: headway_api::http::ServerConfig {
                bind: rpc.bind.clone(),
                threads: rpc.threads,
                work_queue: rpc.work_queue,
                timeout: rpc.timeout,
                ..headway_api::http::ServerConfig::default()
            },
            rest: rpc.rest,
            credentials: rpc.credentials.clone(),
            cookie_dir: rpc.cookie.then(|| settings.store_dir()),
        };
        let context = RpcContext {
            chain: self.chain.clone(),
            node: self.state.clone(),
            params,
            user_agent,
            local_services,
            proxy: settings.proxy,
        };
        Ok(ApiServer::start(config, context)?)
    }

    /// The stored chain, for queries (each [`ChainView::read`] is one consistent snapshot).
    pub fn chain(&self) -> &ChainView {
        &self.chain
    }

    /// The stored tip.
    pub fn tip(&self) -> BlockRef {
        self.state.tip()
    }

    /// Tip changes from now on, reorgs included (`disconnected` and `connected` hashes),
    /// each delivered once the store holds it. The channel closes when the node stops.
    pub fn subscribe(&self) -> Receiver<TipChange> {
        let (tx, rx) = mpsc::channel();
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    /// Hands `request` to the node (add a peer, disconnect one, shut down).
    pub fn request(&self, request: Request) {
        self.state.request(request);
    }

    /// A handle for requests from other threads.
    pub fn requester(&self) -> Requester {
        Requester(self.state.clone())
    }

    /// The address inbound peers connect to, if listening.
    pub fn p2p_addr(&self) -> Option<SocketAddr> {
        self.p2p_addr
    }

    /// The addresses the JSON-RPC server listens on (none if it is off).
    pub fn rpc_addrs(&self) -> Vec<SocketAddr> {
        self.api
            .as_ref()
            .map(ApiServer::local_addrs)
            .unwrap_or_default()
    }

    /// The RPC cookie file, if one was written.
    pub fn cookie_path(&self) -> Option<std::path::PathBuf> {
        self.api
            .as_ref()
            .and_then(|a| a.cookie_path().map(|p| p.to_path_buf()))
    }

    /// Asks the node to shut down and waits until it has: every connection closed, every
    /// pending write stored.
    pub fn shutdown(self) -> anyhow::Result<NodeSummary> {
        self.request(Request::Shutdown);
        self.wait()
    }

    /// Waits until the node stops (after [`Request::Shutdown`], the RPC's `stop`, or a store
    /// failure), then stops the API server and removes the cookie.
    pub fn wait(mut self) -> anyhow::Result<NodeSummary> {
        let result = self
            .supervisor
            .join()
            .map_err(|_| anyhow!("the node's supervisor thread panicked"));
        self.state.stop_waiting();
        if let Some(api) = self.api.take() {
            api.stop();
        }
        result?
    }
}

/// The supervisor thread: starts the store thread, hands persist jobs to it and events to
/// the log and the API, until the node reports its shutdown; then drains the store.
fn supervise<D: NodeDriver>(
    driver: D,
    handle: D::Handle,
    store: Arc<HeaderStore>,
    state: Arc<NodeState>,
    subscribers: Subscribers,
) -> anyhow::Result<NodeSummary> {
    let (persist_tx, persist_rx) = mpsc::channel::<StoreJob>();
    let store_handle = handle.clone();
    let served_handle = handle.clone();
    let store_state = state.clone();
    let store_subscribers = subscribers.clone();
    let store_thread = thread::Builder::new().name("store".into()).spawn(move || {
        lower_store_priority();
        write_store(
            &store,
            &persist_rx,
            || D::request(&store_handle, Request::Shutdown),
            |changes: &[TipChange]| deliver_tips(&store_state, &store_subscribers, changes),
            |answer: Request| D::request(&served_handle, answer),
        )
    });
    let store_thread = match store_thread {
        Ok(t) => t,
        Err(e) => {
            D::request(&handle, Request::Shutdown);
            let _ = driver.join();
            return Err(anyhow::Error::from(e).context("cannot start the store thread"));
        }
    };

    let mut event_log = EventLog::default();
    let mut store_gone = false;
    for notification in driver.notifications().iter() {
        let job = match notification {
            Notification::Persist(change) => StoreJob::Headers(change),
            Notification::PersistAddrs(change) => StoreJob::Book(change),
            Notification::ServeHeaders(ask) => StoreJob::Serve(ask),
            Notification::Event(event) => {
                event_log.record(&event);
                state.on_event(&event);
                match event {
                    // The core's last book change came before this; the store thread writes
                    // it once the channel below is closed and drained.
                    Event::ShutdownComplete => break,
                    Event::TipChanged(change) => StoreJob::Tip(change),
                    _ => continue,
                }
            }
        };
        // If the store thread died it has already asked for shutdown; keep draining events
        // until the node confirms.
        if persist_tx.send(job).is_err() && !store_gone {
            // Only a panic ends the store thread without its own shutdown request.
            error!("the store thread is gone; shutting down");
            D::request(&handle, Request::Shutdown);
            store_gone = true;
        }
    }
    let node = driver.join();
    drop(persist_tx);
    let stored = store_thread
        .join()
        .map_err(|_| anyhow!("the store thread panicked"));
    // Every change is delivered: close the subscribers' channels.
    subscribers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    let stored = stored?;
    let written = stored.map_err(|(error, _)| error)?;
    let summary = NodeSummary {
        height: node.chain().tip_height(),
        tip: node.chain().tip_hash(),
        written,
        addresses: node.addr_book().len(),
    };
    info!(
        height = summary.height,
        tip = %summary.tip,
        headers_written = written.headers,
        commits = written.commits,
        book_records_written = written.book_records,
        addresses = summary.addresses,
        "stopped"
    );
    Ok(summary)
}

/// Called by the store thread after a commit: the API's tip moves, then every subscriber
/// hears of each change.
fn deliver_tips(state: &NodeState, subscribers: &Subscribers, changes: &[TipChange]) {
    let Some(last) = changes.last() else {
        return;
    };
    state.tip_committed(BlockRef {
        height: last.tip_height,
        hash: last.tip,
    });
    let mut subscribers = subscribers.lock().unwrap_or_else(|e| e.into_inner());
    subscribers.retain(|tx| changes.iter().all(|c| tx.send(c.clone()).is_ok()));
}
