//! headway's async-std driver: sockets as async-std tasks, the sans-IO core on one task.
//!
//! [`Driver::start`] binds the listener (if any) and starts one thread that runs the core loop
//! under `block_on`. Around it run small tasks: an accept loop, one dial task per
//! [`headway_core::Output::Connect`], and a reader and a writer per connection. They all
//! talk to the core loop over one channel of inputs; the core loop alone owns the
//! [`Node`], feeds it the wall-clock time, and carries out its outputs. Events and header
//! changes to persist reach the application as [`Notification`]s on a std channel, so a slow
//! store never stalls the sockets.
//!
//! Back-pressure: the bytes queued for each peer are counted; above
//! [`DriverConfig::send_buffer_cap`] the peer's reader pauses until its writer has drained the
//! queue, so a peer that does not read our answers cannot make us read (and buffer) more.
//!
//! Proxy: with [`DriverConfig::proxy`] set, each dial connects to the SOCKS5 proxy and runs the
//! handshake of `headway-socks5` (module `proxy`) before the connection's tasks start; the core
//! hears of the peer, by the peer's address, only once the tunnel is open. Inbound connections
//! are unaffected.
//!
//! async-std is discontinued upstream; everything runtime-specific sits in one small module
//! (`runtime`), so that another runtime is a small step.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connection;
mod core_loop;
mod proxy;
mod runtime;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use headway_core::{Input, Node, Notification, Request};
use tracing::{debug, info};

use crate::connection::CoreMsg;
use crate::core_loop::CoreLoop;
use crate::runtime::{block_on, bounded, Sender, TcpListener};

/// Sizes the async-std runtime for a process whose async-std runs only this driver: one
/// executor thread, which also drives the reactor (see `runtime::EXECUTOR_THREADS` for the
/// measurements), unless the environment variable `ASYNC_STD_THREAD_COUNT` sets the count.
/// Call it first thing in `main`, before anything uses async-std: the first start of the
/// runtime fixes its size, and after that this does nothing. An application that runs its own
/// async-std tasks beside the driver should leave it out (the runtime then has one thread a
/// core, async-std's default).
pub fn init_runtime() {
    runtime::init_runtime();
}

/// Inputs waiting for the core loop at most; readers wait (and stop reading their sockets)
/// beyond it, so a busy core slows the network down instead of buffering without end.
/// With the default 64 KiB read chunk this is at most 16 MiB of received bytes.
pub const INPUT_QUEUE_CAPACITY: usize = 256;

/// How the driver runs its sockets.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Accept inbound peers on this address (port 0 picks a free port; see
    /// [`Driver::local_addr`]). `None`: outbound only.
    pub listen: Option<SocketAddr>,
    /// A dial that has not connected by then fails.
    pub connect_timeout: Duration,
    /// Bytes queued for one peer beyond which we stop reading that peer until they are written.
    pub send_buffer_cap: usize,
    /// Most bytes read from a socket at once (one [`Input::Received`] each).
    pub read_chunk: usize,
    /// Dial every outbound peer through this SOCKS5 proxy (RFC 1928, no authentication,
    /// CONNECT to the peer's address, handshake by `headway-socks5`): the TCP connection goes
    /// to the proxy, and the core hears of the peer only once the proxy has connected it
    /// (a refusal is a failed dial with the proxy's reason). `None`: dial directly.
    pub proxy: Option<SocketAddr>,
    /// With [`DriverConfig::proxy`] set: a SOCKS5 handshake not complete by then (counted from
    /// the moment the TCP connection to the proxy is up) is a failed dial. Defaults to
    /// [`headway_socks5::HANDSHAKE_TIMEOUT`], Bitcoin Core's 20 seconds.
    pub proxy_handshake_timeout: Duration,
}

impl Default for DriverConfig {
    /// No listener, a 10 s connect timeout, 8 MiB send buffer per peer, 64 KiB reads, no proxy
    /// (and a 20 s handshake limit should one be set).
    fn default() -> DriverConfig {
        DriverConfig {
            listen: None,
            connect_timeout: Duration::from_secs(10),
            send_buffer_cap: 8 * 1024 * 1024,
            read_chunk: 64 * 1024,
            proxy: None,
            proxy_handshake_timeout: headway_socks5::HANDSHAKE_TIMEOUT,
        }
    }
}

/// A running driver: a thread that owns the node and its sockets until the node's shutdown
/// completes.
///
/// Stop it with [`Request::Shutdown`] and [`Driver::join`]. Dropping it without joining stops
/// the core loop and closes every connection, without waiting for the node.
#[derive(Debug)]
pub struct Driver {
    local_addr: Option<SocketAddr>,
    handle: DriverHandle,
    notifications: mpsc::Receiver<Notification>,
    thread: thread::JoinHandle<Node>,
    _stop_on_drop: StopOnDrop,
}

/// Stops the core loop when the [`Driver`] goes away without [`Driver::join`]; after a join it
/// reaches nobody (the loop has ended and closed its channel).
#[derive(Debug)]
struct StopOnDrop(Sender<CoreMsg>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send_blocking(CoreMsg::Stop);
    }
}

impl Driver {
    /// Binds the listener (if any), starts the runtime thread, returns at once.
    ///
    /// Errors: binding the listener or spawning the thread failed.
    pub fn start(node: Node, config: DriverConfig) -> std::io::Result<Driver> {
        let listener = match config.listen {
            Some(addr) => Some(block_on(TcpListener::bind(addr))?),
            None => None,
        };
        let local_addr = listener.as_ref().map(TcpListener::local_addr).transpose()?;
        if let Some(addr) = local_addr {
            info!(%addr, "listening");
        }
        let (inputs_tx, inputs_rx) = bounded(INPUT_QUEUE_CAPACITY);
        let (notifications_tx, notifications) = mpsc::channel();
        let core = CoreLoop::new(node, config, inputs_tx.clone(), inputs_rx, notifications_tx);
        let thread = thread::Builder::new()
            .name("headway-async-std".into())
            .spawn(move || block_on(core.run(listener)))?;
        Ok(Driver {
            local_addr,
            _stop_on_drop: StopOnDrop(inputs_tx.clone()),
            handle: DriverHandle { inputs: inputs_tx },
            notifications,
            thread,
        })
    }

    /// The address the listener is bound to, if there is one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// A handle to send requests to the node from any thread.
    pub fn handle(&self) -> DriverHandle {
        self.handle.clone()
    }

    /// Events and header changes to persist, in the order the node produced them. The last
    /// one is [`headway_core::Event::ShutdownComplete`].
    pub fn notifications(&self) -> &mpsc::Receiver<Notification> {
        &self.notifications
    }

    /// Waits until the node's shutdown has completed (after a [`Request::Shutdown`]) and gives
    /// the node back. If the core loop panicked, the panic goes on here.
    pub fn join(self) -> Node {
        let Driver { thread, .. } = self;
        match thread.join() {
            Ok(node) => node,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Sends requests to a running driver's node. Cheap to clone; usable from any thread.
#[derive(Debug, Clone)]
pub struct DriverHandle {
    inputs: Sender<CoreMsg>,
}

impl DriverHandle {
    /// Hands `request` to the node, after the inputs already queued. Blocks while the input
    /// queue is full (so call it from a plain thread, not from inside an async task). After
    /// the driver has ended the request is dropped.
    pub fn request(&self, request: Request) {
        if let Err(unsent) = self
            .inputs
            .send_blocking(CoreMsg::Input(Input::Request(request)))
        {
            debug!(request = ?unsent.into_inner(), "driver has ended: request dropped");
        }
    }
}
