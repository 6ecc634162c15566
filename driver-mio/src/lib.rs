//! headway-driver-mio: runs a [`Node`] on real sockets with a `mio` poll loop.
//!
//! A driver owns sockets and time and nothing else. Like btck's goroutines, two threads pass
//! messages over channels:
//!
//! - the **socket thread** (`socket_loop`) owns one mio `Poll` with the listener, every
//!   connection and a `Waker`; it turns readiness into [`Input`]s (connected, connect failed,
//!   bytes received, disconnected) and carries out the core's socket commands. With
//!   [`DriverConfig::proxy`] set it dials every outbound peer through that SOCKS5 proxy, and
//!   the core hears of the peer only once the proxy has connected it (`proxy`);
//! - the **core thread** (`core_loop`) owns the [`Node`]; it waits on one channel for inputs and
//!   user [`Request`]s with the node's next deadline as the timeout, and routes every output:
//!   socket commands to the socket thread, events and persist commands to the application as
//!   [`Notification`]s.
//!
//! Memory stays bounded without either thread waiting for the other: a peer that does not read
//! what we send (more than [`DriverConfig::send_buffer_cap`] queued) is not read either until it
//! drains, and when the core falls behind (16 MiB received and not yet handled) the socket thread
//! stops reading until it catches up.
//!
//! The application drains [`Driver::notifications`] on its own thread, so a slow store commit
//! never stalls the sockets or the core. Protocol decisions (redialling, timeouts, misbehaviour)
//! all live in the core.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backlog;
mod connection;
mod core_loop;
mod outbox;
mod proxy;
mod resolver;
mod socket_loop;

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use headway_core::{Input, Node, Notification, Request};
use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};
use tracing::{debug, info, warn};

use crate::backlog::{CoreBacklog, CORE_BACKLOG_LIMIT};
use crate::core_loop::CoreMessage;
use crate::resolver::Resolver;
use crate::socket_loop::{SocketLink, SocketLoop, LISTENER, WAKER};

/// How the driver uses sockets. Plain data; [`DriverConfig::default`] gives the defaults.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Accept inbound peers on this address (port 0 picks a free port; see
    /// [`Driver::local_addr`]). `None`: outbound only.
    pub listen: Option<SocketAddr>,
    /// A dial not complete after this long is reported as failed. Default 10 s.
    pub connect_timeout: Duration,
    /// Bytes queued for one peer beyond which we stop reading that peer, until the queue
    /// drains below half of it. Default 8 MiB.
    pub send_buffer_cap: usize,
    /// Bytes asked for per socket read (and the most bytes in one [`Input::Received`]).
    /// Default 64 KiB.
    pub read_chunk: usize,
    /// Dial every outbound peer through this SOCKS5 proxy (RFC 1928, no authentication,
    /// CONNECT to the peer's address, handshake by `headway-socks5`): the TCP connection goes
    /// to the proxy, and the core hears of the peer only once the proxy has connected it
    /// (a refusal is a failed dial with the proxy's reason). `None`: dial directly.
    pub proxy: Option<SocketAddr>,
    /// With [`DriverConfig::proxy`] set, how long the SOCKS5 handshake may take once the TCP
    /// connection to the proxy is up (that part is bounded by `connect_timeout`); a proxy that
    /// has not connected the peer by then is a failed dial. Default
    /// [`headway_socks5::HANDSHAKE_TIMEOUT`] (20 s, Bitcoin Core's).
    pub proxy_handshake_timeout: Duration,
}

impl Default for DriverConfig {
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

/// A running node: its socket thread and its core thread.
///
/// Stop it with [`Request::Shutdown`] and [`Driver::join`]. Dropping it without joining stops
/// both threads as soon as they look at their channels, without waiting for the node.
pub struct Driver {
    local_addr: Option<SocketAddr>,
    inbox: Sender<CoreMessage>,
    notifications: Receiver<Notification>,
    core: JoinHandle<Node>,
    sockets: JoinHandle<()>,
    _stop_on_drop: StopOnDrop,
}

/// Tells the core thread to stop when the [`Driver`] goes away: after [`Driver::join`] that
/// reaches nobody; without it, the threads do not outlive the driver by more than a moment.
struct StopOnDrop(Sender<CoreMessage>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(CoreMessage::Stop);
    }
}

