//! The socket thread: one mio `Poll` that owns the listener, every connection and every dial in
//! progress, and nothing else.
//!
//! It turns socket readiness into [`Input`]s for the core thread and carries out the core's
//! socket commands ([`SocketCommand`]), which arrive over a channel with a [`Waker`] to interrupt
//! the poll. It makes no protocol decision and never waits for the core: the only state it keeps
//! per peer is the bytes still to write, and when a peer stops taking them (more than
//! `send_buffer_cap` queued) it stops reading that peer until the queue drains below half, so a
//! peer that never reads cannot make us buffer without bound. Likewise, when the core falls
//! behind (too many received bytes not yet handled, see `backlog`), it stops reading every peer
//! until the core catches up, so a fast sender cannot fill the channel to the core.
//!
//! Outbound dials, and the SOCKS5 handshake when a proxy is configured, are in `dial`.
//!
//! All sockets are edge-triggered: reads and writes go on until `WouldBlock`, and whenever a
//! reason to stop early goes away (reading resumed) we read at once rather than wait for an edge
//! that may already have passed.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headway_core::{Direction, DisconnectReason, Input, PeerId};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{debug, info, warn};

use crate::backlog::CoreBacklog;
use crate::connection::{set_nodelay, Connection, ConnectionState, ReadState, Reader};
use crate::core_loop::CoreMessage;
use crate::outbox::Outbox;
use crate::DriverConfig;

/// The listening socket's token.
pub(crate) const LISTENER: Token = Token(0);
/// The token of the waker the core thread uses to interrupt the poll.
pub(crate) const WAKER: Token = Token(1);
/// Connection tokens are the peer id plus this offset.
const FIRST_PEER_TOKEN: usize = 2;
/// Readiness events taken per poll call.
const EVENTS_CAPACITY: usize = 1024;
/// How long we wait before accepting again after a failed accept (for example out of file
/// descriptors): connections left in the listen queue raise no new readiness edge, so without
/// a retry they would wait for the next connection attempt, which may never come.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// The longest connect timeout we keep: a longer one means "no timeout" in practice, and adding
/// a value near `Duration::MAX` to an `Instant` would overflow (a panic).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// What the core thread asks of the socket thread.
#[derive(Debug)]
pub(crate) enum SocketCommand {
    /// Dial `addr` (answered with `Input::Connected` or `Input::ConnectFailed`).
    Connect {
        addr: SocketAddr,
        /// The name to ask the proxy for instead (see `Output::Connect`).
        host: Option<String>,
    },
    /// Queue `bytes` for `peer`, behind everything queued before.
    Send { peer: PeerId, bytes: Vec<u8> },
    /// Close `peer` (answered with `Input::Disconnected`).
    Disconnect {
        peer: PeerId,
        reason: DisconnectReason,
    },
    /// Close everything and end the thread.
    Stop,
    /// Test hook: report the state of one connection.
    #[cfg(test)]
    Probe {
        peer: PeerId,
        reply: Sender<Option<ConnectionProbe>>,
    },
}

/// What a test can learn about one connection.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionProbe {
    /// Bytes queued and not yet taken by the kernel.
    pub queued: usize,
    /// Whether reading is paused because too much is queued.
    pub reading_paused: bool,
    /// Whether reading stopped because the core's backlog is full.
    pub read_deferred: bool,
}

/// The core thread's end of the link to the socket thread: commands plus the waker.
///
/// Dropping it (the core thread ended, normally or not) stops the socket thread, so the sockets
/// never outlive the core.
pub(crate) struct SocketLink {
    commands: Sender<SocketCommand>,
    waker: Arc<Waker>,
    backlog: Arc<CoreBacklog>,
    pending_wake: bool,
}

impl SocketLink {
    /// A link sending to `commands` and interrupting the poll through `waker`.
    pub(crate) fn new(
        commands: Sender<SocketCommand>,
        waker: Arc<Waker>,
        backlog: Arc<CoreBacklog>,
    ) -> SocketLink {
        SocketLink {
            commands,
            waker,
            backlog,
            pending_wake: false,
        }
    }

