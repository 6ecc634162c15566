//! The core loop: the one task that owns the [`Node`]. It takes inputs from the tasks (and the
//! application's requests) off one channel, feeds them to the node with the wall-clock time,
//! wakes the node at its deadline, and carries out every output: bytes to a peer's writer,
//! dials, disconnects, and notifications to the application.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use headway_core::{Direction, Event, Input, Node, Notification, Output, PeerId, Time};
use tracing::{debug, info};

use crate::connection::{accept_loop, dial, start_connection_tasks, CoreMsg, DialPlan, SendQueue};
use crate::runtime::{spawn, timeout, Receiver, Sender, TcpListener, TcpStream};
use crate::DriverConfig;

/// The wall clock as the core takes it: milliseconds since the Unix epoch.
pub(crate) fn now() -> Time {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Time::from_millis(millis)
}

/// What the core loop keeps about one open connection.
struct PeerLink {
    addr: SocketAddr,
    /// A handle on the socket, to shut it down on a disconnect.
    stream: TcpStream,
    /// The writer's queue; `None` once we asked for the disconnect.
    outgoing: Option<Sender<Vec<u8>>>,
    queue: Arc<SendQueue>,
}

/// The task that owns the node (see the module comment).
pub(crate) struct CoreLoop {
    node: Node,
    config: DriverConfig,
    inputs_tx: Sender<CoreMsg>,
    inputs_rx: Receiver<CoreMsg>,
    notifications: mpsc::Sender<Notification>,
    peers: HashMap<PeerId, PeerLink>,
    /// The next connection id; ids are never reused.
    next_peer: u64,
}

impl CoreLoop {
    /// A loop over `node`, fed through `inputs_rx` (whose sender it hands to its tasks).
    pub(crate) fn new(
        node: Node,
        config: DriverConfig,
        inputs_tx: Sender<CoreMsg>,
        inputs_rx: Receiver<CoreMsg>,
        notifications: mpsc::Sender<Notification>,
    ) -> CoreLoop {
        CoreLoop {
            node,
            config,
            inputs_tx,
            inputs_rx,
            notifications,
            peers: HashMap::new(),
            next_peer: 0,
        }
    }

    /// Runs until the node reports [`Event::ShutdownComplete`], then closes everything that is
    /// left and gives the node back.
    pub(crate) async fn run(mut self, listener: Option<TcpListener>) -> Node {
        let accept = listener.map(|listener| spawn(accept_loop(listener, self.inputs_tx.clone())));
        loop {
            let Some(msg) = self.next_msg().await else {
                break;
            };
            let input = match msg {
                CoreMsg::Input(input) => {
                    if let Input::Disconnected { peer, error } = &input {
                        if let Some(link) = self.peers.remove(peer) {
                            info!(%peer, addr = %link.addr, error = error.as_deref().unwrap_or("closed"), "connection down");
                        }
                    }
                    input
                }
                CoreMsg::Stream {
                    stream,
                    addr,
                    direction,
                    leftover,
                } => {
                    let (peer, connected) = self.register(stream, addr, direction);
                    if leftover.is_empty() {
                        connected
                    } else {
                        // The peer's first bytes, read with the proxy's reply: they come right
                        // after `Connected` and before anything the reader reads (the reader's
                        // inputs wait on the channel behind this message).
                        self.node.handle(now(), connected);
                        Input::Received {
                            peer,
                            bytes: leftover,
                        }
                    }
                }
                CoreMsg::Stop => {
                    info!("driver dropped: stopping");
                    break;
                }
            };
            self.node.handle(now(), input);
            if self.carry_out_outputs() {
                break;
            }
        }
        if let Some(accept) = accept {
            accept.cancel().await;
        }
        for (peer, link) in self.peers.drain() {
            debug!(%peer, addr = %link.addr, "closing at shutdown");
            let _ = link.stream.shutdown(Shutdown::Both);
        }
        // Tasks still running find the channel closed and end.
        self.inputs_rx.close();
        self.node
    }