/// A cloneable, `Send` handle that passes [`Request`]s to the node from any thread.
#[derive(Debug, Clone)]
pub struct DriverHandle {
    inbox: Sender<CoreMessage>,
}

impl DriverHandle {
    /// Hands `request` to the node. Requests from one handle arrive in order; after the node
    /// has stopped they are dropped.
    pub fn request(&self, request: Request) {
        if self
            .inbox
            .send(CoreMessage::Input(Input::Request(request)))
            .is_err()
        {
            debug!("node stopped; request dropped");
        }
    }
}

impl Driver {
    /// Binds the listener (if any), starts the socket thread and the core thread, returns at
    /// once.
    ///
    /// Fails only if the poll, the listener or a thread cannot be created.
    pub fn start(node: Node, config: DriverConfig) -> std::io::Result<Driver> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let listener = match config.listen {
            Some(addr) => {
                let mut listener = TcpListener::bind(addr)?;
                poll.registry()
                    .register(&mut listener, LISTENER, Interest::READABLE)?;
                Some(listener)
            }
            None => None,
        };
        let local_addr = listener.as_ref().map(TcpListener::local_addr).transpose()?;
        if let Some(addr) = local_addr {
            info!(%addr, "listening");
        }

        let (inbox_tx, inbox_rx) = mpsc::channel();
        let (commands_tx, commands_rx) = mpsc::channel();
        let (notify_tx, notify_rx) = mpsc::channel();
        let backlog = Arc::new(CoreBacklog::new(CORE_BACKLOG_LIMIT));

        let socket_loop = SocketLoop::new(
            poll,
            waker.clone(),
            listener,
            commands_rx,
            inbox_tx.clone(),
            Arc::clone(&backlog),
            &config,
        );
        let sockets = thread::Builder::new()
            .name("headway-sockets".into())
            .spawn(move || socket_loop.run())?;
        // If this spawn fails, the closure (and with it the link) is dropped, which stops the
        // socket thread.
        let link = SocketLink::new(commands_tx, waker, backlog);
        let resolver = Resolver::new(inbox_tx.clone());
        let core = thread::Builder::new()
            .name("headway-core".into())
            .spawn(move || core_loop::run(node, inbox_rx, link, resolver, notify_tx))?;

        Ok(Driver {
            local_addr,
            _stop_on_drop: StopOnDrop(inbox_tx.clone()),
            inbox: inbox_tx,
            notifications: notify_rx,
            core,
            sockets,
        })
    }

    /// The bound listening address (with the real port if 0 was asked for); `None` without a
    /// listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// A cloneable, `Send` handle for requests from any thread.
    pub fn handle(&self) -> DriverHandle {
        DriverHandle {
            inbox: self.inbox.clone(),
        }
    }

    /// Events and persist commands for the application, in the order the node produced them.
    ///
    /// The channel is unbounded and nothing waits for it: drain it on your own thread. It
    /// reports disconnection once the core thread has ended.
    pub fn notifications(&self) -> &Receiver<Notification> {
        &self.notifications
    }

    /// Waits for both threads to end and gives back the node.
    ///
    /// The threads end after [`Request::Shutdown`] once the node reports
    /// [`headway_core::Event::ShutdownComplete`]; call this after sending it. If the node
    /// panicked, the panic continues here.
    pub fn join(self) -> Node {
        let Driver { core, sockets, .. } = self;
        let core = core.join();
        // The core thread's end stops the socket thread (see `SocketLink`).
        if let Err(panic) = sockets.join() {
            warn!("socket thread panicked");
            std::panic::resume_unwind(panic);
        }
        match core {
            Ok(node) => node,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = DriverConfig::default();
        assert_eq!(config.listen, None);
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.send_buffer_cap, 8 * 1024 * 1024);
        assert_eq!(config.read_chunk, 64 * 1024);
        assert_eq!(config.proxy, None);
        assert_eq!(config.proxy_handshake_timeout, Duration::from_secs(20));
    }

    #[test]
    fn handles_and_drivers_move_between_threads() {
        fn send<T: Send>() {}
        fn send_sync_clone<T: Send + Sync + Clone>() {}
        send::<Driver>();
        send_sync_clone::<DriverHandle>();
    }
}