    /// The core handled `bytes` received bytes; if that makes room in a full backlog, the next
    /// [`SocketLink::wake`] lets the socket thread read again.
    pub(crate) fn handled(&mut self, bytes: usize) {
        if self.backlog.handled(bytes) {
            self.pending_wake = true;
        }
    }

    /// Queues a command; [`SocketLink::wake`] makes the socket thread look at it.
    ///
    /// If the socket thread is gone (its poll failed, or it panicked), gives back the answer it can no longer
    /// give: the core waits for `ConnectFailed` after a dial and for `Disconnected` after a
    /// disconnect, and without them a peer would never be forgotten nor a shutdown complete.
    #[must_use]
    pub(crate) fn queue(&mut self, command: SocketCommand) -> Option<Input> {
        let Err(mpsc::SendError(command)) = self.commands.send(command) else {
            self.pending_wake = true;
            return None;
        };
        debug!("socket thread gone; command answered without it");
        let error = "socket thread stopped".to_string();
        match command {
            SocketCommand::Connect { addr, .. } => Some(Input::ConnectFailed { addr, error }),
            SocketCommand::Disconnect { peer, .. } => Some(Input::Disconnected {
                peer,
                error: Some(error),
            }),
            _ => None,
        }
    }

    /// Interrupts the poll if commands were queued since the last wake (one wake per batch).
    pub(crate) fn wake(&mut self) {
        if std::mem::take(&mut self.pending_wake) {
            if let Err(error) = self.waker.wake() {
                warn!(%error, "cannot wake the socket thread");
            }
        }
    }
}

impl Drop for SocketLink {
    fn drop(&mut self) {
        let _ = self.commands.send(SocketCommand::Stop);
        self.pending_wake = true;
        self.wake();
    }
}

/// The socket thread's state.
pub(crate) struct SocketLoop {
    poll: Poll,
    listener: Option<TcpListener>,
    connections: HashMap<Token, Connection>,
    commands: Receiver<SocketCommand>,
    /// The read buffer, the channel to the core and the core's backlog.
    reader: Reader,
    /// The next peer id; ids are never reused.
    next_peer: u64,
    connect_timeout: Duration,
    /// Dial every outbound peer through this SOCKS5 proxy (see `dial`).
    proxy: Option<SocketAddr>,
    /// How long a SOCKS5 handshake may take once the proxy's TCP connection is up.
    proxy_handshake_timeout: Duration,
    send_buffer_cap: usize,
    /// Connections whose outbox got new bytes in this round of commands.
    dirty: Vec<Token>,
    /// Connections we stopped reading because the core's backlog was full.
    deferred: Vec<Token>,
    /// When to try accepting again after an accept failed; `None` while accepting works.
    accept_retry_at: Option<Instant>,
    /// Our own reference to the waker: if the core's side were the last one, its drop would
    /// close the eventfd, and closing a file removes its pending event from epoll, so the
    /// final wake-up (the one carrying `Stop`) could be lost.
    _waker: Arc<Waker>,
}

impl SocketLoop {
    /// A loop over `poll`, which must already hold the listener (as [`LISTENER`]) and
    /// `waker` (as [`WAKER`]).
    pub(crate) fn new(
        poll: Poll,
        waker: Arc<Waker>,
        listener: Option<TcpListener>,
        commands: Receiver<SocketCommand>,
        to_core: Sender<CoreMessage>,
        backlog: Arc<CoreBacklog>,
        config: &DriverConfig,
    ) -> SocketLoop {
        SocketLoop {
            poll,
            listener,
            connections: HashMap::new(),
            commands,
            reader: Reader {
                // A zero-sized read would look like end of file.
                buf: vec![0; config.read_chunk.max(1)],
                to_core,
                backlog,
            },
            next_peer: 1,
            connect_timeout: config.connect_timeout.min(MAX_CONNECT_TIMEOUT),
            proxy: config.proxy,
            proxy_handshake_timeout: config.proxy_handshake_timeout.min(MAX_CONNECT_TIMEOUT),
            send_buffer_cap: config.send_buffer_cap,
            dirty: Vec::new(),
            deferred: Vec::new(),
            accept_retry_at: None,
            _waker: waker,
        }
    }