    /// The next input, or `Tick` once the node's deadline has come; `None` if the channel was
    /// closed (it is not while the loop holds a sender, so this is only a guard).
    async fn next_msg(&mut self) -> Option<CoreMsg> {
        match self.node.next_deadline() {
            None => self.inputs_rx.recv().await.ok(),
            Some(deadline) => {
                let wait = deadline.saturating_since(now());
                if wait.is_zero() {
                    return Some(CoreMsg::Input(Input::Tick));
                }
                match timeout(wait, self.inputs_rx.recv()).await {
                    Some(msg) => msg.ok(),
                    None => Some(CoreMsg::Input(Input::Tick)),
                }
            }
        }
    }

    /// Names a new connection, starts its reader and writer, and gives its id and the input
    /// announcing it.
    fn register(
        &mut self,
        stream: TcpStream,
        addr: SocketAddr,
        direction: Direction,
    ) -> (PeerId, Input) {
        let peer = PeerId(self.next_peer);
        self.next_peer = self.next_peer.saturating_add(1);
        if let Err(e) = stream.set_nodelay(true) {
            debug!(%peer, %addr, error = %e, "cannot set TCP_NODELAY");
        }
        let queue = SendQueue::new(self.config.send_buffer_cap);
        let outgoing = start_connection_tasks(
            peer,
            addr,
            &stream,
            &queue,
            self.config.read_chunk,
            self.inputs_tx.clone(),
        );
        info!(%peer, %addr, %direction, "connection up");
        let local_addr = stream.local_addr().ok();
        self.peers.insert(
            peer,
            PeerLink {
                addr,
                stream,
                outgoing: Some(outgoing),
                queue,
            },
        );
        (
            peer,
            Input::Connected {
                peer,
                addr,
                local_addr,
                direction,
            },
        )
    }

    /// Drains the node's outputs and carries each out in order; `true` once the node has
    /// reported that its shutdown is complete.
    fn carry_out_outputs(&mut self) -> bool {
        let mut finished = false;
        while let Some(output) = self.node.poll() {
            match output {
                Output::Send { peer, bytes } => self.send(peer, bytes),
                Output::Connect { addr, host } => {
                    debug!(%addr, ?host, "dialling");
                    let plan = DialPlan {
                        connect_timeout: self.config.connect_timeout,
                        proxy: self
                            .config
                            .proxy
                            .map(|proxy| (proxy, self.config.proxy_handshake_timeout)),
                    };
                    let _ = spawn(dial(addr, host, plan, self.inputs_tx.clone()));
                }
                Output::Disconnect { peer, reason } => match self.peers.get_mut(&peer) {
                    Some(link) => {
                        info!(%peer, addr = %link.addr, %reason, "disconnecting");
                        link.outgoing = None;
                        // The reader sees the end of the stream and reports `Disconnected`.
                        let _ = link.stream.shutdown(Shutdown::Both);
                    }
                    None => debug!(%peer, %reason, "disconnect of a connection already gone"),
                },
                Output::Resolve { host } => {
                    debug!(%host, "resolving");
                    let core = self.inputs_tx.clone();
                    let _ = spawn(async move {
                        let addrs = crate::runtime::lookup_host(&host).await;
                        let _ = core
                            .send(CoreMsg::Input(Input::Resolved { host, addrs }))
                            .await;
                    });
                }
                Output::Persist(change) => self.notify(Notification::Persist(change)),
                Output::PersistAddrs(change) => self.notify(Notification::PersistAddrs(change)),
                Output::ServeHeaders(ask) => self.notify(Notification::ServeHeaders(ask)),
                Output::Event(event) => {
                    finished |= matches!(event, Event::ShutdownComplete);
                    self.notify(Notification::Event(event));
                }
            }
        }
        finished
    }

    fn send(&mut self, peer: PeerId, bytes: Vec<u8>) {
        let Some(link) = self.peers.get(&peer) else {
            debug!(%peer, len = bytes.len(), "send to a connection already gone: dropped");
            return;
        };
        let Some(outgoing) = &link.outgoing else {
            debug!(%peer, addr = %link.addr, len = bytes.len(), "send to a closing connection: dropped");
            return;
        };
        let len = bytes.len();
        debug!(%peer, addr = %link.addr, len, "send");
        link.queue.push(len);
        if outgoing.try_send(bytes).is_err() {
            // The writer is gone after a failed write; the reader will report the disconnect.
            link.queue.pop(len);
        }
    }

    fn notify(&self, notification: Notification) {
        if self.notifications.send(notification).is_err() {
            debug!("application stopped listening to notifications");
        }
    }
}