    /// Runs until told to stop (or the core thread is gone), then closes every socket.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = [self.next_dial_deadline(), self.accept_retry_at]
                .into_iter()
                .flatten()
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                warn!(%error, "poll failed; the socket thread stops");
                break;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {} // commands are looked at below, after every poll
                    token => self.on_ready(token, event),
                }
            }
            if !self.run_commands() {
                break;
            }
            self.resume_deferred_reads();
            self.expire_dials(Instant::now());
            self.retry_accept(Instant::now());
        }
        info!(
            connections = self.connections.len(),
            "socket thread stopping"
        );
    }

    /// Takes every command queued so far. Returns false when the thread must stop.
    fn run_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(SocketCommand::Connect { addr, host }) => self.dial(addr, host),
                Ok(SocketCommand::Send { peer, bytes }) => self.queue_send(peer, bytes),
                Ok(SocketCommand::Disconnect { peer, reason }) => self.disconnect(peer, &reason),
                Ok(SocketCommand::Stop) | Err(TryRecvError::Disconnected) => return false,
                #[cfg(test)]
                Ok(SocketCommand::Probe { peer, reply }) => {
                    let _ = reply.send(self.probe(peer));
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        self.flush_dirty();
        true
    }

    /// Writes out what the commands so far queued: once per connection, however many sends
    /// it got.
    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for token in dirty.drain(..) {
            self.service(token, false, true);
        }
        self.dirty = dirty;
    }

    /// What a test may know about one connection, once the work pending so far (sends,
    /// deferred reads) is done.
    #[cfg(test)]
    fn probe(&mut self, peer: PeerId) -> Option<ConnectionProbe> {
        self.flush_dirty();
        self.resume_deferred_reads();
        let token = token_of(peer)?;
        let connection = self.connections.get(&token)?;
        Some(ConnectionProbe {
            queued: connection.outbox.len(),
            reading_paused: connection.reading_paused,
            read_deferred: self.deferred.contains(&token),
        })
    }

    /// Tells the core thread something. A closed channel means the core thread ended; the
    /// link's drop then sends us `Stop`, so there is nothing to do here but note it.
    fn report(&self, input: Input) {
        if self.reader.to_core.send(CoreMessage::Input(input)).is_err() {
            debug!("core thread gone; input dropped");
        }
    }

    fn allocate_peer(&mut self) -> Option<(PeerId, Token)> {
        let peer = PeerId(self.next_peer);
        let token = token_of(peer)?;
        self.next_peer = self.next_peer.checked_add(1)?;
        Some((peer, token))
    }

    fn accept_all(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        self.accept_retry_at = None;
        let mut accepted = Vec::new();
        loop {
            match listener.accept() {
                Ok(pair) => accepted.push(pair),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The client gave up before we took it: the next one may be fine.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(error) => {
                    // Out of descriptors or similar: leave the rest in the listen queue rather
                    // than spin, and try again shortly (see `ACCEPT_RETRY`).
                    warn!(%error, retry_in = ?ACCEPT_RETRY, "accept failed");
                    self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY);
                    break;
                }
            }
        }
        for (stream, addr) in accepted {
            self.adopt_inbound(stream, addr);
        }
    }

    /// Accepts again once the pause after a failed accept is over.
    fn retry_accept(&mut self, now: Instant) {
        if self.accept_retry_at.is_some_and(|at| at <= now) {
            self.accept_all();
        }
    }

    fn adopt_inbound(&mut self, mut stream: TcpStream, addr: SocketAddr) {
        let Some((peer, token)) = self.allocate_peer() else {
            warn!(%addr, "peer ids exhausted; inbound connection dropped");
            return;
        };
        if let Err(error) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!(%addr, %error, "cannot register inbound connection");
            return;
        }
        set_nodelay(&stream, peer, addr);
        let connection_local_addr = stream.local_addr().ok();
        debug!(peer = %peer, %addr, "accepted");
        self.connections.insert(
            token,
            Connection {
                peer,
                addr,
                direction: Direction::Inbound,
                stream,
                state: ConnectionState::Open,
                outbox: Outbox::default(),
                reading_paused: false,
            },
        );
        self.report(Input::Connected {
            peer,
            addr,
            local_addr: connection_local_addr,
            direction: Direction::Inbound,
        });
        // Bytes may have arrived before we registered the socket.
        self.service(token, true, true);
    }

    fn on_ready(&mut self, token: Token, event: &Event) {
        let Some(connection) = self.connections.get(&token) else {
            return; // closed earlier in this round
        };
        match connection.state {
            ConnectionState::Dialling { .. } => self.finish_dial(token),
            ConnectionState::Handshaking(_) => self.advance_handshake(token),
            ConnectionState::Open => {
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                self.service(token, readable, writable);
            }
        }
    }

    fn queue_send(&mut self, peer: PeerId, bytes: Vec<u8>) {
        let Some(token) = token_of(peer) else {
            return;
        };
        match self.connections.get_mut(&token) {
            Some(connection) if matches!(connection.state, ConnectionState::Open) => {
                connection.outbox.push(bytes);
                self.dirty.push(token);
            }
            // Gone already: the core has been or will be told with `Disconnected`.
            _ => debug!(peer = %peer, len = bytes.len(), "send to a closed connection dropped"),
        }
    }

    fn disconnect(&mut self, peer: PeerId, reason: &DisconnectReason) {
        let Some(token) = token_of(peer) else {
            return;
        };
        let Some(mut connection) = self.drop_connection(token) else {
            debug!(peer = %peer, %reason, "disconnect of a closed connection ignored");
            return;
        };
        // One last non-blocking try, so that whatever the core sent just before (a reject, a
        // final message) has a chance to leave.
        let _ = connection.outbox.flush_to(&mut connection.stream);
        debug!(peer = %peer, addr = %connection.addr, %reason, "disconnecting");
        self.report(Input::Disconnected { peer, error: None });
    }

    /// Writes (if `writable`) and reads (if `readable` and not paused) one open connection,
    /// applies back-pressure, and closes it on end of file or error.
    fn service(&mut self, token: Token, readable: bool, writable: bool) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        if !matches!(connection.state, ConnectionState::Open) {
            return;
        }
        let result = connection.service(
            self.poll.registry(),
            token,
            readable,
            writable,
            self.send_buffer_cap,
            &mut self.reader,
        );
        if let Ok(ReadState::Deferred) = result {
            self.deferred.push(token);
        }
        if let Err(ended) = result {
            if let Some(connection) = self.drop_connection(token) {
                debug!(
                    peer = %connection.peer,
                    addr = %connection.addr,
                    direction = %connection.direction,
                    error = ended.error.as_deref().unwrap_or("closed by peer"),
                    "connection ended"
                );
                self.report(Input::Disconnected {
                    peer: connection.peer,
                    error: ended.error,
                });
            }
        }
    }

    /// Reads the connections that were left unread while the core's backlog was full, once it
    /// is not: no readiness event will announce their bytes again.
    fn resume_deferred_reads(&mut self) {
        if self.deferred.is_empty() || self.reader.backlog.is_full() {
            return;
        }
        let mut deferred = std::mem::take(&mut self.deferred);
        deferred.sort_unstable();
        deferred.dedup();
        debug!(
            connections = deferred.len(),
            "core caught up; reading again"
        );
        for token in deferred {
            self.service(token, true, false);
        }
    }

    /// Removes a connection and deregisters its socket; the socket closes when dropped.
    fn drop_connection(&mut self, token: Token) -> Option<Connection> {
        let mut connection = self.connections.remove(&token)?;
        let _ = self.poll.registry().deregister(&mut connection.stream);
        Some(connection)
    }
}

/// The poll token of a peer's socket.
fn token_of(peer: PeerId) -> Option<Token> {
    usize::try_from(peer.0)
        .ok()?
        .checked_add(FIRST_PEER_TOKEN)
        .map(Token)
}

mod dial;
#[cfg(test)]
mod tests;
